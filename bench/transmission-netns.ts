/**
 * Transmission (jech/dht, Debian's `transmission-daemon`) on the wire, for real.
 *
 *   sudo npm run bench:transmission [-- --seeds 8 --lookup-wait 40 --json]
 *   (node --import ./scripts/ts-node-register.mjs bench/transmission-netns.ts [--seeds N] [--lookup-wait S] [--json])
 *
 * jech/dht treats 127.0.0.0/8 as martian and never answers on loopback, so this script builds
 * a network of its own: two network namespaces (`dhtscope-tr-<hex>` for Transmission,
 * `dhtscope-tr-<hex>-us` for our side) joined by one veth pair, 10.200.x.2/30 on Transmission's
 * end and 10.200.x.1/30 on ours, IPv6 off, no default route. Neither namespace has a route to
 * anything but that /30 and its own loopback, so no packet can leave them; on our side every
 * datagram also goes through a guard that refuses (and counts) any address but those two.
 * Everything is removed on exit, on error and on Ctrl-C: the daemon, our process, both
 * namespaces (with them the veths) and the temporary config directory; should this process
 * die without cleaning up (SIGKILL, a crash), a small sentinel process does it.
 *
 * Transmission gets a temporary config dir (`-g`), fixed peer port, DHT on, LPD/PEX/uTP/port
 * forwarding/blocklist off, RPC on its namespace's loopback only, and a `dht.dat` that holds
 * its node ID (chosen here, so its replies can be told apart) and our seed nodes as its saved
 * contacts: that is how it bootstraps from us. (Its bootstrap thread pings `dht.dat` contacts
 * at once, then every 1–3 s; lines of a `dht.bootstrap` file only after those, one per
 * 7.5–22.5 s; its built-in public router after 20–60 s, which cannot resolve or be reached here.)
 *
 * Our side runs in a child process inside its namespace (Node cannot enter a namespace
 * itself): a raw UDP prober that sends hand-built KRPC queries, a few dhtscope DhtNodes as
 * Transmission's contacts, and a DhtNode with our Crawler, bootstrapped from Transmission
 * alone. The probes run before Transmission has any torrent; a magnet for a random infohash
 * is added over RPC afterwards (with `--lookup-wait S` the script waits that long for
 * Transmission to look it up at our nodes: it only searches once it has 4 good contacts and
 * more than 8 known, and first 0–20 s after the torrent starts).
 *
 * The crawl takes two sweeps (Transmission, as the bootstrap contact, is first visited in the
 * second); most of the ~6 s of the second is the crawler's 3 s timeout, which it keeps until
 * it has 20 round trips to go by: once for the silent sample_infohashes, once for the re-sample.
 *
 * Exit status: 0 when Transmission behaved as the notes say and the crawl counted it live
 * without BEP 51, 1 otherwise, 2 when something needed is missing (root, ip, transmission-daemon).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BencodeDict, type BencodeValue, type Encodable, decode, encode } from '../bep5/bencode.js';
import { decodeNodes, encodePeer } from '../bep5/compact.js';
import { type DatagramSocket } from '../bep5/krpc-socket-types.js';
import { DhtNode } from '../bep5/node.js';
import { Crawler } from '../crawler/crawler.js';
import { type SweepSummary } from '../crawler/crawler-types.js';
import { NODE_FLAG, ipv4ToNumber } from '../crawler/node-index.js';
import { sleep } from '../bep5/clock.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);
const REGISTER = join(ROOT, 'scripts', 'ts-node-register.mjs');

/** Transmission's fixed ports inside its namespace (nothing else lives there). */
const TR_PEER_PORT = 51413;
const TR_RPC_PORT = 9091;
/** Our ports inside our namespace. */
const PROBE_PORT = 6880;
const CRAWLER_PORT = 6881;
const FIRST_SEED_PORT = 6882;


/** How long a probe waits before calling the target silent (veth RTTs are well under 1 ms). */
const SILENCE_MS = 1_000;
const ANSWER_WAIT_MS = 2_000;

// ---- results ---------------------------------------------------------------------------------

export interface ProbeResult {
  name: string;
  outcome: 'reply' | 'error' | 'silent';
  ms?: number;
  /** Keys of the reply's `r` dict, or the error's code and message. */
  detail: string;
  id?: string;
  nodes?: number;
  tokenBytes?: number;
  values?: number;
  errorCode?: number;
  /** The reply's `v` (hex), null when absent. */
  v?: string | null;
  /** Whether the reply carried our address in `ip` (BEP 42). */
  ip?: boolean;
}

export interface PacketRow {
  from: string;
  to: string;
  kind: string;
  count: number;
  bytes: number;
}

export interface CrawlOutcome {
  sweeps: Array<Pick<SweepSummary, 'sweep' | 'known' | 'answeredThisSweep' | 'failedThisSweep' | 'bep51' | 'noBep51' | 'queriesSent' | 'samplesAsked' | 'skippedContacts'> & { ms: number }>;
  /** Transmission as the crawler saw it. */
  transmission: { known: boolean; answered: boolean; failed: boolean; bep51: boolean; noBep51: boolean; version: string | null; rttMs: number };
  /** What the crawler's socket sent to Transmission, by method. */
  queriesToTransmission: Record<string, number>;
  /** Our seed nodes the crawler learned (only Transmission could have told it about them). */
  seedsLearned: number;
  seedsAnswered: number;
  clientBep51: Array<{ version: string | null; supported: number; unsupported: number; neverSupports: boolean }>;
}

