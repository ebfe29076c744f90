import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '../bep5/clock.js';
import { TokenBucketLimiter } from '../bep5/rate-limit.js';
import { parseIp } from '../bep5/ip.js';
import { Ipv4RateLimiter, ipv6RateKey } from '../crawler/ipv4-rate-limiter.js';

test('per-IP buckets: a burst, then one token per 1/rate, each address on its own', (t) => {
  const clock = new ManualClock();
  const limiter = new Ipv4RateLimiter({ ratePerSecond: 2, burst: 4, clock });
  const a = 0x0b000001;
  const b = 0x0b000002;
  for (let i = 0; i < 4; i++) t.true(limiter.take(a));
  t.false(limiter.take(a));
  t.true(limiter.take(b), 'another address has its own bucket');
  clock.advance(499);
  t.false(limiter.take(a));
  clock.advance(1);
  t.true(limiter.take(a));
  t.false(limiter.take(a));
  clock.advance(10_000);
  for (let i = 0; i < 4; i++) t.true(limiter.take(a), 'refilled to the burst, not beyond');
  t.false(limiter.take(a));
});

test('any sequence of takes and waits over a few addresses answers as bep5 TokenBucketLimiter does', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(1500)), { maxLength: 400 }), (steps) => {
      const clock = new ManualClock();
      const ours = new Ipv4RateLimiter({ ratePerSecond: 3, burst: 4, clock });
      const reference = new TokenBucketLimiter({ ratePerSecond: 3, burst: 4, clock });
      for (const [address, wait] of steps) {
        clock.advance(wait % 7 === 0 ? wait : 0);
        const ip = (0x0a000000 + address * 131_072) >>> 0; // addresses 2^17 apart: crowded in the table
        if (ours.take(ip) !== reference.take(String(ip))) return false;
      }
      return true;
    }),
  );
  t.pass();
});

test('spent buckets of 25,000 recent addresses (12,500 queries/s over a 2 s refill) are all kept through a million more addresses', (t) => {
  const clock = new ManualClock();
  const limiter = new Ipv4RateLimiter({ ratePerSecond: 2, burst: 1, clock });
  // 25,000 recent addresses with spent buckets, then a million more over 10 s of crawling.
  for (let ip = 1; ip <= 25_000; ip++) t.true(limiter.take(ip) || ip < 0);
  let denied = 0;
  for (let ip = 1; ip <= 25_000; ip++) if (!limiter.take(ip)) denied++;
  t.is(denied, 25_000, 'every spent bucket is still there');
  for (let i = 0; i < 1_000_000; i++) {
    if (i % 100_000 === 0) clock.advance(1000);
    limiter.take(1_000_000 + i);
  }
  // Long refilled: the old addresses may go again (their buckets are full or forgotten: the same).
  let allowed = 0;
  for (let ip = 1; ip <= 25_000; ip++) if (limiter.take(ip)) allowed++;
  t.is(allowed, 25_000);
});

test('ipv6RateKey: one bucket per /64 (a host picks addresses in it at will), one per port on ::1', (t) => {
  const key = (host: string, port = 6881): number => ipv6RateKey(parseIp(host)!, port);
  t.is(key('2a01:4f8:1:2::1'), key('2a01:4f8:1:2:ffff:ffff:ffff:ffff'), 'the same /64');
  t.is(key('2a01:4f8:1:2::1', 6881), key('2a01:4f8:1:2::1', 51413), 'any port');
  t.not(key('2a01:4f8:1:2::1'), key('2a01:4f8:1:3::1'), 'the next /64');
  t.not(key('2a01:4f8:1:2::1'), key('2a01:4f9:1:2::1'));
  // Loopback: a test network's nodes share ::1, each on its own port.
  t.not(key('::1', 7001), key('::1', 7002));
  t.is(key('::1', 7001), key('::1', 7001));
  // Distinct /64s rarely share a bucket: 100,000 of them fold to as many keys, or nearly.
  const keys = new Set<number>();
  const ip = parseIp('2a01:4f8::')!;
  for (let n = 0; n < 100_000; n++) {
    ip.writeUInt32BE(n, 4);
    keys.add(ipv6RateKey(ip, 6881));
  }
  t.true(keys.size > 99_990, `${keys.size} keys`);
  // Its own limiter: a /64 at its rate does not hold up another.
  const clock = new ManualClock();
  const limiter = new Ipv4RateLimiter({ ratePerSecond: 2, burst: 4, clock });
  for (let i = 0; i < 4; i++) t.true(limiter.take(key('2a01:4f8:1:2::1')));
  t.false(limiter.take(key('2a01:4f8:1:2::99')), 'another address of the same /64 is the same host');
  t.true(limiter.take(key('2a01:4f8:1:3::1')));
  clock.advance(500);
  t.true(limiter.take(key('2a01:4f8:1:2::1')), 'refilled at the rate');
});

/** The multiplicative inverse of an odd number mod 2^32 (Newton's iteration). */
function inverse32(a: number): number {
  let x = a;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x >>> 0;
}

/** The limiter's first slot for an address before it was keyed: an unkeyed, invertible hash. */
function unkeyedSlot(ip: number): number {
  let h = Math.imul(ip, 0x9e3779b1);
  h ^= h >>> 15;
  return (Math.imul(h, 0x85ebca6b) >>> 15) & ((1 << 17) - 1);
}

/** An address whose unkeyed first slot is `slot`: the hash run backwards from an output with that slot. */
function addressAt(slot: number, salt: number): number {
  const y = ((slot << 15) | (salt & 0x7fff)) >>> 0;
  const h2 = Math.imul(y, inverse32(0x85ebca6b)) >>> 0;
  const h = (h2 ^ (h2 >>> 15) ^ (h2 >>> 30)) >>> 0;
  return Math.imul(h, inverse32(0x9e3779b1)) >>> 0;
}

test('hash flooding: addresses chosen to crowd out a spent bucket under a fixed hash do not, under the keyed one', (t) => {
  const clock = new ManualClock();
  const limiter = new Ipv4RateLimiter({ ratePerSecond: 2, burst: 4, clock });
  const victim = 0x5d1e0a01;
  for (let i = 0; i < 4; i++) limiter.take(victim);
  t.false(limiter.take(victim), 'spent');
  // 64 addresses per slot of the 16 the victim's bucket could be in, as a hostile node would
  // hand them out as contacts: each spends its bucket a little later, so the victim's, refilling
  // longest, would be the one pushed out, and its next query allowed at once.
  const home = unkeyedSlot(victim);
  const decoys: number[] = [];
  for (let p = 0; p < 16; p++) for (let k = 0; k < 64; k++) decoys.push(addressAt((home + p) & ((1 << 17) - 1), k * 97 + 1));
  t.true(decoys.every((ip, i) => unkeyedSlot(ip) === ((home + Math.floor(i / 64)) & ((1 << 17) - 1))), 'the decoys do land there under the fixed hash');
  clock.advance(100);
  for (const ip of decoys) for (let i = 0; i < 4; i++) limiter.take(ip);
  t.false(limiter.take(victim), 'the victim still has no token: its bucket was not pushed out');
  clock.advance(400);
  t.true(limiter.take(victim), 'and gets one at its own rate');
});
