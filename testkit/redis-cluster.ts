import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { sleep } from '../bep5/clock.js';
import { type RedisServerHandle, startRedisServer } from './redis-server.js';

/**
 * A real Redis Cluster on 127.0.0.1 for tests and benchmarks (issue 14): 3 masters (or
 * `masters`), each with one replica, AOF on (appendfsync everysec). Every node is a
 * testkit/redis-server.ts server (its own temp dir and free ports, its watchdog stopping it if
 * this process dies); `redis-cli --cluster create` joins them. killMaster() and
 * waitForFailover() are for failover tests; keysPerMaster() for tests of the key spread.
 */

export const REDIS_CLI = process.env['REDIS_CLI_BIN'] ?? 'redis-cli';
const HOST = '127.0.0.1';
const execFileAsync = promisify(execFile);

export interface RedisClusterOptions {
  /** How many masters, each given one replica (default 3, the least redis-cli accepts). */
  masters?: number;
  /**
   * cluster-node-timeout: how long a master may be silent before it is failed over. Default
   * 3000 ms, not Redis's 15 s, so a failover test takes seconds; not lower, so a node stalled
   * for a moment on a loaded machine is not failed over by mistake.
   */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** How long the cluster may take to become ok with every replica in sync (default 60 s). */
  startTimeoutMs?: number;
}

export interface ClusterNode {
  readonly port: number;
  /** The cluster node ID. */
  readonly id: string;
  /** The redis-server process itself (not its watchdog shell). */
  readonly pid: number;
  /** This and what follows are as of the last topology read (start, killMaster, waitForFailover, …). */
  role: 'master' | 'replica';
  /** A replica's master; null for a master. */
  masterId: string | null;
  /** A master's slot ranges, [first, last] inclusive. */
  slots: Array<[number, number]>;
  /** False once killMaster() has killed it. */
  alive: boolean;
}