export interface InnerResult {
  transmissionId: string;
  /** ms from our "go" until Transmission answered a ping, and until its find_node listed one of our nodes. */
  firstPingMs: number;
  firstNodesMs: number;
  /** find_node replies seen while its table was still empty: their `r` keys. */
  emptyTableReplies: string[];
  probes: ProbeResult[];
  crawl: CrawlOutcome;
  lookup: { infoHash: string; waitedMs: number; getPeersAtOurNodes: number; firstAtMs: number | null; announcesAtOurNodes: number };
  /** What Transmission sent to our seeds (as they counted it). */
  queriesFromTransmission: Record<string, number>;
  packets: PacketRow[];
  /** Datagrams our guard refused (addresses outside the two namespaces): must be 0. */
  blocked: PacketRow[];
  destinations: string[];
}

export interface TransmissionNetnsResult extends InnerResult {
  version: string;
  namespaces: string[];
  subnet: string;
  transmissionAddress: string;
  ourAddress: string;
  /** What Transmission's own DHT debug log (TR_DHT_VERBOSE) says it received and did. */
  transmissionLog: { received: Record<string, number>; unparseable: Record<string, number>; sent: Record<string, number>; lines: number };
  /** Whether any Transmission log line mentions an address outside the namespaces. */
  foreignAddressesInLog: string[];
  magnet: string;
  timings: { setupMs: number; innerStartMs: number; runMs: number; cleanupMs: number; totalMs: number };
  verdict: Array<{ check: string; ok: boolean }>;
}

export interface TransmissionNetnsOptions {
  /** dhtscope nodes that Transmission gets as its saved contacts (default 8). */
  seeds?: number;
  /** After the crawl, wait up to this long for Transmission's get_peers for the magnet (default 0). */
  lookupWaitS?: number;
  /** Give up (and clean up) after this long (default 120 s plus the lookup wait). */
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

// ---- preflight -------------------------------------------------------------------------------

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message.trim()}${stderr ? ` (${stderr.trim()})` : ''}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * What is missing to run this: an empty list when all is there. Never installs anything.
 * Returns Transmission's version line when found.
 */
export async function preflight(): Promise<{ problems: string[]; version?: string }> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`network namespaces need Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) problems.push('must run as root (ip netns add needs it): sudo npm run bench:transmission');
  try {
    await run('ip', ['-V']);
  } catch {
    problems.push('`ip` (iproute2) not found: apt-get install -y iproute2');
  }
  let version: string | undefined;
  try {
    const { stdout, stderr } = await run('transmission-daemon', ['-V']);
    version = (stdout + stderr).trim().split('\n')[0];
  } catch {
    problems.push('transmission-daemon not found: apt-get install -y transmission-daemon (scripts/setup-debian.sh installs it)');
  }
  return { problems, version };
}

// ---- the outer process: namespaces, Transmission, cleanup ------------------------------------

/** Lines from a child's stream, awaited one message at a time. */
class LineReader {
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

type InnerMessage = { type: 'ready' } | { type: 'probes-done' } | { type: 'result'; result: InnerResult } | { type: 'error'; message: string } | { type: 'log'; line: string };

async function expectMessage<T extends InnerMessage['type']>(reader: LineReader, type: T, timeoutMs: number, log: (l: string) => void): Promise<Extract<InnerMessage, { type: T }>> {
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
function stopChild(child: ChildProcess | undefined, graceMs: number): Promise<void> {
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
const SENTINEL_SCRIPT = `
import { rmSync } from 'node:fs';
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

/** Asks Transmission's RPC (on its namespace's loopback) from a tiny Node process inside that namespace. */
const RPC_SCRIPT = `
const [port, body] = process.argv.slice(1);
const url = 'http://127.0.0.1:' + port + '/transmission/rpc';
let sid = '';
for (let i = 0; i < 5; i++) {
  const res = await fetch(url, { method: 'POST', headers: { 'X-Transmission-Session-Id': sid, 'content-type': 'application/json' }, body });
  if (res.status === 409) { sid = res.headers.get('x-transmission-session-id') ?? ''; continue; }
  process.stdout.write(await res.text());
  process.exit(res.ok ? 0 : 1);
}
process.exit(1);
`;

async function transmissionRpc(ns: string, method: string, args: Record<string, unknown>): Promise<{ result: string; arguments?: Record<string, unknown> }> {
  const body = JSON.stringify({ method, arguments: args });
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', RPC_SCRIPT, String(TR_RPC_PORT), body]);
  return JSON.parse(stdout) as { result: string; arguments?: Record<string, unknown> };
}

