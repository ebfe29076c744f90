import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isLoopback } from '../bep5/ip.js';
import { apiKeyProblem } from '../server/api/auth.js';
import { CommandError } from './errors.js';
import { createPrivateFile, readPrivateFile } from './private-file.js';

/**
 * The HTTP API's key for `dhtscope run` (server/api/auth.ts checks it). Required once the API
 * listens anywhere but loopback: the index tells whoever reads it which torrents this host
 * looked for. The key is one line of a file of mode 0600 (cli/private-file.ts): by default
 * `<data dir>/api-key`, made with a random key on the first start that needs it; `--api-key-file`
 * names a file the user made, which must exist.
 */

export const API_KEY_FILE_NAME = 'api-key';

/** 32 random bytes: 256 bits, which no rate of guessing reaches. */
const GENERATED_KEY_BYTES = 32;

/** Whether an API listening on `host` must ask for a key: off loopback, or whenever a key file was given. */
export function apiKeyRequired(host: string, keyFileGiven: boolean): boolean {
  return keyFileGiven || !(host === 'localhost' || isLoopback(host));
}

export interface ApiKey {
  key: string;
  /** The file it is kept in (absolute). */
  file: string;
  /** True when this start made the file. */
  created: boolean;
}

/** `--api-key-file` of `run`, given where the API listens: the key, or null when none is required. */
export async function apiKeyOption(options: { apiHost: string; keyFile: string | undefined; dataDir: string }): Promise<ApiKey | null> {
  if (!apiKeyRequired(options.apiHost, options.keyFile !== undefined)) return null;
  if (options.keyFile !== undefined) {
    const file = resolve(options.keyFile);
    return { key: await readApiKeyFile(file, true), file, created: false };
  }
  return loadOrCreateApiKey(join(options.dataDir, API_KEY_FILE_NAME));
}

/** The key in `file`, made (with a random key) when missing. */
export async function loadOrCreateApiKey(file: string): Promise<ApiKey> {
  const existing = await readApiKeyFile(file, false);
  if (existing !== undefined) return { key: existing, file, created: false };
  const key = randomBytes(GENERATED_KEY_BYTES).toString('base64url');
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CommandError(`cannot create the API key file ${file}: ${(err as Error).message}`);
  }
  // Made by another start since we looked: use theirs.
  if (!(await createPrivateFile(file, key + '\n', 'API key file'))) return { key: (await readApiKeyFile(file, true))!, file, created: false };
  return { key, file, created: true };
}

async function readApiKeyFile(file: string, mustExist: true): Promise<string>;
async function readApiKeyFile(file: string, mustExist: false): Promise<string | undefined>;
async function readApiKeyFile(file: string, mustExist: boolean): Promise<string | undefined> {
  const text = await readPrivateFile(file, 'API key file');
  if (text === undefined) {
    if (!mustExist) return undefined;
    throw new CommandError(
      `cannot read the API key file ${file}: it does not exist; write a key into it ` +
        `(e.g. openssl rand -hex 32 > ${file}; chmod 600 ${file}), or leave out --api-key-file for one made in the data directory`,
    );
  }
  // `echo KEY > file` adds a newline; an editor may add more.
  const key = text.trim();
  const problem = apiKeyProblem(key);
  if (problem !== undefined) throw new CommandError(`the API key file ${file} holds no usable key: ${problem}`);
  return key;
}
