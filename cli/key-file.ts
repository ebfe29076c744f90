import { chmod, open, readFile, stat } from 'node:fs/promises';
import { type Bep44KeyPair, generateKeyPair, publicKeyFromSeed } from '../bep5/bep44.js';
import { CommandError } from './errors.js';

/**
 * The ed25519 key a mutable BEP 44 item is signed with, kept in a file: one JSON object with the
 * 32-byte seed and the public key in hex. Created with mode 0600 when missing (exclusively, so
 * two commands never write two keys); refused when group or others may read it, as ssh does,
 * since whoever reads the seed can overwrite every item signed with it.
 */
export interface KeyFile {
  keyPair: Bep44KeyPair;
  /** True when this call made the file. */
  created: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;

export async function loadOrCreateKeyFile(path: string): Promise<KeyFile> {
  const existing = await readKeyFile(path);
  if (existing !== undefined) return { keyPair: existing, created: false };
  const keyPair = generateKeyPair();
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    // Made by someone else since we looked: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { keyPair: (await readKeyFile(path))!, created: false };
    throw new CommandError(`cannot create the key file ${path}: ${(err as Error).message}`);
  }
  try {
    await handle.writeFile(JSON.stringify({ ed25519Seed: keyPair.seed.toString('hex'), publicKey: keyPair.publicKey.toString('hex') }) + '\n');
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600); // the umask may have taken bits away, never added: this is for clarity
  return { keyPair, created: true };
}

async function readKeyFile(path: string): Promise<Bep44KeyPair | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CommandError(`cannot read the key file ${path}: ${(err as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new CommandError(`the key file ${path} may be read by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new CommandError(`cannot read the key file ${path}: ${(err as Error).message}`);
  }
  const seedHex = (parsed as { ed25519Seed?: unknown }).ed25519Seed;
  if (typeof seedHex !== 'string' || !HEX64.test(seedHex)) throw new CommandError(`the key file ${path} holds no "ed25519Seed" of 64 hex digits`);
  const seed = Buffer.from(seedHex, 'hex');
  const publicKey = publicKeyFromSeed(seed);
  const stated = (parsed as { publicKey?: unknown }).publicKey;
  if (stated !== undefined && stated !== publicKey.toString('hex')) throw new CommandError(`the key file ${path}: its publicKey is not the seed's`);
  return { seed, publicKey };
}
