import test from 'ava';
import fc from 'fast-check';
import { seededRandom } from '../bep5/random.js';
import { IdPartition } from '../crawler/id-partition.js';

test('a partition holds the IDs whose first bits are its index; place() and randomId() land inside it', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 16 }), fc.nat(), fc.uint8Array({ minLength: 20, maxLength: 20 }), (bits, n, bytes) => {
      const index = n % 2 ** bits;
      const p = new IdPartition(bits, index);
      const id = Buffer.from(bytes);
      const of = IdPartition.indexOf(id, bits);
      if (p.contains(id) !== (of === index)) return false;
      const placed = p.place(Buffer.from(id));
      // Only the first `bits` bits change.
      const keepMask = bits === 0 ? 0xffff_ffff : 0xffff_ffff >>> bits;
      if (!p.contains(placed) || ((placed.readUInt32BE(0) ^ id.readUInt32BE(0)) & keepMask) !== 0 || !placed.subarray(4).equals(id.subarray(4))) return false;
      return p.contains(p.randomId(seededRandom(n)));
    }),
  );
  t.is(IdPartition.indexOf(Buffer.from('ff00000000000000000000000000000000000000', 'hex'), 6), 63);
  t.is(IdPartition.indexOf(Buffer.from('0400000000000000000000000000000000000000', 'hex'), 6), 1);
  t.throws(() => new IdPartition(17, 0), { instanceOf: RangeError });
  t.throws(() => new IdPartition(4, 16), { instanceOf: RangeError });
  t.is(String(new IdPartition(6, 5)), '5/64');
});
