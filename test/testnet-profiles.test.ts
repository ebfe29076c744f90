import test from 'ava';
import { encode, tryDecode } from '../bep5/bencode.js';
import { isLoopback } from '../bep5/ip.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { PROFILES, type Profile } from '../crawler/testnet/profiles.js';
import { type GroundTruth, type GroundTruthNode, Testnet } from '../crawler/testnet/testnet.js';
import { RawPeer } from './helpers/udp.js';

/**
 * The behaviour profiles on the wire: each profile node is asked directly (ping,
 * sample_infohashes, an unknown method) and must do what the client it imitates does
 * (../shared/notes/foreign-nodes.md). Shared IPs and nodes that leave are checked too.
 */
let testnet: Testnet;
let truth: GroundTruth;
const everyProfile = Object.fromEntries(PROFILES.filter((p) => p !== 'dhtscope').map((p) => [p, 0.1])) as Partial<Record<Profile, number>>;

test.before(async () => {
  testnet = await Testnet.start({
    nodes: 150,
    infohashes: 100,
    seed: 4,
    unresponsive: 0.05,
    profiles: everyProfile,
    sharedIp: 0.2,
    leaving: 0.1,
    leaveWindowMs: 300,
    addressBase: 43,
    workers: 1,
  });
  truth = testnet.groundTruth;
});

test.after.always(async () => {
  await testnet?.stop();
});

const hostPort = (n: GroundTruthNode): { host: string; port: number } => {
  const [host, port] = n.address.split(':');
  return { host: host!, port: Number(port) };
};

let serial = 0;

/**
 * Sends one raw query and waits for its answer (or silence): null when nothing came back.
 * Other datagrams (a node pinging us back to verify us, a late answer) are skipped.
 */
async function rawQuery(peer: RawPeer, to: { host: string; port: number }, q: string, args: Record<string, unknown>): Promise<Record<string, unknown> | null> {
  const t = Buffer.from(`q${serial++}`);
  await peer.send(encode({ t, y: Buffer.from('q'), q: Buffer.from(q), a: args } as never), to.port, to.host);
  const deadline = Date.now() + 600;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    try {
      const { msg, rinfo } = await peer.next(left);
      const m = tryDecode(msg) as Record<string, unknown>;
      const y = Buffer.isBuffer(m?.y) ? m.y.toString('latin1') : '';
      if ((y === 'r' || y === 'e') && Buffer.isBuffer(m.t) && m.t.equals(t) && rinfo.port === to.port && rinfo.address === to.host) return m;
    } catch {
      return null;
    }
  }
}

test.serial('every profile does on the wire what the client it imitates does', async (t) => {
  const peer = await RawPeer.bind('127.45.0.1');
  t.teardown(() => peer.close());
  const id = Buffer.alloc(20, 3);
  const stays = truth.nodes.filter((n) => n.kind === 'dhtscope' && n.leavesAtMs === null && n.profile !== 'dhtscope');
  const seen = new Set<Profile>();
  for (const n of stays) {
    const profile = n.profile!;
    if (seen.has(profile)) continue;
    seen.add(profile);
    const to = hostPort(n);
    const ping = await rawQuery(peer, to, 'ping', { id });
    const sample = await rawQuery(peer, to, 'sample_infohashes', { id, target: id });
    const unknown = await rawQuery(peer, to, 'vote', { id });
    const errorCode = (m: Record<string, unknown> | null): number | null => (m && Array.isArray(m.e) ? (m.e[0] as number) : null);
    const v = (m: Record<string, unknown> | null): string | null => (m && Buffer.isBuffer(m.v) ? m.v.toString('hex') : null);
    t.log(`${profile}: ping ${ping ? 'answered' : 'silent'} v=${v(ping)}; sample ${sample === null ? 'silent' : (errorCode(sample) ?? 'samples')}; unknown ${unknown === null ? 'silent' : errorCode(unknown)}`);
    switch (profile) {
      case 'silent':
        t.truthy(ping);
        t.is(v(ping), null, 'no v');
        t.is(sample, null);
        t.is(unknown, null);
        break;
      case 'aria2':
        t.is(v(ping), '41320003');
        t.is(sample, null);
        t.is(unknown, null);
        break;
      case 'rtorrent':
        t.is(v(ping), '6c740d80');
        t.is(errorCode(sample), 204);
        t.is(errorCode(unknown), 204);
        break;
      case 'lt-old':
        t.is(v(ping), '4c540110');
        t.is(errorCode(sample), 203);
        t.is(errorCode(unknown), 203);
        break;
      case 'no-bep51':
        t.is(errorCode(sample), 204);
        break;
      case 'read-only':
        t.is(ping, null, 'BEP 43 read-only answers nothing');
        break;
      case 'rate-limited':
      case 'bogon-contacts':
        t.truthy(ping);
        t.is(v(ping), '44530001');
        t.true(sample !== null && errorCode(sample) === null, 'answers BEP 51');
        break;
      default:
        t.fail(`no check for ${profile}`);
    }
    t.is(n.version, v(ping) ?? (profile === 'read-only' ? n.version : null), 'the ground truth lists the v it sends');
  }
  t.deepEqual([...seen].sort(), PROFILES.filter((p) => p !== 'dhtscope').sort(), 'every profile was on the network');
});

