import { join } from 'node:path';
import { DEFAULT_MAX_INFLIGHT } from '../../bep5/constants.js';
import { KrpcAbortError } from '../../bep5/errors.js';
import { DhtNode } from '../../bep5/node.js';
import { idToHex } from '../../bep5/node-id.js';
import {
  CRAWL_DEFAULT_GET_PEERS_RATE,
  CRAWL_DEFAULT_INFLIGHT,
  CRAWL_DEFAULT_PER_IP_RATE,
  CRAWL_DEFAULT_RATE,
  CRAWL_RECV_BUFFER_BYTES,
} from '../../crawler/constants.js';
import { Crawler } from '../../crawler/crawler.js';
import { type SweepSummary } from '../../crawler/crawler-types.js';
import { NdjsonFileSink } from '../../crawler/ndjson-sink.js';
import { CRAWL_FAMILY_OPTIONS, boundText, crawlBindOptions, crawlBootstrap, crawlFamilies, crawlFamilyHelp, familiesText, progressText, rateMeter, resolveCrawlBootstrap } from '../crawl-shared.js';
import { NO_BOOTSTRAP_ANSWER_HINT } from '../constants.js';
import {
  addressScopeOption,
  defaultDataDir,
  onStopSignal,
  parseFileOption,
  parseIpv4BindHost,
  parsePort,
  parseTimeoutSeconds,
  startNode,
  NODE_COMMAND_OPTIONS,
} from '../node-options.js';
import { parseInteger, parseRate } from '../number-options.js';
import { StatusLine, count, duration } from '../status-line.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { isLoopback } from '../../bep5/ip.js';
import { MAX_PARTITION_BITS } from '../../crawler/id-partition.js';
import { EnvelopeSocket } from '../../crawler/simnet/envelope-socket.js';
import { SURVEY_NAME_PATTERN } from '../../workers/survey/survey-keys.js';
import { SURVEY_DEFAULT_CONCURRENCY, SURVEY_DEFAULT_LOCK_MS } from '../../workers/survey/survey-process.js';
import { parseHostPort } from '../host-port.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP } from '../index-options.js';
import { runSurveyCrawl } from '../survey-crawl.js';

