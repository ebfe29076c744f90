import { CRAWL_DEFAULT_RATE } from '../../crawler/constants.js';
import { type TestnetOptions } from '../../crawler/testnet/plan.js';
import { MIXED_NETWORK } from '../../crawler/testnet/profiles.js';
import { TestnetError } from '../../crawler/errors.js';
import { SpoolBusyError } from '../../workers/errors.js';
import { API_DEFAULT_HOST, API_DEFAULT_PORT } from '../../server/api/constants.js';
import { DEFAULT_RETAIN_DAYS } from '../../indexer/retention-constants.js';
import { parseBootstrapOption } from '../bootstrap-option.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, type RunIndex, runIndexOption, TESTNET_DATA_SUBDIR, TESTNET_PREFIX_SUFFIX, toCommandError } from '../index-options.js';
import { NODE_COMMAND_OPTIONS, onStopSignal, parseBindHost, parseIpv4BindHost, parsePort } from '../node-options.js';
import { CRAWL_FAMILY_OPTIONS, crawlFamilies, crawlFamilyHelp, familiesText } from '../crawl-shared.js';
import { StatusLine, count, duration } from '../status-line.js';
import { DhtscopeSystem, type SystemSummary } from '../system.js';
import { API_KEY_FILE_NAME, type ApiKey, apiKeyOption } from '../api-key.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { parseAmount, parseFraction, parseInteger, parseRate } from '../number-options.js';

const help = `Usage: dhtscope run [--testnet N] [--api-host H] [--api-port P] [--api-key-file F]
                    [--host H] [--port P] [--ipv4-only|--ipv6-only] [--host6 H]
                    [--bootstrap LIST] [--concurrency N] [--no-peer-lookups] [--no-metadata] [--rate R]
                    [--retain-days D] [--max-infohashes N]
                    [--redis-url URL] [--prefix P] [--data-dir DIR] [--json]

Runs the whole system in one process tree: a DHT node, the crawler, the BullMQ workers that
write discoveries into the Redis index, and the HTTP API, with Redis migrations applied at
start. Without --redis-url or $REDIS_URL (and nothing on 127.0.0.1:6379) it starts its own
redis-server with its data under the data directory. Runs until Ctrl-C (SIGINT) or SIGTERM,
then stops the crawl, hands every discovery to Redis (or the spool file, if Redis is down)
and exits 0.

  --testnet N            crawl a local testnet of N nodes on 127.x.y.z instead of the public
                         DHT: an offline demo, in an index of its own that leaves the real
                         one untouched: key prefix "<prefix>${TESTNET_PREFIX_SUFFIX}" ("dhtscope${TESTNET_PREFIX_SUFFIX}") and
                         data directory <data dir>/${TESTNET_DATA_SUBDIR} (its own embedded redis-server,
                         spool and ground-truth.json); --prefix / --data-dir override either
  --testnet-infohashes M infohashes announced in the testnet (default 10 per node)
  --testnet-address-base B  first octet of the testnet's 127.B.x.y addresses (default 20)
  --testnet-ipv6 F       share of the testnet's own nodes also on IPv6, on ::1 each with a port
                         of its own (BEP 32; default 0: an IPv4 testnet)
  --api-host H           address of the HTTP API (default ${API_DEFAULT_HOST})
  --api-port P           port of the HTTP API (default ${API_DEFAULT_PORT}; 0: any free port)
  --api-key-file F       the HTTP API's key: one line of a file of mode 0600 (F must exist, be
                         readable and closed to group and others, else exit 1). Every request
                         (API, dashboard, /metrics) must then carry it, as "Authorization: Bearer
                         <key>" or ?apikey=<key>; opening the dashboard once as /?apikey=<key>
                         keeps it in a cookie. An --api-host beyond loopback needs a key even
                         without this option: <data dir>/${API_KEY_FILE_NAME}, made at the first start
  --host H               IPv4 address of the DHT node (default 0.0.0.0; 127.0.0.1 with --testnet)
  --port P               UDP port of the DHT node (default 6881; 0 with --testnet)
${crawlFamilyHelp(23)}
  --bootstrap LIST       host:port entries to join from (default: the well-known routers)
  --testnet-mix M        mixed (default): bittorrent-dht and libtorrent processes beside our
                         nodes, which take the behaviour profiles of other clients (see
                         dhtscope testnet --help); uniform: only plain dhtscope nodes
  --allow-loopback       accept loopback nodes, but no other private or bogon address
  --allow-private        accept private and loopback nodes
  --concurrency N        discovery jobs at once in this process's workers (default 4)
  --no-peer-lookups      do not look up peers for infohashes that have none
  --no-metadata          do not fetch torrent metadata (names, files; BEP 9 over TCP) from peers
  --verbose              also print routine lines: job attempts that fail and will be retried
                         (always counted in the metrics and the stats)
  --rate R               crawler queries per second (default ${CRAWL_DEFAULT_RATE})
  --retain-days D        every hour, prune infohashes not seen for D days from the index
                         (default ${DEFAULT_RETAIN_DAYS}; 0 keeps everything; see dhtscope prune)
  --max-infohashes N     and keep at most N infohashes, the most recently seen (default: no cap)
${INDEX_OPTIONS_HELP}
                    (with --testnet: "<prefix>${TESTNET_PREFIX_SUFFIX}" and <data dir>/${TESTNET_DATA_SUBDIR}, see above)
  --json                 one JSON object per stdout line: {"event":"ready",...} with where the
                         API listens, where data lives, which index it writes ("index") and
                         the API key's file ("apiKeyFile", null when no key is asked for),
                         then {"event":"stats",...} every 10 s, and {"event":"stopped"}
  -h, --help             show this help

Exit code 0 after a clean stop, 1 when something cannot start (port in use, Redis
unreachable, ...), 2 on a usage error.

Examples:
  dhtscope run                      # the public DHT; API on http://${API_DEFAULT_HOST}:${API_DEFAULT_PORT}
  dhtscope run --testnet 500        # offline demo against 500 local nodes, in its own index
  dhtscope query stats --prefix dhtscope${TESTNET_PREFIX_SUFFIX} --data-dir ~/.dhtscope/${TESTNET_DATA_SUBDIR}
                                    # what the demo indexed (a plain query asks the real index)`;

