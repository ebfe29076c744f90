import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsc, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type RedisClient } from './lua.js';
import { sleep } from '../bep5/clock.js';
import { closeRedisClient } from './redis-close.js';

/**
 * Where the index lives, in this order:
 *
 * 1. `url` (or `REDIS_URL`):
 *    - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), or a unix socket path: one server.
 *    - `redis+cluster://[user:pass@]host:port,host:port,…` (`rediss+cluster://` for TLS), or a
 *      `redis://` URL listing several comma-separated hosts: Redis Cluster, those nodes as seeds.
 * 2. No URL, and a Redis answers PING on 127.0.0.1:6379: that one ("local").
 * 3. Otherwise an embedded `redis-server` child ("embedded"): AOF on (appendfsync everysec),
 *    its files in `<dataDir>/redis`, bound to 127.0.0.1 on a FREE port (not 6379) with a
 *    random password. `close()` stops it; so does this process's death in any form (even
 *    SIGKILL): a tiny sh watchdog between us and redis-server sends it SIGTERM when our end of
 *    its stdin pipe closes, and Redis then flushes the AOF and exits. It runs in its own
 *    session, so a Ctrl-C aimed at dhtscope does not stop Redis before dhtscope's last write.
 *
 * Why not 6379 for the embedded server: 6379 is where the user's own Redis goes. Taking it would
 * make a later `systemctl start redis` fail, and another dhtscope process would find "a Redis on
 * 6379" through step 2 and attach to a server whose lifetime belongs to this process. A free
 * port plus a password keeps the child private; processes this one starts (workers) get `url`.
 * `<dataDir>/redis/embedded.json` records the owner and port, so a second process on the same
 * data directory is refused (two servers on one AOF would corrupt it) and a server somehow
 * left running by a dead owner is shut down (SIGTERM: AOF flushed) before a new one starts.
 */

export type RedisMode = 'url' | 'local' | 'embedded' | 'attached';

export type RedisConnectErrorCode =
  | 'ERR_REDIS_SERVER_NOT_INSTALLED'
  | 'ERR_REDIS_UNREACHABLE'
  | 'ERR_REDIS_AUTH_REQUIRED'
  | 'ERR_REDIS_BAD_URL'
  | 'ERR_REDIS_EMBEDDED_BUSY'
  | 'ERR_REDIS_EMBEDDED_START';

/** Connecting failed for a reason the user can act on; `message` is one line. */
export class RedisConnectError extends Error {
  override readonly name: string = 'RedisConnectError';
  constructor(
    readonly code: RedisConnectErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const REDIS_NOT_INSTALLED_MESSAGE = 'redis-server is not installed: run "sudo apt-get install redis-server" or set REDIS_URL';

export class RedisServerNotInstalledError extends RedisConnectError {
  override readonly name = 'RedisServerNotInstalledError';
  constructor() {
    super('ERR_REDIS_SERVER_NOT_INSTALLED', REDIS_NOT_INSTALLED_MESSAGE);
  }
}

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
 */
export function probeRedis(host: string, port: number, timeoutMs = 500): Promise<'pong' | 'auth' | 'other' | 'none'> {
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

// ---------------------------------------------------------------------------------------
// The embedded server

export interface EmbeddedOptions {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  redisServerPath?: string;
  onLog?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface EmbeddedRedis {
  readonly pid: number;
  readonly port: number;
  /** `<dataDir>/redis`: redis.conf, redis.log, appendonlydir/, embedded.json. */
  readonly dir: string;
  /** `redis://:<password>@127.0.0.1:<port>` */
  readonly url: string;
  /** SIGTERM (redis flushes the AOF and exits), SIGKILL after 10 s. Idempotent. */
  stop(): Promise<void>;
}

interface EmbeddedState {
  ownerPid: number;
  redisPid: number;
  port: number;
  startedAt: string;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsc.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH, or null. */
export function findExecutable(name: string, pathVar: string | undefined): string | null {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * sh -c WATCHDOG name bin args…: starts `bin args…` (stdin /dev/null), prints its pid, and
 * sends it SIGTERM when the watchdog's stdin reaches EOF, which happens on stop() and also
 * when this process dies in any way (even SIGKILL): the kernel closes our end of the pipe.
 * Exits with the server's status.
 */
const WATCHDOG = 'exec 3<&0; bin="$1"; shift; "$bin" "$@" </dev/null & pid=$!; echo "$pid"; (read -r _ <&3; kill -TERM "$pid" 2>/dev/null) & wait "$pid"';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => res(typeof a === 'object' && a !== null ? a.port : 0));
      });
    });
    if (port !== 0 && port !== 6379) return port;
  }
}


function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

/**
 * The URL of the embedded server of `dataDir` when a live process owns it, else null. The
 * password comes from its redis.conf (mode 0600 in a 0700 directory: only the same user can
 * read it, the same user who could read the data files anyway).
 */
export function runningEmbedded(dataDir: string): string | null {
  const dir = resolve(dataDir, 'redis');
  let state: EmbeddedState;
  let conf: string;
  try {
    state = JSON.parse(readFileSync(join(dir, 'embedded.json'), 'utf8')) as EmbeddedState;
    conf = readFileSync(join(dir, 'redis.conf'), 'utf8');
  } catch {
    return null;
  }
  if (!isAlive(state.ownerPid) || !isAlive(state.redisPid)) return null;
  const password = /^requirepass (\S+)$/m.exec(conf)?.[1];
  const port = /^port (\d+)$/m.exec(conf)?.[1];
  if (password === undefined || port === undefined || Number(port) !== state.port) return null;
  return `redis://:${password}@127.0.0.1:${port}`;
}

