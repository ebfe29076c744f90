/**
 * bep5/item-store.ts: BEP 44 storage rules (mutable seq / cas, immutable refresh) and its
 * bounds: item count, bytes, items per source, 2-hour expiry on a ManualClock. And the
 * reflection budget's table (bep5/reflection-budget.ts) on its own.
 */
import test from 'ava';
import { encode } from '../bep5/bencode.js';
import { generateKeyPair, immutableTarget, mutableTarget, signItem } from '../bep5/bep44.js';
import { ManualClock } from '../bep5/clock.js';
import { seededRandom } from '../bep5/random.js';
import { DEFAULT_ITEM_TTL_MS, ITEM_OVERHEAD_BYTES } from '../bep5/constants.js';
import { Bep44Error } from '../bep5/errors.js';
import { ItemStore, type MutablePut } from '../bep5/item-store.js';
import { ReflectionBudget } from '../bep5/reflection-budget.js';

const host = (n: number): string => `198.51.${n >> 8}.${n & 255}`;
const keys = generateKeyPair();

function mutable(seq: number, v: Buffer, extra: Partial<MutablePut> = {}): MutablePut {
  const salt = extra.salt;
  return { k: keys.publicKey, sig: signItem(keys.seed, seq, v, salt), seq, vBytes: v, ...extra };
}

test('immutable: stored under SHA-1 of the value, a re-put refreshes, copies are kept', (t) => {
  const store = new ItemStore();
  const v = Buffer.from('12:Hello World!');
  t.is(store.putImmutable(v, host(1)), 'stored');
  t.is(store.putImmutable(v, host(2)), 'refreshed');
  v.fill(0x30);
  const item = store.get(immutableTarget(Buffer.from('12:Hello World!')));
  t.is(item?.vBytes.toString(), '12:Hello World!');
  t.is(item?.seq, undefined);
  t.deepEqual(store.size, { items: 1, bytes: 15 + ITEM_OVERHEAD_BYTES });
});

test('mutable: higher seq updates, lower is seq-too-low, equal refreshes or conflicts, cas compares', (t) => {
  const store = new ItemStore();
  const target = mutableTarget(keys.publicKey);
  const a = Buffer.from('1:a');
  const b = Buffer.from('1:b');
  t.is(store.putMutable(mutable(5, a, { cas: 9 }), host(1)), 'stored', 'cas is ignored when nothing is stored');
  t.is(store.putMutable(mutable(4, b), host(1)), 'seq-too-low');
  t.is(store.putMutable(mutable(5, a), host(1)), 'refreshed');
  t.is(store.putMutable(mutable(5, b), host(1)), 'seq-conflict');
  t.is(store.putMutable(mutable(6, b, { cas: 4 }), host(1)), 'cas-mismatch');
  t.is(store.get(target)?.seq, 5);
  t.is(store.putMutable(mutable(6, b, { cas: 5 }), host(2)), 'updated');
  const item = store.get(target);
  t.is(item?.seq, 6);
  t.is(item?.vBytes.toString(), '1:b');
  t.true(item?.k?.equals(keys.publicKey));
  t.is(store.size.items, 1);
  // A salt makes another target.
  t.is(store.putMutable(mutable(1, a, { salt: Buffer.from('s') }), host(1)), 'stored');
  t.is(store.get(mutableTarget(keys.publicKey, Buffer.from('s')))?.seq, 1);
});

test('an immutable put never replaces a mutable item under the same target; a mutable put replaces an immutable one', (t) => {
  const store = new ItemStore();
  // A value whose SHA-1 is a mutable target: its bytes are k itself (a 32-byte key can be valid bencoding).
  const k = Buffer.from('29:' + 'x'.repeat(28) + 'y', 'latin1'); // 32 bytes
  t.true(mutableTarget(k).equals(immutableTarget(k)));
  const v = Buffer.from('1:m');
  const fakeMutable: MutablePut = { k, sig: Buffer.alloc(64), seq: 1, vBytes: v };
  t.is(store.putImmutable(k, host(1)), 'stored');
  t.is(store.putMutable(fakeMutable, host(2)), 'updated');
  t.is(store.get(immutableTarget(k))?.seq, 1);
  t.is(store.putImmutable(k, host(1)), 'rejected');
});

