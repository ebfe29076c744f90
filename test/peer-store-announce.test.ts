/**
 * bep5/peer-store.ts, storing announces: a second announce from an IP refreshes it, IPv4-mapped
 * and IPv6 announcers, copies, expiry, the caps (per infohash, infohashes, total peers), the
 * per-source quota, and bad input.
 */
import test from 'ava';
import type { PeerAddress } from '../bep5/compact.js';
import { PeerStore } from '../bep5/peer-store.js';
import { PeerStoreError } from '../bep5/errors.js';
import { ih, MIN, peer, setup, v4 } from './helpers/peer-store.js';

const TTL = 30 * MIN;

/** A distinct IPv6 address per n, each in its own /64. */
const v6 = (n: number): string => `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1`;
const key = (p: PeerAddress): string => `${p.host}|${p.port}`;

test('announce stores, a second announce from the same IP refreshes and updates port and seed', (t) => {
  const { store } = setup();
  t.is(store.announce(ih(1), peer('203.0.113.1', 1000), false), 'stored');
  t.is(store.announce(ih(1), peer('203.0.113.2', 1000), false), 'stored');
  t.is(store.announce(ih(1), peer('203.0.113.1', 2000), true), 'refreshed');
  t.is(store.count(ih(1)), 2);
  t.deepEqual(store.size, { infohashes: 1, peers: 2 });
  const got = store.getPeers(ih(1), { family: 4, max: 10 });
  t.deepEqual(got.map(key).sort(), ['203.0.113.1|2000', '203.0.113.2|1000']);
  // seed flag moved: noseed puts the non-seed first
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 1, noseed: true }), [peer('203.0.113.2', 1000)]);
  t.is(store.announce(ih(2), peer('203.0.113.1', 1000), false), 'stored', 'same IP, other infohash');
  t.deepEqual(store.size, { infohashes: 2, peers: 3 });
});

test('an IPv4-mapped announcer is the same peer as its IPv4 address, and is served to IPv4', (t) => {
  const { store } = setup();
  t.is(store.announce(ih(1), peer('::ffff:203.0.113.1', 1000), false), 'stored');
  t.is(store.announce(ih(1), peer('203.0.113.1', 1001), false), 'refreshed');
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 10 }), [peer('203.0.113.1', 1001)]);
  t.deepEqual(store.getPeers(ih(1), { family: 6, max: 10 }), []);
});

test('IPv4 and IPv6 peers are kept apart', (t) => {
  const { store } = setup();
  for (let i = 0; i < 5; i++) store.announce(ih(1), peer(v4(i)), false);
  for (let i = 0; i < 3; i++) store.announce(ih(1), peer(v6(i)), i === 0);
  t.is(store.count(ih(1)), 8);
  const four = store.getPeers(ih(1), { family: 4, max: 100 });
  const six = store.getPeers(ih(1), { family: 6, max: 100 });
  t.is(four.length, 5);
  t.is(six.length, 3);
  t.true(four.every((p) => !p.host.includes(':')));
  t.true(six.every((p) => p.host.includes(':')));
  t.deepEqual(six.map((p) => p.host).sort(), ['2001:db8::1', '2001:db8:0:1::1', '2001:db8:0:2::1'].sort(), 'canonical text');
  t.is(store.getPeers(ih(1), { family: 6, max: 2, noseed: true }).length, 2);
  t.false(store.getPeers(ih(1), { family: 6, max: 2, noseed: true }).some((p) => p.host === '2001:db8::1'), 'the v6 seed is not needed');
});

test('the infohash is copied: mutating the caller buffer does not touch the store', (t) => {
  const { store } = setup();
  const datagram = Buffer.concat([Buffer.from('xx'), ih(7), Buffer.from('yy')]);
  const view = datagram.subarray(2, 22);
  store.announce(view, peer('203.0.113.1'), false);
  datagram.fill(0);
  t.true(store.has(ih(7)));
  t.false(store.has(Buffer.alloc(20)));
  const { samples } = store.sample(10);
  t.deepEqual(samples, [ih(7)]);
  samples[0]!.fill(1);
  t.deepEqual(store.sample(10).samples, [ih(7)], 'samples are copies too');
});

test('returned peers are copies', (t) => {
  const { store } = setup();
  store.announce(ih(1), peer('203.0.113.1', 1000), false);
  const [p] = store.getPeers(ih(1), { family: 4, max: 1 });
  p!.port = 1;
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 1 }), [peer('203.0.113.1', 1000)]);
});

