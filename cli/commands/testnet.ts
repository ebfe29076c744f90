import { sleep } from '../../bep5/clock.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { TESTNET_PORT } from '../../crawler/testnet/addresses.js';
import { type TestnetOptions } from '../../crawler/testnet/plan.js';
import { BEHAVIOUR, DEFAULT_PROFILE_SHARES, MIXED_NETWORK, PROFILES, parseProfileShares } from '../../crawler/testnet/profiles.js';
import { ForeignHostError, TestnetError } from '../../crawler/errors.js';
import { Testnet, type TestnetProgress } from '../../crawler/testnet/testnet.js';
import { defaultDataDir, onStopSignal, parseFileOption } from '../node-options.js';
import { StatusLine, count, duration } from '../status-line.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { parseFraction, parseInteger } from '../number-options.js';

/**
 * Node i of a testnet lives at 127.<base + i / 254²>.x.y (crawler/testnet/addresses.ts, base 20
 * unless --address-base), and the announcing peers right after the nodes.
 */
const FIRST_OCTET = 20;
const ANNOUNCER_OCTET = 240;
export const MAX_TESTNET_NODES = (ANNOUNCER_OCTET - FIRST_OCTET) * 254 * 254;

const help = `Usage: dhtscope testnet --nodes N --infohashes M [--seed S] [--mix mixed|uniform]
                        [--unresponsive F] [--gone F] [--leaving F] [--bittorrent-dht F]
                        [--libtorrent N] [--profiles LIST] [--shared-ip F] [--no-bep51 F]
                        [--ipv6 F [--ipv6-only F]]
                        [--latency MIN-MAXms] [--loss P] [--workers W]
                        [--ground-truth FILE] [--json]

Runs a realistic DHT on this machine for crawling, measuring and demos, until Ctrl-C (SIGINT)
or SIGTERM: N real nodes, each on its own loopback address (127.${FIRST_OCTET}.1.1:${TESTNET_PORT} and up; any
127.x.y.z binds on Linux), spread over worker processes, with routing tables shaped like a
long-running network's and M infohashes announced through real get_peers / announce_peer
traffic. It prints the bootstrap address to crawl from and writes a ground-truth file (every
node with its kind, behaviour profile, \`v\`, whether it is live and speaks BEP 51, and which
nodes store which infohash) that says what a perfect crawler would find. Everything but the
foreign nodes' own IDs follows from the seed.

The real DHT is not made of dhtscope nodes, so by default (--mix mixed) the network holds
real foreign processes: ${Math.round(MIXED_NETWORK.bittorrentDht * 100)}% bittorrent-dht nodes (npm) and ${MIXED_NETWORK.libtorrent} libtorrent nodes
(python3-libtorrent, with its BEP 51 sample interval lowered to 0), and our own nodes take
the behaviour profiles of clients that cannot run here:
${PROFILES.filter((p) => p !== 'dhtscope').map((p) => `  ${p.padEnd(15)}${BEHAVIOUR[p].about}`).join('\n')}
The default shares of our nodes (--profiles):
  ${Object.entries(DEFAULT_PROFILE_SHARES).map(([p, f]) => `${p}=${f}`).join(',')}

  --nodes N            nodes in the network (1-${count(MAX_TESTNET_NODES)}, one loopback address each)
  --infohashes M       infohashes to announce (0 or more)
  --seed S             integer 0-4294967295 (default 1): the same options and seed give the
                       same network
  --mix M              mixed (default) or uniform (only plain dhtscope nodes; the flags below
                       still apply)
  --unresponsive F     fraction 0-1 of nodes that are in routing tables but never answer
                       (default 0; the bootstrap node always answers)
  --gone F             fraction 0-1 of our answering nodes that leave right after the
                       announces, still listed in others' tables (default 0)
  --leaving F          fraction 0-1 of our answering nodes that leave during the first
                       --leave-window seconds after the network is ready (default 0; 10 s)
  --bittorrent-dht F   fraction 0-1 of all nodes that are bittorrent-dht processes
  --libtorrent N       libtorrent nodes (python3-libtorrent)
  --libtorrent-interval S  libtorrent's BEP 51 sample interval in seconds (mixed: 0;
                       libtorrent's own default is 21600)
  --profiles LIST      shares of our nodes per profile, e.g. silent=0.2,aria2=0.1 (the rest
                       are plain dhtscope nodes)
  --shared-ip F        fraction 0-1 of our nodes behind a shared IP, 4 to an address
  --no-bep51 F         fraction 0-1 of our nodes that answer sample_infohashes with error 204
                       (the no-bep51 profile; default 0)
  --ipv6 F             fraction 0-1 of our own and of the dead nodes also on IPv6 (BEP 32):
                       each on ::1 with a port of its own, answering nodes6 (default 0; the
                       bootstrap node is one of them when F > 0; foreign nodes stay IPv4)
  --ipv6-only F        fraction 0-1 of those IPv6 nodes on IPv6 only (default 0)
  --latency MIN-MAX    reply delay per datagram in ms, uniform in [MIN, MAX], e.g. 50-300ms
                       (default none)
  --loss P             probability 0-1 (below 1) that a node's outgoing datagram is lost
                       (default 0)
  --workers W          worker processes (default: one per core, at most one per node)
  --address-base B     first octet of node addresses, 127.B.1.1 and up (default 20); testnets
                       with different bases run side by side
  --ground-truth FILE  where to write the ground truth (default: <data dir>/testnet-<seed>-
                       ground-truth.json; the data dir is $DHTSCOPE_DATA_DIR, else ~/.dhtscope)
  --json               one JSON object per stdout line: first {"event":"ready","bootstrap":
                       "ip:port","bootstrap6":"[::1]:port" or null,"groundTruth":"path","nodes":N,
                       "responsive":n,"infohashes":M,
                       "ms":T,...}, then {"event":"stopped"}; progress goes to stderr
  -h, --help           show this help

Only one testnet runs at a time (they share the addresses). Exit code 0 after a clean stop,
1 when it cannot start (addresses in use, ...), 2 on a usage error.

Example: dhtscope testnet --nodes 2000 --infohashes 20000 --unresponsive 0.2 --latency 50-300ms`;