/** jech/dht's debug lines (TR_DHT_VERBOSE) turned into counts. */
function parseTransmissionLog(text: string): TransmissionNetnsResult['transmissionLog'] {
  const received: Record<string, number> = {};
  const unparseable: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const bump = (r: Record<string, number>, k: string): void => void (r[k] = (r[k] ?? 0) + 1);
  const lines = text.split('\n');
  for (const line of lines) {
    const l = line.trim();
    if (l.startsWith('Ping (')) bump(received, 'ping');
    else if (l === 'Find node!') bump(received, 'find_node');
    else if (l === 'Get_peers!') bump(received, 'get_peers');
    else if (l === 'Announce peer!') bump(received, 'announce_peer');
    else if (l.startsWith('Pong!')) bump(received, 'reply to its ping');
    else if (l.startsWith('Nodes found')) bump(received, 'reply with nodes');
    else if (l.startsWith('Unparseable message')) {
      // The dump shows the packet with unprintable bytes as dots: pick the method name out of it.
      const q = /1:q(\d+):/.exec(l);
      const method = q ? l.slice(q.index + q[0].length, q.index + q[0].length + Number(q[1])) : '?';
      const noId = !/2:id20:/.test(l);
      bump(unparseable, `${method}${noId ? ' (no id)' : ''}`);
    } else if (l.startsWith('Sending ')) bump(sent, l.replace(/\s*\(.*\)\.?$/, '').replace(/\.$/, ''));
    else if (/rate limit|blacklist/i.test(l)) bump(received, l);
  }
  return { received, unparseable, sent, lines: lines.length };
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * Builds the namespaces, runs Transmission and our side, and removes everything again.
 * Throws (after cleaning up) when something is missing or fails.
 */
export async function runTransmissionNetns(options: TransmissionNetnsOptions = {}): Promise<TransmissionNetnsResult> {
  const log = options.log ?? (() => {});
  const seeds = options.seeds ?? 8;
  const lookupWaitS = options.lookupWaitS ?? 0;
  const started = Date.now();
  const { problems, version } = await preflight();
  if (problems.length > 0) throw new PreflightError(problems);

  const tag = hex(3);
  const nsTr = `dhtscope-tr-${tag}`;
  const nsUs = `dhtscope-tr-${tag}-us`;
  const octet = 1 + Math.floor(Math.random() * 254);
  const subnet = `10.200.${octet}.0/30`;
  const ourHost = `10.200.${octet}.1`;
  const trHost = `10.200.${octet}.2`;
  const trId = randomBytes(20);
  const infoHash = hex(20);
  const magnet = `magnet:?xt=urn:btih:${infoHash}&dn=dhtscope-netns-probe`;

  const created: string[] = [];
  let dir: string | undefined;
  let inner: ChildProcess | undefined;
  let daemon: ChildProcess | undefined;
  const sentinel = spawn(process.execPath, ['--input-type=module', '-e', SENTINEL_SCRIPT], { stdio: ['pipe', 'ignore', 'inherit'] });
  const sentinelExit = new Promise<void>((resolve) => sentinel.once('exit', () => resolve()));
  sentinel.stdin!.on('error', () => undefined);
  const tell = (msg: { pid?: number; reaped?: number; ns?: string; dir?: string }): void => void sentinel.stdin!.write(JSON.stringify(msg) + '\n');
  const watch = (child: ChildProcess): ChildProcess => {
    if (child.pid !== undefined) {
      tell({ pid: child.pid });
      child.once('exit', () => tell({ reaped: child.pid }));
    }
    return child;
  };
  let trLog = '';
  let cleaned: Promise<number> | undefined;

  let running: Promise<unknown> | undefined;
  const cleanup = (): Promise<number> => {
    cleaned ??= (async () => {
      const t0 = Date.now();
      await Promise.all([stopChild(inner, 2_000), stopChild(daemon, 3_000)]);
      // With its children gone, an interrupted run ends quickly; wait for it, so that a
      // namespace it was creating at that moment is in `created` before the deletions.
      if (running) {
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([running.catch(() => undefined), new Promise((resolve) => (wait = setTimeout(resolve, 5_000)))]);
        clearTimeout(wait);
      }
      await Promise.all([stopChild(inner, 2_000), stopChild(daemon, 3_000)]);
      for (const ns of created.reverse()) {
        await run('ip', ['netns', 'del', ns]).catch((err: unknown) => log(`cleanup: ${String(err)}`));
      }
      if (dir) await rm(dir, { recursive: true, force: true });
      sentinel.stdin!.end();
      await sentinelExit;
      return Date.now() - t0;
    })();
    return cleaned;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  /** After a deadline or a signal started the cleanup, nothing new may be created. */
  const stillRunning = (): void => {
    if (cleaned !== undefined) throw new Error('stopped');
  };
  const body = async (): Promise<TransmissionNetnsResult> => {
    // -- the network: two namespaces, one veth pair, a /30, IPv6 off, no default route.
    const setupStart = Date.now();
    const stale = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => /^dhtscope-tr-[0-9a-f]{6}(-us)?$/.test(n));
    if (stale.length > 0) log(`note: namespaces of another run, or of one that was killed: ${stale.join(', ')} (left alone; \`ip netns del NAME\` removes one)`);
    dir = await mkdtemp(join(tmpdir(), 'dhtscope-tr-'));
    tell({ dir });
    for (const ns of [nsTr, nsUs]) {
      stillRunning();
      await run('ip', ['netns', 'add', ns]);
      created.push(ns);
      tell({ ns });
      await run('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6']);
    }
    // Created directly inside the namespaces: the root namespace never holds either end.
    await run('ip', ['link', 'add', 'tr0', 'netns', nsTr, 'type', 'veth', 'peer', 'name', 'us0', 'netns', nsUs]);
    await run('ip', ['-n', nsTr, 'addr', 'add', `${trHost}/30`, 'dev', 'tr0']);
    await run('ip', ['-n', nsUs, 'addr', 'add', `${ourHost}/30`, 'dev', 'us0']);
    for (const [ns, dev] of [[nsTr, 'tr0'], [nsUs, 'us0']] as const) {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      const v6 = (await run('ip', ['-n', ns, '-6', 'addr', 'show'])).stdout.trim();
      if (v6 !== '') throw new Error(`IPv6 addresses in ${ns} although it was turned off: ${v6}`);
      const routes = (await run('ip', ['-n', ns, '-4', 'route', 'show'])).stdout.trim().split('\n');
      const unexpected = routes.filter((r) => r !== '' && !r.startsWith(`${subnet.replace('/30', '')}/30 `));
      if (unexpected.length > 0) throw new Error(`unexpected routes in ${ns}: ${unexpected.join('; ')}`);
    }
    const setupMs = Date.now() - setupStart;
    log(`namespaces ${nsTr} (${trHost}) and ${nsUs} (${ourHost}) ready in ${setupMs} ms`);

    // -- our side first: Transmission pings its saved contacts as soon as it starts.
    const innerStart = Date.now();
    const seedPorts = Array.from({ length: seeds }, (_, i) => FIRST_SEED_PORT + i);
    const config: InnerConfig = { ourHost, trHost, trPort: TR_PEER_PORT, trId: trId.toString('hex'), seedPorts, lookupWaitMs: lookupWaitS * 1000 };
    stillRunning();
    inner = watch(
      spawn('ip', ['netns', 'exec', nsUs, process.execPath, '--import', REGISTER, THIS_FILE, '--inner', JSON.stringify(config)], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    inner.stdin!.on('error', () => undefined);
    let innerErr = '';
    inner.stderr!.on('data', (d: Buffer) => (innerErr += d.toString()));
    const reader = new LineReader(inner.stdout!);
    const send = (msg: object): void => void inner!.stdin!.write(JSON.stringify(msg) + '\n');
    await expectMessage(reader, 'ready', 30_000, log).catch((err: unknown) => {
      throw new Error(`${String(err)}${innerErr ? `\n${innerErr.trim()}` : ''}`);
    });
    const innerStartMs = Date.now() - innerStart;
    log(`our side up in ${innerStartMs} ms: prober :${PROBE_PORT}, crawler node :${CRAWLER_PORT}, ${seeds} seed nodes :${seedPorts[0]}–${seedPorts.at(-1)}`);

    // -- Transmission, with our seeds as the contacts of its saved table.
    const cfg = join(dir, 'config');
    await mkdir(cfg);
    await mkdir(join(dir, 'downloads'));
    const settings = {
      'dht-enabled': true,
      'lpd-enabled': false,
      'pex-enabled': false,
      'utp-enabled': false,
      'port-forwarding-enabled': false,
      'blocklist-enabled': false,
      'peer-port': TR_PEER_PORT,
      'peer-port-random-on-start': false,
      'bind-address-ipv4': trHost,
      'rpc-enabled': true,
      'rpc-bind-address': '127.0.0.1',
      'rpc-port': TR_RPC_PORT,
      'rpc-authentication-required': false,
      'rpc-whitelist-enabled': true,
      'rpc-whitelist': '127.0.0.1',
      'rpc-host-whitelist-enabled': false,
      'download-dir': join(dir, 'downloads'),
      'incomplete-dir-enabled': false,
      'watch-dir-enabled': false,
      'start-added-torrents': true,
      'message-level': 2,
    };
    await writeFile(join(cfg, 'settings.json'), JSON.stringify(settings, null, 2));
    const nodes = Buffer.concat(seedPorts.map((port) => encodePeer({ host: ourHost, port })));
    await writeFile(join(cfg, 'dht.dat'), encode({ id: trId, nodes }));

    const runStart = Date.now();
    stillRunning();
    daemon = watch(
      spawn('ip', ['netns', 'exec', nsTr, 'transmission-daemon', '-f', '-g', cfg, '--log-info'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TR_DHT_VERBOSE: '1' },
      }),
    );
    daemon.stdout!.on('data', (d: Buffer) => (trLog += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (trLog += d.toString()));
    const daemonExit = new Promise<never>((_, reject) =>
      daemon!.once('exit', (code, signal) => reject(new Error(`transmission-daemon exited early (${code ?? signal})\n${trLog.slice(-2000)}`))),
    );
    daemonExit.catch(() => undefined);

    send({ type: 'go' });
    await Promise.race([expectMessage(reader, 'probes-done', 40_000, log), daemonExit]);
    // The probes ran with no torrent loaded; now give it one, so its DHT has something to do.
    const added = await transmissionRpc(nsTr, 'torrent-add', { filename: magnet, paused: false });
    if (added.result !== 'success') throw new Error(`torrent-add: ${added.result}`);
    log(`magnet ${infoHash} added over RPC`);
    send({ type: 'magnet', infoHash });
    const { result: innerResult } = await Promise.race([expectMessage(reader, 'result', 40_000 + lookupWaitS * 1000, log), daemonExit]);
    const runMs = Date.now() - runStart;

    // Stop Transmission first, so its log is complete, then read it.
    daemon.removeAllListeners('exit');
    const stopStart = Date.now();
    await Promise.all([stopChild(inner, 2_000), stopChild(daemon, 3_000)]);
    const stopMs = Date.now() - stopStart;
    const transmissionLog = parseTransmissionLog(trLog);
    const addresses = new Set(trLog.match(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g) ?? []);
    const foreignAddressesInLog = [...addresses].filter((a) => a !== ourHost && a !== trHost && !a.startsWith('127.') && a !== '0.0.0.0');

    const result: Omit<TransmissionNetnsResult, 'verdict'> = {
      ...innerResult,
      version: version ?? '?',
      namespaces: [nsTr, nsUs],
      subnet,
      transmissionAddress: `${trHost}:${TR_PEER_PORT}`,
      ourAddress: ourHost,
      transmissionLog,
      foreignAddressesInLog,
      magnet,
      timings: { setupMs, innerStartMs, runMs, cleanupMs: stopMs, totalMs: 0 },
    };
    return { ...result, verdict: verdict(result) };
  };

  // One deadline for everything, so a hang still ends in the cleanup below.
  const timeoutMs = options.timeoutMs ?? 120_000 + lookupWaitS * 1000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${timeoutMs} ms`)), timeoutMs);
  });
  let result: TransmissionNetnsResult;
  const cleanupStart = { at: 0 };
  try {
    running = body();
    result = await Promise.race([running as Promise<TransmissionNetnsResult>, deadline]);
  } finally {
    clearTimeout(timer);
    cleanupStart.at = Date.now();
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // Stopping Transmission (which saves its state) and our side, deleting the namespaces and files.
  result.timings.cleanupMs = Date.now() - cleanupStart.at + result.timings.cleanupMs;
  result.timings.totalMs = Date.now() - started;
  return result;
}

export class PreflightError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot run the Transmission benchmark:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PreflightError';
  }
}

/** What issue 12 expects of jech/dht, checked against what happened. */
function verdict(r: Omit<TransmissionNetnsResult, 'verdict'>): Array<{ check: string; ok: boolean }> {
  const probe = (name: string): ProbeResult | undefined => r.probes.find((p) => p.name === name);
  const tr = r.crawl.transmission;
  return [
    { check: 'ping answered, with the ID from its dht.dat', ok: probe('ping')?.outcome === 'reply' && probe('ping')?.id === r.transmissionId },
    { check: 'find_node answered with nodes', ok: probe('find_node')?.outcome === 'reply' && (probe('find_node')?.nodes ?? 0) > 0 },
    { check: 'get_peers answered with an 8-byte token', ok: probe('get_peers')?.outcome === 'reply' && probe('get_peers')?.tokenBytes === 8 },
    { check: 'sample_infohashes: silence', ok: probe('sample_infohashes')?.outcome === 'silent' },
    { check: 'unknown method: silence', ok: probe('unknown method')?.outcome === 'silent' },
    { check: 'ping without id: silence', ok: probe('ping without id')?.outcome === 'silent' },
    { check: 'ping answered again after the silent ones', ok: probe('ping (after)')?.outcome === 'reply' },
    { check: 'crawler: Transmission answered find_node after the silent sample (live)', ok: tr.known && tr.answered && !tr.failed && (r.crawl.queriesToTransmission.find_node ?? 0) >= 1 },
    { check: 'crawler: Transmission marked without BEP 51', ok: tr.noBep51 && !tr.bep51 },
    { check: 'crawler: the "no v" client counted without BEP 51', ok: r.crawl.clientBep51.some((c) => c.version === null && c.unsupported >= 1) },
    { check: 'no datagram of ours refused by the guard', ok: r.blocked.length === 0 },
    { check: 'Transmission logged no address outside the namespaces', ok: r.foreignAddressesInLog.length === 0 },
  ];
}

// ---- the inner process: our side, inside its namespace ---------------------------------------

interface InnerConfig {
  ourHost: string;
  trHost: string;
  trPort: number;
  trId: string;
  seedPorts: number[];
  lookupWaitMs: number;
}

/** Every datagram our side sends passes here: counted, and refused unless it stays in the namespaces. */
class PacketLog {
  readonly rows = new Map<string, PacketRow>();
  readonly blockedRows = new Map<string, PacketRow>();
  constructor(readonly allowed: ReadonlySet<string>) {}

  add(into: Map<string, PacketRow>, from: string, host: string, port: number, msg: Uint8Array): void {
    const kind = describe(msg);
    const to = `${host}:${port}`;
    const key = `${from}|${to}|${kind}`;
    const row = into.get(key) ?? { from, to, kind, count: 0, bytes: 0 };
    row.count++;
    row.bytes += msg.length;
    into.set(key, row);
  }
}

/** "q ping", "r", "e 203": what a KRPC datagram is, for the packet table. */
function describe(msg: Uint8Array): string {
  try {
    const d = decode(msg) as BencodeDict;
    const y = asString(d.y);
    if (y === 'q') return `q ${asString(d.q)}${d.a && typeof d.a === 'object' && !Buffer.isBuffer(d.a) && !Array.isArray(d.a) && d.a.id === undefined ? ' (no id)' : ''}`;
    if (y === 'e') return `e ${Array.isArray(d.e) ? String(d.e[0]) : '?'}`;
    return y;
  } catch {
    return 'raw';
  }
}

function asString(v: BencodeValue | undefined): string {
  return Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
}

class GuardedSocket implements DatagramSocket {
  private readonly socket: Socket = createSocket('udp4');
  constructor(
    private readonly role: string,
    private readonly packets: PacketLog,
  ) {}

  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void {
    if (!this.packets.allowed.has(address)) {
      this.packets.add(this.packets.blockedRows, this.role, address, port, msg);
      queueMicrotask(() => callback(new Error(`refused: ${address} is outside the benchmark's namespaces`)));
      return;
    }
    this.packets.add(this.packets.rows, this.role, address, port, msg);
    this.socket.send(msg, port, address, (err) => callback(err ?? null));
  }
  bind(port: number, address: string, callback: () => void): void {
    this.socket.bind(port, address, callback);
  }
  close(callback?: () => void): void {
    this.socket.close(callback);
  }
  address(): { address: string; port: number } {
    return this.socket.address();
  }
  on(event: 'message' | 'error', listener: ((msg: Buffer, rinfo: RemoteInfo) => void) | ((err: Error) => void)): this {
    this.socket.on(event, listener as (...args: unknown[]) => void);
    return this;
  }
  off(event: 'error', listener: (err: Error) => void): this {
    this.socket.off(event, listener);
    return this;
  }
  once(event: 'error', listener: (err: Error) => void): this {
    this.socket.once(event, listener);
    return this;
  }
}

