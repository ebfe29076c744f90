import { join, resolve } from 'node:path';
import { InvalidPrefixError } from '../indexer/errors.js';
import { IndexKeys, prefixFromEnv, validatePrefix } from '../indexer/keys.js';
import { connectRedis, type RedisConnection } from '../redis/connection.js';
import { RedisConnectError } from '../redis/errors.js';
import { MigrationLockBusyError, MigrationLockLostError, MigrationTargetError, SchemaOutdatedError, SchemaTooNewError } from '../migrations/errors.js';
import { CommandError, UsageError } from './errors.js';
import { CLI_REDIS_CONNECT_TIMEOUT_MS, CLI_REDIS_DISCONNECT_TIMEOUT_MS, REDIS_UNREACHABLE_HINT } from './constants.js';
import { defaultDataDir } from './node-options.js';

/**
 * Options and start-up shared by every command that uses the Redis index (migrate, workers,
 * query, run): where Redis is, which key prefix, which data directory holds the embedded server.
 */

export const INDEX_COMMAND_OPTIONS = {
  'redis-url': { type: 'string' },
  prefix: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export const INDEX_OPTIONS_HELP = `  --redis-url URL   Redis to use (default: $REDIS_URL, else 127.0.0.1:6379 if it answers,
                    else the embedded redis-server of the data directory: the one a running
                    dhtscope run started, or a new one)
  --prefix P        key prefix of the index (default: $DHTSCOPE_REDIS_PREFIX or "dhtscope")
  --data-dir DIR    data directory (default: $DHTSCOPE_DATA_DIR or ~/.dhtscope)`;

export interface IndexOptionValues {
  'redis-url'?: string | undefined;
  prefix?: string | undefined;
  'data-dir'?: string | undefined;
}

export interface OpenIndex {
  connection: RedisConnection;
  keys: IndexKeys;
  dataDir: string;
}

/** The keys for `--prefix` (or the environment's); a bad prefix is a usage error. */
export function indexKeysOption(values: IndexOptionValues): IndexKeys {
  try {
    return new IndexKeys(values.prefix === undefined ? prefixFromEnv() : validatePrefix(values.prefix));
  } catch (err) {
    if (err instanceof InvalidPrefixError) throw new UsageError(err.message);
    throw err;
  }
}

/** What `run --testnet` appends to the real index's key prefix for its own index. */
export const TESTNET_PREFIX_SUFFIX = '-testnet';
/** The testnet's own data directory, under the real one. */
export const TESTNET_DATA_SUBDIR = 'testnet';

/**
 * Which index a `run` writes, and where the real index is. The real index: `--prefix` (else
 * $DHTSCOPE_REDIS_PREFIX, else "dhtscope") and `--data-dir` (else $DHTSCOPE_DATA_DIR, else
 * ~/.dhtscope). A testnet demo gets an index of its own by default, so fake infohashes never
 * reach the real one: key prefix `<real prefix>-testnet` and data directory
 * `<real data dir>/testnet` (its embedded redis-server, spool, node table and ground truth
 * live there). An explicit --prefix or --data-dir still wins.
 */
export interface RunIndex {
  kind: 'real' | 'testnet';
  keys: IndexKeys;
  dataDir: string;
  /** With --testnet: the real index's prefix and data directory, and whether the run stays off both. */
  realIndex: { prefix: string; dataDir: string; untouched: boolean } | null;
}

export function runIndexOption(values: IndexOptionValues, testnet: boolean): RunIndex {
  if (!testnet) {
    return {
      kind: 'real',
      keys: indexKeysOption(values),
      dataDir: values['data-dir'] !== undefined ? resolve(values['data-dir']) : defaultDataDir(),
      realIndex: null,
    };
  }
  const realKeys = indexKeysOption({});
  const realDataDir = defaultDataDir();
  let keys: IndexKeys;
  if (values.prefix !== undefined) keys = indexKeysOption(values);
  else {
    const prefix = realKeys.prefix + TESTNET_PREFIX_SUFFIX;
    try {
      keys = new IndexKeys(validatePrefix(prefix));
    } catch (err) {
      if (err instanceof InvalidPrefixError) {
        throw new UsageError(`the testnet's own key prefix "${prefix}" is not valid (1-64 of A-Z a-z 0-9 _ . : -); choose one with --prefix`);
      }
      throw err;
    }
  }
  const dataDir = values['data-dir'] !== undefined ? resolve(values['data-dir']) : join(realDataDir, TESTNET_DATA_SUBDIR);
  return {
    kind: 'testnet',
    keys,
    dataDir,
    realIndex: { prefix: realKeys.prefix, dataDir: realDataDir, untouched: keys.prefix !== realKeys.prefix && dataDir !== realDataDir },
  };
}

/**
 * Connects to the index's Redis. Connection failures (nothing answering, redis-server not
 * installed, a password wanted) become one-line CommandErrors that say what to do.
 */
export async function openIndex(
  values: IndexOptionValues,
  options: { log?: (line: string) => void; clientOptions?: import('ioredis').RedisOptions } = {},
): Promise<OpenIndex> {
  const keys = indexKeysOption(values);
  const dataDir = values['data-dir'] !== undefined ? resolve(values['data-dir']) : defaultDataDir();
  try {
    const connection = await connectRedis({
      ...(values['redis-url'] !== undefined ? { url: values['redis-url'] } : {}),
      dataDir,
      connectTimeoutMs: CLI_REDIS_CONNECT_TIMEOUT_MS,
      ...(options.log ? { onLog: options.log } : {}),
      clientOptions: { disconnectTimeout: CLI_REDIS_DISCONNECT_TIMEOUT_MS, ...options.clientOptions },
    });
    return { connection, keys, dataDir };
  } catch (err) {
    throw toCommandError(err);
  }
}

/**
 * Runs `use` on the open index, then closes the connection. Typed index errors, from opening or
 * from `use`, become one-line CommandErrors.
 */
export async function withIndex<T>(values: IndexOptionValues, use: (index: OpenIndex) => Promise<T>): Promise<T> {
  const index = await openIndex(values);
  try {
    return await use(index);
  } catch (err) {
    throw toCommandError(err);
  } finally {
    await index.connection.close();
  }
}

/** Typed index errors as one-line CommandErrors; anything else unchanged. */
export function toCommandError(err: unknown): unknown {
  if (err instanceof RedisConnectError) {
    return new CommandError(err.code === 'ERR_REDIS_UNREACHABLE' ? `${err.message}; ${REDIS_UNREACHABLE_HINT}` : err.message);
  }
  if (
    err instanceof SchemaTooNewError ||
    err instanceof SchemaOutdatedError ||
    err instanceof MigrationLockBusyError ||
    err instanceof MigrationLockLostError ||
    err instanceof MigrationTargetError
  ) {
    return new CommandError(err.message);
  }
  return err;
}
