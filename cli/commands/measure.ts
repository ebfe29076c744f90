import { DEFAULT_MAX_INFLIGHT } from '../../bep5/constants.js';
import { DhtNode } from '../../bep5/node.js';
import { type Census, type Churn, type VersionShare } from '../../crawler/census.js';
import { CRAWL_DEFAULT_INFLIGHT, CRAWL_DEFAULT_PER_IP_RATE, CRAWL_DEFAULT_RATE } from '../../crawler/constants.js';
import { Crawler } from '../../crawler/crawler.js';
import { type SizeEstimate } from '../../crawler/estimate.js';
import { type Measurement, type MeasurePhase, measure } from '../../crawler/measure.js';
import { summarizeMeasurement } from '../../crawler/survey-summary.js';
import { recordSurvey } from '../../indexer/survey-series.js';
import { ensureSchema } from '../../migrations/runner.js';
import { type OpenIndex, openIndex, toCommandError } from '../index-options.js';
import { joinNetwork } from '../join.js';
import { addressScopeOption, formatPeer, onStopSignal, parseIpv4BindHost, parsePort, parseTimeoutSeconds, startNode, NODE_COMMAND_OPTIONS } from '../node-options.js';
import { StatusLine, count, duration } from '../status-line.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { CRAWL_FAMILY_OPTIONS, crawlBindOptions, crawlBootstrap, crawlFamilies, crawlFamilyHelp, familiesText, progressText, rateMeter, resolveCrawlBootstrap } from '../crawl-shared.js';
import { parseInteger, parseRate } from '../number-options.js';

const JOIN_TIMEOUT_S = 30;

const help = `Usage: dhtscope measure [--bootstrap LIST] [--targets M] [--sweeps 1|2] [--rate R] [--json]
                        [--host H] [--port P] [--duration S] [--allow-private|--allow-loopback]
                        [--ipv4-only|--ipv6-only] [--host6 H] [--redis-url URL [--prefix P]]

Measures the DHT: its size, from the distances of the K closest nodes to M random targets
(pooled maximum likelihood on the k-th distance, with a 95% bootstrap interval; of the IPv4
DHT, or of the IPv6 one with --ipv6-only: BEP 32 keeps them apart); and a census from crawler
sweeps of both families: client versions, BEP 51 and BEP 42 shares, response rate and
round-trip times, nodes per family; with --sweeps 2, churn between the two sweeps. It runs as a read-only node (BEP 43),
so nobody keeps it in their routing table after it is gone. Once it has joined, Ctrl-C
(SIGINT) or SIGTERM stops early and reports what was measured so far.

  --bootstrap LIST   comma-separated host:port entries to start from (default: the well-known
                     routers router.bittorrent.com:6881 and the others)
  --targets M        random lookups for the size estimate (default 64; the interval narrows
                     as 1/sqrt(8 M))
  --sweeps 1|2       crawler sweeps (default 1); 2 also measures churn between them
  --rate R           queries per second for lookups and sweeps (default ${CRAWL_DEFAULT_RATE}; ${CRAWL_DEFAULT_INFLIGHT} in
                     flight, ${CRAWL_DEFAULT_PER_IP_RATE} per second per IP, as for crawl)
  --json             print ONE JSON object with every figure: {"size","lookups","census",
                     "churn","sweeps","known","interrupted","ms","recorded"}; progress goes to stderr
  --redis-url URL    also record the measurement in the survey series of the index at URL
                     (redis://…, redis+cluster://…; its schema must be current: dhtscope
                     migrate), which the dashboard and GET /api/surveys show; Redis is checked
                     before measuring. Without it nothing is written anywhere.
  --prefix P         key prefix of that index (default: $DHTSCOPE_REDIS_PREFIX or "dhtscope")
  --host H           IPv4 address to bind (default 0.0.0.0)
  --port P           UDP port (default 0: any free port)
${crawlFamilyHelp(19)}
  --duration S       stop the sweeps after S seconds in all (a sweep of the whole public DHT
                     takes hours at the default rate); cut sweeps are marked partial
  --allow-loopback   also use loopback nodes (127.0.0.0/8, ::1) but no other private, reserved
                     or bogon address (implied when every bootstrap address, or --host, is
                     loopback): for test networks on this machine
  --allow-private    also use private, link-local and loopback nodes (a LAN; implied when every
                     bootstrap address, or --host, is private)
  -h, --help         show this help

Joining the network is bounded to ${JOIN_TIMEOUT_S} s. Exit code 0 after the report (also when stopped
early), 1 when no bootstrap node answered, nothing could be measured, or the measurement could not
be recorded (it is printed first), 2 on a usage error.

Example: dhtscope measure --targets 256 --sweeps 2 --duration 1800`;