/** Hand-built KRPC queries from one raw socket, answers matched by transaction ID and source. */
class RawProber {
  private readonly waiting = new Map<string, (msg: BencodeDict) => void>();
  constructor(
    private readonly socket: GuardedSocket,
    private readonly to: { host: string; port: number },
  ) {
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.address !== to.host || rinfo.port !== to.port) return;
      let d: BencodeDict;
      try {
        d = decode(msg) as BencodeDict;
      } catch {
        return;
      }
      const t = Buffer.isBuffer(d.t) ? d.t.toString('hex') : '';
      const w = this.waiting.get(t);
      if (w) {
        this.waiting.delete(t);
        w(d);
      }
    });
  }

  ask(name: string, message: { q: string; a: Record<string, Encodable> }, waitMs: number): Promise<ProbeResult> {
    const t = randomBytes(4);
    const started = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(t.toString('hex'));
        resolve({ name, outcome: 'silent', detail: `nothing within ${waitMs} ms` });
      }, waitMs);
      this.waiting.set(t.toString('hex'), (d) => {
        clearTimeout(timer);
        resolve(summarize(name, d, performance.now() - started));
      });
      this.socket.send(encode({ t, y: 'q', q: message.q, a: message.a }), this.to.port, this.to.host, () => undefined);
    });
  }
}

