import { type ChildProcess, fork } from 'node:child_process';
import { childModule } from '../../bep5/child-module.js';
import { type PopulationOptions } from './population.js';
import { type SimulatorStats } from './simulator.js';

/**
 * A simulated DHT of up to 16 M nodes served by a child process (simnet-process.ts) on
 * loopback, for the crawler to survey through an EnvelopeSocket (envelope-socket.ts). The
 * ground truth (who is live, who answered, how many packets each node received) stays in the
 * child and is read with report().
 */

export type SimnetOptions = PopulationOptions;

export type ToSimnet =
  | { type: 'start'; options: SimnetOptions; host: string; recvBufferSize?: number }
  | { type: 'report' }
  | { type: 'advance'; ms: number }
  | { type: 'stop' };

export interface SimnetReport {
  coverage: { live: number; reached: number; stayed: number; reachedStayed: number };
  /** Datagrams received by the virtual nodes, dead and departed ones included. */
  packets: number;
  stats: SimulatorStats;
}

export type FromSimnet =
  | { type: 'ready'; address: { host: string; port: number }; bootstrap: Array<{ host: string; port: number }>; buildMs: number; bytes: number }
  | ({ type: 'report' } & SimnetReport)
  | { type: 'advanced'; elapsedMs: number }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

const CHILD = childModule(import.meta.url, './simnet-process');

export class Simnet {
  private constructor(
    private readonly child: ChildProcess,
    readonly address: { host: string; port: number },
    /** Reachable nodes spread over the ID space, to start a crawl from. */
    readonly bootstrap: Array<{ host: string; port: number }>,
    readonly buildMs: number,
    /** The population's arrays in the child. */
    readonly bytes: number,
  ) {}

  static async start(options: SimnetOptions, o: { host?: string; recvBufferSize?: number; maxOldSpaceMb?: number } = {}): Promise<Simnet> {
    const execArgv = [...CHILD.execArgv, ...(o.maxOldSpaceMb === undefined ? [] : [`--max-old-space-size=${o.maxOldSpaceMb}`])];
    const child = fork(CHILD.path, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await next(child, 'ready', () => child.send({ type: 'start', options, host: o.host ?? '127.0.0.1', ...(o.recvBufferSize === undefined ? {} : { recvBufferSize: o.recvBufferSize }) } satisfies ToSimnet));
    return new Simnet(child, ready.address, ready.bootstrap, ready.buildMs, ready.bytes);
  }

  async report(): Promise<SimnetReport> {
    const r = await next(this.child, 'report', () => this.child.send({ type: 'report' } satisfies ToSimnet));
    return { coverage: r.coverage, packets: r.packets, stats: r.stats };
  }

  /**
   * Moves the simulator's clock on by `ms`: the nodes due to leave in that time are gone at once.
   * For tests of churn between two surveys, which would otherwise wait out the churn window.
   * Returns the simulator's elapsed time after the move.
   */
  async advance(ms: number): Promise<number> {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`advance needs a finite ms >= 0, got ${ms}`);
    const r = await next(this.child, 'advanced', () => this.child.send({ type: 'advance', ms } satisfies ToSimnet));
    return r.elapsedMs;
  }

  async stop(): Promise<void> {
    if (!this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await next(this.child, 'stopped', () => this.child.send({ type: 'stop' } satisfies ToSimnet)).catch(() => undefined);
    await exited;
  }
}

/** Sends with `send` and waits for the child's message of `type` (an error message, or the child's exit, rejects). */
function next<T extends FromSimnet['type']>(child: ChildProcess, type: T, send: () => void): Promise<Extract<FromSimnet, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromSimnet): void => {
      if (m.type === type) {
        done();
        resolve(m as Extract<FromSimnet, { type: T }>);
      } else if (m.type === 'error') {
        done();
        reject(new Error(`simnet: ${m.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`simnet process exited (${signal ?? code}) before '${type}'`));
    };
    const done = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    send();
  });
}