const help = `Usage: dhtscope crawl [--bootstrap LIST] [--duration S] [--rate R] [--inflight N]
                      [--per-ip-rate R] [--get-peers-rate R] [--out FILE] [--host H] [--port P]
                      [--ipv4-only|--ipv6-only] [--host6 H] [--json]
                      [--allow-private|--allow-loopback] [--simnet HOST:PORT]
       dhtscope crawl --survey NAME [--partitions N] [--concurrency C] [--partition-lock S]
                      [--redis-url URL] [--prefix P] [--data-dir DIR] [the options above]

Crawls the DHT: starts a node (the crawler queries with its identity and it answers others
as any node does), then sweeps the ID space so that every node is queried about once per
sweep, with BEP 51 sample_infohashes. Silence, 203 or 204 to that says "no BEP 51 here", not
"dead": find_node follows at once, and the client versions found to lack BEP 51 are asked
find_node first from then on. Every discovery -
nodes that answered, infohashes, samples, peers - is written to an NDJSON file, one JSON
object per line with a "type" field. A status line shows progress; Ctrl-C (SIGINT) or
SIGTERM stops early, still closes the file and prints the summary.

  --bootstrap LIST      comma-separated host:port entries to start from (default: the
                        well-known routers router.bittorrent.com:6881, router.utorrent.com:6881,
                        dht.transmissionbt.com:6881, dht.libtorrent.org:25401)
  --duration S          sweep again and again for S seconds (later sweeps re-visit every known
                        node); default: one sweep, then stop
  --rate R              queries per second, all kinds together (default ${CRAWL_DEFAULT_RATE})
  --inflight N          queries in flight at once (default ${CRAWL_DEFAULT_INFLIGHT})
  --per-ip-rate R       queries per second to one IP address (default ${CRAWL_DEFAULT_PER_IP_RATE}); for IPv6,
                        to one /64 (what one host is given)
  --get-peers-rate R    get_peers per second for newly seen infohashes, asked of the node that
                        sampled them (default ${CRAWL_DEFAULT_GET_PEERS_RATE}; 0: no peer discovery)
  --out FILE            the NDJSON file (default: <data dir>/crawls/crawl-<time>.ndjson,
                        the data dir being $DHTSCOPE_DATA_DIR, else ~/.dhtscope)
  --host H              IPv4 address to bind (default 0.0.0.0)
  --port P              UDP port (default 0: any free port; IPv4 and IPv6 alike)
${crawlFamilyHelp(22)}
  --json                print one JSON object at the end instead of the text summary:
                        {"nodes","answered","queries","rps","infohashes","peers","sweeps","out",
                        "events","ms","interrupted","families","ipv6"}; progress goes to stderr
  --allow-loopback      also use loopback nodes (127.0.0.0/8, ::1) but no other private,
                        reserved or bogon address, IPv6 ones included (implied when every
                        bootstrap address, or --host, is loopback): for test networks on this
                        machine
  --allow-private       also use private, link-local and loopback nodes (a LAN; implied when
                        every bootstrap address, or --host, is private)
  --simnet HOST:PORT    crawl the simulated DHT served there (crawler/simnet/, bench:survey)
                        instead of the network: every datagram goes to it in an envelope

Shared survey (one ID-space sweep split across processes and machines through Redis):
  --survey NAME         join survey NAME: take partitions of the ID space from its queue, crawl
                        each (only its own nodes; others' contacts are passed on to them), hand
                        back what was found, until no partition is left. Start as many
                        processes as you like, on any machines with the same Redis; one that
                        dies loses nothing (its partitions go to the others).
                        dhtscope survey NAME --status shows the whole survey.
  --partitions N        partitions of a new survey (a power of 2, default 64; joining an
                        existing survey must not ask for another number)
  --concurrency C       partitions this process crawls at once (default 2); --rate and
                        --inflight are for the whole process
  --partition-lock S    seconds a silent process keeps its partitions before the others take
                        them (default 30)
${INDEX_OPTIONS_HELP}
  -h, --help            show this help

The defaults are polite enough for a home connection: ${CRAWL_DEFAULT_RATE} queries/s is about 60 kB/s up.
Exit code 0 after the crawl (also when stopped early), 1 when no node answered or the node
or file cannot be opened, 2 on a usage error.

Example: dhtscope crawl --duration 600 --out crawl.ndjson`;

/** A file name part from the time: 2024-05-01T12-00-00Z (no colons, so it works everywhere). */
function fileTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
}

/** `--simnet HOST:PORT`: where the simulated DHT listens (loopback only). */
function parseSimnetOption(value: string): { host: string; port: number } {
  let address: { host: string; port: number };
  try {
    address = parseHostPort(value);
  } catch (err) {
    throw new UsageError(`--simnet wants HOST:PORT of the simulated DHT: ${(err as Error).message}`);
  }
  if (!isLoopback(address.host)) throw new UsageError(`--simnet must be a loopback address (the simulator runs on this machine), got ${address.host}`);
  return address;
}

