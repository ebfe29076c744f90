import test from 'ava';
import fc from 'fast-check';
import { bep42Prefix, generateBep42Id, isBep42Compliant, isBep42Exempt, matchesBep42 } from '../bep5/bep42.js';
import { Bep42Error } from '../bep5/errors.js';
import { crc32c } from '../bep5/crc32c.js';
import { formatIp, isBogon, parseIp } from '../bep5/ip.js';
import { randomId } from '../bep5/node-id.js';
import { seededRandom, type RandomSource } from '../bep5/random.js';

/** BEP 42's published vectors: IP, rand, first 3 bytes of a valid ID, last byte. */
const VECTORS = [
  { ip: '124.31.75.21', rand: 1, prefix: '5fbfbf', last: '01' },
  { ip: '21.75.31.124', rand: 86, prefix: '5a3ce9', last: '56' },
  { ip: '65.23.51.170', rand: 22, prefix: 'a5d432', last: '16' },
  { ip: '84.124.73.14', rand: 65, prefix: '1b0321', last: '41' },
  { ip: '43.213.53.83', rand: 90, prefix: 'e56f6c', last: '5a' },
] as const;

/** The top 21 bits of a 3-byte (or longer) value, as a number. */
const top21 = (bytes: Uint8Array): number => ((bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!) >>> 3;

/** A random source whose 20-byte draw ends in `last`: fixes r for generateBep42Id. */
function endingIn(last: number, base: RandomSource = seededRandom(1)): RandomSource {
  return {
    bytes(n) {
      const out = base.bytes(n);
      out[n - 1] = last;
      return out;
    },
  };
}

test('crc32c: Castagnoli check value and RFC 3720 vectors', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(0)), 0);
  t.is(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  t.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
});

test('crc32c is unsigned and can continue over pieces', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      const whole = crc32c(Buffer.concat([a, b]));
      t.true(whole >= 0 && whole <= 0xffffffff && Number.isInteger(whole));
      t.is(crc32c(b, crc32c(a)), whole);
    }),
    { numRuns: 200 },
  );
});

test('bep42Prefix reproduces the published vectors (top 21 bits)', (t) => {
  for (const v of VECTORS) {
    const crc = bep42Prefix(parseIp(v.ip)!, v.rand);
    t.is(crc >>> 11, top21(Buffer.from(v.prefix, 'hex')), v.ip);
  }
});

test('IDs built from the published vectors are compliant, and generation reproduces them', (t) => {
  for (const v of VECTORS) {
    const id = Buffer.concat([Buffer.from(v.prefix, 'hex'), randomId(seededRandom(v.rand)).subarray(3, 19), Buffer.from(v.last, 'hex')]);
    t.true(matchesBep42(id, v.ip), v.ip);
    t.true(isBep42Compliant(id, v.ip), v.ip);

    const generated = generateBep42Id(v.ip, endingIn(v.rand));
    t.is(generated.length, 20);
    t.is(top21(generated), top21(Buffer.from(v.prefix, 'hex')), v.ip);
    t.is(generated.subarray(19).toString('hex'), v.last, v.ip);
    t.true(isBep42Compliant(generated, v.ip));
  }
});

test('only the low 3 bits of the last byte feed the hash', (t) => {
  const ip = parseIp('124.31.75.21')!;
  for (let r = 0; r < 256; r++) t.is(bep42Prefix(ip, r), bep42Prefix(ip, r & 7), `r = ${r}`);
  const distinct = new Set(Array.from({ length: 8 }, (_, r) => bep42Prefix(ip, r) >>> 11));
  t.is(distinct.size, 8);
});

test('bep42Prefix ignores the masked-out address bits', (t) => {
  // 0x030f3fff keeps 2 + 4 + 6 + 8 bits of the four octets.
  t.is(bep42Prefix(parseIp('124.31.75.21')!, 3), bep42Prefix(parseIp('0.15.11.21')!, 3));
  t.is(bep42Prefix(parseIp('124.31.75.21')!, 3), bep42Prefix(parseIp('252.255.203.21')!, 3));
  t.not(bep42Prefix(parseIp('124.31.75.21')!, 3), bep42Prefix(parseIp('124.31.75.20')!, 3));
});