test('expiry: present 1 ms before the TTL, gone exactly at it', (t) => {
  const { clock, store } = setup();
  store.announce(ih(1), peer('203.0.113.1'), true);
  clock.advance(TTL - 1);
  t.true(store.has(ih(1)));
  t.is(store.count(ih(1)), 1);
  t.is(store.getPeers(ih(1), { family: 4, max: 5 }).length, 1);
  t.not(store.scrape(ih(1)), undefined);
  clock.advance(1);
  t.false(store.has(ih(1)));
  t.is(store.count(ih(1)), 0);
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 5 }), []);
  t.is(store.scrape(ih(1)), undefined);
  t.deepEqual(store.size, { infohashes: 0, peers: 0 });
  t.deepEqual(store.sample(10), { samples: [], num: 0, interval: 300 });
});

test('a refresh restarts the lifetime', (t) => {
  const { clock, store } = setup();
  store.announce(ih(1), peer('203.0.113.1'), false);
  store.announce(ih(1), peer('203.0.113.2'), false);
  clock.advance(20 * MIN);
  t.is(store.announce(ih(1), peer('203.0.113.1'), false), 'refreshed');
  clock.advance(10 * MIN);
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 5 }), [peer('203.0.113.1')], 'the other one expired');
  clock.advance(20 * MIN - 1);
  t.is(store.count(ih(1)), 1);
  clock.advance(1);
  t.is(store.count(ih(1)), 0);
});

test('expire() removes expired peers and empty infohashes and says how many peers', (t) => {
  const { clock, store } = setup({ ttlMs: 1000 });
  store.announce(ih(1), peer('203.0.113.1'), false);
  store.announce(ih(1), peer('203.0.113.2'), false);
  store.announce(ih(2), peer('203.0.113.3'), false);
  clock.advance(500);
  store.announce(ih(2), peer('203.0.113.4'), false);
  t.is(store.expire(), 0);
  clock.advance(500);
  t.is(store.expire(), 3);
  t.deepEqual(store.size, { infohashes: 1, peers: 1 });
  t.false(store.has(ih(1)));
  t.is(store.expire(), 0);
  clock.advance(500);
  t.is(store.expire(), 1);
  t.deepEqual(store.size, { infohashes: 0, peers: 0 });
  t.is(clock.pendingTimers, 0, 'no timers');
});

test('per-infohash cap: 100k distinct IPs keep at most the cap, newest kept, refreshed ones protected', (t) => {
  const { store } = setup();
  store.announce(ih(1), peer(v4(0)), false);
  for (let i = 1; i < 100_000; i++) {
    t.not(store.announce(ih(1), peer(v4(i)), false), 'rejected');
    if (i % 500 === 0) store.announce(ih(1), peer(v4(0)), false); // keep the first one fresh
  }
  t.is(store.count(ih(1)), 1000);
  t.deepEqual(store.size, { infohashes: 1, peers: 1000 });
  const all = new Set(store.getPeers(ih(1), { family: 4, max: 5000 }).map((p) => p.host));
  t.is(all.size, 1000);
  t.true(all.has(v4(0)), 'refreshed entry survived');
  t.true(all.has(v4(99_999)));
  t.false(all.has(v4(1)), 'least recently announced evicted');
});

test('per-infohash cap is configurable and evicts the entry closest to expiry', (t) => {
  const { clock, store } = setup({ maxPeersPerInfohash: 3 });
  for (let i = 0; i < 3; i++) {
    store.announce(ih(1), peer(v4(i)), false);
    clock.advance(1000);
  }
  store.announce(ih(1), peer(v4(0)), false); // v4(1) is now closest to expiry
  t.is(store.announce(ih(1), peer(v4(3)), false), 'stored');
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 10 }).map((p) => p.host).sort(), [v4(0), v4(2), v4(3)].sort());
});

test('infohash cap: 100k infohashes from distinct IPs keep at most the cap', (t) => {
  const { store } = setup();
  for (let i = 0; i < 100_000; i++) t.is(store.announce(ih(i), peer(v4(i)), false), 'stored');
  t.deepEqual(store.size, { infohashes: 10_000, peers: 10_000 });
  t.true(store.has(ih(99_999)));
  t.false(store.has(ih(0)));
  t.is(store.sample(5).num, 10_000);
});

test('infohash cap evicts the swarm announced to least recently, whole', (t) => {
  const { clock, store } = setup({ maxInfohashes: 2 });
  store.announce(ih(1), peer(v4(1)), false);
  store.announce(ih(1), peer(v4(2)), false);
  clock.advance(1);
  store.announce(ih(2), peer(v4(3)), false);
  clock.advance(1);
  store.announce(ih(1), peer(v4(4)), false); // ih(1) is now the fresher swarm
  store.announce(ih(3), peer(v4(5)), false);
  t.true(store.has(ih(1)));
  t.false(store.has(ih(2)));
  t.true(store.has(ih(3)));
  t.deepEqual(store.size, { infohashes: 2, peers: 4 });
});