test.serial('rate-limited nodes stop answering one IP after their burst; bogon-contacts nodes list contacts outside 127/8', async (t) => {
  const client = new KrpcSocket({ timeoutMs: 500 });
  await client.bind(0, '127.45.0.2');
  t.teardown(() => client.close());
  const id = Buffer.alloc(20, 4);
  const limited = truth.nodes.find((n) => n.profile === 'rate-limited' && n.leavesAtMs === null)!;
  let answered = 0;
  for (let i = 0; i < 8; i++) {
    try {
      await client.query(hostPort(limited), { method: 'ping', id });
      answered++;
    } catch {
      // over its per-IP limit: silence
    }
  }
  t.true(answered >= 3 && answered < 8, `${answered} of 8 quick pings answered`);
  const bogon = truth.nodes.find((n) => n.profile === 'bogon-contacts' && n.leavesAtMs === null)!;
  const { reply } = await client.query(hostPort(bogon), { method: 'find_node', id, target: id });
  t.true(reply.nodes.some((n) => !isLoopback(n.host)), 'its answer lists private or bogon contacts');
  t.true(reply.nodes.some((n) => isLoopback(n.host)), 'beside its real ones');
});

test.serial('shared IPs: several answering nodes behind one address, on different ports', async (t) => {
  const byHost = new Map<string, GroundTruthNode[]>();
  for (const n of truth.nodes) if (n.kind === 'dhtscope') byHost.set(hostPort(n).host, [...(byHost.get(hostPort(n).host) ?? []), n]);
  const shared = [...byHost.values()].find((group) => group.filter((n) => n.responsive && n.leavesAtMs === null).length >= 2)!;
  t.truthy(shared, 'some address holds two or more nodes');
  const client = new KrpcSocket({ timeoutMs: 1000 });
  await client.bind(0, '127.45.0.3');
  t.teardown(() => client.close());
  const ids = new Set<string>();
  for (const n of shared.filter((m) => m.responsive && m.leavesAtMs === null)) {
    const { reply } = await client.query(hostPort(n), { method: 'ping', id: Buffer.alloc(20, 5) });
    t.is(reply.id.toString('hex'), n.id);
    ids.add(n.id);
  }
  t.true(ids.size >= 2);
});

test.serial('leaving nodes answer at first, then go silent within their window; what reaches them is still counted', async (t) => {
  const leaving = truth.nodes.filter((n) => n.leavesAtMs !== null && n.leavesAtMs > 0 && n.responsive);
  t.true(leaving.length >= 3, `${leaving.length} leaving nodes`);
  t.true(leaving.every((n) => !n.live), 'a leaving node is not live');
  const client = new KrpcSocket({ timeoutMs: 300 });
  await client.bind(0, '127.45.0.4');
  t.teardown(() => client.close());
  const deadline = Date.now() + 10_000;
  for (const n of leaving) {
    let silent = false;
    while (!silent && Date.now() < deadline) {
      try {
        await client.query(hostPort(n), { method: 'ping', id: Buffer.alloc(20, 6) });
      } catch {
        silent = true;
      }
    }
    t.true(silent, `${n.address} left`);
  }
  const { byNode } = await testnet.received(['127.45.0.4']);
  for (const n of leaving) t.true((byNode.get(n.address) ?? 0) >= 1, `${n.address} counted what reached it`);
});