export const runCommand = defineCommand({
  name: 'run',
  help,
  options: {
    ...INDEX_COMMAND_OPTIONS,
    ...NODE_COMMAND_OPTIONS,
    testnet: { type: 'string' },
    'testnet-infohashes': { type: 'string' },
    'testnet-address-base': { type: 'string' },
    'testnet-mix': { type: 'string' },
    'testnet-ipv6': { type: 'string' },
    'api-host': { type: 'string' },
    'api-port': { type: 'string' },
    'api-key-file': { type: 'string' },
    port: { type: 'string' },
    concurrency: { type: 'string' },
    'no-peer-lookups': { type: 'boolean' },
    'no-metadata': { type: 'boolean' },
    verbose: { type: 'boolean' },
    rate: { type: 'string' },
    'retain-days': { type: 'string' },
    'max-infohashes': { type: 'string' },
    'stats-interval': { type: 'string' },
    ...CRAWL_FAMILY_OPTIONS,
  },
  async run({ values }) {
    const testnetNodes = values.testnet === undefined ? undefined : parseInteger(values.testnet, '--testnet', 0, 2, 100_000);
    // A testnet demo writes its own index (prefix and data directory), never the real one.
    const index = runIndexOption(values, testnetNodes !== undefined);
    const { keys, dataDir } = index;
    if (testnetNodes !== undefined && values.bootstrap !== undefined) throw new UsageError('--testnet and --bootstrap exclude each other');
    const testnet =
      testnetNodes === undefined
        ? undefined
        : {
            nodes: testnetNodes,
            infohashes: parseInteger(values['testnet-infohashes'], '--testnet-infohashes', testnetNodes * 10, 0, 10_000_000),
            addressBase: parseInteger(values['testnet-address-base'], '--testnet-address-base', 20, 1, 250),
            ...testnetMix(values['testnet-mix']),
            ...(values['testnet-ipv6'] !== undefined ? { ipv6: parseFraction(values['testnet-ipv6'], '--testnet-ipv6') } : {}),
          };
    if (testnet === undefined && values['testnet-ipv6'] !== undefined) throw new UsageError('--testnet-ipv6 goes with --testnet N');
    const bind = parseIpv4BindHost(values.host, testnet ? '127.0.0.1' : '0.0.0.0', 'the IPv6 one is --host6');
    const port = parsePort(values.port, '--port', testnet ? 0 : 6881, true);
    const apiHost = parseBindHost(values['api-host'], API_DEFAULT_HOST, '--api-host').host;
    const apiPort = parsePort(values['api-port'], '--api-port', API_DEFAULT_PORT, true);
    const bootstrap = parseBootstrapOption(values.bootstrap);
    if (!testnet && bootstrap.entries.length === 0) throw new UsageError('run needs somewhere to start: give --bootstrap host:port (or leave it out for the well-known routers)');
    const concurrency = values.concurrency === undefined ? undefined : parseInteger(values.concurrency, '--concurrency', 4, 1, 1000);
    const rate = parseRate(values.rate, '--rate', CRAWL_DEFAULT_RATE);
    const retainDays = parseAmount(values['retain-days'], '--retain-days', DEFAULT_RETAIN_DAYS, 'of days (0 keeps everything)', true);
    const maxInfohashes = values['max-infohashes'] === undefined ? undefined : parseInteger(values['max-infohashes'], '--max-infohashes', 0, 1, Number.MAX_SAFE_INTEGER);
    const statsMs = parseInteger(values['stats-interval'], '--stats-interval', 10, 1, 86_400) * 1000;
    const json = values.json ?? false;
    // Before anything starts: a key file that cannot be used stops the run here.
    const apiKey = await apiKeyOption({ apiHost, keyFile: values['api-key-file'], dataDir });

    const status = new StatusLine({ stream: json ? process.stderr : process.stdout, prefix: 'dhtscope run: ' });
    const say = (line: string): void => status.log(json ? `dhtscope run: ${line}` : line);
    // IPv4 and IPv6 together unless told otherwise; without an IPv6 route, said once, IPv4.
    const crawl = await crawlFamilies(values, bind);
    if (crawl.notice !== undefined) say(crawl.notice);
    const emit = (event: Record<string, unknown>): void => {
      if (json) process.stdout.write(JSON.stringify(event) + '\n');
    };
    if (index.realIndex !== null && !index.realIndex.untouched) say(`warning: ${sharedWithRealIndex(index)}`);
    if (apiKey?.created) say(`the HTTP API listens beyond loopback (${apiHost}), so it asks for a key: made one in ${apiKey.file} (mode 0600)`);

    let stopSignal: NodeJS.Signals | undefined;
    let wake: () => void = () => {};
    const stopped = new Promise<void>((r) => (wake = r));
    const dispose = onStopSignal(
      (signal) => {
        stopSignal = signal;
        wake();
      },
      (signal) => `\ndhtscope run: ${signal} again, exiting at once (queued work stays in Redis and the spool)\n`,
      { sameStopMs: 1000 },
    );

    // Start-up takes seconds (Redis, a testnet, BullMQ): a terminal shows that it is under way.
    const startedAt = performance.now();
    if (status.tty) status.follow(() => `starting… ${duration(performance.now() - startedAt)}`);
    let system: DhtscopeSystem;
    try {
      system = await DhtscopeSystem.start({
        dataDir,
        keys,
        ...(values['redis-url'] !== undefined ? { redisUrl: values['redis-url'] } : {}),
        node: {
          host: bind.host,
          port,
          bootstrap: bootstrap.entries,
          ...(values['allow-private'] ? { allowPrivate: true } : values['allow-loopback'] ? { addressScope: 'loopback' as const } : {}),
          families: crawl.families,
          host6: crawl.host6,
        },
        ...(testnet ? { testnet } : {}),
        api: { host: apiHost, port: apiPort, ...(apiKey !== null ? { key: apiKey.key } : {}) },
        workers: { ...(concurrency !== undefined ? { concurrency } : {}), peerLookups: !values['no-peer-lookups'], metadata: !values['no-metadata'] },
        crawl: { rate },
        retention: {
          ...(retainDays > 0 ? { retainMs: retainDays * 86_400_000 } : {}),
          ...(maxInfohashes !== undefined ? { maxInfohashes } : {}),
        },
        log: (line) => say(line),
        ...(values.verbose === true ? { verboseLog: (line: string) => say(line) } : {}),
      });
    } catch (err) {
      status.clear();
      dispose();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw addressInUse(err as AddressError);
      if (err instanceof SpoolBusyError) throw new CommandError(err.message);
      if (err instanceof TestnetError) {
        const hint = /EADDRINUSE/.test(err.message) ? ' (is another testnet running? choose another --testnet-address-base)' : '';
        throw new CommandError(`${err.message}${hint}`);
      }
      throw toCommandError(err);
    }

    status.clear();
    const summary = system.summary;
    emit({ event: 'ready', ...summary, index: indexSummary(summary, index), apiKeyFile: apiKey?.file ?? null });
    if (!json) process.stdout.write(summaryText(summary, index, { redisUrlOption: values['redis-url'] !== undefined, apiKey }));

    const tick = setInterval(() => {
      void system.liveStats().then((live) => emit({ event: 'stats', ...live }), (err: unknown) => say(`stats: ${String(err)}`));
    }, statsMs);
    status.follow(() => {
      // Until the node has a contact there is nothing to crawl or look up: say what is going on.
      const join = system.joinState();
      if (join.contacts === 0) {
        return `joining the DHT (0 contacts, ${join.retryInMs === null ? 'asking the bootstrap nodes' : `retrying bootstrap in ${Math.ceil(join.retryInMs / 1000)} s`})`;
      }
      const p = system.crawler.progress();
      const w = system.workers.stats();
      const prod = system.producer.stats();
      return (
        `nodes ${count(p.answered)} answered · ${count(p.infohashes)} infohashes · ${count(p.peers)} peers · ` +
        `${count(w.eventsApplied)} events indexed` +
        (prod.redisUp ? '' : ` · Redis DOWN, ${count(prod.spooledBatches + prod.memoryBatches)} batches held`) +
        (p.pausedForSink ? ' · crawl paused until the spool has room' : '')
      );
    });

    await stopped;
    clearInterval(tick);
    status.clear();
    say(`${stopSignal}: stopping (crawl, then queue hand-off, workers, node, Redis)`);
    await system.stop();
    dispose();
    emit({ event: 'stopped', signal: stopSignal });
    return 0;
  },
});