/** Deals with a previous embedded.json: refuses if its owner lives, stops an orphaned server. */
async function takeOver(stateFile: string, dir: string, log: (l: string) => void): Promise<void> {
  let state: EmbeddedState;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as EmbeddedState;
  } catch {
    return; // none (or unreadable: nothing we can act on)
  }
  if (state.ownerPid !== undefined && isAlive(state.ownerPid) && isAlive(state.redisPid)) {
    throw new RedisConnectError(
      'ERR_REDIS_EMBEDDED_BUSY',
      `the embedded Redis in ${dir} belongs to running process ${state.ownerPid} (port ${state.port}): stop it, use another --data-dir, or set REDIS_URL`,
    );
  }
  if (!isAlive(state.redisPid)) return;
  // The owner died and left its redis-server running. Stop it only if it really is the server
  // of this directory (Linux: its working directory is `dir`; the pid may have been reused).
  let cwd = '';
  try {
    cwd = readlinkSync(`/proc/${state.redisPid}/cwd`);
  } catch {
    // not Linux, or not ours to inspect
  }
  if (cwd !== resolve(dir)) return;
  log(`stopping an orphaned embedded redis-server (pid ${state.redisPid}) left by process ${state.ownerPid}`);
  process.kill(state.redisPid, 'SIGTERM');
  for (let i = 0; i < 200 && isAlive(state.redisPid); i++) await sleep(50);
  if (isAlive(state.redisPid)) process.kill(state.redisPid, 'SIGKILL');
}

/** Starts redis-server as described in the module comment. */
export async function startEmbeddedRedis(opts: EmbeddedOptions): Promise<EmbeddedRedis> {
  const env = opts.env ?? process.env;
  const log = opts.onLog ?? (() => {});
  const bin = opts.redisServerPath ?? findExecutable('redis-server', env['PATH']);
  if (bin === null || !isExecutable(bin)) throw new RedisServerNotInstalledError();
  const dir = resolve(opts.dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stateFile = join(dir, 'embedded.json');
  const confFile = join(dir, 'redis.conf');
  const logFile = join(dir, 'redis.log');
  await takeOver(stateFile, dir, log);

  const password = randomBytes(24).toString('hex');
  const startTimeout = opts.startTimeoutMs ?? 60_000;

  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    // A config file (mode 0600), not arguments: the password must not show in `ps`.
    const conf = [
      '# written by dhtscope for its embedded Redis; rewritten at every start',
      'bind 127.0.0.1',
      `port ${port}`,
      'protected-mode yes',
      `dir ${JSON.stringify(dir)}`,
      'appendonly yes',
      'appendfsync everysec',
      'appenddirname "appendonlydir"',
      'save ""',
      `requirepass ${password}`,
      'daemonize no',
      `logfile ${JSON.stringify(logFile)}`,
      '',
    ].join('\n');
    writeFileSync(confFile, conf, { mode: 0o600 });

    let stderr = '';
    let stdout = '';
    const child: ChildProcess = spawn('/bin/sh', ['-c', WATCHDOG, 'dhtscope-redis', bin, confFile], {
      cwd: dir,
      detached: true, // own session: a Ctrl-C meant for dhtscope does not stop Redis before the last flush
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...env },
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(-2000)));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
    child.stdin!.on('error', () => {}); // EPIPE if the watchdog is gone
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await new Promise<void>((res, rej) => {
        child.once('spawn', res);
        child.once('error', rej);
      });
    } catch (err) {
      throw new RedisConnectError('ERR_REDIS_EMBEDDED_START', `cannot start ${bin}: ${(err as Error).message}`);
    }

    const ready = await waitPong(port, password, child, startTimeout);
    const redisPid = Number(/^(\d+)\n/.exec(stdout)?.[1] ?? 0);
    if (!ready || redisPid === 0) {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      const why = `${stderr.trim()} ${tail(logFile)}`.trim();
      if (attempt < 3 && /Address already in use/i.test(why)) continue; // the free port was taken meanwhile
      throw new RedisConnectError('ERR_REDIS_EMBEDDED_START', `embedded redis-server did not start: ${why.replace(/\s*\n\s*/g, ' | ') || 'no answer'}`);
    }

    const state: EmbeddedState = { ownerPid: process.pid, redisPid, port, startedAt: new Date().toISOString() };
    writeFileSync(stateFile, JSON.stringify(state) + '\n', { mode: 0o600 });
    log(`embedded redis-server started (pid ${redisPid}, 127.0.0.1:${port}, data in ${dir})`);

    let stopped: Promise<void> | null = null;
    return {
      pid: redisPid,
      port,
      dir,
      url: `redis://:${password}@127.0.0.1:${port}`,
      stop() {
        stopped ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.stdin!.end(); // the watchdog sends SIGTERM: Redis flushes the AOF and exits
            const timer = setTimeout(() => {
              if (isAlive(redisPid)) process.kill(redisPid, 'SIGKILL');
              child.kill('SIGKILL');
            }, 10_000);
            await exited;
            clearTimeout(timer);
          }
          // Remove the record only if it is still ours (a successor may have replaced it).
          try {
            if ((JSON.parse(readFileSync(stateFile, 'utf8')) as EmbeddedState).redisPid === redisPid) rmSync(stateFile, { force: true });
          } catch {
            // already gone
          }
          log(`embedded redis-server stopped (pid ${redisPid})`);
        })();
        return stopped;
      },
    };
  }
}

/** True once the server answers PING with PONG (after AOF loading); false if it exits or times out. */
async function waitPong(port: number, password: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const probe = new Redis({
      host: '127.0.0.1',
      port,
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
      enableOfflineQueue: false,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return true;
    } catch {
      // not yet (refused, or LOADING)
    } finally {
      probe.disconnect();
    }
    await sleep(20);
  }
  return false;
}
