import test from 'ava';
import { ManualClock } from '../bep5/clock.js';
import { RateBudget, TokenBucketLimiter } from '../bep5/rate-limit.js';
import { RateLimitError } from '../bep5/errors.js';

function limiter(opts: { ratePerSecond: number; burst: number; maxKeys?: number }): { clock: ManualClock; rl: TokenBucketLimiter } {
  const clock = new ManualClock();
  return { clock, rl: new TokenBucketLimiter({ clock, ...opts }) };
}

test('a new key starts with a full burst, then waits for refills', (t) => {
  const { clock, rl } = limiter({ ratePerSecond: 10, burst: 5 });
  for (let i = 0; i < 5; i++) t.true(rl.take('a'), `burst ${i}`);
  t.false(rl.take('a'));
  clock.advance(99);
  t.false(rl.take('a'), '0.99 of a token');
  clock.advance(1);
  t.true(rl.take('a'), 'exactly one token after 100 ms');
  t.false(rl.take('a'));
  clock.advance(10_000);
  for (let i = 0; i < 5; i++) t.true(rl.take('a'));
  t.false(rl.take('a'), 'refill stops at burst');
});

test('keys are independent', (t) => {
  const { rl } = limiter({ ratePerSecond: 1, burst: 2 });
  t.true(rl.take('1.1.1.1'));
  t.true(rl.take('1.1.1.1'));
  t.false(rl.take('1.1.1.1'));
  t.true(rl.take('2.2.2.2'));
  t.is(rl.size, 2);
});

test('cost: several tokens at once, nothing taken when short, above burst never', (t) => {
  const { clock, rl } = limiter({ ratePerSecond: 1, burst: 4 });
  t.true(rl.take('a', 3));
  t.false(rl.take('a', 2), 'only 1 left');
  t.true(rl.take('a', 1), 'the failed take took nothing');
  t.true(rl.take('a', 0));
  clock.advance(60_000);
  t.false(rl.take('a', 5));
  t.true(rl.take('a', 4));
  for (const cost of [-1, Number.NaN, Infinity]) {
    t.is(t.throws(() => rl.take('a', cost), { instanceOf: RateLimitError })?.reason, 'bad-cost');
  }
});

test('sustained rate matches ratePerSecond', (t) => {
  const { clock, rl } = limiter({ ratePerSecond: 50, burst: 10 });
  let allowed = 0;
  for (let ms = 0; ms < 60_000; ms++) {
    // a flood: 5 attempts per ms
    for (let i = 0; i < 5; i++) if (rl.take('x')) allowed++;
    clock.advance(1);
  }
  t.true(Math.abs(allowed - (10 + 50 * 60)) <= 1, String(allowed));
});

test('memory is bounded: rotating keys never grows past maxKeys', (t) => {
  const { rl } = limiter({ ratePerSecond: 1, burst: 1, maxKeys: 100 });
  for (let i = 0; i < 100_000; i++) {
    t.true(rl.take(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`), 'a new key starts full');
    if (rl.size > 100) t.fail(`size ${rl.size}`);
  }
  t.is(rl.size, 100);
});

test('eviction forgets the least recently used key', (t) => {
  const { rl } = limiter({ ratePerSecond: 0.001, burst: 1, maxKeys: 3 });
  t.true(rl.take('a'));
  t.true(rl.take('b'));
  t.true(rl.take('c'));
  t.false(rl.take('a'), 'a is drained and now most recently used');
  t.true(rl.take('d'), 'evicts b, the least recently used');
  t.false(rl.take('a'), 'a is still remembered as drained');
  t.false(rl.take('c'));
  t.false(rl.take('d'));
  t.true(rl.take('b'), 'b was forgotten, so it starts full again');
  t.is(rl.size, 3);
});

test('the default maxKeys is 10,000', (t) => {
  const { rl } = limiter({ ratePerSecond: 1, burst: 1 });
  for (let i = 0; i < 12_000; i++) rl.take(String(i));
  t.is(rl.size, 10_000);
});

test('bad options are refused', (t) => {
  const bad: Array<{ ratePerSecond: number; burst: number; maxKeys?: number }> = [
    { ratePerSecond: -1, burst: 1 },
    { ratePerSecond: Number.NaN, burst: 1 },
    { ratePerSecond: Infinity, burst: 1 },
    { ratePerSecond: 1, burst: 0 },
    { ratePerSecond: 1, burst: Infinity },
    { ratePerSecond: 1, burst: 1, maxKeys: 0 },
    { ratePerSecond: 1, burst: 1, maxKeys: 1.5 },
  ];
  for (const opts of bad) {
    const err = t.throws(() => new TokenBucketLimiter(opts), { instanceOf: RateLimitError }, JSON.stringify(opts));
    t.is(err?.code, 'ERR_RATE_LIMIT');
    t.is(err?.reason, 'bad-option');
  }
  t.throws(() => new RateBudget({ ratePerSecond: 1, burst: -1 }), { instanceOf: RateLimitError });
});

test('RateBudget: one bucket, same semantics, and how long to wait', (t) => {
  const clock = new ManualClock();
  const budget = new RateBudget({ ratePerSecond: 100, burst: 20, clock });
  t.is(budget.available(), 20);
  t.is(budget.waitMs(), 0);
  t.true(budget.take(15));
  t.false(budget.take(6));
  t.true(budget.take(5));
  t.false(budget.take());
  t.is(budget.waitMs(), 10);
  t.is(budget.waitMs(3), 30);
  clock.advance(9);
  t.false(budget.take());
  clock.advance(1);
  t.true(budget.take());
  t.is(budget.waitMs(21), Infinity, 'more than the burst: never');
  clock.advance(1_000_000);
  t.is(budget.available(), 20);
  t.is(clock.pendingTimers, 0, 'no timers');
});

test('RateBudget: waitMs is enough, whatever the rate', (t) => {
  for (const rate of [3, 7, 0.5, 1000 / 3]) {
    const clock = new ManualClock();
    const budget = new RateBudget({ ratePerSecond: rate, burst: 2, clock });
    t.true(budget.take(2));
    for (let i = 0; i < 50; i++) {
      const wait = budget.waitMs();
      t.true(wait > 0);
      clock.advance(wait - 1);
      t.false(budget.take(), `rate ${rate}: not before ${wait} ms`);
      clock.advance(1);
      t.true(budget.take(), `rate ${rate}: after ${wait} ms`);
    }
  }
});

test('RateBudget with no refill spends its burst once', (t) => {
  const clock = new ManualClock();
  const budget = new RateBudget({ ratePerSecond: 0, burst: 2, clock });
  t.true(budget.take(2));
  clock.advance(1e9);
  t.false(budget.take());
  t.is(budget.waitMs(), Infinity);
});
