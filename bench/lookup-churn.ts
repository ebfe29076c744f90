import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sleep } from '../bep5/clock.js';
import { randomInt, seededRandom } from '../bep5/random.js';
import { planTestnet } from '../crawler/testnet/plan.js';
import { MIXED_NETWORK } from '../crawler/testnet/profiles.js';
import { Testnet } from '../crawler/testnet/testnet.js';
import { requireFreshBuild } from '../testkit/build.js';
import { f0, median, quantile, row } from './table-stats.js';

/**
 * Phase 6 of bench/lookup.ts, churn (issue 12, item 4): a cold `dhtscope peers` against a cold
 * bittorrent-dht client, both child processes, on a mixed testnet where 10% of all nodes are gone
 * but still listed in others' tables. Run alone with `npm run bench:lookup -- --churn` (about
 * 4 min on 2 cores), or after phases 1-5.
 *
 * A mixed testnet (crawler/testnet, Testnet.start): CHURN_NODES = 1,000 nodes, MIXED_NETWORK
 * (30% real bittorrent-dht processes, 4 real libtorrent processes, our nodes in the behaviour
 * profiles of other clients), no dead nodes, and CHURN_GONE = 10% of ALL nodes gone: the
 * testnet's `gone` share (a fraction of our answering nodes) is computed from the plan so that
 * gone nodes are 10% of all nodes; they take part in the announces, then leave, still listed
 * in others' tables. Addresses 127.90.x.y (nodes), 127.91.x.y (announcers), no test uses them
 * (CHURN_ADDRESS_BASE moves them). Each of CHURN_ROUNDS rounds picks an infohash with a known
 * announced peer (ground truth) and runs, one at a time, alternating which goes first:
 * - ours: a cold `dhtscope peers <ih> --bootstrap <testnet bootstrap> --host H` child process
 *   (bin/dhtscope.mjs: start, join from one address, look up). Without --json, so that each
 *   peer line reaches stdout when the lookup finds it (with --json peers only come at the end);
 * - theirs: a cold bittorrent-dht 11 client in a child process (`new DHT({ bootstrap: [that
 *   address] })`, listen on H, wait for 'ready', `lookup(ih)`), with one guard on its socket:
 *   no datagram to an address outside 127.0.0.0/8 (bogon-contacts nodes advertise 10.x,
 *   192.168.x, ... contacts; bittorrent-dht would send to them; ours never does).
 * Time: from spawn to the known peer's arrival, and to the process's exit ("done"). Queries:
 * datagrams the testnet's addresses received from H, counted by the receivers
 * (Testnet.received), the same count for both. H differs per client and round
 * (127.92.1.r for ours, 127.92.2.r for theirs; both loopback, neither known to the network):
 * receiver counts then need no before/after difference, and per-IP state left by one client
 * (rate limits, querier verification) never favours or hinders the other. After each round
 * the clients are removed from the bittorrent-dht nodes' tables (they add any querier), so
 * departed clients do not pile up as extra churn. Target: ours no slower, fewer queries.
 * Knobs: CHURN_NODES, CHURN_ROUNDS, CHURN_GONE, CHURN_SEED, CHURN_ADDRESS_BASE,
 * CHURN_THEIRS_READY=0 (theirs calls lookup() at once, as bittorrent-dht's README example
 * does, instead of after 'ready', which waits for its populate lookup), CHURN_VERBOSE=1
 * (one line per round), CHURN_DHTSCOPE=path (the CLI entry to run instead of
 * bin/dhtscope.mjs, which runs the JavaScript build in dist/).
 */

interface ChurnSample {
  host: string;
  /** Spawn → the known peer's arrival (NaN: not found). */
  peerMs: number;
  /** Spawn → process exit. */
  doneMs: number;
  /** Theirs: spawn → 'ready' (its populate lookup done); NaN for ours. */
  readyMs: number;
  exitCode: number | null;
  /** Datagrams the testnet's addresses received from `host` (receivers' count). */
  datagrams: number;
  /** ... of which to gone nodes. */
  toGone: number;
  /** Distinct testnet addresses that received anything from `host`. */
  receivers: number;
  /** What the client says it sent: ours `nodesQueried` (get_peers), theirs every query by method. */
  selfReport: string;
  /** Theirs: sends refused by the loopback-only guard (bogon contacts). */
  blocked: number;
  /** Theirs: answers it sent to queries (testnet nodes verifying it); part of `datagrams`. */
  replies: number;
}

