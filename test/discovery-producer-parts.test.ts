import test from 'ava';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Discovery } from '../crawler/discovery.js';
import { planShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { shardGroupOf, shardOf } from '../indexer/shard.js';
import { ManualClock } from '../bep5/clock.js';
import { DiscoveryBatcher, type SealedBatch } from '../workers/discovery-batcher.js';
import { RedisHealth, type RedisHealthEvents, type RedisHealthOptions } from '../workers/redis-health.js';
import { numberedEvent } from './helpers/spool-batches.js';

/**
 * The producer's batcher and Redis-health state machine on a ManualClock: their timing rules
 * without Redis and without waiting. The producer as a whole is tested in discovery-producer.test.ts.
 */

function batcher(clock: ManualClock): { batcher: DiscoveryBatcher; sealed: SealedBatch[] } {
  const sealed: SealedBatch[] = [];
  return { batcher: new DiscoveryBatcher({ batchMaxEvents: 3, batchMaxDelayMs: 100, clock, onSeal: (b) => sealed.push(b) }), sealed };
}

test('the batcher seals at batchMaxEvents, and batchMaxDelayMs after a batch’s first event, with a fixed random id', (t) => {
  const clock = new ManualClock();
  const { batcher: b, sealed } = batcher(clock);
  for (let n = 0; n < 4; n++) b.add(numberedEvent(n));
  t.is(sealed.length, 1, 'the first 3 events');
  t.is(b.openEvents, 1);
  clock.advance(99);
  t.is(sealed.length, 1, 'not before batchMaxDelayMs');
  clock.advance(1);
  t.deepEqual(
    sealed.map((s) => [s.seq, s.job.events.length]),
    [
      [1, 3],
      [2, 1],
    ],
  );
  t.is(b.sealed, 2);
  for (const s of sealed) t.regex(s.job.id, /^[0-9a-f]{40}$/);
  t.not(sealed[0]!.job.id, sealed[1]!.job.id);
  b.seal();
  t.is(sealed.length, 2, 'sealing nothing makes no batch');
  t.is(clock.pendingTimers, 0);
});

interface Harness {
  clock: ManualClock;
  health: RedisHealth;
  ready: { value: boolean; inflight: number; work: boolean };
  calls: string[];
  logs: string[];
  events: Array<[keyof RedisHealthEvents, unknown]>;
}

function health(overrides: Partial<RedisHealthOptions> = {}): Harness {
  const clock = new ManualClock();
  const ready = { value: true, inflight: 0, work: true };
  const calls: string[] = [];
  const logs: string[] = [];
  const events: Harness['events'] = [];
  const emitter = new EventEmitter<RedisHealthEvents>();
  emitter.on('outage', (e) => events.push(['outage', e]));
  emitter.on('recovered', (e) => events.push(['recovered', e]));
  const h = new RedisHealth({
    clock,
    deliveryTimeoutMs: 500,
    redeliveryIntervalMs: 100,
    spoolDir: '/spool',
    log: (l) => logs.push(l),
    events: emitter,
    clientReady: () => ready.value,
    inflight: () => ready.inflight,
    probe: () => (calls.push('probe'), ready.work),
    resume: () => calls.push('resume'),
    changed: () => {},
    ...overrides,
  });
  return { clock, health: h, ready, calls, logs, events };
}

test('a client not ready for deliveryTimeoutMs is an outage; one ready in time is not', (t) => {
  const blip = health();
  blip.ready.value = false;
  blip.health.notReady();
  blip.clock.advance(400);
  blip.ready.value = true;
  blip.health.clientReady();
  blip.clock.advance(1_000);
  t.true(blip.health.up, 'a reconnect blip is not an outage');
  t.deepEqual(blip.calls, ['resume']);

  const { clock, health: h, ready, logs, events } = health();
  ready.value = false;
  h.notReady();
  clock.advance(499);
  t.true(h.up);
  clock.advance(1);
  t.false(h.up);
  t.is(h.outages, 1);
  t.deepEqual(events, [['outage', { reason: 'not connected' }]]);
  t.deepEqual(logs, ['discoveries: Redis is unreachable (not connected); holding batches in memory, then in /spool']);
});

test('while down, each retry probes only when no add is pending and the client is ready; an empty probe ends the outage', (t) => {
  const { clock, health: h, ready, calls, logs, events } = health();
  h.down('boom');
  h.down('again');
  t.is(h.outages, 1, 'one outage, logged once');
  ready.inflight = 1;
  clock.advance(100);
  ready.inflight = 0;
  ready.value = false;
  clock.advance(100);
  t.deepEqual(calls, [], 'no probe while an add is pending or the client is not ready');
  ready.value = true;
  clock.advance(100);
  t.deepEqual(calls, ['probe']);
  t.false(h.up, 'a probe sent: its add decides');
  h.spooled();
  h.dropped(5, 'the spool is full');
  h.dropped(2, 'the spool is full');
  h.undropped(1);
  ready.work = false;
  clock.advance(100);
  t.true(h.up, 'nothing to probe with: a ready client will do');
  t.deepEqual(events[1], ['recovered', { downMs: 400, spooledBatches: 1, droppedEvents: 6 }]);
  t.is(logs.filter((l) => /dropping/.test(l)).length, 1, 'the drop notice once per outage');
  t.regex(logs.at(-1)!, /Redis is back after 0\.4 s; 1 batches were spooled, 6 events dropped/);
  t.is(calls.at(-1), 'resume');
  t.is(clock.pendingTimers, 0, 'no retry timer once up');
});

test('a delivered add ends an outage; a ready client retries at once; stop() freezes the state and clears the timers', (t) => {
  const { clock, health: h, calls } = health();
  h.down('boom');
  clock.advance(30);
  h.delivered();
  t.true(h.up);
  t.is(h.outages, 1);

  h.down('again');
  h.clientReady();
  t.deepEqual(calls, ['resume', 'probe'], 'the retry ran without waiting for its timer');
  h.stop();
  t.is(clock.pendingTimers, 0);
  h.delivered();
  h.clientReady();
  clock.advance(10_000);
  t.false(h.up, 'stopped while down');
  t.is(h.outages, 2);
});

test('with shard groups, each sealed batch holds one group\'s events (samples join the previous group), every event exactly once, limits per group', (t) => {
  const clock = new ManualClock();
  const sealed: SealedBatch[] = [];
  const b = new DiscoveryBatcher({ batchMaxEvents: 50, batchMaxDelayMs: 100, clock, onSeal: (s) => sealed.push(s), shardGroups: 8 });
  const events: Discovery[] = [];
  for (let i = 0; i < 2_000; i++) {
    const hex = randomBytes(20).toString('hex');
    const at = 1_000 + i;
    const e: Discovery =
      i % 4 === 0
        ? { type: 'node', id: hex, address: `198.51.100.1:${1000 + i}`, version: null, rttMs: 10, bep51: null, bep42: false, at }
        : i % 4 === 1
          ? { type: 'sample', node: `198.51.100.1:${1000 + i}`, num: 1, interval: 60, samples: 1, at }
          : { type: 'infohash', infohash: hex, node: `198.51.100.1:${1000 + i}`, source: 'sample', at };
    events.push(e);
    b.add(e);
  }
  t.true(sealed.length > 8, `${sealed.length} sealed at 50 events per group`);
  t.true(sealed.every((s) => s.job.events.length === 50), 'a batch is sealed when its group reaches the limit');
  clock.advance(100);
  t.is(b.openEvents, 0, 'the timers sealed the rest');
  t.deepEqual(sealed.map((s) => s.seq), sealed.map((_, i) => i + 1));
  const groupOf = (e: Discovery): number | null => (e.type === 'infohash' ? shardGroupOf(shardOf(e.infohash), 8) : e.type === 'node' ? shardGroupOf(shardOf(e.id), 8) : null);
  for (const s of sealed) {
    const groups = new Set(s.job.events.map(groupOf).filter((g) => g !== null));
    t.true(groups.size <= 1, `batch ${s.seq} spans groups ${[...groups].join(', ')}`);
    // Applied, it is at most a group's 8 shards (statistics go to one of them).
    const plans = planShardedBatch(s.job.events, { keys: new ShardedIndexKeys('groups'), batchId: s.job.id });
    t.true(plans.length <= 8, `batch ${s.seq}: ${plans.length} shard scripts`);
  }
  t.deepEqual(sealed.flatMap((s) => s.job.events).sort(byAt), [...events].sort(byAt), 'every event once');
});

const byAt = (a: Discovery, b: Discovery): number => a.at - b.at;