export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…` (every node a seed), for connectRedis({ url }). */
  readonly url: string;
  readonly nodes: readonly ClusterNode[];
  /** The live masters ordered by first slot: master 0 holds slot 0, before and after its failover. */
  masters(): ClusterNode[];
  /** The master that holds `key` (its slot from CLUSTER KEYSLOT). */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILLs masters()[i]: no shutdown, no last AOF fsync. Returns it. */
  killMaster(i: number): Promise<ClusterNode>;
  /**
   * Waits until a replica of the killed master owns its slots in the view of every live node,
   * and every live node has cluster_state:ok. Returns the milliseconds since the kill.
   */
  waitForFailover(timeoutMs?: number): Promise<number>;
  /** How many keys match `pattern` on each live master (SCAN on that node), in masters() order. */
  keysPerMaster(pattern?: string): Promise<Array<{ port: number; keys: number }>>;
  /** Kills every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | null;
  slots: Array<[number, number]>;
}

/** CLUSTER NODES: `<id> <ip:port@bus> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>…`. */
function parseClusterNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(addr!)?.[1]),
        flags: flags!.split(','),
        masterId: master === '-' ? null : master!,
        // `[slot->-id]` entries are slots in migration, which this harness never starts.
        slots: slots.filter((s) => !s.startsWith('[')).map((s): [number, number] => {
          const [first, last = first] = s.split('-').map(Number);
          return [first!, last!];
        }),
      };
    });
}

const holds = (slots: Array<[number, number]>, slot: number): boolean => slots.some(([a, b]) => a <= slot && slot <= b);

/** Polls `check` every 50 ms until it holds; a thrown error counts as "not yet" and is reported at the deadline. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = `; last error: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} did not happen within ${timeoutMs} ms${last}`);
    await sleep(50);
  }
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masterCount = options.masters ?? 3;
  if (!Number.isInteger(masterCount) || masterCount < 3) throw new RangeError('a Redis Cluster wants at least 3 masters');
  const args = [
    '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 3000),
    // A replica's full sync starts at once, not after the 5 s Redis waits for more replicas.
    '--repl-diskless-sync-delay', '0',
    // A replica takes over however long ago it last heard from its master: what a test kills it for.
    '--cluster-replica-validity-factor', '0',
    ...(options.args ?? []),
  ];

  const settled = await Promise.allSettled(Array.from({ length: masterCount * 2 }, () => startRedisServer({ cluster: 'node', aof: true, args })));
  const servers = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const admins = new Map<number, Redis>();
  const nodes: ClusterNode[] = [];
  let killed: { node: ClusterNode; slot: number; replicaIds: string[]; at: number } | null = null;
  let stopping: Promise<void> | null = null;

  // SIGKILL, not the watchdog's SIGTERM: the data is thrown away, and a master's SIGTERM
  // shutdown may wait for lagging replicas. Synchronous, so it can run at process exit.
  const killAll = (): void => {
    for (const n of nodes) {
      if (!n.alive) continue;
      n.alive = false;
      try {
        process.kill(n.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  // A test that crashes or times out without stop(): the watchdogs stop the servers when this
  // process ends; this also removes the directories when it ends normally.
  const onExit = (): void => {
    killAll();
    for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      for (const c of admins.values()) c.disconnect();
      killAll();
      await Promise.all(servers.map((s) => s.stop()));
    })());

  const admin = (n: ClusterNode): Redis => admins.get(n.port)!;
  const live = (): ClusterNode[] => nodes.filter((n) => n.alive);
  const view = async (n: ClusterNode): Promise<NodeLine[]> => parseClusterNodes(String(await admin(n).call('CLUSTER', 'NODES')));
  const stateOk = async (n: ClusterNode): Promise<boolean> => /cluster_state:ok/.test(String(await admin(n).call('CLUSTER', 'INFO')));
  /** Roles and slots as a live node sees them. */
  const refresh = async (): Promise<void> => {
    const lines = await view(live()[0]!);
    for (const n of nodes) {
      const line = lines.find((l) => l.id === n.id);
      if (line === undefined) continue;
      n.role = line.flags.includes('master') ? 'master' : 'replica';
      n.masterId = line.masterId;
      n.slots = line.slots;
    }
  };
  const masters = (): ClusterNode[] => live().filter((n) => n.role === 'master' && n.slots.length > 0).sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);

  try {
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    for (const s of servers) {
      const c = new Redis({ host: HOST, port: s.port, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      admins.set(s.port, c);
      const id = String(await c.call('CLUSTER', 'MYID'));
      const pid = Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1]);
      nodes.push({ port: s.port, id, pid, role: 'master', masterId: null, slots: [], alive: true });
    }

    const create = ['--cluster', 'create', ...servers.map((s) => `${HOST}:${s.port}`), '--cluster-replicas', '1', '--cluster-yes'];
    await execFileAsync(REDIS_CLI, create, { timeout: 60_000 }).catch((err: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
      if (err.code === 'ENOENT') throw new Error(`${REDIS_CLI} not found (Debian: redis-tools, which redis-server depends on)`);
      throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });

    // Ready: every node has cluster_state:ok and sees `masterCount` masters with slots, each
    // with a replica, and every replica has finished its sync (master_link_status:up).
    await until('start-up', options.startTimeoutMs ?? 60_000, async () => {
      for (const n of nodes) {
        if (!(await stateOk(n))) return false;
        const lines = await view(n);
        const owners = lines.filter((l) => l.flags.includes('master') && l.slots.length > 0);
        if (owners.length !== masterCount || owners.some((m) => !lines.some((l) => l.masterId === m.id))) return false;
        const replication = await admin(n).info('replication');
        if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) return false;
      }
      return true;
    });
    await refresh();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `redis+cluster://${servers.map((s) => `${HOST}:${s.port}`).join(',')}`,
    nodes,
    masters,
    async masterOf(key) {
      const slot = Number(await admin(live()[0]!).call('CLUSTER', 'KEYSLOT', key));
      await refresh();
      const m = masters().find((n) => holds(n.slots, slot));
      if (m === undefined) throw new Error(`no live master holds slot ${slot}`);
      return m;
    },
    async killMaster(i) {
      await refresh();
      const m = masters()[i];
      if (m === undefined) throw new RangeError(`no live master ${i}`);
      const replicaIds = nodes.filter((n) => n.masterId === m.id).map((n) => n.id);
      admin(m).disconnect(); // before the kill: no reconnect attempts to a dead node
      m.alive = false;
      process.kill(m.pid, 'SIGKILL');
      killed = { node: m, slot: m.slots[0]![0], replicaIds, at: Date.now() };
      return m;
    },
    async waitForFailover(timeoutMs = 60_000) {
      const k = killed;
      if (k === null) throw new Error('waitForFailover() without killMaster()');
      await until(`failover of master :${k.node.port}`, timeoutMs, async () => {
        for (const n of live()) {
          if (!(await stateOk(n))) return false;
          const owner = (await view(n)).find((l) => holds(l.slots, k.slot));
          if (owner === undefined || !k.replicaIds.includes(owner.id) || !owner.flags.includes('master')) return false;
        }
        return true;
      });
      const ms = Date.now() - k.at;
      await refresh();
      return ms;
    },
    async keysPerMaster(pattern = '*') {
      await refresh();
      return Promise.all(
        masters().map(async (m) => {
          let keys = 0;
          let cursor = '0';
          do {
            const [next, batch] = await admin(m).scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            keys += batch.length;
          } while (cursor !== '0');
          return { port: m.port, keys };
        }),
      );
    },
    stop,
  };
}