/** The --survey options, or undefined without --survey (then the others are refused). */
function surveyOptions(values: { survey?: string | undefined; partitions?: string | undefined; concurrency?: string | undefined; 'partition-lock'?: string | undefined; duration?: string | undefined }):
  | { name: string; bits: number | undefined; concurrency: number; lockMs: number }
  | undefined {
  if (values.survey === undefined) {
    for (const flag of ['partitions', 'concurrency', 'partition-lock'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --survey NAME`);
    return undefined;
  }
  if (!SURVEY_NAME_PATTERN.test(values.survey)) throw new UsageError(`--survey wants a name of 1-64 letters, digits, '.', '_' or '-', got "${values.survey}"`);
  if (values.duration !== undefined) throw new UsageError('--duration does not go with --survey: a survey process works until no partition is left');
  let bits: number | undefined;
  if (values.partitions !== undefined) {
    const n = parseInteger(values.partitions, '--partitions', 64, 1, 2 ** MAX_PARTITION_BITS);
    bits = Math.log2(n);
    if (!Number.isInteger(bits)) throw new UsageError(`--partitions must be a power of 2 (1, 2, 4, … ${2 ** MAX_PARTITION_BITS}), got ${n}`);
  }
  const concurrency = parseInteger(values.concurrency, '--concurrency', SURVEY_DEFAULT_CONCURRENCY, 1, 64);
  const lockMs = parseTimeoutSeconds(values['partition-lock'], SURVEY_DEFAULT_LOCK_MS / 1000, '--partition-lock');
  return { name: values.survey, bits, concurrency, lockMs };
}

async function openSink(path: string): Promise<NdjsonFileSink> {
  try {
    return await NdjsonFileSink.open(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new CommandError(`cannot write ${path} (${code}); choose another file with --out`);
    throw err;
  }
}

export const crawlCommand = defineCommand({
  name: 'crawl',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    duration: { type: 'string' },
    rate: { type: 'string' },
    inflight: { type: 'string' },
    'per-ip-rate': { type: 'string' },
    'get-peers-rate': { type: 'string' },
    out: { type: 'string' },
    port: { type: 'string' },
    simnet: { type: 'string' },
    survey: { type: 'string' },
    partitions: { type: 'string' },
    concurrency: { type: 'string' },
    'partition-lock': { type: 'string' },
    ...CRAWL_FAMILY_OPTIONS,
    ...INDEX_COMMAND_OPTIONS,
  },
  async run({ values }) {
    const bootstrap = crawlBootstrap(values.bootstrap, 'crawl');
    // A crawl of the simulated DHT talks to it on loopback only.
    const bind = parseIpv4BindHost(values.host, values.simnet === undefined ? '0.0.0.0' : '127.0.0.1', 'the IPv6 one is --host6');
    const port = parsePort(values.port, '--port', 0, true);
    const durationMs = values.duration === undefined ? undefined : parseTimeoutSeconds(values.duration, 0, '--duration');
    const rate = parseRate(values.rate, '--rate', CRAWL_DEFAULT_RATE);
    const inflight = parseInteger(values.inflight, '--inflight', CRAWL_DEFAULT_INFLIGHT, 1, 65_536);
    const perIpRate = parseRate(values['per-ip-rate'], '--per-ip-rate', CRAWL_DEFAULT_PER_IP_RATE);
    const getPeersRate = parseRate(values['get-peers-rate'], '--get-peers-rate', CRAWL_DEFAULT_GET_PEERS_RATE, true);
    const out = parseFileOption(values.out, '--out', () => join(defaultDataDir(), 'crawls', `crawl-${fileTime(new Date())}.ndjson`));
    const json = values.json ?? false;

    // Text goes to stdout; with --json stdout holds only the summary, so progress goes to stderr.
    const status = new StatusLine({ stream: json ? process.stderr : process.stdout, prefix: 'dhtscope crawl: ' });
    const say = (line: string): void => status.log(json ? `dhtscope crawl: ${line}` : line);

    const simnet = values.simnet === undefined ? undefined : parseSimnetOption(values.simnet);
    const socketFactory = simnet === undefined ? undefined : () => new EnvelopeSocket(simnet);
    const addressScope = addressScopeOption({ allowPrivate: values['allow-private'], allowLoopback: values['allow-loopback'] }, bind);
    const survey = surveyOptions(values);
    // The simulated DHT is IPv4: its envelope names IPv4 addresses.
    if (simnet !== undefined && values['ipv6-only'] === true) throw new UsageError('--simnet crawls IPv4: it does not go with --ipv6-only');
    const crawl = simnet !== undefined ? { families: [4 as const], host6: '::1' } : await crawlFamilies(values, bind);
    if (crawl.notice !== undefined) say(crawl.notice);

    const addresses = await resolveCrawlBootstrap(bootstrap, crawl.families);
    const sink = await openSink(out);
    if (survey !== undefined) {
      return runSurveyCrawl({
        ...survey,
        index: values,
        bind,
        crawl,
        port,
        bootstrapEntries: bootstrap.entries,
        addresses,
        ...(addressScope !== undefined ? { addressScope } : {}),
        ...(socketFactory ? { socketFactory } : {}),
        crawler: { rate, maxInflight: inflight, perIpRate, getPeersRate },
        sink,
        out,
        json,
      });
    }
    const node = new DhtNode({
      ...crawlBindOptions(bind, crawl, port),
      bootstrap: bootstrap.entries,
      ...(addressScope !== undefined ? { addressScope } : {}),
      // The crawler's queries share the node's socket with the node's own (bootstrap, refresh, answers' pings).
      maxInflight: inflight + DEFAULT_MAX_INFLIGHT,
      recvBufferSize: CRAWL_RECV_BUFFER_BYTES,
      ...(socketFactory ? { socketFactory } : {}),
    });
    node.on('warning', (message) => {
      if (!json) say(`warning: ${message}`);
    });

    const stop = new AbortController();
    let interrupted: NodeJS.Signals | undefined;
    const dispose = onStopSignal(
      (signal) => {
        interrupted = signal;
        stop.abort(signal);
      },
      (signal) => `\ndhtscope crawl: ${signal} again, exiting without closing ${out}\n`,
    );

    const started = performance.now();
    let summaries: SweepSummary[] = [];
    let crawler: Crawler;
    try {
      try {
        await startNode(node, bind.host, port);
      } catch (err) {
        await sink.close().catch(() => undefined);
        throw err;
      }
      say(`crawling ${familiesText(crawl.families)} from ${bootstrap.entries.join(', ')} as ${idToHex(node.id)} on ${boundText(node, crawl.families)}`);
      say(`writing discoveries to ${out}`);
      // The node joins in the background (each family's table): it then answers queries like
      // any node and learns its external address; the crawler starts from the bootstrap
      // addresses at once.
      const joining = Promise.all(
        crawl.families.map((family) =>
          node.bootstrap({ signal: stop.signal, family }).catch((err: unknown) => {
            if (!(err instanceof KrpcAbortError) && !json) say(`bootstrap (IPv${family}) stopped: ${String(err)}`);
          }),
        ),
      );
      crawler = new Crawler({ node, bootstrap: addresses, rate, maxInflight: inflight, perIpRate, getPeersRate, sink });
      crawler.on('sweep-done', (s) => {
        if (durationMs !== undefined && !stop.signal.aborted) {
          say(`sweep ${s.sweep} done: ${count(s.answeredThisSweep)} nodes answered, ${count(s.failedThisSweep)} failed, ${count(s.infohashes)} infohashes so far`);
        }
      });
      const meter = rateMeter(() => crawler.progress().queriesSent);
      status.follow(() => progressText(crawler.progress(), meter()));
      try {
        summaries = durationMs === undefined ? [await crawler.sweep(stop.signal)] : await crawler.run({ durationMs, signal: stop.signal });
      } finally {
        status.clear();
        stop.abort();
        await joining;
        await sink.close();
      }
    } finally {
      dispose();
      await node.stop();
    }

    const ms = Math.round(performance.now() - started);
    const last = summaries.at(-1) ?? { ...crawler.progress(), bep51: 0, noBep51: 0 };
    const seconds = last.elapsedMs / 1000;
    const rps = seconds > 0 ? Math.round((last.queriesSent / seconds) * 10) / 10 : 0;
    const summary = {
      nodes: last.known,
      answered: last.answered,
      queries: last.queriesSent,
      rps,
      infohashes: last.infohashes,
      peers: last.peers,
      sweeps: last.sweep,
      bep51: last.bep51,
      noBep51: last.noBep51,
      families: crawl.families,
      ipv6: last.ipv6,
      out,
      events: sink.written,
      ms,
      interrupted: interrupted !== undefined,
    };
    if (json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      const ending = interrupted !== undefined ? ` (stopped by ${interrupted})` : '';
      process.stdout.write(
        `crawled ${summary.sweeps} sweep${summary.sweeps === 1 ? '' : 's'} in ${duration(ms)}${ending}\n` +
          `  nodes        ${count(summary.answered)} answered of ${count(summary.nodes)} known` +
          (summary.bep51 + summary.noBep51 > 0 ? ` (${count(summary.bep51)} with BEP 51, ${count(summary.noBep51)} without)` : '') +
          '\n' +
          (crawl.families.includes(6) ? `  IPv6         ${count(summary.ipv6.answered)} answered of ${count(summary.ipv6.known)} known\n` : '') +
          `  queries      ${count(summary.queries)} (${count(rps)} RPC/s)\n` +
          `  infohashes   ${count(summary.infohashes)}\n` +
          `  peers        ${count(summary.peers)}\n` +
          `  written to   ${out} (${count(summary.events)} events)\n`,
      );
    }
    if (summary.answered === 0 && interrupted === undefined) {
      process.stderr.write(`dhtscope crawl: no node answered (tried: ${bootstrap.entries.join(', ')}): ${NO_BOOTSTRAP_ANSWER_HINT}\n`);
      return 1;
    }
    return 0;
  },
});
