import { type Bep44KeyPair, generateKeyPair, publicKeyFromSeed } from '../bep5/bep44.js';
import { CommandError } from './errors.js';
import { createPrivateFile, readPrivateFile } from './private-file.js';

/**
 * The ed25519 key a mutable BEP 44 item is signed with, kept in a file: one JSON object with the
 * 32-byte seed and the public key in hex. Created with mode 0600 when missing (exclusively, so
 * two commands never write two keys); refused when group or others may read it, as ssh does,
 * since whoever reads the seed can overwrite every item signed with it (cli/private-file.ts).
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
  const json = JSON.stringify({ ed25519Seed: keyPair.seed.toString('hex'), publicKey: keyPair.publicKey.toString('hex') }) + '\n';
  // Made by someone else since we looked: use theirs.
  if (!(await createPrivateFile(path, json, 'key file'))) return { keyPair: (await readKeyFile(path))!, created: false };
  return { keyPair, created: true };
}

async function readKeyFile(path: string): Promise<Bep44KeyPair | undefined> {
  const text = await readPrivateFile(path, 'key file');
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
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