function summarize(name: string, d: BencodeDict, ms: number): ProbeResult {
  const v = Buffer.isBuffer(d.v) ? d.v.toString('hex') : null;
  const ip = Buffer.isBuffer(d.ip);
  const rounded = Math.round(ms * 100) / 100;
  if (asString(d.y) === 'e') {
    const e = Array.isArray(d.e) ? d.e : [];
    const code = typeof e[0] === 'number' ? e[0] : undefined;
    return { name, outcome: 'error', ms: rounded, detail: `${code ?? '?'} "${Buffer.isBuffer(e[1]) ? e[1].toString() : ''}"`, errorCode: code, v, ip };
  }
  const r = (d.r && typeof d.r === 'object' && !Buffer.isBuffer(d.r) && !Array.isArray(d.r) ? d.r : {}) as BencodeDict;
  const nodes = Buffer.isBuffer(r.nodes) && r.nodes.length % 26 === 0 ? decodeNodes(r.nodes, 4).length : undefined;
  return {
    name,
    outcome: 'reply',
    ms: rounded,
    detail: `r: ${Object.keys(r).join(', ')}`,
    id: Buffer.isBuffer(r.id) ? r.id.toString('hex') : undefined,
    nodes,
    tokenBytes: Buffer.isBuffer(r.token) ? r.token.length : undefined,
    values: Array.isArray(r.values) ? r.values.length : undefined,
    v,
    ip,
  };
}