/** The bittorrent-dht client, as an ES module run with `node --input-type=module -e` from the repository root. */
function theirsScript(): string {
  return `
import DHT from 'bittorrent-dht';
import { createSocket } from 'node:dgram';
const [host, bootstrap, infoHashHex, wantPeer, waitReady] = process.argv.slice(1);
const out = (line) => process.stdout.write(line + '\\n');
const counts = { queries: {}, replies: 0, blocked: 0 };
// Loopback only: bogon-contacts nodes advertise 10.x, 192.168.x, 224.x ... contacts.
const socket = createSocket('udp4');
const send = socket.send.bind(socket);
socket.send = (...args) => {
  const address = args.length >= 5 ? args[4] : args[2];
  if (typeof address !== 'string' || !address.startsWith('127.')) {
    counts.blocked++;
    const cb = args[args.length - 1];
    if (typeof cb === 'function') process.nextTick(cb, new Error('blocked: not loopback'));
    return;
  }
  send(...args);
};
const dht = new DHT({ bootstrap: [bootstrap], socket });
const rpc = dht._rpc.socket;
const query = rpc.query.bind(rpc);
rpc.query = (peer, q, cb) => { const m = String(q.q); counts.queries[m] = (counts.queries[m] ?? 0) + 1; return query(peer, q, cb); };
const response = rpc.response.bind(rpc);
rpc.response = (...a) => { counts.replies++; return response(...a); };
dht.on('error', (err) => out('error ' + err.message));
dht.listen(0, host);
const infoHash = Buffer.from(infoHashHex, 'hex');
let found = false;
dht.on('peer', (peer, hash) => {
  if (!found && hash.equals(infoHash) && peer.host + ':' + peer.port === wantPeer) { found = true; out('peer'); }
});
const lookup = () => dht.lookup(infoHash, (err) => {
  out('done ' + JSON.stringify({ error: err ? err.message : null, ...counts, table: dht.nodes.toArray().length }));
  dht.destroy(() => process.exit(0));
});
if (waitReady === '1') dht.once('ready', () => { out('ready'); lookup(); });
else lookup();
`;
}

/** Spawns `node ...args` from the repository root; every stdout/stderr line with its time since spawn. */
function runTimed(args: string[], onLine: (stream: 'out' | 'err', line: string, ms: number) => void, timeoutMs: number): Promise<{ ms: number; code: number | null }> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let exitedMs = NaN;
    for (const [name, stream] of [['out', child.stdout], ['err', child.stderr]] as const) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const ms = performance.now() - t0;
        buffered += chunk;
        for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
          onLine(name, buffered.slice(0, i), ms);
          buffered = buffered.slice(i + 1);
        }
      });
    }
    child.on('exit', () => (exitedMs = performance.now() - t0));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ms: Number.isNaN(exitedMs) ? performance.now() - t0 : exitedMs, code });
    });
  });
}

async function receivedFrom(testnet: Testnet, host: string, gone: Set<string>): Promise<Pick<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> {
  const { byNode, refusedSends } = await testnet.received([host]);
  if (refusedSends > 0) throw new Error(`testnet nodes tried ${refusedSends} sends outside 127.0.0.0/8`);
  let datagrams = 0;
  let toGone = 0;
  let receivers = 0;
  for (const [address, n] of byNode) {
    if (n === 0) continue;
    datagrams += n;
    receivers++;
    if (gone.has(address)) toGone += n;
  }
  return { datagrams, toGone, receivers };
}

