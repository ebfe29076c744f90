import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsc, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../bep5/clock.js';
import { RedisConnectError, RedisServerNotInstalledError } from './errors.js';

/**
 * The embedded `redis-server` child that holds the index when the user has no Redis: AOF on
 * (appendfsync everysec), its files in `<dataDir>/redis`, bound to 127.0.0.1 on a FREE port (not
 * 6379) with a random password. `stop()` stops it; so does this process's death in any form
 * (even SIGKILL): a tiny sh watchdog between us and redis-server sends it SIGTERM when our end
 * of its stdin pipe closes, and Redis then flushes the AOF and exits. It runs in its own
 * session, so a Ctrl-C aimed at dhtscope does not stop Redis before dhtscope's last write.
 *
 * Why not 6379: 6379 is where the user's own Redis goes. Taking it would make a later
 * `systemctl start redis` fail, and another dhtscope process would find "a Redis on 6379"
 * (connection.ts, step 2) and attach to a server whose lifetime belongs to this process. A free
 * port plus a password keeps the child private; processes this one starts (workers) get `url`.
 * `<dataDir>/redis/embedded.json` records the owner and port, so a second process on the same
 * data directory is refused (two servers on one AOF would corrupt it) and a server somehow
 * left running by a dead owner is shut down (SIGTERM: AOF flushed) before a new one starts.
 */
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
