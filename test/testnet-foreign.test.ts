import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../bep5/bencode.js';
import { matchesBep42 } from '../bep5/bep42.js';
import { type PeerAddress } from '../bep5/compact.js';
import { KrpcTimeoutError } from '../bep5/errors.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { randomId } from '../bep5/node-id.js';
import { ForeignHost, type ForeignNodeSpec } from '../crawler/testnet/foreign-host.js';
import { ForeignHostError } from '../crawler/errors.js';
import { pollUntil } from './helpers/wait.js';

/**
 * The foreign-node hosts of the testnet: real bittorrent-dht and libtorrent nodes in child
 * processes, each on its own 127.61.x.y address, queried with our own KrpcSocket. What is
 * asserted comes from the foreign processes (their answers, their tables, their counters).
 *
 * Addresses: bittorrent-dht 127.61.1.*, libtorrent 127.61.2.*, clients and probes 127.61.3.*,
 * start-up failures 127.61.4.*. Serial: the checks for leftover processes look at every child
 * of this process.
 */

type T = ExecutionContext<unknown>;

const PORT = 6881;
const BTDHT_NODES = 20;
const LT_NODES = 4;

function specs(n: number, third: number): ForeignNodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, host: `127.61.${third}.${i + 1}`, port: PORT, id: randomId().toString('hex') }));
}

const addr = (s: { host: string; port: number }): PeerAddress => ({ host: s.host, port: s.port });
const at = (a: { host: string; port: number }): string => `${a.host}:${a.port}`;

/**
 * BEP 43 read-only: it answers nothing, so a foreign node that decides to query it back
 * cannot add datagrams to the counts the test asserts (libtorrent keeps no read-only querier;
 * bittorrent-dht ignores the flag and keeps it anyway).
 */
async function client(t: T, host: string): Promise<KrpcSocket> {
  const socket = new KrpcSocket({ timeoutMs: 1_000, readOnly: true });
  await socket.bind(0, host);
  t.teardown(() => socket.close());
  return socket;
}

/** Whether `check` came true within `ms` (test/helpers/wait.ts polls it). */
function waitFor(check: () => Promise<boolean> | boolean, ms = 5_000): Promise<boolean> {
  return pollUntil(check, 'a condition', ms, 20).then(
    () => true,
    () => false,
  );
}