export async function churnPhase(): Promise<void> {
  const nodes = Number(process.env['CHURN_NODES'] ?? 1000);
  const rounds = Number(process.env['CHURN_ROUNDS'] ?? 24);
  const goneOfAll = Number(process.env['CHURN_GONE'] ?? 0.1);
  const seed = Number(process.env['CHURN_SEED'] ?? 90);
  const addressBase = Number(process.env['CHURN_ADDRESS_BASE'] ?? 90);
  const waitReady = process.env['CHURN_THEIRS_READY'] !== '0';
  const entry = process.env['CHURN_DHTSCOPE'] ?? 'bin/dhtscope.mjs';
  if (entry === 'bin/dhtscope.mjs') requireFreshBuild();
  // Nodes at 127.<base>.x.y, announcers and the testnet's probe at 127.<base+1>.x.y, clients here:
  const clientNet = `127.${addressBase + 2}`;
  const options = { nodes, infohashes: 200, seed, addressBase, ...MIXED_NETWORK, profiles: { ...MIXED_NETWORK.profiles } };
  // `gone` is a share of our answering nodes (not node 0), drawn per node: size it so that
  // exactly round(goneOfAll x nodes) of ALL nodes are gone. The plan makes the same draws
  // whatever `gone` is (no `leaving`), so the number gone grows with it: bisect on the plan.
  const goneCount = (share: number): number => planTestnet({ ...options, gone: share }, 1).nodes.filter((n) => n.leavesAtMs === 0).length;
  const eligible = planTestnet(options, 1).nodes.filter((n) => n.index !== 0 && n.kind === 'dhtscope' && n.responsive).length;
  const wanted = Math.min(eligible, Math.round(goneOfAll * nodes));
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 40 && goneCount(hi) !== wanted; i++) {
    const mid = (lo + hi) / 2;
    if (goneCount(mid) < wanted) lo = mid;
    else hi = mid;
  }
  const gone = hi;

  console.log(`\n## Cold lookups with churn: \`dhtscope peers\` vs a bittorrent-dht 11 client, both cold child processes`);
  const tStart = performance.now();
  const testnet = await Testnet.start({ ...options, gone });
  try {
    const truth = testnet.groundTruth;
    const count = (p: (n: (typeof truth.nodes)[number]) => boolean): number => truth.nodes.filter(p).length;
    const goneSet = new Set(truth.nodes.filter((n) => n.leavesAtMs === 0).map((n) => n.address));
    const silentToAll = count((n) => !n.responsive); // read-only profile: answers nothing
    const kinds = ['dhtscope', 'bittorrent-dht', 'libtorrent', 'dead'].map((k) => `${k} ${count((n) => n.kind === k)}`).join(', ');
    console.log(
      `Node ${process.version}; testnet of ${truth.nodes.length} nodes (${kinds}; seed ${seed}) started in ${((performance.now() - tStart) / 1000).toFixed(1)} s. ` +
        `Gone (left after the announces, still in tables): ${goneSet.size} nodes = ${((100 * goneSet.size) / truth.nodes.length).toFixed(1)}% of ALL nodes ` +
        `(testnet option gone = ${gone.toFixed(3)} of our ${eligible} answering nodes); BEP 43 read-only (never answer, in no table): ${silentToAll}; ` +
        `${Object.keys(truth.peers).length} infohashes announced on their K = 8 closest answering nodes (${truth.announceFailures} announces failed). ` +
        `Bootstrap for both clients: ${testnet.bootstrap}.`,
    );

    // Infohashes with a known peer that at least one node still present stores.
    const present = new Set(truth.nodes.filter((n) => n.responsive && n.leavesAtMs !== 0).map((n) => n.address));
    const candidates = Object.keys(truth.peers).filter((ih) => (truth.infohashes[ih] ?? []).some((a) => present.has(a)));
    const random = seededRandom(seed * 7 + 1);
    const picked: string[] = [];
    while (picked.length < Math.min(rounds, candidates.length)) picked.push(candidates.splice(randomInt(random, candidates.length), 1)[0]!);
    const storersGone = picked.map((ih) => (truth.infohashes[ih] ?? []).filter((a) => goneSet.has(a)).length);
    console.log(
      `${picked.length} rounds, one infohash each (of its storing nodes, gone: median ${median(storersGone)}, max ${Math.max(...storersGone)}); ` +
        `clients bind ${clientNet}.1.r (ours) and ${clientNet}.2.r (theirs): the same kind of address (loopback, unknown to the network), ` +
        `a new one per client and round, so the receivers' counts need no before/after difference and no per-IP state ` +
        `(rate limits, querier verification) carries over from one client to the other.`,
    );

    // Process start-up alone, for reading the times below.
    const startups = { ours: [] as number[], theirs: [] as number[] };
    for (let i = 0; i < 3; i++) {
      startups.ours.push((await runTimed([entry, 'peers', '--help'], () => {}, 30_000)).ms);
      startups.theirs.push((await runTimed(['--input-type=module', '-e', "import 'bittorrent-dht'"], () => {}, 30_000)).ms);
    }

    const foreign = testnet.foreignHosts;
    const samples = { ours: [] as ChurnSample[], theirs: [] as ChurnSample[] };
    let forgotten = 0;
    const tRounds = performance.now();
    for (let r = 0; r < picked.length; r++) {
      const ih = picked[r]!;
      const peer = truth.peers[ih]!;
      const oursHost = `${clientNet}.1.${r + 1}`;
      const theirsHost = `${clientNet}.2.${r + 1}`;
      const runOurs = async (): Promise<Omit<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> => {
        let peerMs = NaN;
        let selfReport = '?';
        const args = [entry, 'peers', ih, '--bootstrap', testnet.bootstrap, '--host', oursHost, '--timeout', '30'];
        const { ms, code } = await runTimed(
          args,
          (stream, line, at) => {
            if (stream === 'out' && line.trim() === peer && Number.isNaN(peerMs)) peerMs = at;
            const m = stream === 'err' ? /(\d+) nodes queried/.exec(line) : null;
            if (m) selfReport = `get_peers ${m[1]}`;
          },
          40_000,
        );
        return { host: oursHost, peerMs, doneMs: ms, readyMs: NaN, exitCode: code, selfReport, blocked: 0, replies: 0 };
      };
      const runTheirs = async (): Promise<Omit<ChurnSample, 'datagrams' | 'toGone' | 'receivers'>> => {
        let peerMs = NaN;
        let readyMs = NaN;
        let selfReport = '?';
        let blocked = 0;
        let replies = 0;
        const args = ['--input-type=module', '-e', theirsScript(), theirsHost, testnet.bootstrap, ih, peer, waitReady ? '1' : '0'];
        const { ms, code } = await runTimed(
          args,
          (stream, line, at) => {
            if (stream !== 'out') return;
            if (line === 'peer' && Number.isNaN(peerMs)) peerMs = at;
            else if (line === 'ready') readyMs = at;
            else if (line.startsWith('done ')) {
              const d = JSON.parse(line.slice(5)) as { queries: Record<string, number>; replies: number; blocked: number };
              selfReport = Object.entries(d.queries).map(([q, n]) => `${q} ${n}`).join(', ') + (d.replies > 0 ? `; ${d.replies} replies` : '');
              blocked = d.blocked;
              replies = d.replies;
            }
          },
          40_000,
        );
        return { host: theirsHost, peerMs, doneMs: ms, readyMs, exitCode: code, selfReport, blocked, replies };
      };
      let ours;
      let theirs;
      if (r % 2 === 0) {
        ours = await runOurs();
        await sleep(200);
        theirs = await runTheirs();
      } else {
        theirs = await runTheirs();
        await sleep(200);
        ours = await runOurs();
      }
      await sleep(300); // datagrams still queued at the receivers
      samples.ours.push({ ...ours, ...(await receivedFrom(testnet, oursHost, goneSet)) });
      samples.theirs.push({ ...theirs, ...(await receivedFrom(testnet, theirsHost, goneSet)) });
      // bittorrent-dht nodes add every querier: take this round's clients out of their tables again.
      for (const host of foreign) {
        if (host.kind !== 'bittorrent-dht') continue;
        const ids = new Set<string>();
        for (const contacts of (await host.tables()).values()) for (const c of contacts) if (c.host.startsWith(`${clientNet}.`)) ids.add(c.id);
        for (const id of ids) await host.forget(id);
        forgotten += ids.size;
      }
      if (process.env['CHURN_VERBOSE']) {
        const o = samples.ours.at(-1)!;
        const t = samples.theirs.at(-1)!;
        console.log(
          `round ${r + 1}: ours peer ${f0(o.peerMs)} ms, exit ${f0(o.doneMs)} ms, ${o.datagrams} datagrams (${o.toGone} to gone), ${o.selfReport}; ` +
            `theirs ready ${f0(t.readyMs)} ms, peer ${f0(t.peerMs)} ms, exit ${f0(t.doneMs)} ms, ${t.datagrams} datagrams (${t.toGone} to gone), ${t.selfReport}, blocked ${t.blocked}`,
        );
      }
    }
    let libtorrentListing = 0;
    for (const host of foreign) {
      if (host.kind !== 'libtorrent') continue;
      for (const contacts of (await host.tables()).values()) libtorrentListing += contacts.filter((c) => c.host.startsWith(`${clientNet}.`)).length;
    }

    const p90 = (xs: number[]): number => quantile(xs, 0.9);
    const col = (s: ChurnSample[], key: 'peerMs' | 'doneMs' | 'readyMs' | 'datagrams' | 'toGone' | 'receivers'): number[] => s.map((x) => x[key]).filter((x) => !Number.isNaN(x));
    console.log(
      `\n${picked.length} rounds in ${((performance.now() - tRounds) / 1000).toFixed(0)} s. Process start-up alone (spawn → exit, median of 3): ` +
        `\`dhtscope peers --help\` ${f0(median(startups.ours))} ms (${entry}${entry === 'bin/dhtscope.mjs' ? ': the JavaScript build' : ''}), \`import 'bittorrent-dht'\` ${f0(median(startups.theirs))} ms.\n`,
    );
    console.log(
      row(['cold client', 'found the peer', 'time to peer median', 'p90', 'done (exit) median', 'p90', 'queries (datagrams at receivers) median', 'p90', 'to gone nodes median', 'nodes contacted median']),
    );
    console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const [name, s] of [
      ['ours: `dhtscope peers`', samples.ours],
      [`bittorrent-dht 11${waitReady ? " (lookup after 'ready')" : ' (lookup at once)'}`, samples.theirs],
    ] as const) {
      console.log(
        row([
          name,
          `${s.filter((x) => !Number.isNaN(x.peerMs)).length}/${s.length}`,
          f0(median(col(s, 'peerMs'))),
          f0(p90(col(s, 'peerMs'))),
          f0(median(col(s, 'doneMs'))),
          f0(p90(col(s, 'doneMs'))),
          f0(median(col(s, 'datagrams'))),
          f0(p90(col(s, 'datagrams'))),
          f0(median(col(s, 'toGone'))),
          f0(median(col(s, 'receivers'))),
        ]),
      );
    }
    const ratio = (key: 'peerMs' | 'doneMs' | 'datagrams', q: number): number => quantile(col(samples.ours, key), q) / quantile(col(samples.theirs, key), q);
    console.log('');
    console.log(row(['ratio ours / bittorrent-dht', 'time to peer median', 'p90', 'done median', 'p90', 'queries median', 'p90']));
    console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
    console.log(
      row(['', ratio('peerMs', 0.5).toFixed(2), ratio('peerMs', 0.9).toFixed(2), ratio('doneMs', 0.5).toFixed(2), ratio('doneMs', 0.9).toFixed(2), ratio('datagrams', 0.5).toFixed(2), ratio('datagrams', 0.9).toFixed(2)]),
    );
    const readies = col(samples.theirs, 'readyMs');
    const blocked = samples.theirs.reduce((n, x) => n + x.blocked, 0);
    const failed = [...samples.ours, ...samples.theirs].filter((x) => x.exitCode !== 0 && !(x.exitCode === 1 && Number.isNaN(x.peerMs)));
    console.log(
      (waitReady ? `\nbittorrent-dht's 'ready' (its populate lookup done, which waits out its 2 s query timeouts) at median ${f0(median(readies))} ms. ` : '\n') +
        `Its sends to non-loopback bogon contacts refused by the guard (not counted above): ${blocked} in all. ` +
        `Its datagrams above include its answers to the testnet's pings (median ${f0(median(samples.theirs.map((x) => x.replies)))}; ours is BEP 43 read-only, never pinged). ` +
        `Self-reported queries, first round: ours ${samples.ours[0]?.selfReport}; theirs ${samples.theirs[0]?.selfReport}. ` +
        `Client entries removed from bittorrent-dht nodes' tables after the rounds: ${forgotten}; listed by libtorrent nodes at the end: ${libtorrentListing}. ` +
        `Unexpected exit codes: ${failed.length === 0 ? 'none' : failed.map((x) => `${x.host} ${x.exitCode}`).join(', ')}.`,
    );
    const found = (s: ChurnSample[]): number => s.filter((x) => !Number.isNaN(x.peerMs)).length;
    const t = ratio('peerMs', 0.5);
    const q = ratio('datagrams', 0.5);
    const met = t <= 1 && q < 1 && found(samples.ours) >= found(samples.theirs);
    console.log(
      `target "no slower than bittorrent-dht, fewer queries": ${met ? 'MET' : 'NOT MET'} (time to peer ${t.toFixed(2)}x: ${t <= 1 ? 'met' : 'not met'}; ` +
        `queries ${q.toFixed(2)}x: ${q < 1 ? 'met' : 'not met'}; peer found ${found(samples.ours)}/${samples.ours.length} vs ${found(samples.theirs)}/${samples.theirs.length})`,
    );
  } finally {
    await testnet.stop();
  }
}