test('expiry: an item lives 2 hours from its last put', (t) => {
  const clock = new ManualClock();
  const store = new ItemStore({ clock });
  const v = Buffer.from('1:x');
  const target = immutableTarget(v);
  store.putImmutable(v, host(1));
  clock.advance(DEFAULT_ITEM_TTL_MS - 1);
  t.truthy(store.get(target));
  store.putImmutable(v, host(1)); // refreshed
  clock.advance(DEFAULT_ITEM_TTL_MS - 1);
  t.truthy(store.get(target));
  clock.advance(1);
  t.is(store.get(target), undefined);
  t.deepEqual(store.size, { items: 0, bytes: 0 });
  // A mutable refresh (same seq, same value) renews the lifetime too.
  const m = Buffer.from('1:m');
  store.putMutable(mutable(1, m), host(1));
  clock.advance(DEFAULT_ITEM_TTL_MS / 2);
  t.is(store.putMutable(mutable(1, m), host(1)), 'refreshed');
  clock.advance(DEFAULT_ITEM_TTL_MS - 1);
  t.is(store.get(mutableTarget(keys.publicKey))?.seq, 1);
  t.is(store.expire(), 0);
  clock.advance(1);
  t.is(store.expire(), 1);
});

test('count cap: a new item evicts the least recently put', (t) => {
  const clock = new ManualClock();
  const store = new ItemStore({ clock, maxItems: 3, maxItemsPerSource: 100 });
  const vs = [0, 1, 2, 3].map((n) => encode(`value ${n}`));
  for (const v of vs.slice(0, 3)) {
    store.putImmutable(v, host(1));
    clock.advance(1);
  }
  store.putImmutable(vs[0]!, host(1)); // refreshed: now the newest
  t.is(store.putImmutable(vs[3]!, host(1)), 'stored');
  t.deepEqual(
    vs.map((v) => store.get(immutableTarget(v)) !== undefined),
    [true, false, true, true],
  );
});

test('byte cap: values plus the per-item overhead; big items evict as many as needed', (t) => {
  const cost = 1000 + ITEM_OVERHEAD_BYTES;
  const store = new ItemStore({ maxBytes: 3 * cost, maxItemsPerSource: 100 });
  const big = (n: number): Buffer => encode(Buffer.alloc(996, n)); // 1,000 bytes bencoded
  for (let n = 0; n < 3; n++) t.is(store.putImmutable(big(n), host(1)), 'stored');
  t.deepEqual(store.size, { items: 3, bytes: 3 * cost });
  t.is(store.putImmutable(big(3), host(1)), 'stored');
  t.deepEqual(store.size, { items: 3, bytes: 3 * cost });
  t.is(store.get(immutableTarget(big(0))), undefined);
  // A mutable update that grows its value evicts others, never itself.
  const small = Buffer.from('1:s');
  store.putMutable(mutable(1, small), host(1));
  t.is(store.putMutable(mutable(2, big(9)), host(1)), 'updated');
  t.true(store.size.bytes <= 3 * cost);
  t.is(store.get(mutableTarget(keys.publicKey))?.seq, 2);
});

test('per source: at most maxItemsPerSource new items from one IPv4 address or IPv6 /64; re-puts are never refused', (t) => {
  const store = new ItemStore({ maxItemsPerSource: 4 });
  const v = (n: number): Buffer => encode(`item ${n}`);
  for (let n = 0; n < 4; n++) t.is(store.putImmutable(v(n), '203.0.113.7'), 'stored');
  t.is(store.putImmutable(v(4), '203.0.113.7'), 'rejected');
  t.is(store.putImmutable(v(4), '::ffff:203.0.113.7'), 'rejected', 'the same IPv4 address, mapped');
  t.is(store.putImmutable(v(0), '203.0.113.7'), 'refreshed');
  t.is(store.putImmutable(v(4), '203.0.113.8'), 'stored', 'another address');
  for (let n = 10; n < 14; n++) t.is(store.putImmutable(v(n), `2001:db8:1:2::${n}`), 'stored');
  t.is(store.putImmutable(v(14), '2001:db8:1:2:ffff::1'), 'rejected', 'the same /64');
  t.is(store.putImmutable(v(14), '2001:db8:1:3::1'), 'stored');
  t.is(store.size.items, 10);
});

