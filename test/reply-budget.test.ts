import test from 'ava';
import { encodeResponseMessage } from '../bep5/krpc-message.js';
import { encodeReply } from '../bep5/replies.js';
import { MAX_SEND_BYTES } from '../bep5/constants.js';
import { samplesThatFit, valuesThatFit } from '../bep5/handlers/reply-budget.js';

const id = Buffer.alloc(20, 1);
const t = Buffer.alloc(32, 2); // the longest transaction id we accept
const ip = { host: '2001:db8::1', port: 6881 }; // the longest ip field
const v = Buffer.from('DS01');
const node = (i: number, family: 4 | 6) => ({ id, host: family === 4 ? `10.0.0.${i + 1}` : `2001:db8::${i + 1}`, port: 6881 });

function size(method: 'get_peers' | 'sample_infohashes', reply: object): number {
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
