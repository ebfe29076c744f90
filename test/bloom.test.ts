import { createHash } from 'node:crypto';
import test from 'ava';
import { ScrapeBloom, bloomIndices } from '../bep5/bloom.js';
import { BloomError } from '../bep5/errors.js';
import { parseIp } from '../bep5/ip.js';

/** BEP 33 "Test Vectors": 192.0.2.0–192.0.2.255 and 2001:DB8::–2001:DB8::3E7 inserted. */
const BEP33_VECTOR = `
 F6C3F5EA A07FFD91 BDE89F77 7F26FB2B FF37BDB8 FB2BBAA2 FD3DDDE7 BACFFF75 EE7CCBAE
 FE5EEDB1 FBFAFF67 F6ABFF5E 43DDBCA3 FD9B9FFD F4FFD3E9 DFF12D1B DF59DB53 DBE9FA5B
 7FF3B8FD FCDE1AFB 8BEDD7BE 2F3EE71E BBBFE93B CDEEFE14 8246C2BC 5DBFF7E7 EFDCF24F
 D8DC7ADF FD8FFFDF DDFFF7A4 BBEEDF5C B95CE81F C7FCFF1F F4FFFFDF E5F7FDCB B7FD79B3
 FA1FC77B FE07FFF9 05B7B7FF C7FEFEFF E0B8370B B0CD3F5B 7F2BD93F EB4386CF DD6F7FD5
 BFAF2E9E BFFFFEEC D67ADBF7 C67F17EF D5D75EBA 6FFEBA7F FF47A91E B1BFBB53 E8ABFB57
 62ABE8FF 237279BF EFBFEEF5 FFC5FEBF DFE5ADFF ADFEE1FB 737FFFFB FD9F6AEF FEEE76B6
 FD8F72EF`.replace(/\s+/g, '').toLowerCase();

function vectorIps(): Buffer[] {
  const ips: Buffer[] = [];
  for (let i = 0; i <= 255; i++) ips.push(Buffer.from([192, 0, 2, i]));
  for (let i = 0; i <= 0x3e7; i++) {
    const ip = Buffer.alloc(16);
    ip.writeUInt16BE(0x2001, 0);
    ip.writeUInt16BE(0x0db8, 2);
    ip.writeUInt16BE(i, 14);
    ips.push(ip);
  }
  return ips;
}

test('BEP 33 test vector: exact bytes and the estimate 1224.9308', (t) => {
  t.is(BEP33_VECTOR.length, 512);
  const ips = vectorIps();
  t.is(ips.length, 1256);
  const filter = new ScrapeBloom();
  for (const ip of ips) filter.insert(ip);
  t.is(filter.toBuffer().toString('hex'), BEP33_VECTOR);
  t.true(Math.abs(filter.estimate() - 1224.9308) <= 0.0001, `estimate ${filter.estimate()}`);
  t.true(Math.abs(ScrapeBloom.from(Buffer.from(BEP33_VECTOR, 'hex')).estimate() - 1224.9308) <= 0.0001);
});

test('BEP 33 test vector through insertHost and through the union of two halves', (t) => {
  const byText = new ScrapeBloom();
  for (let i = 0; i <= 255; i++) byText.insertHost(`192.0.2.${i}`);
  for (let i = 0; i <= 0x3e7; i++) byText.insertHost(`2001:DB8::${i.toString(16).toUpperCase()}`);
  t.is(byText.toBuffer().toString('hex'), BEP33_VECTOR);

  const ips = vectorIps();
  const a = new ScrapeBloom();
  const b = new ScrapeBloom();
  ips.forEach((ip, i) => (i % 2 === 0 ? a : b).insert(ip));
  t.is(a.union(b).toBuffer().toString('hex'), BEP33_VECTOR);
  t.is(b.toBuffer().toString('hex') === BEP33_VECTOR, false, 'union leaves its argument alone');
});