/** Client codes (BEP 20 style, as the DHT's "v" uses them) and who they are. */
const CLIENTS: Record<string, string> = {
  LT: 'libtorrent (rasterbar)',
  lt: 'libTorrent (rakshasa)',
  UT: 'µTorrent',
  UM: 'µTorrent Mac',
  BT: 'BitTorrent',
  TR: 'Transmission',
  qB: 'qBittorrent',
  DE: 'Deluge',
  AZ: 'Vuze (Azureus)',
  BC: 'BitComet',
  XL: 'Xunlei',
  SD: 'Thunder (Xunlei)',
  TX: 'Tixati',
  KT: 'KTorrent',
  WW: 'WebTorrent',
  ML: 'MLdonkey',
  BN: 'Baidu Netdisk',
  FD: 'Free Download Manager',
  DS: 'dhtscope',
  '?': 'unrecognized',
};

export function clientName(code: string): string {
  return CLIENTS[code] ?? code;
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ms = (x: number | null): string => (x === null ? '-' : `${x} ms`);

function sizeLines(size: SizeEstimate | null, m: Measurement): string[] {
  if (size === null) return [`network size   not estimated: ${m.sizeError ?? 'no lookups'}`];
  return [
    `network size   ~${count(size.estimate)} nodes, ${Math.round(size.confidence * 100)}% interval ${count(size.low)}-${count(size.high)}`,
    `               estimator ${size.method} (pooled ML on the k-th closest distance, k = ${size.k},`,
    `               ${size.targets} of ${m.lookups.targets} random lookups converged, ${count(size.replicates)} bootstrap replicates)`,
  ];
}

function extensionLine(e: Census['bep32'], what: string, unmeasured: string): string {
  const judged = e.supported + e.unsupported;
  return judged === 0 ? `not measured: ${unmeasured}` : `${percent(e.share)} of ${count(judged)} with a verdict ${what}`;
}

function censusLines(c: Census, top = 10): string[] {
  const lines = [
    `census of ${count(c.nodes)} queried nodes`,
    `  response rate  ${percent(c.responseRate)} (${count(c.answered)} answered)`,
    `  BEP 51         ${percent(c.bep51.share)} of ${count(c.bep51.supported + c.bep51.unsupported)} asked support sample_infohashes` +
      (c.bep51.unknown > 0 ? ` (${count(c.bep51.unknown)} not asked)` : ''),
    `  BEP 42         ${percent(c.bep42Share)} with a compliant (or exempt) node ID`,
    `  BEP 32         ${extensionLine(c.bep32, 'speak IPv6 (answered over it, or gave IPv6 contacts to want n6)', 'crawl both families (drop --ipv4-only) to measure it')}`,
    `  BEP 33         ${extensionLine(c.bep33, 'answer a scrape of what they store with bloom filters', 'only BEP 51 nodes can be probed, with one of their samples')}`,
    ...(c.families.ipv6.nodes > 0
      ? [`  families       IPv4 ${count(c.families.ipv4.nodes)} queried (${count(c.families.ipv4.answered)} answered), IPv6 ${count(c.families.ipv6.nodes)} queried (${count(c.families.ipv6.answered)} answered)`]
      : []),
    `  RTT            p50 ${ms(c.rtt.p50)}, p90 ${ms(c.rtt.p90)}, p99 ${ms(c.rtt.p99)} (${count(c.rtt.samples)} nodes)`,
    `  clients        ${count(c.withVersion)} nodes sent a version`,
  ];
  const shown = c.versions.slice(0, top);
  const name = (v: VersionShare): string => `${clientName(v.client)} ${v.version}`;
  const width = Math.max(10, ...shown.map((v) => name(v).length));
  for (const v of shown) lines.push(`    ${name(v).padEnd(width)}  ${count(v.count).padStart(8)}  ${percent(v.share).padStart(6)}`);
  const rest = c.versions.slice(top);
  if (rest.length > 0) {
    const n = rest.reduce((a, v) => a + v.count, 0);
    lines.push(`    ${`${rest.length} others`.padEnd(width)}  ${count(n).padStart(8)}  ${percent(n / c.withVersion).padStart(6)}`);
  }
  const sybil = c.sybilRegions;
  if (sybil !== undefined) {
    lines.push(`  Sybil regions  ${sybil.length === 0 ? 'none (no ID range much denser than the size estimate predicts)' : `${sybil.length} ID ranges much denser than the size estimate predicts`}`);
    for (const r of sybil.slice(0, top))
      lines.push(`    ${(r.prefix === '' ? r.startId.slice(0, 8) : r.prefix).padEnd(12)} ${count(r.nodes).padStart(6)} nodes where ${r.expected.toPrecision(2)} were expected` + (r.distinctSlash24 === undefined ? '' : `, from ${count(r.distinctSlash24)} /24 network${r.distinctSlash24 === 1 ? '' : 's'}`));
  }
  return lines;
}

function churnLines(ch: Churn | undefined, m: Measurement): string[] {
  if (ch === undefined) return [];
  const lines = [
    `churn          sweep 1 -> 2: ${count(ch.before)} -> ${count(ch.after)} answering nodes; ${count(ch.stayed)} stayed, ` +
      `${count(ch.left)} left (${percent(ch.leftShare)}), ${count(ch.joined)} joined (${percent(ch.joinedShare)})`,
  ];
  if (m.complete[1] === false) lines.push('               (sweep 2 was cut short: "left" counts nodes it did not reach)');
  return lines;
}

export const measureCommand = defineCommand({
  name: 'measure',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    targets: { type: 'string' },
    sweeps: { type: 'string' },
    rate: { type: 'string' },
    port: { type: 'string' },
    duration: { type: 'string' },
    'redis-url': { type: 'string' },
    prefix: { type: 'string' },
    ...CRAWL_FAMILY_OPTIONS,
  },
  async run({ values }) {
    const bootstrap = crawlBootstrap(values.bootstrap, 'measure');
    const bind = parseIpv4BindHost(values.host, '0.0.0.0', 'the IPv6 one is --host6');
    const port = parsePort(values.port, '--port', 0, true);
    const targets = parseInteger(values.targets, '--targets', 64, 1, 100_000);
    const sweeps = parseInteger(values.sweeps, '--sweeps', 1, 1, 2);
    const rate = parseRate(values.rate, '--rate', CRAWL_DEFAULT_RATE);
    const crawlMs = values.duration === undefined ? undefined : parseTimeoutSeconds(values.duration, 0, '--duration');
    const json = values.json ?? false;
    if (values.prefix !== undefined && values['redis-url'] === undefined) throw new UsageError('--prefix names the index to record in: give --redis-url too');
    // Where to record, checked before a measurement that may take hours: reachable, schema current.
    let index: OpenIndex | null = null;
    if (values['redis-url'] !== undefined) {
      index = await openIndex({ 'redis-url': values['redis-url'], prefix: values.prefix });
      try {
        await ensureSchema(index.connection.client, index.keys, { migrate: false });
      } catch (err) {
        await index.connection.close();
        throw toCommandError(err);
      }
    }
    try {
      return await measureAndReport();
    } finally {
      await index?.connection.close();
    }

    async function measureAndReport(): Promise<number> {
      const status = new StatusLine({ stream: json ? process.stderr : process.stdout, prefix: 'dhtscope measure: ' });

      const crawl = await crawlFamilies(values, bind);
      if (crawl.notice !== undefined) status.log(`dhtscope measure: ${crawl.notice}`);
      const addresses = await resolveCrawlBootstrap(bootstrap, crawl.families);
      const node = new DhtNode({
        ...crawlBindOptions(bind, crawl, port),
        bootstrap: bootstrap.entries,
        addressScope: addressScopeOption({ allowPrivate: values['allow-private'], allowLoopback: values['allow-loopback'] }, bind),
        readOnly: true,
        // --rate bounds the lookups too (they go through the node's own outgoing budget).
        outgoingRate: rate,
        outgoingBurst: Math.max(16, Math.ceil(rate / 10)),
        maxInflight: CRAWL_DEFAULT_INFLIGHT + DEFAULT_MAX_INFLIGHT,
      });
      node.on('warning', (message) => {
        if (!json) status.log(`warning: ${message}`);
      });

      const stop = new AbortController();
      let interrupted: NodeJS.Signals | undefined;
      const dispose = onStopSignal(
        (signal) => {
          interrupted = signal;
          stop.abort(signal);
        },
        (signal) => `\ndhtscope measure: ${signal} again, exiting without a report\n`,
      );

      const started = performance.now();
      let result: Measurement;
      try {
        await startNode(node, bind.host, port);
        const join = AbortSignal.any([stop.signal, AbortSignal.timeout(JOIN_TIMEOUT_S * 1000)]);
        // The node joins its first family's DHT (IPv4 unless --ipv6-only): the size estimate's lookups run there.
        status.update(`joining through ${bootstrap.entries.join(', ')} from ${formatPeer(node.address(crawl.families[0])!)} (crawling ${familiesText(crawl.families)})`, { force: true });
        await joinNetwork(node, bootstrap, join, { timeoutMs: JOIN_TIMEOUT_S * 1000, timedOut: () => !stop.signal.aborted, log: (line) => status.log(`dhtscope measure: ${line}`) });
        const c = new Crawler({ node, bootstrap: addresses, rate, getPeersRate: 0 });
        const meter = rateMeter(() => c.progress().queriesSent);
        const onPhase = (p: MeasurePhase): void => {
          if (p.phase === 'lookups') status.update(`size: ${p.targets} random lookups…`, { force: true });
          if (p.phase === 'sweep') {
            status.update(`census: sweep ${p.sweep} of ${p.of}`, { force: true });
            status.follow(() => progressText(c.progress(), meter()));
          }
        };
        try {
          result = await measure({ node, crawler: c, targets, k: 8, sweeps, signal: stop.signal, concurrency: 32, crawlMs, onPhase });
        } finally {
          status.clear();
        }
      } finally {
        dispose();
        await node.stop();
      }

      const elapsed = Math.round(performance.now() - started);
      const entry = { at: Date.now(), source: { kind: 'measure' as const }, ...summarizeMeasurement(result) };
      // Recorded before the report, which says whether it was; only what measured something is worth keeping.
      let recorded = false;
      let recordError: string | undefined;
      if (index !== null && (result.size !== null || result.census.answered > 0)) {
        try {
          await recordSurvey(index.connection.client, index.keys, entry);
          recorded = true;
        } catch (err) {
          const why = toCommandError(err);
          recordError = why instanceof Error ? why.message : String(why);
        }
      }
      if (json) {
        const out = {
          size: result.size,
          ...(result.sizeError !== undefined ? { sizeError: result.sizeError } : {}),
          lookups: result.lookups,
          census: { ...result.census, versions: result.census.versions.map((v) => ({ ...v, name: clientName(v.client) })) },
          churn: result.churn ?? null,
          sweeps: result.sweeps.map((s, i) => ({ ...s, complete: result.complete[i] ?? false })),
          known: result.known,
          interrupted: interrupted !== undefined,
          ms: elapsed,
          recorded: recorded ? { prefix: index!.keys.prefix, at: entry.at } : null,
        };
        process.stdout.write(JSON.stringify(out) + '\n');
      } else {
        const partial = result.complete.some((c) => !c);
        const header =
          `measured ${count(result.known)} known nodes in ${duration(elapsed)}: ${result.lookups.targets} lookups, ` +
          `${result.sweeps.length} sweep${result.sweeps.length === 1 ? '' : 's'}${partial ? ' (partial)' : ''}` +
          (interrupted !== undefined ? `, stopped by ${interrupted}` : '');
        const lines = [header, '', ...sizeLines(result.size, result), '', ...censusLines(result.census), ...(result.churn ? ['', ...churnLines(result.churn, result)] : [])];
        if (recorded) lines.push('', `recorded in the survey series of index "${index!.keys.prefix}" (${index!.connection.description})`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (recordError !== undefined) throw new CommandError(`the measurement above was not recorded: ${recordError}`);
      if (result.size === null && result.census.answered === 0 && interrupted === undefined) {
        throw new CommandError('nothing could be measured: no lookup converged and no node answered the sweeps');
      }
      return 0;
    }
  },
});