/** `--testnet-mix`: the mixed network (the default) or only plain dhtscope nodes. */
function testnetMix(value: string | undefined): Partial<TestnetOptions> {
  if (value === undefined || value === 'mixed') return { ...MIXED_NETWORK, unresponsive: 0.1, gone: 0.1 };
  if (value === 'uniform') return {};
  throw new UsageError(`--testnet-mix must be mixed or uniform, got "${value}"`);
}

type AddressError = NodeJS.ErrnoException & { address?: string; port?: number };

/** Which port was taken (the node binds UDP, the API listens on TCP), and the option that moves it. */
function addressInUse(err: AddressError): CommandError {
  const where = err.address !== undefined && err.port !== undefined ? `port ${err.port} is in use on ${err.address}` : `an address is in use (${err.message})`;
  if (err.syscall === 'listen') return new CommandError(`${where} (the HTTP API); choose another with --api-port`);
  return new CommandError(`${where} (the DHT node, UDP); choose another with --port`);
}

function retentionText(r: SystemSummary['retention']): string {
  if (r === null) return 'keeps every infohash (--retain-days 0)';
  const rules = [
    ...(r.retainDays !== null ? [`infohashes not seen for ${r.retainDays} days`] : []),
    ...(r.maxInfohashes !== null ? [`all but the ${count(r.maxInfohashes)} most recently seen`] : []),
  ];
  return `prunes ${rules.join(' and ')}, hourly`;
}