async function innerMain(config: InnerConfig): Promise<void> {
  const out = (msg: InnerMessage): void => void process.stdout.write(JSON.stringify(msg) + '\n');
  const say = (line: string): void => out({ type: 'log', line });
  const stdin = new LineReader(process.stdin);
  const nextCommand = async (type: string, timeoutMs: number): Promise<Record<string, string>> => {
    const msg = JSON.parse(await stdin.next(timeoutMs, type)) as Record<string, string>;
    if (msg.type !== type) throw new Error(`expected ${type}, got ${msg.type}`);
    return msg;
  };

  const { ourHost, trHost, trPort } = config;
  const tr = { host: trHost, port: trPort };
  const packets = new PacketLog(new Set([ourHost, trHost]));
  const factory = (role: string) => () => new GuardedSocket(role, packets);
  const nodeOptions = { host: ourHost, bootstrap: [] as string[], addressScope: 'private' as const, adoptBep42Id: false };

  const seeds = config.seedPorts.map((port, i) => new DhtNode({ ...nodeOptions, port, socketFactory: factory(`seed ${i + 1}`) }));
  const crawlerNode = new DhtNode({ ...nodeOptions, port: CRAWLER_PORT, socketFactory: factory('crawler') });
  const probeSocket = new GuardedSocket('prober', packets);
  const stopAll = async (): Promise<void> => {
    await Promise.all([...seeds, crawlerNode].map((n) => n.stop()));
    await new Promise<void>((resolve) => probeSocket.close(() => resolve()));
  };
  try {
    await Promise.all([...seeds, crawlerNode].map((n) => n.start()));
    await new Promise<void>((resolve) => probeSocket.bind(PROBE_PORT, ourHost, resolve));
    // The seeds know one another, so Transmission learns more contacts from any of them.
    await Promise.all(seeds.flatMap((a) => seeds.filter((b) => b !== a).map((b) => a.ping(b.address()!).catch(() => undefined))));
    const prober = new RawProber(probeSocket, tr);
    const fromTransmission: Record<string, number> = {};
    const lookup = { getPeers: 0, announces: 0, firstAt: null as number | null };
    let magnet = '';
    for (const node of [...seeds, crawlerNode]) {
      node.socket(4)!.on('query', (q, ctx) => {
        if (ctx.from.host !== trHost) return;
        fromTransmission[q.method] = (fromTransmission[q.method] ?? 0) + 1;
        if (q.method === 'get_peers' && magnet !== '' && q.infoHash.toString('hex') === magnet) {
          lookup.getPeers++;
          lookup.firstAt ??= Date.now();
        }
        if (q.method === 'announce_peer' && q.infoHash.toString('hex') === magnet) lookup.announces++;
      });
    }
    out({ type: 'ready' });
    await nextCommand('go', 60_000);
    const go = Date.now();

    // Transmission is starting: wait for its DHT to answer, then for its table to hold one of our seeds.
    const id = randomBytes(20);
    let firstPingMs = -1;
    while (Date.now() - go < 15_000) {
      const p = await prober.ask('ping', { q: 'ping', a: { id } }, 200);
      if (p.outcome === 'reply') {
        firstPingMs = Date.now() - go;
        break;
      }
    }
    if (firstPingMs < 0) throw new Error('Transmission never answered a ping within 15 s');
    let firstNodesMs = -1;
    const emptyTableReplies: string[] = [];
    while (Date.now() - go < 20_000) {
      const p = await prober.ask('find_node', { q: 'find_node', a: { id, target: randomBytes(20) } }, 500);
      if (p.outcome === 'reply' && (p.nodes ?? 0) > 0) {
        firstNodesMs = Date.now() - go;
        break;
      }
      if (p.outcome === 'reply' && emptyTableReplies.length < 3) emptyTableReplies.push(p.detail);
      await sleep(100);
    }
    if (firstNodesMs < 0) throw new Error('Transmission never listed one of our seed nodes within 20 s');
    say(`Transmission answered a ping after ${firstPingMs} ms and listed our nodes after ${firstNodesMs} ms`);

    // The probes: what every BEP 5 node must answer, then what jech/dht is said to ignore.
    const probes: ProbeResult[] = [];
    probes.push(await prober.ask('ping', { q: 'ping', a: { id } }, ANSWER_WAIT_MS));
    probes.push(await prober.ask('find_node', { q: 'find_node', a: { id, target: randomBytes(20) } }, ANSWER_WAIT_MS));
    const getPeers = await prober.ask('get_peers', { q: 'get_peers', a: { id, info_hash: randomBytes(20) } }, ANSWER_WAIT_MS);
    probes.push(getPeers);
    probes.push(
      await prober.ask('announce_peer, bad token', { q: 'announce_peer', a: { id, info_hash: randomBytes(20), port: 6881, token: Buffer.from('not-a-token') } }, ANSWER_WAIT_MS),
    );
    probes.push(
      ...(await Promise.all([
        prober.ask('sample_infohashes', { q: 'sample_infohashes', a: { id, target: randomBytes(20) } }, SILENCE_MS),
        prober.ask('unknown method', { q: 'dhtscope_unknown', a: { id } }, SILENCE_MS),
        prober.ask('ping without id', { q: 'ping', a: {} }, SILENCE_MS),
      ])),
    );
    probes.push(await prober.ask('ping (after)', { q: 'ping', a: { id } }, ANSWER_WAIT_MS));
    out({ type: 'probes-done' });
    magnet = (await nextCommand('magnet', 30_000)).infoHash!;
    const magnetAt = Date.now();

    // The crawl: Transmission is the only bootstrap contact.
    const crawler = new Crawler({ node: crawlerNode, bootstrap: [tr], addressScope: 'private', perIpRate: 100 });
    const sweeps: CrawlOutcome['sweeps'] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const s = await crawler.sweep(AbortSignal.timeout(20_000));
      sweeps.push({
        sweep: s.sweep,
        known: s.known,
        answeredThisSweep: s.answeredThisSweep,
        failedThisSweep: s.failedThisSweep,
        bep51: s.bep51,
        noBep51: s.noBep51,
        queriesSent: s.queriesSent,
        samplesAsked: s.samplesAsked,
        skippedContacts: s.skippedContacts,
        ms: Date.now() - t0,
      });
    }
    const index = crawler.nodes.find(ipv4ToNumber(trHost), trPort);
    const has = (flag: number): boolean => index >= 0 && crawler.nodes.hasFlag(index, flag);
    const seedAddresses = new Set(config.seedPorts.map((p) => `${ourHost}:${p}`));
    let seedsLearned = 0;
    let seedsAnswered = 0;
    for (let i = 0; i < crawler.nodes.size; i++) {
      if (!seedAddresses.has(crawler.nodes.address(i))) continue;
      seedsLearned++;
      if (crawler.nodes.hasFlag(i, NODE_FLAG.ANSWERED)) seedsAnswered++;
    }
    const queriesToTransmission: Record<string, number> = {};
    for (const row of packets.rows.values()) {
      if (row.from === 'crawler' && row.to === `${trHost}:${trPort}` && row.kind.startsWith('q ')) {
        const m = row.kind.slice(2);
        queriesToTransmission[m] = (queriesToTransmission[m] ?? 0) + row.count;
      }
    }
    const crawl: CrawlOutcome = {
      sweeps,
      transmission: {
        known: index >= 0,
        answered: has(NODE_FLAG.ANSWERED),
        failed: has(NODE_FLAG.FAILED),
        bep51: has(NODE_FLAG.BEP51),
        noBep51: has(NODE_FLAG.NO_BEP51),
        version: index >= 0 && crawler.nodes.version[index]! > 0 ? (crawler.nodes.versions[crawler.nodes.version[index]!] ?? null) : null,
        rttMs: index >= 0 ? crawler.nodes.rttMs[index]! : 0,
      },
      queriesToTransmission,
      seedsLearned,
      seedsAnswered,
      clientBep51: crawler.clientBep51(),
    };

    // Optionally: does Transmission look the magnet up at our nodes?
    while (config.lookupWaitMs > 0 && lookup.getPeers === 0 && Date.now() - magnetAt < config.lookupWaitMs) await sleep(200);
    const result: InnerResult = {
      transmissionId: config.trId,
      firstPingMs,
      firstNodesMs,
      emptyTableReplies,
      probes,
      crawl,
      lookup: {
        infoHash: magnet,
        waitedMs: Date.now() - magnetAt,
        getPeersAtOurNodes: lookup.getPeers,
        firstAtMs: lookup.firstAt === null ? null : lookup.firstAt - magnetAt,
        announcesAtOurNodes: lookup.announces,
      },
      queriesFromTransmission: fromTransmission,
      packets: [...packets.rows.values()],
      blocked: [...packets.blockedRows.values()],
      destinations: [...new Set([...packets.rows.values()].map((r) => r.to.split(':')[0]!))],
    };
    out({ type: 'result', result });
  } finally {
    await stopAll();
  }
}

