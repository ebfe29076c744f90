import { sleep } from '../../bep5/clock.js';
import { KrpcAbortError } from '../../bep5/errors.js';
import { type DhtNode } from '../../bep5/node.js';
import { ensureSchema } from '../../migrations/runner.js';
import { DISCOVERY_CONCURRENCY, LOCK_DURATION_MS, PEER_LOOKUP_CONCURRENCY, PEER_LOOKUPS_PER_SECOND, SHUTDOWN_GRACE_MS, STALLED_INTERVAL_MS } from '../../workers/constants.js';
import { startWorkers, type WorkerSet } from '../../workers/worker-set.js';
import { type QueueDepths, type WorkerStats } from '../../workers/worker-set-types.js';
import { parseBootstrapOption } from '../bootstrap-option.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, type OpenIndex, openIndex, toCommandError } from '../index-options.js';
import { allowPrivateOption, defaultBindHost, formatPeer, NODE_COMMAND_OPTIONS, oneShotClient, onStopSignal, parseBindHost, parsePort, parseTimeoutSeconds, startNode } from '../node-options.js';
import { count, StatusLine } from '../status-line.js';
import { defineCommand } from '../define-command.js';
import { CommandError } from '../errors.js';
import { parseInteger } from '../number-options.js';

const help = `Usage: dhtscope workers [--concurrency N] [--no-peer-lookups] [--no-metadata] [--bootstrap LIST|none]
                        [--host H] [--port P] [--allow-private|--allow-loopback] [--json] [--stats-interval S]
                        [--redis-url URL] [--prefix P] [--data-dir DIR]

Runs the index workers alone, until Ctrl-C (SIGINT) or SIGTERM: they apply the discovery
batches that crawlers queue in Redis to the index, look up fresh peers on the DHT for
infohashes that have none, and fetch torrent metadata (name, size, files; BEP 9) from the
peers of infohashes that have peers and no metadata yet. To scale out, start more of them, here or on other machines, with
the same --redis-url and --prefix: each job goes to one worker, and the jobs of a worker that
dies are picked up by the others. On a stop signal, running jobs finish (up to ${SHUTDOWN_GRACE_MS / 1000} s; the
rest are retried later) and the command exits 0. The index schema is migrated first if needed.

  --concurrency N       discovery batches applied at once (default ${DISCOVERY_CONCURRENCY})
  --no-peer-lookups     run no DHT node: leave peer lookups to other workers
  --verbose             also print routine lines: job attempts that fail and will be retried
  --no-metadata         fetch no metadata: leave it to other workers (it opens TCP
                        connections to peers, at most 32 at once)
  --bootstrap LIST      where the peer-lookup node joins the DHT: comma-separated host:port or
                        [ipv6]:port entries (default: router.bittorrent.com:6881 and the other
                        well-known routers); "none" runs no node, as --no-peer-lookups
  --host H              address the peer-lookup node binds (default 0.0.0.0, or :: when every
                        bootstrap entry is IPv6)
  --port P              its UDP port (default 0: any free port)
  --allow-loopback      also use loopback nodes (127.0.0.0/8, ::1) but no other private,
                        reserved or bogon address (implied when every bootstrap address, or
                        --host, is loopback): for test networks on this machine
  --allow-private       also use private, link-local and loopback DHT nodes and fetch metadata
                        from such peers (a LAN; implied when every bootstrap address, or --host,
                        is private)
  --json                one JSON object per stdout line, each with an "event" field: first
                        {"event":"ready","redis","prefix","concurrency","peerLookups",...}, then
                        "stats" every --stats-interval (counters and queue depths), "log" lines,
                        and "stopped" at the end
  --stats-interval S    seconds between stats lines when not on a terminal, or with --json
                        (default 10); a terminal gets a live status line instead
${INDEX_OPTIONS_HELP}
  -h, --help            show this help

Tuning (and tests): a job whose worker died is retried once its lock expires and a stalled
check runs; lower values recover sooner but need a responsive event loop.
  --lock-duration MS    lock of a running job, renewed at half this (default ${LOCK_DURATION_MS})
  --stalled-interval MS how often to look for jobs of dead workers (default ${STALLED_INTERVAL_MS})

Peer lookups run ${PEER_LOOKUP_CONCURRENCY} at once per worker and at most ${PEER_LOOKUPS_PER_SECOND} per second across all workers.
Exit code 0 after a clean stop, 1 when Redis cannot be reached, its index has a newer schema
than this dhtscope, or the node cannot bind, 2 on a usage error.

Example: dhtscope workers --redis-url redis://10.0.0.5:6379 --concurrency 8`;