/** Child processes of this process running one of the foreign hosts. */
async function hostChildren(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (/libtorrent-host\.py|bittorrent-dht-host\.ts/.test(cmdline)) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Binding the node's own address succeeds only once the foreign process has closed it. */
async function canBind(host: string, port: number): Promise<boolean> {
  const s = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, host, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

async function assertStopped(t: T, host: ForeignHost, first: ForeignNodeSpec): Promise<void> {
  const pid = host.pid;
  await host.stop();
  await host.stop(); // idempotent
  t.false(alive(pid), `child ${pid} is gone`);
  t.deepEqual(await hostChildren(), []);
  t.true(await canBind(first.host, first.port), 'its sockets are closed');
  await t.throwsAsync(host.received(), { instanceOf: ForeignHostError });
}

test.serial('bittorrent-dht: its own IDs, find_node from the contacts given, silence on BEP 51, exact datagram counts', async (t) => {
  const nodes = specs(BTDHT_NODES, 1);
  const host = await ForeignHost.start('bittorrent-dht', nodes, { probeHost: '127.61.3.250' });
  t.teardown(() => host.stop());
  t.regex(host.info.implementation, /^bittorrent-dht 11\./);
  t.is(host.info.sampleCount, undefined, 'no BEP 51');

  // The IDs it was given, as the nodes themselves answer them.
  const ids = host.ids();
  t.deepEqual([...ids.keys()], nodes.map((n) => n.index));
  for (const n of nodes) t.is(ids.get(n.index), n.id);
  const me = await client(t, '127.61.3.1');
  const myId = randomId();
  const pings = await Promise.all(nodes.map((n) => me.query(addr(n), { method: 'ping', id: myId })));
  t.deepEqual(pings.map((p) => p.reply.id.toString('hex')), nodes.map((n) => n.id));
  t.deepEqual(pings.map((p) => at(p.from)), nodes.map(at));

  // Contacts given to node 0 come back in its find_node reply, with their IDs. bittorrent-dht
  // adds every querier too (our client just pinged it), and lists its whole table.
  const given = nodes.slice(1, 11).map((n) => ({ id: n.id, host: n.host, port: n.port }));
  t.deepEqual(await host.addContacts(new Map([[0, given]])), new Map([[0, given.length]]));
  const expected = [...given.map((c) => `${c.id}@${at(c)}`), `${myId.toString('hex')}@${at(me.address())}`].sort();
  const fn = await me.query(addr(nodes[0]!), { method: 'find_node', id: myId, target: randomId() });
  t.deepEqual(fn.reply.nodes.map((c) => `${c.id.toString('hex')}@${at(c)}`).sort(), expected);
  t.deepEqual((await host.tables()).get(0)!.map((c) => `${c.id}@${at(c)}`).sort(), expected);
  t.is((await host.tableSizes()).get(0), expected.length);
  t.is((await host.tableSizes()).get(1), 1, 'only our client: the probe was forgotten');

  // BEP 51: no answer at all, not even an error.
  await t.throwsAsync(me.query(addr(nodes[2]!), { method: 'sample_infohashes', id: myId, target: randomId() }, { timeoutMs: 300 }), {
    instanceOf: KrpcTimeoutError,
  });

  // Datagrams by source, exactly: 5 pings, 1 find_node, 1 unanswered sample_infohashes.
  const counter = await client(t, '127.61.3.2');
  const target = nodes[3]!;
  for (let i = 0; i < 5; i++) await counter.query(addr(target), { method: 'ping', id: myId });
  await counter.query(addr(target), { method: 'find_node', id: myId, target: randomId() });
  await t.throwsAsync(counter.query(addr(target), { method: 'sample_infohashes', id: myId, target: randomId() }, { timeoutMs: 200 }));
  const source = at(counter.address());
  const count = async (index: number): Promise<number | undefined> => (await host.received()).get(index)?.get(source);
  t.true(await waitFor(async () => (await count(target.index)) === 7));
  const received = await host.received();
  t.is(received.get(target.index)!.get(source), 7);
  t.is(received.get(target.index)!.get(at(me.address())), 1, 'the ping of the ID check above');
  t.false([...received].some(([i, m]) => i !== target.index && m.has(source)), 'no other node heard from that source');
  t.false([...received.values()].some((m) => [...m.keys()].some((k) => k.startsWith('127.61.3.250:'))), 'the start-up probe is not counted');

  // Datagrams that would hang or crash k-rpc-socket / bittorrent-dht (and with it every node of
  // the process) are counted, then dropped by the host's guard; well-formed ones pass.
  const hostile = createSocket('udp4');
  await new Promise<void>((resolve) => hostile.bind(0, '127.61.3.3', () => resolve()));
  t.teardown(() => hostile.close());
  const victim = nodes[4]!;
  const bad = [
    Buffer.from('d1:x1:y1:z-10:e'), // negative length: an endless loop in bencode 2
    encode({ a: { id: randomId(), info_hash: 5 }, q: Buffer.from('get_peers'), t: Buffer.from('aa'), y: Buffer.from('q') }),
    encode({ a: { id: randomId(), target: 7 }, q: Buffer.from('find_node'), t: Buffer.from('ab'), y: Buffer.from('q') }),
  ];
  for (const d of bad) hostile.send(d, victim.port, victim.host);
  const hostileSource = `127.61.3.3:${hostile.address().port}`;
  t.true(await waitFor(async () => (await host.received()).get(victim.index)?.get(hostileSource) === bad.length));
  const diagnostics = await host.diagnostics();
  t.is(diagnostics.nodes.get(victim.index)?.guarded, bad.length);
  t.deepEqual(diagnostics.uncaught, []);
  t.is((await me.query(addr(victim), { method: 'ping', id: myId })).reply.id.toString('hex'), victim.id, 'still answering');

  await assertStopped(t, host, nodes[0]!);
});

test.serial('libtorrent: real IDs, raised BEP 51 sample, announce then get_peers and sample, exact datagram counts', async (t) => {
  const nodes = specs(LT_NODES, 2);
  const host = await ForeignHost.start('libtorrent', nodes, { sampleCount: 100, sampleIntervalS: 0, probeHost: '127.61.3.251' });
  t.teardown(() => host.stop());
  t.regex(host.info.implementation, /^libtorrent 2\.0\./);
  // Settings as the session reports them, and what BEP 51 will really do: libtorrent's storage
  // never samples more than 20.
  t.is(host.info.settings.dht_max_infohashes_sample_count, 100);
  t.is(host.info.settings.dht_sample_infohashes_interval, 0);
  t.is(host.info.settings.dht_bootstrap_nodes, '');
  t.is(host.info.settings.dht_restrict_routing_ips, false);
  t.is(host.info.sampleCount, 20);
  t.is(host.info.sampleIntervalS, 0);

  // The IDs the sessions chose (libtorrent cannot take one on loopback), as they answer them.
  const ids = host.ids();
  t.deepEqual([...ids.keys()], nodes.map((n) => n.index));
  const me = await client(t, '127.61.3.10');
  const myId = randomId();
  for (const n of nodes) {
    const ping = await me.query(addr(n), { method: 'ping', id: myId });
    t.is(ping.reply.id.toString('hex'), ids.get(n.index)!);
    t.not(ids.get(n.index)!, n.id, 'not the wanted ID');
    t.is(ping.v?.subarray(0, 2).toString(), 'LT');
  }

  // Contacts given to node 3 enter its table once they answer, with the IDs they answer with
  // (the ID given is not used: libtorrent only gets an address).
  const given = nodes.slice(0, 3).map((n) => ({ id: randomId().toString('hex'), host: n.host, port: n.port }));
  t.deepEqual(await host.addContacts(new Map([[3, given]])), new Map([[3, 3]]));
  const expectedTable = nodes.slice(0, 3).map((n) => `${ids.get(n.index)}@${at(n)}`).sort();
  t.deepEqual((await host.tables()).get(3)!.map((c) => `${c.id}@${at(c)}`).sort(), expectedTable);
  t.is((await host.tableSizes()).get(3), 3);
  const fn = await me.query(addr(nodes[3]!), { method: 'find_node', id: myId, target: randomId() });
  t.deepEqual(fn.reply.nodes.map((c) => `${c.id.toString('hex')}@${at(c)}`).sort(), expectedTable);
  t.deepEqual(await host.tableSizes(), new Map([[0, 0], [1, 0], [2, 0], [3, 3]]), 'queriers (node 3, our read-only client) are not table entries');

  // BEP 51 answered; nothing stored yet.
  const empty = await me.query(addr(nodes[0]!), { method: 'sample_infohashes', id: myId, target: randomId() });
  t.is(empty.reply.num, 0);
  t.deepEqual(empty.reply.samples, []);
  t.is(empty.reply.interval, 0);

  // Announce through the wire (get_peers for a token, announce_peer with implied_port).
  const announce = async (node: ForeignNodeSpec, infoHash: Buffer): Promise<void> => {
    const gp = await me.query(addr(node), { method: 'get_peers', id: myId, infoHash });
    t.is(gp.reply.token?.length, 4);
    await me.query(addr(node), { method: 'announce_peer', id: myId, infoHash, port: 0, impliedPort: true, token: gp.reply.token! });
  };
  const three = [randomId(), randomId(), randomId()];
  for (const ih of three) await announce(nodes[1]!, ih);
  const peers = await me.query(addr(nodes[1]!), { method: 'get_peers', id: myId, infoHash: three[0]! });
  t.deepEqual(peers.reply.values, [me.address()], 'the announced peer, at the source port (implied_port)');
  // A valid announce_peer puts the announcer in the table, read-only (BEP 43) or not: the token
  // proved its address.
  t.true((await host.tables()).get(1)!.some((c) => c.host === me.address().host && c.port === me.address().port && c.id === myId.toString('hex')));
  const sample = await me.query(addr(nodes[1]!), { method: 'sample_infohashes', id: myId, target: randomId() });
  t.is(sample.reply.num, 3);
  t.deepEqual(sample.reply.samples.map((s) => s.toString('hex')).sort(), three.map((s) => s.toString('hex')).sort());

  // 25 stored: a sample of 20 (the clamp), all of them stored ones.
  const many = Array.from({ length: 25 }, () => randomId());
  for (const ih of many) await announce(nodes[0]!, ih);
  const big = await me.query(addr(nodes[0]!), { method: 'sample_infohashes', id: myId, target: randomId() });
  t.is(big.reply.num, 25);
  t.is(big.reply.samples.length, 20);
  const stored = new Set(many.map((s) => s.toString('hex')));
  t.true(big.reply.samples.every((s) => stored.has(s.toString('hex'))));

  // Datagrams by source, exactly: 3 pings, 2 find_node, 1 get_peers.
  const counter = await client(t, '127.61.3.11');
  const target = nodes[2]!;
  for (let i = 0; i < 3; i++) await counter.query(addr(target), { method: 'ping', id: myId });
  for (let i = 0; i < 2; i++) await counter.query(addr(target), { method: 'find_node', id: myId, target: randomId() });
  await counter.query(addr(target), { method: 'get_peers', id: myId, infoHash: randomId() });
  const source = at(counter.address());
  t.true(await waitFor(async () => (await host.received()).get(target.index)?.get(source) === 6));
  const received = await host.received();
  t.false([...received].some(([i, m]) => i !== target.index && m.has(source)), 'no other node heard from that source');
  t.is(received.get(1)!.get(at(me.address())), 1 + 3 * 2 + 2, 'ping, 3 × (get_peers + announce_peer), get_peers, sample');

  // All that traffic (our replies carry `ip` = 127.x) left the IDs alone.
  t.deepEqual(await host.probeIds(), ids);

  // But one query whose `ip` field names a public address makes libtorrent adopt it as its
  // external address and move to a BEP 42 ID for it (the voter takes a first vote at once).
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.61.3.12', () => resolve()));
  t.teardown(() => raw.close());
  const ping = encode({ a: { id: randomId() }, ip: Buffer.from([8, 8, 8, 8, 0x1a, 0xe1]), q: Buffer.from('ping'), t: Buffer.from('zz'), y: Buffer.from('q') });
  raw.send(ping, PORT, nodes[3]!.host);
  const changed = async (): Promise<boolean> => (await host.diagnostics()).nodes.get(3)?.idChanges === 1;
  t.true(await waitFor(changed), 'libtorrent logged "updating node ID"');
  const after = await host.probeIds();
  t.not(after.get(3), ids.get(3));
  t.true(matchesBep42(Buffer.from(after.get(3)!, 'hex'), '8.8.8.8'), 'a BEP 42 ID for 8.8.8.8');
  t.deepEqual((await host.diagnostics()).nodes.get(3)?.externalIps, ['8.8.8.8']);
  for (const i of [0, 1, 2]) t.is(after.get(i), ids.get(i), 'the other sessions are unaffected');

  await assertStopped(t, host, nodes[0]!);
});

test.serial('start() rejects with a clear error, and leaves no process behind', async (t) => {
  // Not loopback: refused before anything starts.
  await t.throwsAsync(ForeignHost.start('bittorrent-dht', [{ index: 0, host: '10.0.0.1', port: PORT, id: randomId().toString('hex') }]), {
    instanceOf: ForeignHostError,
    message: /127\.0\.0\.0\/8/,
  });

  // The address is taken (by a plain UDP socket).
  const busy = createSocket('udp4');
  await new Promise<void>((resolve) => busy.bind(PORT, '127.61.4.1', () => resolve()));
  t.teardown(() => busy.close());
  const taken = [{ index: 0, host: '127.61.4.1', port: PORT, id: randomId().toString('hex') }];
  await t.throwsAsync(ForeignHost.start('bittorrent-dht', taken), { instanceOf: ForeignHostError, message: /127\.61\.4\.1:6881.*EADDRINUSE/ });
  await t.throwsAsync(ForeignHost.start('libtorrent', taken), { instanceOf: ForeignHostError, message: /127\.61\.4\.1:6881.*in use/i });

  // A Python without python3-libtorrent (-S: no site-packages).
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-foreign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const python = join(dir, 'python-without-libtorrent');
  await writeFile(python, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
  await chmod(python, 0o755);
  await t.throwsAsync(ForeignHost.start('libtorrent', [{ index: 0, host: '127.61.4.2', port: PORT, id: randomId().toString('hex') }], { python }), {
    instanceOf: ForeignHostError,
    message: /python3-libtorrent is not available/,
  });
  await t.throwsAsync(ForeignHost.start('libtorrent', [{ index: 0, host: '127.61.4.2', port: PORT, id: randomId().toString('hex') }], { python: join(dir, 'nope') }), {
    instanceOf: ForeignHostError,
    message: /could not run: .*ENOENT/,
  });

  t.true(await waitFor(async () => (await hostChildren()).length === 0, 2_000), 'no host process left');
});