test('per source: quotas free up as items expire; one source cannot flush the store', (t) => {
  const clock = new ManualClock();
  const store = new ItemStore({ clock, maxItems: 100, maxItemsPerSource: 10 });
  for (let n = 0; n < 50; n++) store.putImmutable(encode(`honest ${n}`), host(n));
  for (let n = 0; n < 1000; n++) store.putImmutable(encode(`flood ${n}`), '192.0.2.66');
  t.is(store.size.items, 60);
  for (let n = 0; n < 50; n++) t.truthy(store.get(immutableTarget(encode(`honest ${n}`))));
  clock.advance(DEFAULT_ITEM_TTL_MS);
  t.is(store.putImmutable(encode('flood again'), '192.0.2.66'), 'stored');
});

test('bad options and hosts are Bep44Errors', (t) => {
  for (const opts of [{ maxItems: 0 }, { maxBytes: -1 }, { ttlMs: Number.NaN }, { maxItemsPerSource: 0 }]) {
    t.is(t.throws(() => new ItemStore(opts), { instanceOf: Bep44Error })?.reason, 'bad-option');
  }
  t.is(t.throws(() => new ItemStore().putImmutable(Buffer.from('1:x'), 'not an ip'), { instanceOf: Bep44Error })?.reason, 'bad-host');
  t.is(t.throws(() => new ItemStore().get(Buffer.alloc(19)), { instanceOf: Bep44Error })?.reason, 'bad-target');
});

// ---------------------------------------------------------------------------------------------
// the reflection budget's table

test('reflection budget: an allowance, then 3x the query bytes; a window of silence starts over', (t) => {
  const clock = new ManualClock();
  const budget = new ReflectionBudget({ clock, allowanceBytes: 1000, ratio: 3, windowMs: 60_000 });
  t.true(budget.allow('203.0.113.1', 100, 1300), '1,000 + 300 pays for one reply');
  t.false(budget.allow('203.0.113.1', 100, 1300), '300 does not');
  t.false(budget.allow('203.0.113.1', 100, 1300), '600 does not');
  t.true(budget.allow('203.0.113.1', 100, 0), 'a query without an item to send is always answered');
  t.false(budget.allow('203.0.113.1', 100, 1300), '1,200 does not');
  t.true(budget.allow('203.0.113.1', 100, 1300), '1,500 pays');
  t.true(budget.allow('203.0.113.2', 100, 1300), 'another source has its own');
  t.true(budget.allow('2001:db8::1', 100, 1300));
  t.false(budget.allow('2001:db8::2', 100, 1300), 'the same IPv6 /64');
  clock.advance(59_999);
  t.false(budget.allow('203.0.113.1', 100, 1300));
  clock.advance(60_000);
  t.true(budget.allow('203.0.113.1', 100, 1300), 'a window of silence: the allowance again');
  t.false(budget.allow('not an address', 100, 1));
});

test('reflection budget: credit is capped, so saved-up credit comes back as four replies at most', (t) => {
  const budget = new ReflectionBudget({ clock: new ManualClock(), allowanceBytes: 1000, ratio: 3 });
  for (let i = 0; i < 100; i++) budget.allow('203.0.113.9', 1000, 0);
  let replies = 0;
  while (budget.allow('203.0.113.9', 0, 1000)) replies++;
  t.is(replies, 4);
});

test('reflection budget: memory is fixed; a flood of sources keeps recent ones in their slots', (t) => {
  const clock = new ManualClock();
  const budget = new ReflectionBudget({ clock, random: seededRandom(1), slots: 1024, allowanceBytes: 1000, ratio: 0 });
  t.true(budget.allow('203.0.113.5', 100, 1000));
  t.false(budget.allow('203.0.113.5', 100, 1000));
  clock.advance(1);
  // Other sources, each seen once and earlier than our source is seen again.
  for (let n = 0; n < 200; n++) budget.allow(`10.0.${n >> 8}.${n & 255}`, 100, 0);
  t.false(budget.allow('203.0.113.5', 100, 1000), 'still spent: a light flood does not reset it');
});
