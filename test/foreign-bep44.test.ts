import test from 'ava';
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { encode } from '../bep5/bencode.js';
import { randomId } from '../bep5/node-id.js';
import { type ForeignContact, ForeignHost, type ForeignNodeSpec } from '../crawler/testnet/foreign-host.js';
import { ForeignHostError } from '../crawler/errors.js';
import { pollValue } from './helpers/wait.js';

/**
 * BEP 44 between the testnet's real foreign nodes, before any dhtscope code takes part:
 * 8 bittorrent-dht nodes (127.150.1.x) and 4 libtorrent nodes (127.150.2.x) that all know
 * each other store and read items through their own put/get (ForeignHost.putImmutable …
 * storedItem). Every value is checked as bytes: what one implementation put, the other read.
 * Probes 127.150.3.x. Serial: the tests share one network and its items.
 */

const BTDHT = 8;
const LT = 4;
const PORT = 6881;

const hex = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b) : b).toString('hex');
const sha1 = (...parts: Buffer[]): string => parts.reduce((h, p) => h.update(p), createHash('sha1')).digest('hex');

function keyPair(): { seedHex: string; publicKeyHex: string } {
  const seed = randomBytes(32);
  const d = seed.toString('base64url');
  const jwk = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x: d }, format: 'jwk' })).export({ format: 'jwk' });
  return { seedHex: seed.toString('hex'), publicKeyHex: Buffer.from(jwk.x!, 'base64url').toString('hex') };
}

let btdht: ForeignHost;
let lt: ForeignHost;

test.before(async () => {
  const specs = (n: number, third: number): ForeignNodeSpec[] =>
    Array.from({ length: n }, (_, i) => ({ index: i, host: `127.150.${third}.${i + 1}`, port: PORT, id: randomId().toString('hex') }));
  const btSpecs = specs(BTDHT, 1);
  const ltSpecs = specs(LT, 2);
  [btdht, lt] = await Promise.all([
    ForeignHost.start('bittorrent-dht', btSpecs, { probeHost: '127.150.3.1' }),
    ForeignHost.start('libtorrent', ltSpecs, { probeHost: '127.150.3.2' }),
  ]);
  const contacts = (host: ForeignHost, specs: ForeignNodeSpec[]): ForeignContact[] => specs.map((s) => ({ id: host.ids().get(s.index)!, host: s.host, port: s.port }));
  const everyone = [...contacts(btdht, btSpecs), ...contacts(lt, ltSpecs)];
  const others = (host: string): ForeignContact[] => everyone.filter((c) => c.host !== host);
  const [btIn, ltIn] = await Promise.all([
    btdht.addContacts(new Map(btSpecs.map((s) => [s.index, others(s.host)]))),
    lt.addContacts(new Map(ltSpecs.map((s) => [s.index, others(s.host)]))),
  ]);
  // bittorrent-dht takes every contact; libtorrent those that answered its get_peers.
  for (const n of btIn.values()) if (n !== everyone.length - 1) throw new Error(`a bittorrent-dht node took ${n} of ${everyone.length - 1} contacts`);
  for (const n of ltIn.values()) if (n < everyone.length / 2) throw new Error(`a libtorrent node took only ${n} of ${everyone.length - 1} contacts`);
});

test.after.always(async () => {
  await Promise.all([btdht?.stop(), lt?.stop()]);
});

/** Nodes of a host whose own store holds the item (ground truth), with what each holds. */
async function holders(host: ForeignHost, count: number, targetHex: string): Promise<Array<{ valueBencodedHex: string; seq?: number }>> {
  return [...(await stores(host, count, targetHex)).values()].filter((f) => f !== null);
}

/** What each node of a host holds for the target, by index (null: nothing). */
async function stores(host: ForeignHost, count: number, targetHex: string): Promise<Map<number, { valueBencodedHex: string; seq?: number } | null>> {
  return new Map(await Promise.all(Array.from({ length: count }, async (_, i) => [i, await host.storedItem(i, targetHex)] as const)));
}