/** The ready event's `index`: which index this run writes, and (with --testnet) whether the real one is left alone. */
export interface IndexSummary {
  /** "testnet": the demo's own index; "real": the index of the crawl. */
  kind: RunIndex['kind'];
  redis: string;
  redisMode: string;
  prefix: string;
  dataDir: string;
  /** With --testnet: the real index, and whether this run stays off its key prefix and data directory. */
  realIndex: { prefix: string; dataDir: string; untouched: boolean } | null;
}

export function indexSummary(s: Pick<SystemSummary, 'redis' | 'redisMode'>, index: RunIndex): IndexSummary {
  return { kind: index.kind, redis: s.redis, redisMode: s.redisMode, prefix: index.keys.prefix, dataDir: index.dataDir, realIndex: index.realIndex };
}

/** Why a testnet run given the real index's --prefix or --data-dir writes into the real index. */
function sharedWithRealIndex(index: RunIndex): string {
  const r = index.realIndex!;
  const shared = [
    ...(index.keys.prefix === r.prefix ? [`key prefix "${r.prefix}" (--prefix)`] : []),
    ...(index.dataDir === r.dataDir ? [`data directory ${r.dataDir} (--data-dir)`] : []),
  ];
  return `this testnet run uses the real index's ${shared.join(' and ')}: the demo's infohashes go into the real index`;
}