test('one insert sets exactly the bits of the BEP 33 pseudocode', (t) => {
  const ip = Buffer.from([192, 168, 1, 1]);
  const hash = createHash('sha1').update(ip).digest();
  const i1 = (hash[0]! | (hash[1]! << 8)) % 2048;
  const i2 = (hash[2]! | (hash[3]! << 8)) % 2048;
  const expected = Buffer.alloc(256);
  expected[Math.floor(i1 / 8)]! |= 0x01 << i1 % 8;
  expected[Math.floor(i2 / 8)]! |= 0x01 << i2 % 8;
  const filter = new ScrapeBloom();
  filter.insert(ip);
  t.deepEqual(filter.toBuffer(), expected);
  t.deepEqual(bloomIndices(ip), [i1, i2]);
  t.true(filter.mayContain(ip));
  t.false(filter.mayContain(Buffer.from([192, 168, 1, 2])));
});

test('an IPv4-mapped address counts as its IPv4 address', (t) => {
  const a = new ScrapeBloom();
  a.insertHost('::ffff:192.0.2.1');
  const b = new ScrapeBloom();
  b.insert(parseIp('192.0.2.1')!);
  t.deepEqual(a.toBuffer(), b.toBuffer());
});

test('estimate: empty is 0, one IP about 1, duplicates do not count, full is finite', (t) => {
  const filter = new ScrapeBloom();
  t.is(filter.estimate(), 0);
  filter.insertHost('192.0.2.1');
  t.true(Math.abs(filter.estimate() - 1) < 0.01, String(filter.estimate()));
  const before = filter.estimate();
  for (let i = 0; i < 10; i++) filter.insertHost('192.0.2.1');
  t.is(filter.estimate(), before);
  const full = ScrapeBloom.from(Buffer.alloc(256, 0xff));
  t.true(Number.isFinite(full.estimate()));
  t.true(full.estimate() > 7000);
});

test('estimate tracks the count well below saturation', (t) => {
  const filter = new ScrapeBloom();
  for (let i = 0; i < 500; i++) filter.insert(Buffer.from([198, 51, 100 + (i >> 8), i & 0xff]));
  t.true(Math.abs(filter.estimate() - 500) < 50, String(filter.estimate()));
});

test('from() copies, needs exactly 256 bytes; toBuffer() copies', (t) => {
  for (const n of [0, 255, 257, 512]) {
    const err = t.throws(() => ScrapeBloom.from(Buffer.alloc(n)), { instanceOf: BloomError });
    t.is(err?.code, 'ERR_BLOOM');
    t.is(err?.reason, 'bad-length');
  }
  const source = Buffer.from(BEP33_VECTOR, 'hex');
  const filter = ScrapeBloom.from(source);
  source.fill(0);
  t.is(filter.toBuffer().toString('hex'), BEP33_VECTOR);
  filter.toBuffer().fill(0);
  t.is(filter.toBuffer().toString('hex'), BEP33_VECTOR);
  const view = Buffer.from(BEP33_VECTOR + 'ff', 'hex').subarray(0, 256);
  t.is(ScrapeBloom.from(new Uint8Array(view)).toBuffer().toString('hex'), BEP33_VECTOR);
});

test('only IPs go in', (t) => {
  const filter = new ScrapeBloom();
  for (const n of [0, 3, 5, 6, 18, 20]) {
    t.is(t.throws(() => filter.insert(Buffer.alloc(n)), { instanceOf: BloomError })?.reason, 'bad-length');
  }
  t.is(t.throws(() => filter.insertHost('example.com'), { instanceOf: BloomError })?.reason, 'bad-host');
  t.is(t.throws(() => filter.insertHost('192.0.2.1:6881'), { instanceOf: BloomError })?.reason, 'bad-host');
  t.is(t.throws(() => filter.insertIndices([0, 2048]), { instanceOf: BloomError })?.reason, 'bad-index');
  t.is(filter.estimate(), 0);
});