test.serial('immutable: bittorrent-dht puts the BEP 44 test vector, libtorrent reads it; libtorrent puts a dict, bittorrent-dht reads it', async (t) => {
  const hello = hex('12:Hello World!');
  const put = await btdht.putImmutable(0, hello);
  t.is(put.targetHex, 'e5f96f6f38320f0f33959cb4d3d656452117aadb', 'the target of BEP 44 test 3');
  t.true(put.stored >= 6, `acknowledged by ${put.stored} nodes`);
  // Stored where it was put: bittorrent-dht nodes (putter included) and libtorrent nodes.
  const btHolders = await holders(btdht, BTDHT, put.targetHex);
  t.true(btHolders.length >= 5, `${btHolders.length} bittorrent-dht stores hold it`);
  t.true(btHolders.every((h) => h.valueBencodedHex === hello && h.seq === undefined));
  const ltHolders = await holders(lt, LT, put.targetHex);
  t.true(ltHolders.length >= 1 && ltHolders.every((h) => h.valueBencodedHex === hello), `${ltHolders.length} libtorrent stores hold it`);
  t.log(`bittorrent-dht put: ${put.stored} acknowledgements, held by ${btHolders.length}/${BTDHT} bittorrent-dht and ${ltHolders.length}/${LT} libtorrent nodes`);
  t.is(btHolders.length + ltHolders.length, put.stored + 1, 'every node that acknowledged holds it, and so does the putter');

  t.is(await lt.getImmutable(1, put.targetHex), hello, 'libtorrent reads what bittorrent-dht put');

  // A dict (keys out of order in the source, canonical once encoded), with a binary string and a negative integer.
  const dict = encode({ zeta: [1, Buffer.from([0xff, 0x00, 0x80])], alpha: { n: -42, s: 'Hello World!' } }).toString('hex');
  const ltPut = await lt.putImmutable(2, dict);
  t.is(ltPut.targetHex, sha1(Buffer.from(dict, 'hex')));
  t.true(ltPut.stored >= 4, `acknowledged by ${ltPut.stored} nodes`);
  const [btDict, ltDict] = [await holders(btdht, BTDHT, ltPut.targetHex), await holders(lt, LT, ltPut.targetHex)];
  t.log(`libtorrent put: ${ltPut.stored} acknowledgements, held by ${btDict.length}/${BTDHT} bittorrent-dht and ${ltDict.length}/${LT} libtorrent nodes`);
  t.is(btDict.length + ltDict.length, ltPut.stored, 'held by the nodes that acknowledged (libtorrent keeps no copy of its own puts)');
  t.true([...btDict, ...ltDict].every((h) => h.valueBencodedHex === dict));
  t.is(await btdht.getImmutable(5, ltPut.targetHex), dict, 'bittorrent-dht reads what libtorrent put');
  t.is(await lt.getImmutable(0, ltPut.targetHex), dict, 'and so does another libtorrent node');

  // The other way round for a plain string too.
  const words = hex('17:put by libtorrent');
  const ltString = await lt.putImmutable(3, words);
  t.true(ltString.stored >= 4);
  t.is(await btdht.getImmutable(7, ltString.targetHex), words);
});

