/**
 * bep5/peer-store.ts, serving what it stores: getPeers (at most max, distinct, uniform; with
 * noseed, non-seeds first), BEP 33 scrape filters, and BEP 51 samples (kept for the interval,
 * uniform when drawn).
 */
import test from 'ava';
import { ScrapeBloom } from '../bep5/bloom.js';
import { PeerStore } from '../bep5/peer-store.js';
import { ih, MIN, peer, setup, v4 } from './helpers/peer-store.js';

test('getPeers returns at most max, distinct, and a uniform subset (chi-square)', (t) => {
  const { store } = setup({}, 99);
  const n = 20;
  for (let i = 0; i < n; i++) store.announce(ih(1), peer(v4(i)), i % 3 === 0);
  const draws = 20_000;
  const max = 5;
  const counts = new Map<string, number>();
  for (let d = 0; d < draws; d++) {
    const got = store.getPeers(ih(1), { family: 4, max }).map((p) => p.host);
    t.is(got.length, max);
    t.is(new Set(got).size, max);
    for (const h of got) counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  t.is(counts.size, n);
  const expected = (draws * max) / n;
  let chi = 0;
  for (const c of counts.values()) chi += (c - expected) ** 2 / expected;
  // 19 degrees of freedom: p = 0.001 at 43.8. Deterministic seed, so this does not flake.
  t.true(chi < 43.8, `chi-square ${chi.toFixed(1)}`);
  // first-position uniformity: the order is random too
  const firsts = new Map<string, number>();
  for (let d = 0; d < draws; d++) {
    const h = store.getPeers(ih(1), { family: 4, max: 2 })[0]!.host;
    firsts.set(h, (firsts.get(h) ?? 0) + 1);
  }
  let chiFirst = 0;
  for (const c of firsts.values()) chiFirst += (c - draws / n) ** 2 / (draws / n);
  t.is(firsts.size, n);
  t.true(chiFirst < 43.8, `first-position chi-square ${chiFirst.toFixed(1)}`);
});

test('getPeers with max at or above the count returns everyone; max 0 returns nobody', (t) => {
  const { store } = setup();
  for (let i = 0; i < 7; i++) store.announce(ih(1), peer(v4(i)), i < 3);
  t.is(store.getPeers(ih(1), { family: 4, max: 7 }).length, 7);
  t.is(store.getPeers(ih(1), { family: 4, max: 100 }).length, 7);
  t.deepEqual(store.getPeers(ih(1), { family: 4, max: 0 }), []);
  t.deepEqual(store.getPeers(ih(2), { family: 4, max: 10 }), []);
});

test('noseed: non-seeds first, seeds only to fill', (t) => {
  const { store } = setup({}, 5);
  const seeds = new Set<string>();
  for (let i = 0; i < 13; i++) {
    const isSeed = i >= 3;
    store.announce(ih(1), peer(v4(i)), isSeed);
    if (isSeed) seeds.add(v4(i));
  }
  for (let d = 0; d < 200; d++) {
    const got = store.getPeers(ih(1), { family: 4, max: 5, noseed: true }).map((p) => p.host);
    t.is(got.length, 5);
    t.deepEqual(got.slice(0, 3).sort(), [v4(0), v4(1), v4(2)].sort());
    t.true(got.slice(3).every((h) => seeds.has(h)));
    t.is(new Set(got).size, 5);
  }
  // Without noseed the seeds dominate, as they do in the swarm (10 of 13).
  let seedShare = 0;
  for (let d = 0; d < 1000; d++) {
    seedShare += store.getPeers(ih(1), { family: 4, max: 5 }).filter((p) => seeds.has(p.host)).length;
  }
  t.true(Math.abs(seedShare / 5000 - 10 / 13) < 0.03, `seed share ${seedShare / 5000}`);

  // Plenty of non-seeds: no seed at all, and the non-seeds drawn uniformly.
  const { store: many } = setup({}, 6);
  for (let i = 0; i < 10; i++) many.announce(ih(1), peer(v4(i)), false);
  for (let i = 10; i < 30; i++) many.announce(ih(1), peer(v4(i)), true);
  const counts = new Map<string, number>();
  for (let d = 0; d < 5000; d++) {
    const got = many.getPeers(ih(1), { family: 4, max: 4, noseed: true });
    for (const p of got) counts.set(p.host, (counts.get(p.host) ?? 0) + 1);
  }
  t.is(counts.size, 10, 'seeds never drawn');
  for (const c of counts.values()) t.true(Math.abs(c - 2000) < 200, String(c));
});

test('scrape: BFsd and BFpe of the unexpired entries, only when there are entries', (t) => {
  const { clock, store } = setup();
  t.is(store.scrape(ih(1)), undefined);
  store.announce(ih(1), peer('203.0.113.1'), true);
  store.announce(ih(1), peer('2001:db8::1'), true);
  store.announce(ih(1), peer('203.0.113.2'), false);
  clock.advance(10 * MIN);
  store.announce(ih(1), peer('203.0.113.3'), false);
  store.announce(ih(2), peer('203.0.113.9'), true);

  const bf = (...hosts: string[]): Buffer => {
    const f = new ScrapeBloom();
    for (const h of hosts) f.insertHost(h);
    return f.toBuffer();
  };
  t.deepEqual(store.scrape(ih(1)), { seeds: bf('203.0.113.1', '2001:db8::1'), peers: bf('203.0.113.2', '203.0.113.3') });

  store.announce(ih(1), peer('203.0.113.2'), true); // became a seed
  t.deepEqual(store.scrape(ih(1)), { seeds: bf('203.0.113.1', '2001:db8::1', '203.0.113.2'), peers: bf('203.0.113.3') });

  clock.advance(20 * MIN); // the first two announces expire
  t.deepEqual(store.scrape(ih(1)), { seeds: bf('203.0.113.2'), peers: bf('203.0.113.3') });
  const s = store.scrape(ih(1))!;
  t.is(s.seeds.length, 256);
  t.is(s.peers.length, 256);
});

test('sample: all infohashes when they fit, num and interval', (t) => {
  const { store } = setup({ sampleIntervalSeconds: 60 });
  for (let i = 0; i < 5; i++) store.announce(ih(i), peer(v4(i)), false);
  const r = store.sample(5);
  t.is(r.num, 5);
  t.is(r.interval, 60);
  t.deepEqual(r.samples.map((b) => b.toString('hex')).sort(), [0, 1, 2, 3, 4].map((i) => ih(i).toString('hex')).sort());
  t.deepEqual(store.sample(0), { samples: [], num: 5, interval: 60 });
  t.is(new PeerStore().sample(1).interval, 300, 'default interval');
});

test('sample: a random subset when they do not fit, reused for the interval, then redrawn', (t) => {
  const { clock, store } = setup({ sampleIntervalSeconds: 60 });
  for (let i = 0; i < 100; i++) store.announce(ih(i), peer(v4(i)), false);
  const hex = (r: { samples: Buffer[] }): string[] => r.samples.map((b) => b.toString('hex'));
  const first = store.sample(10);
  t.is(first.num, 100);
  t.is(first.samples.length, 10);
  t.is(new Set(hex(first)).size, 10);
  t.true(first.samples.every((b) => store.has(b)));

  clock.advance(59_999);
  t.deepEqual(hex(store.sample(10)), hex(first), 'cached within the interval');
  t.deepEqual(hex(store.sample(4)), hex(first).slice(0, 4), 'a smaller request gets part of the same sample');
  clock.advance(1);
  const second = store.sample(10);
  t.notDeepEqual(hex(second), hex(first), 'redrawn after the interval');
  t.is(second.samples.length, 10);

  const bigger = store.sample(20);
  t.is(bigger.samples.length, 20, 'a larger request is not served from the smaller cache');
});

test('sample: cached samples that have gone are left out', (t) => {
  const { clock, store } = setup({ sampleIntervalSeconds: 21_600, ttlMs: 1000 });
  for (let i = 0; i < 10; i++) store.announce(ih(i), peer(v4(i)), false);
  clock.advance(500);
  for (let i = 10; i < 20; i++) store.announce(ih(i), peer(v4(i)), false);
  const first = store.sample(8);
  const survivors = first.samples.filter((b) => b[19]! >= 10).map((b) => b.toString('hex'));
  t.true(survivors.length > 0 && survivors.length < 8, 'the seed draws from both halves');
  clock.advance(500); // ih(0..9) expire
  const again = store.sample(8);
  t.is(again.num, 10);
  t.deepEqual(again.samples.map((b) => b.toString('hex')), survivors);
});

test('sample: interval 0 draws every time, and draws are uniform', (t) => {
  const { store } = setup({ sampleIntervalSeconds: 0 }, 11);
  for (let i = 0; i < 40; i++) store.announce(ih(i), peer(v4(i)), false);
  const counts = new Map<string, number>();
  const draws = 4000;
  for (let d = 0; d < draws; d++) {
    const r = store.sample(10);
    t.is(r.interval, 0);
    for (const b of r.samples) counts.set(b.toString('hex'), (counts.get(b.toString('hex')) ?? 0) + 1);
  }
  t.is(counts.size, 40);
  const expected = (draws * 10) / 40;
  let chi = 0;
  for (const c of counts.values()) chi += (c - expected) ** 2 / expected;
  t.true(chi < 72.1, `chi-square ${chi.toFixed(1)} (39 df, p = 0.001)`);
});
