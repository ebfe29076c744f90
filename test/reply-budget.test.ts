import test from 'ava';
import { decode, encode } from '../bep5/bencode.js';
import { encodeQueryMessage, encodeResponseMessage } from '../bep5/krpc-message.js';
import { encodeQueryArgs } from '../bep5/queries.js';
import { encodeReply } from '../bep5/replies.js';
import { MAX_BEP44_SEND_BYTES, MAX_SEND_BYTES, MAX_TOKEN_BYTES } from '../bep5/constants.js';
import { getReplyBytes, itemFieldBytes, nodesBesideItem, samplesThatFit, valuesThatFit } from '../bep5/handlers/reply-budget.js';
import { type Method } from '../bep5/queries.js';

const id = Buffer.alloc(20, 1);
const t = Buffer.alloc(32, 2); // the longest transaction id we accept
const ip = { host: '2001:db8::1', port: 6881 }; // the longest ip field
const v = Buffer.from('DS01');
const node = (i: number, family: 4 | 6) => ({ id, host: family === 4 ? `10.0.0.${i + 1}` : `2001:db8::${i + 1}`, port: 6881 });

function size(method: Method, reply: object): number {
  return encodeResponseMessage(t, encodeReply(method, reply as never), { v, ip }).length;
}

test('the largest get_peers reply the budget allows fits in one datagram, and is nearly full', (t2) => {
  for (const [n4, n6, scrape] of [[8, 0, false], [0, 8, false], [8, 8, false], [8, 0, true], [0, 0, false]] as const) {
    for (const family of [4, 6] as const) {
      const max = valuesThatFit(family, { nodes: n4, nodes6: n6, scrape });
      const values = Array.from({ length: max }, (_, i) => ({ host: family === 4 ? `10.1.${i >> 8}.${i & 255}` : `2001:db8::1:${i.toString(16)}`, port: 65535 }));
      const bloom = scrape ? Buffer.alloc(256) : undefined;
      const bytes = size('get_peers', {
        id, token: Buffer.alloc(8), values,
        nodes: n4 ? Array.from({ length: n4 }, (_, i) => node(i, 4)) : undefined,
        nodes6: n6 ? Array.from({ length: n6 }, (_, i) => node(i, 6)) : undefined,
        bfsd: bloom, bfpe: bloom,
      });
      t2.true(bytes <= MAX_SEND_BYTES, `${n4}/${n6}/${scrape}/v${family}: ${bytes} bytes for ${max} values`);
      t2.true(bytes > MAX_SEND_BYTES - 2 * (family === 4 ? 8 : 21) - 40, `${bytes} bytes: the budget wastes room`);
    }
  }
});

test('the largest sample_infohashes reply the budget allows fits, and is nearly full', (t2) => {
  for (const [n4, n6] of [[8, 0], [0, 8], [8, 8]] as const) {
    const max = samplesThatFit({ nodes: n4, nodes6: n6 });
    const bytes = size('sample_infohashes', {
      id, interval: 21600, num: 4_000_000_000, samples: Array.from({ length: max }, () => Buffer.alloc(20, 3)),
      nodes: n4 ? Array.from({ length: n4 }, (_, i) => node(i, 4)) : undefined,
      nodes6: n6 ? Array.from({ length: n6 }, (_, i) => node(i, 6)) : undefined,
    });
    t2.true(bytes <= MAX_SEND_BYTES, `${n4}/${n6}: ${bytes} bytes for ${max} samples`);
    t2.true(bytes > MAX_SEND_BYTES - 60, `${bytes} bytes: the budget wastes room`);
  }
});

const nodes = (n: number | undefined, family: 4 | 6) => (n === undefined ? undefined : Array.from({ length: n }, (_, i) => node(i, family)));

test('BEP 44: the largest get reply (1,000-byte v, k, sig, seq, 8 + 8 nodes asked) fits in MAX_BEP44_SEND_BYTES once trimmed, nearly full', (t2) => {
  const v = decode(encode(Buffer.alloc(996, 0x61))); // 1,000 bytes bencoded
  const k = Buffer.alloc(32, 4);
  const sig = Buffer.alloc(64, 5);
  // The salt (64 bytes at most) is never echoed: it costs a reply nothing.
  for (const family of [4, 6] as const) {
    for (const seq of [Number.MAX_SAFE_INTEGER, 0, undefined]) {
      const itemBytes = itemFieldBytes(1000, seq);
      const fit = nodesBesideItem(family, { nodes: 8, nodes6: 8 }, itemBytes);
      const item = seq === undefined ? { v } : { v, k, seq, sig };
      const bytes = size('get', { id, token: Buffer.alloc(8), ...item, nodes: nodes(fit.nodes, 4), nodes6: nodes(fit.nodes6, 6) });
      const what = `IPv${family} seq ${seq}: ${bytes} bytes with ${fit.nodes} + ${fit.nodes6} nodes`;
      t2.true(bytes <= MAX_BEP44_SEND_BYTES, what);
      t2.true(bytes > MAX_BEP44_SEND_BYTES - 38 - 12, `${what}: the budget wastes room`);
      t2.true(getReplyBytes(itemBytes, fit) >= bytes, `${what}: the reflection budget is charged at least what is sent`);
      t2.true(getReplyBytes(itemBytes, fit) - bytes < 10, `${what}: and not much more`);
      // The querier's own family keeps its nodes longest.
      t2.true((family === 4 ? fit.nodes! : fit.nodes6!) >= 4, what);
    }
  }
  // Without a value (nothing stored, or only the seq) 8 + 8 nodes fit in the BEP 5 budget.
  const seqOnly = size('get', { id, token: Buffer.alloc(8), seq: Number.MAX_SAFE_INTEGER, nodes: nodes(8, 4), nodes6: nodes(8, 6) });
  t2.true(seqOnly <= MAX_SEND_BYTES, `${seqOnly} bytes`);
  // A small item leaves every node in.
  t2.deepEqual(nodesBesideItem(4, { nodes: 8, nodes6: 8 }, itemFieldBytes(100, 1)), { nodes: 8, nodes6: 8 });
  t2.deepEqual(nodesBesideItem(6, { nodes6: 8 }, itemFieldBytes(1000, Number.MAX_SAFE_INTEGER)), { nodes6: 4 });
  t2.deepEqual(nodesBesideItem(4, { nodes: 8 }, itemFieldBytes(1000, Number.MAX_SAFE_INTEGER)), { nodes: 6 });
});

test('BEP 44: the largest put query (1,000-byte v, 64-byte salt and token, max seq and cas) fits in MAX_BEP44_SEND_BYTES', (t2) => {
  const vBytes = encode(Buffer.alloc(996, 0x61));
  const a = encodeQueryArgs({
    method: 'put', id, token: Buffer.alloc(MAX_TOKEN_BYTES), v: decode(vBytes), vBytes,
    k: Buffer.alloc(32), sig: Buffer.alloc(64), seq: Number.MAX_SAFE_INTEGER, cas: Number.MAX_SAFE_INTEGER, salt: Buffer.alloc(64),
  });
  const bytes = encodeQueryMessage(Buffer.alloc(4), 'put', a, { v, readOnly: true }).length;
  t2.true(bytes <= MAX_BEP44_SEND_BYTES, `${bytes} bytes`);
});
