import { connect } from 'node:net';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type RedisClient, closeRedisClient } from './client.js';
import { type EmbeddedOptions, type EmbeddedRedis, runningEmbedded, startEmbeddedRedis } from './embedded-server.js';
import { RedisConnectError } from './errors.js';

/**
 * Where the index lives, in this order:
 *
 * 1. `url` (or `REDIS_URL`):
 *    - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), or a unix socket path: one server.
 *    - `redis+cluster://[user:pass@]host:port,host:port,…` (`rediss+cluster://` for TLS), or a
 *      `redis://` URL listing several comma-separated hosts: Redis Cluster, those nodes as seeds.
 * 2. No URL, and a Redis answers PING on 127.0.0.1:6379: that one ("local").
 * 3. The embedded server of this data directory, already started by another live process
 *    ("attached": its lifetime stays with its owner).
 * 4. Otherwise a new embedded `redis-server` child ("embedded"; see embedded-server.ts).
 */
export type RedisMode = 'url' | 'local' | 'embedded' | 'attached';

export interface ConnectOptions {
  /** Takes precedence over `REDIS_URL`. */
  url?: string;
  /** Where REDIS_URL and PATH come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The data directory; the embedded server keeps its files in `<dataDir>/redis`. */
  dataDir: string;
  onLog?: (line: string) => void;
  /** Probed when there is no URL (default 127.0.0.1:6379); null skips the probe. */
  defaultAddress?: { host: string; port: number } | null;
  /** The redis-server binary (default: found on PATH). */
  redisServerPath?: string;
  /** How long to wait for a URL / local server to become ready (default 10 s). */
  connectTimeoutMs?: number;
  /** How long the embedded server may take to answer (AOF loading; default 60 s). */
  startTimeoutMs?: number;
  /** Extra ioredis options for every client (e.g. `{ maxRetriesPerRequest: null }`). */
  clientOptions?: RedisOptions;
  /**
   * When another live process owns the embedded server of this data directory, connect to it
   * ("attached": its lifetime stays with its owner) instead of refusing. Default true, so
   * `dhtscope query` works next to a running `dhtscope run`; `run` itself passes false.
   */
  attachToRunning?: boolean;
}

export interface RedisConnection {
  readonly client: RedisClient;
  readonly mode: RedisMode;
  /** Where, with any password redacted: for logs. */
  readonly description: string;
  /** A URL other processes (workers) can connect with, credentials included. */
  readonly url: string;
  readonly embedded: EmbeddedRedis | null;
  /** Another connection to the same server (BullMQ wants its own, with maxRetriesPerRequest: null). */
  newClient(overrides?: RedisOptions): RedisClient;
  /** Quits every client this made, then stops the embedded server, if any. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// URLs

export type ParsedRedisUrl =
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; username?: string; password?: string; tls: boolean };

/** Classifies a REDIS_URL (see the module comment). Throws ERR_REDIS_BAD_URL. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const m = /^(redis|rediss)(\+cluster)?:\/\/(?:([^@/]*)@)?([^/?#]*)(.*)$/i.exec(url);
  if (m === null) {
    if (url.startsWith('/')) return { kind: 'standalone', url };
    throw new RedisConnectError('ERR_REDIS_BAD_URL', `bad REDIS_URL ${redact(url)}: want redis://host:port, rediss://…, redis+cluster://host:port,host:port or a socket path`);
  }
  const [, scheme, clusterSuffix, auth, hostList, rest] = m;
  const hosts = hostList!.split(',').filter((h) => h !== '');
  if (clusterSuffix === undefined && hosts.length <= 1) return { kind: 'standalone', url };
  if (hosts.length === 0) throw new RedisConnectError('ERR_REDIS_BAD_URL', `bad REDIS_URL ${redact(url)}: no cluster nodes`);
  if (rest !== '' && rest !== '/') throw new RedisConnectError('ERR_REDIS_BAD_URL', `bad REDIS_URL ${redact(url)}: a cluster URL takes no database or options`);
  const nodes = hosts.map((h) => {
    const hm = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(h);
    const port = Number(hm?.[2] ?? 6379);
    if (hm === null || port < 1 || port > 65535) throw new RedisConnectError('ERR_REDIS_BAD_URL', `bad REDIS_URL ${redact(url)}: bad node "${h}"`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const out: ParsedRedisUrl = { kind: 'cluster', nodes, tls: scheme!.toLowerCase() === 'rediss' };
  if (auth !== undefined && auth !== '') {
    const i = auth.indexOf(':');
    const user = decodeURIComponent(i < 0 ? auth : auth.slice(0, i));
    const pass = i < 0 ? '' : decodeURIComponent(auth.slice(i + 1));
    if (i < 0) out.password = user;
    else {
      if (user !== '') out.username = user;
      out.password = pass;
    }
  }
  return out;
}

/** The URL with its password replaced by `***`. */
export function redact(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

// ---------------------------------------------------------------------------------------
// Connecting

function makeClient(parsed: ParsedRedisUrl, options: RedisOptions): RedisClient {
  if (parsed.kind === 'standalone') return new Redis(parsed.url, options);
  const redisOptions: RedisOptions = { ...options };
  if (parsed.username !== undefined) redisOptions.username = parsed.username;
  if (parsed.password !== undefined) redisOptions.password = parsed.password;
  if (parsed.tls) redisOptions.tls = {};
  const clusterOptions: ClusterOptions = { redisOptions };
  return new Cluster(parsed.nodes, clusterOptions);
}

/** Waits for `ready`; on timeout disconnects and throws ERR_REDIS_UNREACHABLE with the last error. */
async function waitReady(client: RedisClient, timeoutMs: number, where: string): Promise<void> {
  if (client.status === 'ready') return;
  let lastError = '';
  const onError = (err: Error): void => {
    lastError = err.message;
  };
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeListener('ready', onReady);
        reject(new RedisConnectError('ERR_REDIS_UNREACHABLE', `cannot reach Redis at ${where} within ${timeoutMs} ms${lastError ? `: ${lastError}` : ''}`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    client.removeListener('error', onError);
  }
}

/**
 * What answers PING on host:port: 'pong', 'auth' (a Redis that wants a password), 'other'
 * (something that is not Redis, or no answer in time), 'none' (connection refused).
 *
 * The wait only matters when something accepts the connection (nothing listening is refused
 * at once), so it is generous: at 500 ms a Redis on a loaded machine was once taken for
 * "something else", and an embedded server was started beside it.
 */
export function probeRedis(host: string, port: number, timeoutMs = 2_000): Promise<'pong' | 'auth' | 'other' | 'none'> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = '';
    const done = (r: 'pong' | 'auth' | 'other' | 'none'): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('other'), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: string) => {
      buf += d;
      if (!buf.includes('\r\n')) return;
      if (buf.startsWith('+PONG')) done('pong');
      else if (/^-(NOAUTH|WRONGPASS|ERR.*auth)/i.test(buf)) done('auth');
      else if (buf.startsWith('-LOADING')) done('pong');
      else done('other');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'none' : 'other'));
    sock.on('close', () => done('other'));
  });
}