test('total peer cap evicts the globally oldest entry', (t) => {
  const { clock, store } = setup({ maxTotalPeers: 5 });
  for (let i = 0; i < 5; i++) {
    store.announce(ih(i % 2), peer(v4(i)), false);
    clock.advance(1);
  }
  t.is(store.announce(ih(9), peer(v4(9)), false), 'stored');
  t.deepEqual(store.size, { infohashes: 3, peers: 5 });
  t.false(store.getPeers(ih(0), { family: 4, max: 10 }).some((p) => p.host === v4(0)));
  for (let i = 10; i < 1000; i++) store.announce(ih(i), peer(v4(i)), false);
  t.deepEqual(store.size, { infohashes: 5, peers: 5 });
});

test('a cap of one per infohash still works (the eviction empties the swarm it refills)', (t) => {
  const { store } = setup({ maxPeersPerInfohash: 1, maxTotalPeers: 1, maxInfohashes: 1 });
  t.is(store.announce(ih(1), peer(v4(1)), false), 'stored');
  t.is(store.announce(ih(1), peer(v4(2)), true), 'stored');
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 5 }), [peer(v4(2))]);
  t.is(store.announce(ih(2), peer(v4(3)), false), 'stored');
  t.deepEqual(store.size, { infohashes: 1, peers: 1 });
  t.true(store.has(ih(2)));
  t.deepEqual(store.sample(5).samples, [ih(2)]);
});

test('one source cannot fill the store: per-IP (IPv4) and per-/64 (IPv6) quota', (t) => {
  const { clock, store } = setup();
  let stored = 0;
  for (let i = 0; i < 100_000; i++) if (store.announce(ih(i), peer('203.0.113.1'), false) === 'stored') stored++;
  t.is(stored, 32);
  t.deepEqual(store.size, { infohashes: 32, peers: 32 });
  t.is(store.announce(ih(0), peer('203.0.113.1', 7000), true), 'refreshed', 'refreshes are never rejected');
  t.is(store.announce(ih(100), peer('203.0.113.2'), false), 'stored', 'a neighbouring IPv4 address is another source');

  for (let i = 0; i < 100; i++) store.announce(ih(1), peer(`2001:db8:1:2::${(i + 1).toString(16)}`), false);
  t.is(store.count(ih(1)), 1 + 32, 'one /64 holds 32 entries even in one swarm');
  t.is(store.announce(ih(1), peer('2001:db8:1:3::1'), false), 'stored', 'the next /64 is another source');

  clock.advance(TTL);
  t.is(store.announce(ih(5), peer('203.0.113.1'), false), 'stored', 'the quota frees as entries expire');
});

test('maxEntriesPerSource is configurable', (t) => {
  const { store } = setup({ maxEntriesPerSource: 2 });
  t.is(store.announce(ih(1), peer('203.0.113.1'), false), 'stored');
  t.is(store.announce(ih(2), peer('203.0.113.1'), false), 'stored');
  t.is(store.announce(ih(3), peer('203.0.113.1'), false), 'rejected');
  t.false(store.has(ih(3)));
});

test('bad input throws PeerStoreError with a reason', (t) => {
  const { store } = setup();
  const reason = (fn: () => unknown): string | undefined => {
    const err = t.throws(fn, { instanceOf: PeerStoreError });
    t.is(err?.code, 'ERR_PEER_STORE');
    return err?.reason;
  };
  t.is(reason(() => store.announce(Buffer.alloc(19), peer('203.0.113.1'), false)), 'bad-infohash');
  t.is(reason(() => store.has(Buffer.alloc(21))), 'bad-infohash');
  t.is(reason(() => store.announce(ih(1), peer('example.com'), false)), 'bad-peer');
  t.is(reason(() => store.announce(ih(1), peer('203.0.113.1', 0), false)), 'bad-peer');
  t.is(reason(() => store.announce(ih(1), peer('203.0.113.1', 65536), false)), 'bad-peer');
  t.is(reason(() => store.announce(ih(1), peer('203.0.113.1', 1.5), false)), 'bad-peer');
  t.is(reason(() => store.getPeers(ih(1), { family: 5 as 4, max: 1 })), 'bad-argument');
  t.is(reason(() => store.getPeers(ih(1), { family: 4, max: -1 })), 'bad-argument');
  t.is(reason(() => store.sample(1.5)), 'bad-argument');
  t.is(reason(() => new PeerStore({ sampleIntervalSeconds: 21_601 })), 'bad-option');
  t.is(reason(() => new PeerStore({ sampleIntervalSeconds: -1 })), 'bad-option');
  t.is(reason(() => new PeerStore({ maxPeersPerInfohash: 0 })), 'bad-option');
  t.is(reason(() => new PeerStore({ maxInfohashes: 1.5 })), 'bad-option');
  t.is(reason(() => new PeerStore({ maxTotalPeers: -1 })), 'bad-option');
  t.is(reason(() => new PeerStore({ ttlMs: 0 })), 'bad-option');
  t.deepEqual(store.size, { infohashes: 0, peers: 0 });
  t.notThrows(() => new PeerStore({ sampleIntervalSeconds: 21_600 }));
});