type Json = Record<string, unknown>;

/** How often a terminal's status line is redrawn. */
const TTY_REFRESH_MS = 1_000;

/** How long the exit waits for the Redis connection to close (it cannot while Redis is down). */
const CONNECTION_CLOSE_WAIT_MS = 3_000;

function statusText(s: WorkerStats, q: QueueDepths | null, lookups: boolean): string {
  const depth = (d: QueueDepths['discoveries'] | undefined): string => (d ? `${count(d.waiting)} waiting, ${d.active} active` : '…');
  const parts = [
    `${count(s.batchesApplied)} batches (${count(s.eventsApplied)} events) applied, ${count(s.batchesDuplicate)} duplicate, ${count(s.discoveryJobsFailed)} failed`,
    `queue ${depth(q?.discoveries)}`,
  ];
  if (lookups) parts.push(`lookups ${count(s.peerLookupsDone)} done (${count(s.peersFound)} peers), ${depth(q?.peerLookups)}`);
  return parts.join('; ');
}

export const workersCommand = defineCommand({
  name: 'workers',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    ...INDEX_COMMAND_OPTIONS,
    port: { type: 'string' },
    concurrency: { type: 'string' },
    'no-peer-lookups': { type: 'boolean' },
    verbose: { type: 'boolean' },
    'no-metadata': { type: 'boolean' },
    'stats-interval': { type: 'string' },
    'lock-duration': { type: 'string' },
    'stalled-interval': { type: 'string' },
  },
  async run({ values }) {
    const concurrency = parseInteger(values.concurrency, '--concurrency', DISCOVERY_CONCURRENCY, 1, 1_000);
    const lockDurationMs = parseInteger(values['lock-duration'], '--lock-duration', LOCK_DURATION_MS, 100);
    const stalledIntervalMs = parseInteger(values['stalled-interval'], '--stalled-interval', STALLED_INTERVAL_MS, 100);
    const statsMs = parseTimeoutSeconds(values['stats-interval'], 10, '--stats-interval');
    const bootstrap = parseBootstrapOption(values.bootstrap);
    const lookups = !(values['no-peer-lookups'] ?? false) && bootstrap.entries.length > 0;
    const bind = parseBindHost(values.host, defaultBindHost(bootstrap.entries));
    const port = parsePort(values.port, '--port', 0, true);
    const json = values.json ?? false;

    const status = new StatusLine({ tty: json ? false : undefined, prefix: 'dhtscope workers: ' });
    const event = (obj: Json): void => void process.stdout.write(JSON.stringify(obj) + '\n');
    // Until the ready line is out, log lines are held back so that it comes first (a failed
    // start prints only its one-line error: the held lines are connection noise it explains).
    let held: string[] | null = [];
    const log = (line: string): void => {
      if (held !== null) held.push(line);
      else if (json) event({ event: 'log', message: line });
      else status.log(`dhtscope workers: ${line}`);
    };
    const release = (): void => {
      const lines = held ?? [];
      held = null;
      for (const line of lines) log(line);
    };

    // Signals are caught from the start: the first stops gracefully, a second exits at once.
    // A worker set that stops by itself (onFatal) wakes the same wait with its error.
    let wake: (reason: NodeJS.Signals | Error) => void = () => undefined;
    const stopRequested = new Promise<NodeJS.Signals | Error>((r) => (wake = r));
    const dispose = onStopSignal(wake, (signal) => `dhtscope workers: ${signal} again, exiting without waiting for running jobs\n`);

    let index: OpenIndex | undefined;
    let node: DhtNode | undefined;
    let set: WorkerSet | undefined;
    let bootstrapping: Promise<void> = Promise.resolve();
    const cleanUp = async (): Promise<void> => {
      await set?.close();
      await node?.stop();
      await bootstrapping;
      // With Redis unreachable, closing its clients may never finish: do not hang the exit on it.
      const closing = index?.connection.close();
      await Promise.race([closing, sleep(CONNECTION_CLOSE_WAIT_MS, { unref: true })]);
    };
    try {
      index = await openIndex(values, { log: (line) => log(line) });
      await ensureSchema(index.connection.client, index.keys, { migrate: true, onLog: log });
      if (lookups) {
        node = oneShotClient({ bind, port, bootstrap: bootstrap.entries, dataDir: undefined, allowPrivate: values['allow-private'], allowLoopback: values['allow-loopback'], log });
        await startNode(node, bind.host, port);
        const n = node;
        bootstrapping = n.bootstrap().then(
          (size) => log(`peer-lookup node joined the DHT (${size} contacts)`),
          (err: unknown) => {
            if (!(err instanceof KrpcAbortError)) log(`bootstrap stopped: ${String(err)}`);
          },
        );
      }
      set = await startWorkers({
        connection: index.connection,
        keys: index.keys,
        concurrency,
        peerLookups: node ? { node } : null,
        metadata: values['no-metadata'] ? null : { allowPrivate: allowPrivateOption(values['allow-private'], bind) ?? false },
        lockDurationMs,
        stalledIntervalMs,
        log,
        ...(values.verbose === true ? { verboseLog: log } : {}),
        onFatal: (err) => wake(err),
      });
    } catch (err) {
      dispose();
      await cleanUp().catch(() => undefined);
      throw toCommandError(err);
    }

    const ready = {
      redis: index.connection.description,
      mode: index.connection.mode,
      prefix: index.keys.prefix,
      concurrency,
      peerLookups: node ? { address: formatPeer(node.address(bind.family)!), concurrency: set.info.peerLookups!.concurrency, perSecond: set.info.peerLookups!.perSecond } : null,
      pid: process.pid,
    };
    if (json) event({ event: 'ready', ...ready });
    else {
      const where = node ? `peer lookups from ${ready.peerLookups!.address}` : 'no peer lookups';
      status.log(`dhtscope workers: ready; Redis ${ready.redis} (${ready.mode}), prefix "${ready.prefix}", ${concurrency} batches at once, ${where}; Ctrl-C to stop`);
    }
    release();

    // Progress: queue depths are read on a timer (they need Redis); the status line shows the latest.
    const started = Date.now();
    let depths: QueueDepths | null = null;
    let stopping = false;
    const tick = async (): Promise<void> => {
      if (stopping) return;
      try {
        depths = await set.queueDepths();
      } catch (err) {
        log(`cannot read queue depths: ${(err as Error).message}`);
      }
      const stats = set.stats();
      if (stopping) return;
      if (json) event({ event: 'stats', uptimeS: Math.round((Date.now() - started) / 1000), ...stats, queues: depths });
      else status.update(statusText(stats, depths, node !== undefined), { force: !status.tty });
    };
    const timer = setInterval(() => void tick(), status.tty ? TTY_REFRESH_MS : statsMs);

    const reason = await stopRequested;
    stopping = true;
    clearInterval(timer);
    status.clear();
    if (!(reason instanceof Error) && !json) status.log(`dhtscope workers: ${reason}: finishing running jobs and stopping`);
    await cleanUp();
    dispose();
    const final = set.stats();
    if (json) event({ event: 'stopped', reason: reason instanceof Error ? 'fatal' : reason, ...final });
    else status.log(`dhtscope workers: stopped; ${statusText(final, depths, node !== undefined)}`);
    if (reason instanceof Error) throw new CommandError(reason.message);
    return 0;
  },
});
