import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../bep5/clock.js';

/**
 * A real redis-server for tests and benchmarks: its own temp dir, a free loopback port (never
 * 6379), no persistence (unless `aof`). Tests start one per test FILE through
 * test/helpers/redis.ts (`useRedisServer(test)`), and every test uses its own random key prefix
 * (`randomPrefix()`), so tests in one file can run concurrently against one server. Benchmarks
 * call startRedisServer() directly: they may not import test/. testkit/redis-cluster.ts builds
 * a Redis Cluster out of these servers.
 */

export const REDIS_SERVER = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
const HOST = '127.0.0.1';

/**
 * sh -c WATCHDOG name bin args…: runs `bin args…` (stdin /dev/null) and SIGTERMs it when the
 * watchdog's stdin reaches EOF; exits with its status.
 */
const WATCHDOG = 'exec 3<&0; bin="$1"; shift; "$bin" "$@" </dev/null & pid=$!; (read -r _ <&3; kill -TERM "$pid" 2>/dev/null) & wait "$pid"';

export interface RedisServerOptions {
  /**
   * true: a one-node Redis Cluster owning all 16384 slots (cluster-enabled yes). 'node':
   * cluster-enabled with no slots, for testkit/redis-cluster.ts to join into a cluster.
   */
  cluster?: boolean | 'node';
  /** AOF on (appendonly yes, appendfsync everysec) instead of no persistence. */
  aof?: boolean;
  /** Require this password (requirepass); the handle's url then carries it. */
  password?: string;
  /** Extra redis-server arguments (`['--maxmemory', '10mb']`). */
  args?: string[];
}

export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` (or `redis+cluster://…` for a cluster server). */
  readonly url: string;
  readonly dir: string;
  /** The pid of the watchdog shell around redis-server (changes on restart). */
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
  /** Stops and starts again on the same port (data is lost unless `aof`). For outage tests. */
  restart(): Promise<void>;
  /** Stops the server without removing its directory; `start()` brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). Never 6379. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, HOST, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 6379 && port !== 0) return port;
  }
}

/** A key prefix of its own for each test: `t` + 12 hex digits. */
export function randomPrefix(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

/** Resolves once a fresh connection gets PONG (not LOADING); rejects after `ms` or if the child exits. */
async function waitForPong(port: number, password: string | undefined, child: ChildProcess, ms: number, log: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited || child.exitCode !== null) throw new Error(`redis-server exited during start-up:\n${log()}`);
    const probe = new Redis({ host: HOST, port, ...(password !== undefined ? { password } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableOfflineQueue: false });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await sleep(25);
  }
  throw new Error(`redis-server did not answer PING within ${ms} ms:\n${log()}`);
}

async function waitClusterOk(port: number, ms: number): Promise<void> {
  const c = new Redis({ host: HOST, port, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    try {
      await c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    } catch (err) {
      // After restart() the nodes file still assigns the slots.
      if (!/busy/i.test((err as Error).message)) throw err;
    }
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const info = String(await c.call('CLUSTER', 'INFO'));
      if (/cluster_state:ok/.test(info)) return;
      await sleep(25);
    }
    throw new Error('cluster_state did not become ok');
  } finally {
    c.disconnect();
  }
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-redis-'));
  let port = await freePort();
  // The cluster bus port, picked like the client port: redis-server's default (port + 10000)
  // does not exist for a port above 55535, about a fifth of the ephemeral range.
  let busPort = options.cluster ? await freePort() : 0;
  let child: ChildProcess | null = null;
  let output = '';

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', options.aof ? 'yes' : 'no', '--dir', dir, '--daemonize', 'no'];
    if (options.aof) args.push('--appendfsync', 'everysec');
    if (options.password !== undefined) args.push('--requirepass', options.password);
    if (options.cluster) {
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-port', String(busPort), '--cluster-announce-ip', HOST);
    }
    args.push(...(options.args ?? []));
    output = '';
    // Through a small sh watchdog: redis-server is stopped when our end of the stdin pipe
    // closes, i.e. by stop() or when this process dies for any reason (an ava timeout, a
    // crash), so a failed run leaves no server behind.
    const c = spawn('sh', ['-c', WATCHDOG, 'redis-watchdog', REDIS_SERVER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdout!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-4000)));
    c.stderr!.setEncoding('utf8').on('data', (s: string) => (output = (output + s).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      c.once('spawn', resolve);
      c.once('error', reject);
    });
    child = c;
    await waitForPong(port, options.password, c, 10_000, () => output);
    if (options.cluster === true) await waitClusterOk(port, 10_000);
  };

  const halt = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.stdin!.end(); // the watchdog sends redis-server SIGTERM and exits when it has
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  // A port taken between freePort() and bind: try another (only before the first start).
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      await halt();
      if (attempt >= 4 || !/Address already in use/i.test(output)) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      port = await freePort();
      if (options.cluster) busPort = await freePort();
    }
  }

  const handle: RedisServerHandle = {
    host: HOST,
    get port() {
      return port;
    },
    get url() {
      const auth = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : '';
      return `${options.cluster ? 'redis+cluster' : 'redis'}://${auth}${HOST}:${port}`;
    },
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    kill: halt,
    start: launch,
  };
  return handle;
}