test('bep42Prefix on IPv6 hashes the masked first 8 octets with r in the top 3 bits', (t) => {
  // 2001:4860:4860::8888 masked with 01 03 07 0f 1f 3f 7f ff, then r = 5 in bits 7..5 of byte 0.
  const expected = crc32c(Buffer.from([0xa0, 0x01, 0x00, 0x00, 0x08, 0x20, 0x00, 0x00]));
  t.is(bep42Prefix(parseIp('2001:4860:4860::8888')!, 5), expected);
  // The low 64 bits never matter.
  t.is(bep42Prefix(parseIp('2001:4860:4860:0:ffff:ffff:ffff:ffff')!, 5), expected);
  // 2a01:... differs from 2001:... only in masked-out bits of byte 0 (0x2a & 0x01 = 0x20 & 0x01).
  t.is(bep42Prefix(parseIp('2a00:4860:4860::1')!, 5), bep42Prefix(parseIp('2000:4860:4860::1')!, 5));
});

test('an IPv4-mapped address is hashed and checked as its IPv4', (t) => {
  t.is(bep42Prefix(parseIp('::ffff:124.31.75.21')!, 1), bep42Prefix(parseIp('124.31.75.21')!, 1));
  const id = generateBep42Id('::ffff:21.75.31.124', endingIn(86));
  t.true(matchesBep42(id, '21.75.31.124'));
  t.true(matchesBep42(generateBep42Id('21.75.31.124'), '::ffff:21.75.31.124'));
  t.true(isBep42Exempt('::ffff:10.1.2.3'));
});

test('generated IDs round-trip for random public IPv4 and IPv6 addresses', (t) => {
  const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  fc.assert(
    fc.property(fc.oneof(v4, v6), fc.integer(), (bytes, seed) => {
      const host = formatIp(bytes);
      fc.pre(!isBep42Exempt(host));
      const id = generateBep42Id(host, seededRandom(seed));
      t.true(matchesBep42(id, host), host);
      t.true(isBep42Compliant(id, host), host);
      t.true(matchesBep42(id, bytes), 'byte form agrees');
    }),
    { numRuns: 500 },
  );
});

test('generation keeps the non-prefix bits random', (t) => {
  const random = seededRandom(3);
  const ids = Array.from({ length: 64 }, () => generateBep42Id('8.8.8.8', random));
  t.is(new Set(ids.map((id) => id.toString('hex'))).size, 64);
  // Byte 2's low 3 bits and the last byte vary; the top 21 bits depend only on r & 7.
  t.true(new Set(ids.map((id) => id[2]! & 7)).size > 1);
  t.true(new Set(ids.map((id) => id[19])).size > 8);
  t.true(new Set(ids.map((id) => top21(id))).size <= 8);
});

test('flipping any of the top 21 bits breaks compliance; other bits (but r) do not matter', (t) => {
  for (const host of ['124.31.75.21', '2001:4860:4860::8888', '198.41.0.4']) {
    const id = generateBep42Id(host, seededRandom(11));
    t.true(isBep42Compliant(id, host));
    for (let bit = 0; bit < 160; bit++) {
      const flipped = Buffer.from(id);
      flipped[bit >>> 3] = flipped[bit >>> 3]! ^ (0x80 >> (bit & 7));
      // Bits 157..159 are r's low 3 bits: flipping them changes the expected prefix.
      if (bit < 21) t.false(isBep42Compliant(flipped, host), `${host}: bit ${bit}`);
      else if (bit < 157) t.true(isBep42Compliant(flipped, host), `${host}: bit ${bit}`);
    }
  }
});

test('a compliant ID for one address does not pass for another', (t) => {
  const id = generateBep42Id('124.31.75.21', endingIn(1));
  t.false(matchesBep42(id, '124.31.75.20'));
  t.false(matchesBep42(id, '8.8.8.8'));
  t.false(matchesBep42(id, '2001:4860:4860::8888'));
});

