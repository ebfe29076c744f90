import test from 'ava';
import fc from 'fast-check';
import { IndexDeque } from '../crawler/index-deque.js';

/** crawler/index-deque.ts against a JS array doing the same operations. */

test('any sequence of push, unshift and shift gives what an array gives, through growth and wrap-around', (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), value: fc.nat(2 ** 31 - 1) }),
    fc.record({ kind: fc.constant('unshift' as const), value: fc.nat(2 ** 31 - 1) }),
    fc.record({ kind: fc.constant('shift' as const), value: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const deque = new IndexDeque(1);
      const reference: number[] = [];
      for (const o of ops) {
        if (o.kind === 'push') {
          deque.push(o.value);
          reference.push(o.value);
        } else if (o.kind === 'unshift') {
          deque.unshift(o.value);
          reference.unshift(o.value);
        } else if (deque.shift() !== reference.shift()) return false;
        if (deque.length !== reference.length) return false;
      }
      const rest: number[] = [];
      for (let v = deque.shift(); v !== undefined; v = deque.shift()) rest.push(v);
      return JSON.stringify(rest) === JSON.stringify(reference);
    }),
  );
  t.pass();
});

test('clear empties it; a million entries cost 4 bytes each, at most twice over', (t) => {
  const deque = new IndexDeque();
  for (let i = 0; i < 1_000_000; i++) deque.push(i);
  t.is(deque.length, 1_000_000);
  t.true(deque.bytes <= 2 * 4 * 1_000_000);
  t.is(deque.shift(), 0);
  deque.clear();
  t.is(deque.length, 0);
  t.is(deque.shift(), undefined);
});
