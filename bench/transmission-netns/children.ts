import { type ChildProcess, execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type InnerMessage } from './shared.js';

/** Lines from a child's stream, awaited one message at a time. */
export class LineReader {
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    const rl = createInterface({ input: stream });
    rl.on('line', (line) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(line);
      } else this.lines.push(line);
    });
    rl.on('close', () => {
      this.ended = true;
      this.waiter?.(undefined);
      this.waiter = undefined;
    });
  }

  next(timeoutMs: number, what: string): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(new Error(`our side exited while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        if (line === undefined) reject(new Error(`our side exited while waiting for ${what}`));
        else resolve(line);
      };
    });
  }
}

/** Runs a command to completion, with a deadline. */
export function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message.trim()}${stderr ? ` (${stderr.trim()})` : ''}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** The next message of `type` from our side (logging its log lines on the way); throws on its error message or at the deadline. */
export async function expectMessage<T extends InnerMessage['type']>(reader: LineReader, type: T, timeoutMs: number, log: (l: string) => void): Promise<Extract<InnerMessage, { type: T }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await reader.next(Math.max(1, deadline - Date.now()), `"${type}" from our side`);
    let msg: InnerMessage;
    try {
      msg = JSON.parse(line) as InnerMessage;
    } catch {
      log(`our side: ${line}`);
      continue;
    }
    if (msg.type === 'log') log(msg.line);
    else if (msg.type === 'error') throw new Error(`our side failed: ${msg.message}`);
    else if (msg.type === type) return msg as Extract<InnerMessage, { type: T }>;
  }
}

/** Stops a child we started: SIGTERM, then SIGKILL after `graceMs`. */
export function stopChild(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A backstop for when this process dies without cleaning up (a crash, SIGKILL, a closed pipe):
 * a small process in the root namespace that is told every process, namespace and directory
 * we create, ignores Ctrl-C, and when its stdin closes (we exited, one way or another) stops
 * the processes still registered and removes the rest. After a normal cleanup it finds nothing.
 */
export const SENTINEL_SCRIPT = `
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const pids = new Set(), namespaces = [], dirs = [];
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.pid) pids.add(m.pid);
  if (m.reaped) pids.delete(m.reaped);
  if (m.ns) namespaces.push(m.ns);
  if (m.dir) dirs.push(m.dir);
});
rl.on('close', async () => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 30 && [...pids].some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const ns of namespaces.reverse()) { try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch {} }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
`;