test('exempt ranges: BEP 42 private/local IPv4 and the IPv6 equivalents', (t) => {
  const exempt = [
    '10.0.0.0', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1', '192.168.255.255', '169.254.0.1',
    '169.254.255.255', '127.0.0.1', '127.255.255.255', '::1', 'fc00::1', 'fd00::2', 'fe80::1', 'febf::1', 'fe80::1%eth0',
    '::ffff:192.168.1.1',
  ];
  const notExempt = [
    '9.255.255.255', '11.0.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0', '169.253.0.1',
    '128.0.0.1', '100.64.0.1', '8.8.8.8', '0.0.0.0', '::', '::2', 'fec0::1', 'fe00::1', '2001:db8::1', '::ffff:8.8.8.8',
    'not-an-ip', '',
  ];
  for (const host of exempt) t.true(isBep42Exempt(host), host);
  for (const host of notExempt) t.false(isBep42Exempt(host), host);
  t.true(isBep42Exempt(Buffer.from([10, 1, 2, 3])));
  t.false(isBep42Exempt(new Uint8Array(3)));
});

test('exempt hosts accept any well-formed ID; matchesBep42 still checks them', (t) => {
  const id = Buffer.alloc(20); // prefix 000000 with r = 0: matches neither address below
  for (const host of ['10.0.0.1', '192.168.1.1', 'fd00::1', '::1']) {
    t.false(matchesBep42(id, host), host);
    t.true(isBep42Compliant(id, host), host);
    t.false(isBep42Compliant(Buffer.alloc(19), host), `${host}: short id`);
  }
  t.false(isBep42Compliant(id, '8.8.8.8'));
});

test('generateBep42Id gives an exempt address a plain random ID', (t) => {
  t.deepEqual(generateBep42Id('192.168.1.10', seededRandom(5)), randomId(seededRandom(5)));
  t.deepEqual(generateBep42Id('fe80::1', seededRandom(6)), randomId(seededRandom(6)));
  // A non-exempt address with the same randomness gets its prefix overwritten.
  t.notDeepEqual(generateBep42Id('8.8.8.8', seededRandom(5)), randomId(seededRandom(5)));
});

test('IPv6 generation and check', (t) => {
  const sameSlash64: [string, string][] = [
    ['2001:4860:4860::8888', '2001:4860:4860:0:abcd::1'],
    ['2606:4700:4700::1111', '2606:4700:4700::abcd:1'],
    ['2a00:1450:4001:82b::200e', '2a00:1450:4001:82b:ffff:ffff:ffff:ffff'],
  ];
  for (const [host, neighbour] of sameSlash64) {
    t.false(isBogon(host));
    const id = generateBep42Id(host, seededRandom(9));
    t.true(isBep42Compliant(id, host), host);
    t.is(top21(id), bep42Prefix(parseIp(host)!, id[19]!) >>> 11, host);
    // The interface half of the address is not hashed.
    t.true(isBep42Compliant(id, neighbour), `${host} vs ${neighbour}`);
  }
});

test('bad input: non-IP hosts, bad ID lengths, bad address bytes', (t) => {
  for (const host of ['', 'example.com', '1.2.3', '01.2.3.4']) {
    const err = t.throws(() => generateBep42Id(host), { instanceOf: Bep42Error }, host);
    t.is(err?.code, 'ERR_BEP42');
    t.is(err?.reason, 'bad-host');
    t.false(matchesBep42(Buffer.alloc(20), host));
    t.false(isBep42Compliant(Buffer.alloc(20), host));
  }
  const err = t.throws(() => bep42Prefix(new Uint8Array(5), 0), { instanceOf: Bep42Error });
  t.is(err?.reason, 'bad-address-length');
  t.throws(() => generateBep42Id(new Uint8Array(8)), { instanceOf: Bep42Error });

  const good = generateBep42Id('8.8.8.8');
  t.false(matchesBep42(good.subarray(0, 19), '8.8.8.8'));
  t.false(matchesBep42(Buffer.concat([good, Buffer.alloc(1)]), '8.8.8.8'));
  t.false(isBep42Compliant(Buffer.alloc(0), '8.8.8.8'));
});