/** The mix of node kinds and profiles: --mix, then the flags that override it. */
export function parseMix(values: Record<string, string | boolean | undefined>): Partial<TestnetOptions> {
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const mix = text('mix') ?? 'mixed';
  if (mix !== 'mixed' && mix !== 'uniform') throw new UsageError(`--mix must be mixed or uniform, got "${mix}"`);
  const out: Partial<TestnetOptions> = mix === 'mixed' ? { ...MIXED_NETWORK, profiles: { ...MIXED_NETWORK.profiles } } : {};
  if (text('bittorrent-dht') !== undefined) out.bittorrentDht = parseFraction(text('bittorrent-dht'), '--bittorrent-dht');
  if (text('libtorrent') !== undefined) out.libtorrent = parseInteger(text('libtorrent'), '--libtorrent', 0, 0, 64);
  if (text('libtorrent-interval') !== undefined) out.libtorrentIntervalS = parseInteger(text('libtorrent-interval'), '--libtorrent-interval', 0, 0, 21_600);
  if (text('gone') !== undefined) out.gone = parseFraction(text('gone'), '--gone');
  if (text('leaving') !== undefined) out.leaving = parseFraction(text('leaving'), '--leaving');
  if (text('leave-window') !== undefined) out.leaveWindowMs = parseInteger(text('leave-window'), '--leave-window', 10, 1, 86_400) * 1000;
  if (text('shared-ip') !== undefined) out.sharedIp = parseFraction(text('shared-ip'), '--shared-ip');
  if (text('ipv6') !== undefined) out.ipv6 = parseFraction(text('ipv6'), '--ipv6');
  if (text('ipv6-only') !== undefined) {
    if (out.ipv6 === undefined) throw new UsageError('--ipv6-only F goes with --ipv6 F (the share of nodes on IPv6)');
    out.ipv6Only = parseFraction(text('ipv6-only'), '--ipv6-only');
  }
  if (text('profiles') !== undefined) {
    try {
      out.profiles = parseProfileShares(text('profiles')!);
    } catch (err) {
      throw new UsageError(`--profiles: ${(err as Error).message}`);
    }
  }
  if ((out.bittorrentDht ?? 0) + (typeof values.unresponsive === 'string' ? Number(values.unresponsive) : 0) > 1) {
    throw new UsageError('--bittorrent-dht and --unresponsive add up to more than 1');
  }
  return out;
}

/** `50-300ms`, `50-300` or `100ms` (a fixed delay), in milliseconds. */
export function parseLatency(value: string | undefined): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:ms)?\s*(?:-\s*(\d+(?:\.\d+)?))?\s*(?:ms)?\s*$/i.exec(value);
  const bad = (why: string): UsageError => new UsageError(`--latency must be MIN-MAX in milliseconds, like 50-300ms or 50-300${why}, got "${value}"`);
  if (!m) throw bad('');
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min > max) throw bad(' (MIN must not exceed MAX)');
  if (max > 60_000) throw bad(' (at most 60000 ms)');
  return [min, max];
}

