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
 *
 * This file is the outer process (namespaces, the daemon, clean-up); transmission-netns/ holds
 * the inner process (inner.ts), what both agree on (shared.ts), the daemon's RPC and log
 * (transmission.ts), child-process helpers and the clean-up sentinel (children.ts) and the
 * verdict and report (report.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encode } from '../bep5/bencode.js';
import { encodePeer } from '../bep5/compact.js';
import { CRAWLER_PORT, FIRST_SEED_PORT, PROBE_PORT, TR_PEER_PORT, TR_RPC_PORT, type InnerConfig, type TransmissionNetnsOptions, type TransmissionNetnsResult } from './transmission-netns/shared.js';
import { report, verdict } from './transmission-netns/report.js';
import { LineReader, SENTINEL_SCRIPT, expectMessage, run, stopChild } from './transmission-netns/children.js';
import { parseTransmissionLog, transmissionRpc } from './transmission-netns/transmission.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);
const INNER_FILE = join(ROOT, 'bench', 'transmission-netns', 'inner.ts');
const REGISTER = join(ROOT, 'scripts', 'ts-node-register.mjs');

// ---- preflight -------------------------------------------------------------------------------


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
      spawn('ip', ['netns', 'exec', nsUs, process.execPath, '--import', REGISTER, INNER_FILE, JSON.stringify(config)], {
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


// ---- entry -----------------------------------------------------------------------------------

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number`);
  return v;
}

const invoked = process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === pathToFileURL(THIS_FILE).href;
if (invoked) {
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
