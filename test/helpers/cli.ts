import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ExecutionContext } from 'ava';
import { requireFreshBuild } from '../../testkit/build.js';

/** Runs the real `dhtscope` executable (bin/dhtscope.mjs) as a child process, with bounded waits. */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  private lineIndex = 0;
  private waiters: Array<() => void> = [];
  private ended = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.stdout += chunk;
      this.wakeAll();
    });
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.ended = true;
        this.wakeAll();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** The next complete stdout line, or a rejection after `ms` (or when the process ends first). */
  async nextLine(ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const rest = this.stdout.slice(this.lineIndex);
      const nl = rest.indexOf('\n');
      if (nl >= 0) {
        this.lineIndex += nl + 1;
        return rest.slice(0, nl);
      }
      if (this.ended) throw new Error(`process ended before printing a line; stderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no stdout line within ${ms} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }

  /** Waits for the next stdout line that is a JSON object whose `event` is `name`. */
  async nextEvent(name: string, ms = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.nextLine(Math.max(1, deadline - Date.now()));
      const obj = JSON.parse(line) as Record<string, unknown>;
      if (obj.event === name) return obj;
    }
  }

  /** The exit, or a rejection after `ms` (the process is then killed). */
  async exit(ms = 20_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`process did not exit within ${ms} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * Starts `dhtscope ...args`; the child is killed when the test ends, whatever happened. Hooks
 * (where ava has no t.teardown) pass null and kill the child themselves in an after.always hook.
 * `env` replaces the child's environment (default: this process's); `nodeArgs` go to node before the script.
 */
export function startCli(t: ExecutionContext | null, args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): CliProcess {
  requireFreshBuild();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), 'bin/dhtscope.mjs', ...args], { cwd: ROOT, stdio: 'pipe', ...(options.env ? { env: options.env } : {}) });
  const proc = new CliProcess(child);
  t?.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return proc;
}

/** Runs `dhtscope ...args` to completion (killed after `ms`). */
export function runCli(t: ExecutionContext, args: string[], ms = 45_000): Promise<CliResult> {
  return startCli(t, args).exit(ms);
}