function progressText(p: TestnetProgress, workers: number, nodes: number, infohashes: number): string {
  if (p.phase === 'starting') return `starting ${count(nodes)} nodes: ${p.workersReady ?? 0} of ${workers} workers ready`;
  if (p.phase === 'announcing') return `${workers === 1 ? 'the worker is' : `all ${workers} workers are`} ready; announcing ${count(infohashes)} infohashes`;
  return `${count(p.nodes ?? nodes)} nodes ready`;
}

/** A start-up failure as one line the user can act on. */
function startError(err: unknown, groundTruthPath: string, addressBase: number): Error {
  if (err instanceof RangeError) return new CommandError(`cannot lay out the testnet: ${err.message}`);
  if (err instanceof ForeignHostError) {
    const hint = err.message.includes('EADDRINUSE') ? ' (is another testnet running? choose another --address-base)' : '';
    return new CommandError(`${err.message.split('\n')[0]}${hint}; --mix uniform runs without foreign processes`);
  }
  if (err instanceof TestnetError) {
    const first = err.message.split('\n')[0] ?? err.message;
    if (err.message.includes('EADDRINUSE')) {
      return new CommandError(
        `the testnet's addresses (127.${addressBase}.1.1:${TESTNET_PORT} and up) are in use: is another testnet running? Stop it first, or choose another --address-base`,
      );
    }
    if (err.message.includes('EADDRNOTAVAIL')) {
      return new CommandError(`cannot bind the testnet's loopback addresses (127.${addressBase}.x.y): every 127.x.y.z must be local, as on Linux (${first})`);
    }
    return new CommandError(first);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
    return new CommandError(`cannot write the ground truth to ${groundTruthPath} (${code}); choose another file with --ground-truth`);
  }
  return err as Error;
}