/** Connects as described in the module comment. The client is ready when this resolves. */
export async function connectRedis(opts: ConnectOptions): Promise<RedisConnection> {
  const env = opts.env ?? process.env;
  const log = opts.onLog ?? (() => {});
  const timeout = opts.connectTimeoutMs ?? 10_000;
  const clientOptions = opts.clientOptions ?? {};
  const url = opts.url ?? (env['REDIS_URL'] !== undefined && env['REDIS_URL'] !== '' ? env['REDIS_URL'] : undefined);

  if (url !== undefined) {
    const parsed = parseRedisUrl(url);
    return open(parsed, 'url', url, null);
  }

  // DHTSCOPE_LOCAL_REDIS=off: never use a Redis on 127.0.0.1:6379, always the embedded one
  // (for a machine whose 6379 belongs to something else, and for tests that must not touch it).
  const probeOff = env['DHTSCOPE_LOCAL_REDIS'] === 'off';
  const local = opts.defaultAddress === undefined ? (probeOff ? null : { host: '127.0.0.1', port: 6379 }) : opts.defaultAddress;
  if (local !== null) {
    const found = await probeRedis(local.host, local.port);
    if (found === 'pong') {
      const localUrl = `redis://${local.host}:${local.port}`;
      return open({ kind: 'standalone', url: localUrl }, 'local', localUrl, null);
    }
    if (found === 'auth') {
      throw new RedisConnectError(
        'ERR_REDIS_AUTH_REQUIRED',
        `the Redis on ${local.host}:${local.port} wants a password: set REDIS_URL=redis://:PASSWORD@${local.host}:${local.port}`,
      );
    }
    if (found === 'other') log(`something that is not Redis answers on ${local.host}:${local.port}; starting an embedded redis-server`);
  }

  if (opts.attachToRunning !== false) {
    const running = runningEmbedded(opts.dataDir);
    if (running !== null) return open({ kind: 'standalone', url: running }, 'attached', running, null);
  }

  const startOptions: EmbeddedOptions = { dataDir: opts.dataDir, env, onLog: log, startTimeoutMs: opts.startTimeoutMs ?? 60_000 };
  if (opts.redisServerPath !== undefined) startOptions.redisServerPath = opts.redisServerPath;
  const embedded = await startEmbeddedRedis(startOptions);
  try {
    return await open({ kind: 'standalone', url: embedded.url }, 'embedded', embedded.url, embedded);
  } catch (err) {
    await embedded.stop();
    throw err;
  }

  async function open(parsed: ParsedRedisUrl, mode: RedisMode, fullUrl: string, emb: EmbeddedRedis | null): Promise<RedisConnection> {
    const clients = new Set<RedisClient>();
    const newClient = (overrides: RedisOptions = {}): RedisClient => {
      const c = makeClient(parsed, { ...clientOptions, ...overrides });
      // ioredis emits 'error' on every failed reconnect: log each distinct message once in a row.
      let last = '';
      c.on('error', (err: Error) => {
        if (err.message !== last) log(`redis: ${(last = err.message)}`);
      });
      c.on('ready', () => (last = ''));
      clients.add(c);
      c.once('end', () => clients.delete(c));
      return c;
    };
    const client = newClient();
    await waitReady(client, timeout, redact(fullUrl));
    log(`redis: ${mode} ${redact(fullUrl)}`);
    let closed: Promise<void> | null = null;
    return {
      client,
      mode,
      description: redact(fullUrl),
      url: fullUrl,
      embedded: emb,
      newClient,
      close() {
        closed ??= (async () => {
          await Promise.all([...clients].map((c) => closeRedisClient(c)));
          await emb?.stop();
        })();
        return closed;
      },
    };
  }
}