test.serial('mutable with a salt: bittorrent-dht puts seq 1 then 2, libtorrent reads each; libtorrent puts seq 1 then 2, bittorrent-dht reads each', async (t) => {
  const keys = keyPair();
  const salt = hex('foobar');
  const target = sha1(Buffer.from(keys.publicKeyHex, 'hex'), Buffer.from('foobar'));
  const v1 = hex('12:Hello World!');
  const p1 = await btdht.putMutable(1, { ...keys, valueBencodedHex: v1, saltHex: salt, seq: 1 });
  t.is(p1.targetHex, target);
  t.is(p1.seq, 1);
  t.true(p1.stored >= 6, `acknowledged by ${p1.stored} nodes`);
  t.deepEqual(await lt.getMutable(2, { publicKeyHex: keys.publicKeyHex, saltHex: salt }), { valueBencodedHex: v1, seq: 1 });
  // Without the salt it is another target, where nothing is.
  t.is(await lt.getMutable(2, { publicKeyHex: keys.publicKeyHex, timeoutMs: 5_000 }), null);

  // seq 2, a dict value: every store that answers has the newer one.
  const v2 = encode({ text: 'Hello again', n: 2 }).toString('hex');
  const p2 = await btdht.putMutable(1, { ...keys, valueBencodedHex: v2, saltHex: salt, seq: 2 });
  t.true(p2.stored >= 6, `acknowledged by ${p2.stored} nodes`);
  t.deepEqual(await lt.getMutable(3, { publicKeyHex: keys.publicKeyHex, saltHex: salt }), { valueBencodedHex: v2, seq: 2 });
  t.deepEqual(await btdht.getMutable(6, { publicKeyHex: keys.publicKeyHex, saltHex: salt }), { valueBencodedHex: v2, seq: 2 });
  const btStores = await stores(btdht, BTDHT, target);
  const held = [...[...btStores.values()].filter((s) => s !== null), ...(await holders(lt, LT, target))];
  t.true(held.length >= 6, `${held.length} stores hold it`);
  t.deepEqual(new Set(held.map((s) => `${s.seq}:${s.valueBencodedHex}`)), new Set([`2:${v2}`]), 'no store kept seq 1');
  t.is(btStores.get(1), null, 'the bittorrent-dht putter keeps no copy of its own mutable item');
  // An older seq is refused by every store that has seq 2 (both answer 302); only a node that
  // holds nothing takes it: node 1, the putter, and any other that missed the puts.
  const empty = [...btStores].filter(([i, s]) => s === null && i !== 4).length + (LT - (await holders(lt, LT, target)).length);
  const stale = await btdht.putMutable(4, { ...keys, valueBencodedHex: v1, saltHex: salt, seq: 1 });
  t.is(stale.stored, empty);
  t.log(`stale put taken by ${stale.stored} node(s)`);
  t.deepEqual(await btdht.storedItem(1, target), { valueBencodedHex: v1, seq: 1 });
  t.deepEqual(await btdht.storedItem(0, target), { valueBencodedHex: v2, seq: 2 }, 'seq 2 stays');
  t.deepEqual(await lt.getMutable(0, { publicKeyHex: keys.publicKeyHex, saltHex: salt }), { valueBencodedHex: v2, seq: 2 }, 'the reader keeps the highest seq');

  // libtorrent's turn, with a binary salt (not UTF-8: its alerts cannot even print it).
  const ltKeys = keyPair();
  const ltSalt = 'ff00fe01';
  const w1 = hex('12:Hello World!');
  const q1 = await lt.putMutable(0, { ...ltKeys, valueBencodedHex: w1, saltHex: ltSalt, seq: 1 });
  t.is(q1.targetHex, sha1(Buffer.from(ltKeys.publicKeyHex, 'hex'), Buffer.from(ltSalt, 'hex')));
  t.is(q1.seq, 1);
  t.true(q1.stored >= 4, `acknowledged by ${q1.stored} nodes`);
  t.deepEqual(await btdht.getMutable(3, { publicKeyHex: ltKeys.publicKeyHex, saltHex: ltSalt }), { valueBencodedHex: w1, seq: 1 });
  const w2 = hex('12:second value');
  const q2 = await lt.putMutable(0, { ...ltKeys, valueBencodedHex: w2, saltHex: ltSalt, seq: 2 });
  t.is(q2.seq, 2, 'libtorrent found seq 1 and put 2');
  t.true(q2.stored >= 4);
  // A store that missed the second put still has seq 1: the reader keeps the highest.
  const read = await pollValue(
    'bittorrent-dht to read seq 2',
    () => btdht.getMutable(2, { publicKeyHex: ltKeys.publicKeyHex, saltHex: ltSalt }),
    (r) => r?.seq === 2,
    10_000,
  );
  t.deepEqual(read, { valueBencodedHex: w2, seq: 2 });
  t.deepEqual(await lt.getMutable(1, { publicKeyHex: ltKeys.publicKeyHex, saltHex: ltSalt }), { valueBencodedHex: w2, seq: 2 });
});

test.serial('what the hosts refuse, and gets that find nothing end at their timeout', async (t) => {
  const keys = keyPair();
  const other = keyPair();
  await t.throwsAsync(btdht.putMutable(0, { seedHex: keys.seedHex, publicKeyHex: other.publicKeyHex, valueBencodedHex: hex('1:x'), seq: 1 }), {
    instanceOf: ForeignHostError,
    message: /public key/,
  });
  await t.throwsAsync(lt.putMutable(0, { ...keys, valueBencodedHex: encode({ a: 1 }).toString('hex'), seq: 1 }), { message: /byte strings only/ });
  await t.throwsAsync(btdht.putImmutable(0, hex('d1:bi1e1:ai2ee')), { message: /canonical/ });
  await t.throwsAsync(lt.putImmutable(0, hex('d1:bi1e1:ai2ee')), { message: /canonical/ });
  // libtorrent chooses seq itself: asked for 5 where nothing is, it puts 1 (and says so).
  await t.throwsAsync(lt.putMutable(1, { ...keys, valueBencodedHex: hex('1:x'), seq: 5 }), { message: /seq 1 .*not 5/ });

  const nowhere = randomId().toString('hex');
  const started = Date.now();
  const [a, b, c] = await Promise.all([
    btdht.getImmutable(0, nowhere, 4_000),
    lt.getImmutable(0, nowhere, 4_000),
    lt.getMutable(1, { publicKeyHex: other.publicKeyHex, timeoutMs: 4_000 }),
  ]);
  t.deepEqual([a, b, c], [null, null, null]);
  t.true(Date.now() - started < 4_000 + 3_000, 'within the timeout');
  t.is(await btdht.storedItem(0, nowhere), null);
  t.is(await lt.storedItem(0, nowhere), null);

  // The hosts still serve everything else.
  t.is((await btdht.tableSizes()).size, BTDHT);
  t.is((await lt.tableSizes()).size, LT);
  t.deepEqual((await btdht.diagnostics()).uncaught, []);
});