/** `text` as one shell word, quoted only when it needs to be. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./~-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The summary's index lines: which index, where, and for a testnet that the real one is untouched. */
function indexText(index: RunIndex, redisUrlOption: boolean): string {
  const where = `key prefix "${index.keys.prefix}", data ${index.dataDir}`;
  const r = index.realIndex;
  if (r === null) return `  index       real index: ${where}\n`;
  if (!r.untouched) return `  index       testnet index: ${where}\n              WARNING: ${sharedWithRealIndex(index)}\n`;
  return (
    `  index       testnet index: ${where}\n` +
    `              (the real index, key prefix "${r.prefix}" in ${r.dataDir}, is untouched)\n` +
    `  query it    dhtscope query stats --prefix ${index.keys.prefix} --data-dir ${shellWord(index.dataDir)}` +
    (redisUrlOption ? ' --redis-url URL' : '') +
    `\n`
  );
}

/** The summary's API key line: where the key is and how a client sends it (nothing when no key is asked for). */
function apiKeyText(apiKey: ApiKey | null | undefined, api: string): string {
  if (apiKey === null || apiKey === undefined) return '';
  return `  API key     in ${apiKey.file}${apiKey.created ? ' (made now)' : ''}: send "Authorization: Bearer <key>", or open ${api}/?apikey=<key>\n`;
}

export function summaryText(s: SystemSummary, index: RunIndex, options: { redisUrlOption?: boolean; apiKey?: ApiKey | null } = {}): string {
  const redisWhere = s.redisDataDir !== null ? `embedded, its files in ${s.redisDataDir}` : s.redisMode;
  return (
    `dhtscope is running${s.testnet ? ` against a local testnet of ${count(s.testnet.nodes)} nodes` : ' on the public DHT'}\n` +
    `  API         ${s.api}  (try ${s.api}/api/stats)\n` +
    apiKeyText(options.apiKey, s.api) +
    indexText(index, options.redisUrlOption ?? false) +
    `  redis       ${s.redis} (${redisWhere}), schema v${s.schemaVersion}\n` +
    `  retention   ${retentionText(s.retention)}\n` +
    `  DHT node    ${s.node.address}  id ${s.node.id}  (crawls ${familiesText(s.node.families)})\n` +
    `  bootstrap   ${s.bootstrap.join(', ')}\n` +
    (s.testnet ? `  testnet     ${count(s.testnet.infohashes)} infohashes; ground truth in ${s.testnet.groundTruth}\n` : '') +
    `Ctrl-C stops it.\n`
  );
}