// ---- the report ------------------------------------------------------------------------------

function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function report(r: TransmissionNetnsResult): string {
  const probeRows = r.probes.map((p) => [
    p.name,
    p.outcome === 'silent' ? '**silent**' : p.outcome,
    p.ms === undefined ? '' : `${p.ms} ms`,
    [p.detail, p.nodes !== undefined ? `${p.nodes} nodes` : '', p.tokenBytes !== undefined ? `token ${p.tokenBytes} B` : '', p.v !== undefined ? `v ${p.v ?? 'none'}` : '', p.ip !== undefined ? `ip ${p.ip ? 'yes' : 'none'}` : '']
      .filter((s) => s !== '')
      .join('; '),
  ]);
  // Seeds folded into one row per kind and destination; the result's `packets` has every one.
  const who = (to: string): string => {
    if (to === r.transmissionAddress) return `Transmission (${to})`;
    const port = Number(to.split(':')[1]);
    return port === PROBE_PORT ? 'our prober' : port === CRAWLER_PORT ? 'our crawler node' : 'our seeds';
  };
  const folded = new Map<string, PacketRow>();
  for (const p of r.packets) {
    const from = p.from.startsWith('seed ') ? 'seeds' : p.from;
    const to = who(p.to);
    const key = `${from}|${to}|${p.kind}`;
    const row = folded.get(key) ?? { from, to, kind: p.kind, count: 0, bytes: 0 };
    row.count += p.count;
    row.bytes += p.bytes;
    folded.set(key, row);
  }
  const packetRows = [...folded.values()]
    .sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.kind.localeCompare(b.kind))
    .map((p) => [p.from, p.to, p.kind, p.count, p.bytes]);
  const toTransmission = r.packets.filter((p) => p.to === r.transmissionAddress).reduce((n, p) => n + p.count, 0);
  const tr = r.crawl.transmission;
  const lines = [
    `${r.version}; namespaces ${r.namespaces.join(', ')}; Transmission at ${r.transmissionAddress}, our side at ${r.ourAddress} (${r.subnet}, no default route)`,
    `Transmission answered a ping ${r.firstPingMs} ms after it started, and listed our seed nodes in find_node after ${r.firstNodesMs} ms${r.emptyTableReplies.length > 0 ? ` (before that, with an empty table, find_node got: ${r.emptyTableReplies[0]} — no \`nodes\` key at all)` : ''}.`,
    '',
    'Probes (hand-built KRPC from our prober; no torrent loaded yet):',
    '',
    table(['query', 'outcome', 'time', 'reply'], probeRows),
    '',
    'Crawl (our Crawler, Transmission as its only bootstrap contact):',
    '',
    table(
      ['sweep', 'known', 'answered', 'failed', 'BEP 51', 'no BEP 51', 'queries', 'samples', 'time'],
      r.crawl.sweeps.map((s) => [s.sweep, s.known, s.answeredThisSweep, s.failedThisSweep, s.bep51, s.noBep51, s.queriesSent, s.samplesAsked, `${s.ms} ms`]),
    ),
    '',
    `Transmission in the crawl: ${tr.answered ? 'live' : 'NOT live'}${tr.failed ? ' (failed this sweep)' : ''}, ${tr.noBep51 ? 'no BEP 51' : tr.bep51 ? 'BEP 51' : 'BEP 51 unknown'}, v ${tr.version ?? 'none'}, RTT ${tr.rttMs} ms; ` +
      `crawler's queries to it: ${Object.entries(r.crawl.queriesToTransmission).map(([m, n]) => `${m} ×${n}`).join(', ')}; ` +
      `our seeds learned through it: ${r.crawl.seedsLearned} (${r.crawl.seedsAnswered} answered).`,
    `Client tally: ${r.crawl.clientBep51.map((c) => `v ${c.version ?? 'none'}: ${c.supported} with, ${c.unsupported} without BEP 51${c.neverSupports ? ' (find_node first from now on)' : ''}`).join('; ')}.`,
    `Magnet ${r.lookup.infoHash}: ${r.lookup.getPeersAtOurNodes > 0 ? `Transmission looked it up at our nodes ${r.lookup.firstAtMs} ms after it was added (${r.lookup.getPeersAtOurNodes} get_peers, ${r.lookup.announcesAtOurNodes} announce_peer)` : `no get_peers for it at our nodes within ${r.lookup.waitedMs} ms`}.`,
    `What Transmission asked our nodes: ${Object.entries(r.queriesFromTransmission).map(([m, n]) => `${m} ×${n}`).join(', ') || 'nothing'}.`,
    `Transmission's own DHT log: received ${Object.entries(r.transmissionLog.received).map(([m, n]) => `${m} ×${n}`).join(', ')}; ` +
      `dropped as unparseable: ${Object.entries(r.transmissionLog.unparseable).map(([m, n]) => `${m} ×${n}`).join(', ') || 'none'}; ` +
      `sent: ${Object.entries(r.transmissionLog.sent).map(([m, n]) => `${m} ×${n}`).join(', ')}.`,
    '',
    `Packets our side sent: ${r.packets.reduce((n, p) => n + p.count, 0)}, ${toTransmission} of them to Transmission; every one to ${r.destinations.join(' or ')}; ` +
      `refused by the guard: ${r.blocked.length === 0 ? 'none' : JSON.stringify(r.blocked)}.`,
    '',
    table(['from', 'to', 'kind', 'packets', 'bytes'], packetRows),
    '',
    table(['check', ''], r.verdict.map((v) => [v.check, v.ok ? 'ok' : '**FAILED**'])),
    '',
    `Time: ${(r.timings.totalMs / 1000).toFixed(1)} s in all (namespaces ${r.timings.setupMs} ms, our side's start ${r.timings.innerStartMs} ms, ` +
      `Transmission start to result ${r.timings.runMs} ms, cleanup ${r.timings.cleanupMs} ms).`,
  ];
  return lines.join('\n');
}

// ---- entry -----------------------------------------------------------------------------------

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number`);
  return v;
}

const invoked = process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === pathToFileURL(THIS_FILE).href;
if (invoked && process.argv[2] === '--inner') {
  innerMain(JSON.parse(process.argv[3]!) as InnerConfig).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stdout.write(JSON.stringify({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }) + '\n');
      process.exit(1);
    },
  );
} else if (invoked) {
  // `| head` closing our output must not end the run before its cleanup.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  try {
    const result = await runTransmissionNetns({
      seeds: flag('--seeds', 8),
      lookupWaitS: flag('--lookup-wait', 0),
      log: (line) => console.error(`[${new Date().toISOString().slice(11, 23)}] ${line}`),
    });
    console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : report(result));
    process.exitCode = result.verdict.every((v) => v.ok) ? 0 : 1;
  } catch (err) {
    console.error(err instanceof PreflightError ? err.message : err);
    process.exitCode = err instanceof PreflightError ? 2 : 1;
  }
}
