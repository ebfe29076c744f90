import { type ChildProcess, fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TESTNET_PORT } from './addresses.js';
import { type TestnetOptions, type TestnetPlan, planTestnet } from './plan.js';
import { type FromWorker, type ToWorker } from './worker.js';

/**
 * A realistic DHT on loopback: N real nodes spread over worker processes (one per core),
 * routing tables filled as a long-running network would have them, infohashes announced
 * through real get_peers / announce_peer traffic, and a ground-truth file that says what a
 * perfect crawler would find. Used by `dhtscope testnet`, tests, benchmarks and demos.
 */

export interface GroundTruth {
  seed: number;
  bootstrap: string;
  options: TestnetPlan['options'];
  nodes: Array<{ id: string; address: string; responsive: boolean; bep51: boolean }>;
  /** infohash (hex) → addresses of the nodes that stored it. */
  infohashes: Record<string, string[]>;
  /** infohash (hex) → the announcing peer's address. */
  peers: Record<string, string>;
  /** Announces that failed (lost on an impaired network). */
  announceFailures: number;
}

export interface TestnetProgress {
  phase: 'starting' | 'announcing' | 'ready';
  workersReady?: number;
  nodes?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'worker.ts');
const REGISTER = join(here, '..', '..', 'scripts', 'ts-node-register.mjs');

export class TestnetError extends Error {
  override readonly name = 'TestnetError';
  readonly code = 'ERR_TESTNET';
}

export class Testnet {
  private stopped = false;

  private constructor(
    readonly plan: TestnetPlan,
    readonly groundTruth: GroundTruth,
    readonly groundTruthPath: string | undefined,
    private readonly workers: ChildProcess[],
  ) {}

  /** The bootstrap address ("host:port") of the testnet: node 0, which always answers. */
  get bootstrap(): string {
    return this.groundTruth.bootstrap;
  }

  static async start(
    options: TestnetOptions & { groundTruthPath?: string; onProgress?: (p: TestnetProgress) => void },
  ): Promise<Testnet> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new TestnetError('nodes must be a positive integer');
    if (!Number.isInteger(options.infohashes) || options.infohashes < 0) throw new TestnetError('infohashes must be a non-negative integer');
    const plan = planTestnet(options, availableParallelism());
    const workers: ChildProcess[] = [];
    const progress = options.onProgress ?? (() => {});
    progress({ phase: 'starting', workersReady: 0 });
    try {
      for (let w = 0; w < plan.options.workers; w++) {
        // DHTSCOPE_WORKER_NODE_ARGS passes extra node flags to workers, e.g. "--cpu-prof" for profiling.
        const extra = (process.env.DHTSCOPE_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
        workers.push(fork(WORKER, [], { execArgv: ['--import', REGISTER, ...extra], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      }
      let ready = 0;
      await Promise.all(
        workers.map(async (child, w) => {
          const reply = expect(child, 'ready');
          child.send({ type: 'init', plan, worker: w } satisfies ToWorker);
          await reply;
          progress({ phase: 'starting', workersReady: ++ready });
        }),
      );
      progress({ phase: 'announcing' });
      const results = await Promise.all(
        workers.map(async (child) => {
          const reply = expect(child, 'announced');
          child.send({ type: 'announce' } satisfies ToWorker);
          return reply;
        }),
      );
      const truth = groundTruthOf(plan, results);
      if (options.groundTruthPath) {
        await mkdir(dirname(options.groundTruthPath), { recursive: true });
        await writeFile(options.groundTruthPath, JSON.stringify(truth));
      }
      progress({ phase: 'ready', nodes: plan.nodes.length });
      return new Testnet(plan, truth, options.groundTruthPath, workers);
    } catch (err) {
      for (const child of workers) child.kill('SIGKILL');
      throw err;
    }
  }

  /** Stops every node and worker. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      this.workers.map(async (child) => {
        if (child.exitCode !== null || !child.connected) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.send({ type: 'stop' } satisfies ToWorker);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Waits for one message of the given type from a worker; an error message or exit rejects. */
function expect<T extends FromWorker['type']>(child: ChildProcess, type: T): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker): void => {
      if (m.type === type) {
        cleanup();
        resolve(m as Extract<FromWorker, { type: T }>);
      } else if (m.type === 'error') {
        cleanup();
        reject(new TestnetError(`testnet worker failed: ${m.message}`));
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new TestnetError(`testnet worker exited (code ${code}) while waiting for "${type}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function groundTruthOf(plan: TestnetPlan, results: Array<Extract<FromWorker, { type: 'announced' }>>): GroundTruth {
  const address = (i: number): string => `${plan.nodes[i]!.host}:${plan.nodes[i]!.port}`;
  const infohashes: Record<string, string[]> = {};
  const peers: Record<string, string> = {};
  let failures = 0;
  for (const r of results) {
    failures += r.failures;
    for (const [ih, stored] of r.stored) {
      const hex = plan.infohashes[ih]!;
      infohashes[hex] = stored.map(address);
      peers[hex] = `${plan.announcerHosts[plan.announcerOf[ih]!]}:${TESTNET_PORT}`;
    }
  }
  return {
    seed: plan.options.seed,
    bootstrap: address(0),
    options: plan.options,
    nodes: plan.nodes.map((n) => ({ id: n.id, address: `${n.host}:${n.port}`, responsive: n.responsive, bep51: n.bep51 })),
    infohashes,
    peers,
    announceFailures: failures,
  };
}