export const testnetCommand = defineCommand({
  name: 'testnet',
  help,
  options: {
    nodes: { type: 'string' },
    infohashes: { type: 'string' },
    seed: { type: 'string' },
    unresponsive: { type: 'string' },
    'no-bep51': { type: 'string' },
    mix: { type: 'string' },
    gone: { type: 'string' },
    leaving: { type: 'string' },
    'leave-window': { type: 'string' },
    'bittorrent-dht': { type: 'string' },
    libtorrent: { type: 'string' },
    'libtorrent-interval': { type: 'string' },
    profiles: { type: 'string' },
    'shared-ip': { type: 'string' },
    ipv6: { type: 'string' },
    'ipv6-only': { type: 'string' },
    latency: { type: 'string' },
    loss: { type: 'string' },
    workers: { type: 'string' },
    'address-base': { type: 'string' },
    'ground-truth': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values }) {
    if (values.nodes === undefined || values.infohashes === undefined) {
      throw new UsageError('testnet needs --nodes N and --infohashes M (try dhtscope testnet --help)');
    }
    const nodes = parseInteger(values.nodes, '--nodes', 0, 1);
    if (nodes > MAX_TESTNET_NODES) {
      throw new UsageError(
        `--nodes ${values.nodes} does not fit: a testnet has room for ${count(MAX_TESTNET_NODES)} nodes ` +
          `(one address each, 127.${FIRST_OCTET}.1.1 to 127.${ANNOUNCER_OCTET - 1}.254.254)`,
      );
    }
    const infohashes = parseInteger(values.infohashes, '--infohashes', 0, 0);
    const seed = parseInteger(values.seed, '--seed', 1, 0, 0xffff_ffff);
    const unresponsive = parseFraction(values.unresponsive, '--unresponsive');
    const noBep51 = parseFraction(values['no-bep51'], '--no-bep51');
    const mix = parseMix(values);
    const latencyMs = parseLatency(values.latency);
    const loss = parseFraction(values.loss, '--loss', true);
    const workersOption = values.workers === undefined ? undefined : parseInteger(values.workers, '--workers', 1, 1, 1024);
    const addressBase = parseInteger(values['address-base'], '--address-base', FIRST_OCTET, 1, 200);
    const groundTruthPath = parseFileOption(values['ground-truth'], '--ground-truth', () => join(defaultDataDir(), `testnet-${seed}-ground-truth.json`));
    const json = values.json ?? false;
    const workers = Math.max(1, Math.min(workersOption ?? availableParallelism(), nodes));

    const status = new StatusLine({ stream: json ? process.stderr : process.stdout, prefix: 'dhtscope testnet: ' });
    const say = (line: string): void => (json ? undefined : status.log(line));

    // Signals are caught from the start. During start-up there is nothing to save: the workers
    // exit when this process does (they watch their IPC channel).
    let ready = false;
    let stopSignal: NodeJS.Signals | undefined;
    let wake: (signal: NodeJS.Signals) => void = () => undefined;
    const stopRequested = new Promise<NodeJS.Signals>((r) => (wake = r));
    const stopped = (signal: NodeJS.Signals): void => {
      if (json) process.stdout.write(JSON.stringify({ event: 'stopped', signal }) + '\n');
      else say('stopped');
    };
    const dispose = onStopSignal(
      (signal) => {
        stopSignal = signal;
        wake(signal);
        if (!ready) {
          status.clear();
          say(`${signal} during start-up: stopping`);
          stopped(signal);
          process.exit(0);
        }
      },
      (signal) => `\ndhtscope testnet: ${signal} again, exiting at once\n`,
    );

    const started = performance.now();
    let current: TestnetProgress = { phase: 'starting', workersReady: 0 };
    const render = (): string => `${progressText(current, workers, nodes, infohashes)} (${duration(performance.now() - started)})`;
    status.follow(render);
    let testnet: Testnet;
    try {
      testnet = await Testnet.start({
        addressBase,
        nodes,
        infohashes,
        seed,
        unresponsive,
        ...mix,
        ...(noBep51 > 0 ? { profiles: { ...mix.profiles, 'no-bep51': noBep51 } } : {}),
        latencyMs,
        loss,
        workers: workersOption,
        groundTruthPath,
        onProgress: (p) => {
          current = p;
          if (p.phase !== 'ready') status.update(render(), { force: true });
        },
      });
    } catch (err) {
      status.clear();
      // A Ctrl-C on a terminal reaches the workers too; their exit may be seen before our handler runs.
      if (stopSignal === undefined) await sleep(250);
      dispose();
      throw startError(err, groundTruthPath, addressBase);
    }
    status.clear();
    ready = true;
    const ms = Math.round(performance.now() - started);
    const truth = testnet.groundTruth;
    const responsive = truth.nodes.filter((n) => n.responsive).length;
    const live = truth.nodes.filter((n) => n.live).length;
    const kinds: Record<string, number> = {};
    for (const n of truth.nodes) {
      const key = n.kind === 'dhtscope' && n.profile !== 'dhtscope' ? `dhtscope/${n.profile}` : n.kind;
      kinds[key] = (kinds[key] ?? 0) + 1;
    }
    if (json) {
      const event = {
        event: 'ready',
        bootstrap: testnet.bootstrap,
        bootstrap6: truth.bootstrap6,
        groundTruth: groundTruthPath,
        nodes: truth.nodes.length,
        responsive,
        live,
        kinds,
        infohashes,
        ms,
        stored: Object.keys(truth.infohashes).length,
        seed,
        workers: testnet.plan.options.workers,
        announceFailures: truth.announceFailures,
      };
      process.stdout.write(JSON.stringify(event) + '\n');
    } else {
      const failures = truth.announceFailures > 0 ? ` (${count(truth.announceFailures)} announces lost)` : '';
      process.stdout.write(
        `testnet ready in ${duration(ms)}: ${count(truth.nodes.length)} nodes (${count(responsive)} responsive), ` +
          `${count(Object.keys(truth.infohashes).length)} infohashes stored${failures}\n` +
          `  kinds         ${Object.entries(kinds).map(([k, n]) => `${count(n)} ${k}`).join(', ')}; ${count(live)} live\n` +
          `  bootstrap     ${testnet.bootstrap}${truth.bootstrap6 === null ? '' : ` (IPv6: ${truth.bootstrap6}; ${count(truth.nodes.filter((n) => n.address6 !== null).length)} nodes on IPv6)`}\n` +
          `  ground truth  ${groundTruthPath}\n` +
          `Try: dhtscope crawl --bootstrap ${testnet.bootstrap}\n` +
          `Ctrl-C to stop\n`,
      );
    }

    const signal = await stopRequested;
    say(`${signal}: stopping ${count(truth.nodes.length)} nodes`);
    await testnet.stop();
    stopped(signal);
    dispose();
    return 0;
  },
});
