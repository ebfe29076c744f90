import { createHmac } from 'node:crypto';
import test from 'ava';
import { ManualClock } from '../bep5/clock.js';
import { seededRandom } from '../bep5/random.js';
import { TokenIssuer } from '../bep5/tokens.js';
import { TokenError } from '../bep5/errors.js';

const MIN = 60_000;

function setup(seed = 1): { clock: ManualClock; issuer: TokenIssuer } {
  const clock = new ManualClock();
  return { clock, issuer: new TokenIssuer({ clock, random: seededRandom(seed) }) };
}

test('a token is 8 bytes and verifies for the IP it was issued to', (t) => {
  const { issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  t.is(token.length, 8);
  t.is(issuer.tokenLength, 8);
  t.true(issuer.verify('203.0.113.7', token));
  const v6 = issuer.issue('2001:db8::1');
  t.true(issuer.verify('2001:db8::1', v6));
  t.true(issuer.verify('2001:0DB8:0:0::1', v6), 'other text for the same IPv6 address');
});

test('the token is the documented HMAC-SHA256 of the IP bytes, truncated', (t) => {
  const { issuer } = setup(42);
  const secret = seededRandom(42).bytes(32);
  const expected = createHmac('sha256', secret).update(Buffer.from([203, 0, 113, 7])).digest().subarray(0, 8);
  t.deepEqual(issuer.issue('203.0.113.7'), expected);
});

test('a token is bound to the IP only: other IPs fail, the IPv4-mapped form of the same IP passes', (t) => {
  const { issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  t.false(issuer.verify('203.0.113.8', token));
  t.false(issuer.verify('2001:db8::1', token));
  t.false(issuer.verify('::203.0.113.7', token), 'IPv4-compatible IPv6 is a different address');
  t.false(issuer.verify('203.0.113.7:6881', token), 'host:port is not an IP literal');
  t.true(issuer.verify('::ffff:203.0.113.7', token), 'a dual-stack socket reports IPv4 peers mapped');
  t.true(issuer.verify('::FFFF:cb00:7107', token));
  const mapped = issuer.issue('::ffff:203.0.113.7');
  t.deepEqual(mapped, token);
});

test('tokens of different IPs differ', (t) => {
  const { issuer } = setup();
  const seen = new Set<string>();
  for (let i = 0; i < 256; i++) seen.add(issuer.issue(`198.51.100.${i}`).toString('hex'));
  t.is(seen.size, 256);
});

test('garbage, empty, short and long tokens are refused without throwing', (t) => {
  const { issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  t.false(issuer.verify('203.0.113.7', Buffer.alloc(0)));
  t.false(issuer.verify('203.0.113.7', token.subarray(0, 7)));
  t.false(issuer.verify('203.0.113.7', Buffer.concat([token, Buffer.from([0])])));
  t.false(issuer.verify('203.0.113.7', Buffer.from('aoeusnth')));
  t.false(issuer.verify('203.0.113.7', Buffer.alloc(8)));
  for (let bit = 0; bit < 64; bit++) {
    const flipped = Buffer.from(token);
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    t.false(issuer.verify('203.0.113.7', flipped), `bit ${bit} flipped`);
  }
  t.false(issuer.verify('not an ip', token));
  t.false(issuer.verify('', token));
  t.true(issuer.verify('203.0.113.7', new Uint8Array(token)), 'a plain Uint8Array copy is fine');
});

test('issue refuses text that is not an IP', (t) => {
  const { issuer } = setup();
  const err = t.throws(() => issuer.issue('example.com'), { instanceOf: TokenError });
  t.is(err?.code, 'ERR_TOKEN');
  t.is(err?.reason, 'bad-host');
});

test('bad rotateMs is refused', (t) => {
  for (const rotateMs of [0, -1, Number.NaN, Infinity]) {
    const err = t.throws(() => new TokenIssuer({ rotateMs }), { instanceOf: TokenError });
    t.is(err?.reason, 'bad-option');
  }
});

test('valid at 5 min (previous secret), invalid at 10 min', (t) => {
  const { clock, issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  clock.advance(5 * MIN);
  t.true(issuer.verify('203.0.113.7', token), 'just rotated: previous secret');
  t.notDeepEqual(issuer.issue('203.0.113.7'), token, 'new tokens come from the new secret');
  clock.advance(5 * MIN - 1);
  t.true(issuer.verify('203.0.113.7', token), '1 ms before 10 min');
  clock.advance(1);
  t.false(issuer.verify('203.0.113.7', token), 'at 10 min');
});

test('a token lives between 5 and 10 minutes depending on when in the epoch it was issued', (t) => {
  const { clock, issuer } = setup();
  clock.advance(5 * MIN - 1);
  const late = issuer.issue('203.0.113.7'); // last ms of the first epoch
  clock.advance(5 * MIN);
  t.true(issuer.verify('203.0.113.7', late), '5 min after issue, 1 ms before its epoch + 10 min');
  clock.advance(1);
  t.false(issuer.verify('203.0.113.7', late), 'epoch start + 10 min');
});

test('late rotation keeps the schedule: a rotation noticed late does not stretch lifetimes', (t) => {
  const { clock, issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  clock.advance(9 * MIN); // first use after rotation is at 9 min
  t.true(issuer.verify('203.0.113.7', token));
  clock.advance(1 * MIN);
  t.false(issuer.verify('203.0.113.7', token), 'still dead at 10 min, not at 9 + 5');
  const fresh = issuer.issue('203.0.113.7'); // issued at 10 min, epoch 10..15
  clock.advance(10 * MIN - 1);
  t.true(issuer.verify('203.0.113.7', fresh));
  clock.advance(1);
  t.false(issuer.verify('203.0.113.7', fresh));
});

test('after 2 × rotateMs idle both secrets are replaced', (t) => {
  const { clock, issuer } = setup();
  const token = issuer.issue('203.0.113.7');
  clock.advance(60 * MIN);
  t.false(issuer.verify('203.0.113.7', token));
  const fresh = issuer.issue('203.0.113.7');
  t.notDeepEqual(fresh, token);
  clock.advance(10 * MIN - 1);
  t.true(issuer.verify('203.0.113.7', fresh), 'new epoch starts at first use');
});

test('custom rotateMs', (t) => {
  const clock = new ManualClock();
  const issuer = new TokenIssuer({ clock, random: seededRandom(3), rotateMs: 1000 });
  const token = issuer.issue('203.0.113.7');
  clock.advance(1999);
  t.true(issuer.verify('203.0.113.7', token));
  clock.advance(1);
  t.false(issuer.verify('203.0.113.7', token));
});

test('deterministic with seededRandom; different seeds give different tokens', (t) => {
  const a = setup(7);
  const b = setup(7);
  const c = setup(8);
  t.deepEqual(a.issuer.issue('203.0.113.7'), b.issuer.issue('203.0.113.7'));
  t.notDeepEqual(a.issuer.issue('203.0.113.7'), c.issuer.issue('203.0.113.7'));
  a.clock.advance(5 * MIN);
  b.clock.advance(5 * MIN);
  t.deepEqual(a.issuer.issue('2001:db8::1'), b.issuer.issue('2001:db8::1'));
  t.false(c.issuer.verify('203.0.113.7', a.issuer.issue('203.0.113.7')));
});

test('no timers are scheduled', (t) => {
  const { clock, issuer } = setup();
  issuer.issue('203.0.113.7');
  clock.advance(7 * MIN);
  issuer.verify('203.0.113.7', Buffer.alloc(8));
  t.is(clock.pendingTimers, 0);
});
