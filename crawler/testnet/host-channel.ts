import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
// `import type`: a plain import would run the child's top-level code (its IPC handlers) here.
import type { HostReply } from './bittorrent-dht-host.js';
import { childModule } from '../../bep5/child-module.js';
import { ForeignHostError } from '../errors.js';

/**
 * The pipe to a foreign host process (foreign-host.ts): bittorrent-dht-host.ts forked with IPC,
 * or libtorrent-host.py over stdin/stdout lines of JSON. Both speak the same request/reply
 * protocol; a host that exits or stops answering fails its pending requests with its stderr.
 */

const BITTORRENT_DHT_HOST = childModule(import.meta.url, './bittorrent-dht-host');
const LIBTORRENT_HOST = fileURLToPath(new URL('./libtorrent-host.py', import.meta.url));

const REQUEST_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;

/** One child process speaking request/reply ({rid, op, ...} → {rid, ok, result | error}). */
export class Channel {
  private nextRid = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stderr = '';
  private exitInfo: string | undefined;
  readonly exited: Promise<void>;
  readonly hello: Promise<{ pid: number; version: string }>;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    private readonly write: (message: object) => void,
    subscribe: (onMessage: (m: HostReply | { event: 'fatal'; error: string }) => void) => void,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4_000);
    });
    let helloResolve!: (v: { pid: number; version: string }) => void;
    let helloReject!: (e: Error) => void;
    this.hello = new Promise((resolve, reject) => {
      helloResolve = resolve;
      helloReject = reject;
    });
    this.hello.catch(() => {});
    this.exited = new Promise<void>((resolve) => {
      const done = (why: string): void => {
        if (this.exitInfo !== undefined) return;
        this.exitInfo = why;
        const err = new ForeignHostError(`${label} host ${why}${this.stderrTail()}`);
        helloReject(err);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.pending.clear();
        resolve();
      };
      // 'close', not 'exit': by then its last stdout line (a fatal error) has been read.
      child.once('close', (code, signal) => done(`exited (${signal ?? `code ${code}`})`));
      // 'on': a ChildProcess 'error' without a listener would throw in this process. The
      // first one (spawn failure) is what matters; later ones (IPC after exit) change nothing.
      child.on('error', (err) => done(`could not run: ${err.message}`));
    });
    subscribe((m) => {
      if ('event' in m) {
        if (m.event === 'hello') helloResolve({ pid: m.pid, version: m.version });
        else helloReject(new ForeignHostError(`${label} host cannot start: ${m.error}`));
        return;
      }
      const p = this.pending.get(m.rid);
      if (p === undefined) return;
      this.pending.delete(m.rid);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new ForeignHostError(`${label} host: ${m.error}`));
    });
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  stderrTail(): string {
    const tail = this.stderr.trim();
    return tail === '' ? '' : `; stderr: ${tail.slice(-1_500)}`;
  }

  request<T>(op: string, args: object = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    if (!this.alive) return Promise.reject(new ForeignHostError(`${this.label} host ${this.exitInfo}`));
    const rid = this.nextRid++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ForeignHostError(`${this.label} host did not answer "${op}" within ${timeoutMs} ms${this.stderrTail()}`));
      }, timeoutMs);
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.write({ rid, op, ...args });
      } catch (err) {
        this.pending.delete(rid);
        clearTimeout(timer);
        reject(new ForeignHostError(`${this.label} host: cannot send "${op}": ${(err as Error).message}`));
      }
    });
  }

  /** Asks the child to stop, then kills it if it has not exited within the grace period. */
  async stop(): Promise<void> {
    if (this.alive) {
      await this.request('stop', {}, STOP_GRACE_MS).catch(() => {});
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export function bittorrentDhtChannel(): Channel {
  const child = fork(BITTORRENT_DHT_HOST.path, [], {
    execArgv: BITTORRENT_DHT_HOST.execArgv,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  return new Channel(
    'bittorrent-dht',
    child,
    (m) => child.send(m),
    (on) => child.on('message', (m: HostReply) => on(m)),
  );
}

export function libtorrentChannel(python: string): Channel {
  const child = spawn(python, [LIBTORRENT_HOST], { stdio: ['pipe', 'pipe', 'pipe'] });
  // A write after the child died must surface through the pending request, not as an
  // unhandled 'error' event on stdin.
  child.stdin?.on('error', () => {});
  return new Channel(
    'libtorrent',
    child,
    (m) => child.stdin!.write(`${JSON.stringify(m)}\n`),
    (on) =>
      createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          on(JSON.parse(line) as HostReply);
        } catch {
          // not one of our lines: ignore
        }
      }),
  );
}
