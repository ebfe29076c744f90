/**
 * BEP 44 between our client and real foreign implementations (issue 16, item 1): a network
 * where only foreign nodes store items, 10 bittorrent-dht nodes (127.151.1.x, with an ed25519
 * `verify`) and 4 libtorrent nodes (127.151.2.x), and one dhtscope node, BEP 43 read-only so
 * that no foreign node puts anything to it. An item our client puts is read by each foreign
 * implementation through its own get, and is in their stores (ground truth from the foreign
 * processes); an item each of them puts is read by our client.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { encode } from '../bep5/bencode.js';
import { generateKeyPair, mutableTarget } from '../bep5/bep44.js';
import { DhtNode } from '../bep5/node.js';
import { randomId } from '../bep5/node-id.js';
import { type ForeignContact, ForeignHost, type ForeignNodeSpec } from '../crawler/testnet/foreign-host.js';

const BTDHT = 10;
const LT = 4;
const PORT = 6881;
const hex = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b) : b).toString('hex');

let btdht: ForeignHost;
let lt: ForeignHost;
let ours: DhtNode;

test.before(async () => {
  const specs = (n: number, third: number): ForeignNodeSpec[] =>
    Array.from({ length: n }, (_, i) => ({ index: i, host: `127.151.${third}.${i + 1}`, port: PORT, id: randomId().toString('hex') }));
  const btSpecs = specs(BTDHT, 1);
  const ltSpecs = specs(LT, 2);
  [btdht, lt] = await Promise.all([
    ForeignHost.start('bittorrent-dht', btSpecs, { probeHost: '127.151.3.1' }),
    ForeignHost.start('libtorrent', ltSpecs, { probeHost: '127.151.3.2' }),
  ]);
  const contacts = (host: ForeignHost, list: ForeignNodeSpec[]): ForeignContact[] => list.map((s) => ({ id: host.ids().get(s.index)!, host: s.host, port: s.port }));
  const everyone = [...contacts(btdht, btSpecs), ...contacts(lt, ltSpecs)];
  const others = (host: string): ForeignContact[] => everyone.filter((c) => c.host !== host);
  await Promise.all([
    btdht.addContacts(new Map(btSpecs.map((s) => [s.index, others(s.host)]))),
    lt.addContacts(new Map(ltSpecs.map((s) => [s.index, others(s.host)]))),
  ]);
  ours = new DhtNode({
    host: '127.151.3.10',
    port: 0,
    bootstrap: [`${btSpecs[0]!.host}:${PORT}`, `${ltSpecs[0]!.host}:${PORT}`],
    addressScope: 'loopback',
    adoptBep42Id: false,
    readOnly: true,
  });
  await ours.start();
  const size = await ours.bootstrap({ signal: AbortSignal.timeout(20_000) });
  if (size < 8) throw new Error(`our client joined with ${size} contacts`);
});

test.after.always(async () => {
  await Promise.all([ours?.stop(), btdht?.stop(), lt?.stop()]);
});

/**
 * Whether the K = 8 foreign nodes closest to `target` include both implementations. A put lands
 * on those 8; with 10 bittorrent-dht and 4 libtorrent nodes at random IDs, 1.5% of targets have
 * no libtorrent node among them, and "stored by both" could not hold. Tests pick items whose
 * target passes, from the nodes' own IDs.
 */
function bothAmongClosest(target: Buffer): boolean {
  const distance = (idHex: string): Buffer => {
    const id = Buffer.from(idHex, 'hex');
    return Buffer.from(id.map((b, i) => b ^ target[i]!));
  };
  const nodes = [...[...btdht.ids().values()].map((id) => ({ kind: 'bt', d: distance(id) })), ...[...lt.ids().values()].map((id) => ({ kind: 'lt', d: distance(id) }))];
  const closest = nodes.sort((a, b) => Buffer.compare(a.d, b.d)).slice(0, 8);
  return closest.some((n) => n.kind === 'bt') && closest.some((n) => n.kind === 'lt');
}

/** How many foreign nodes hold the item in their own store, with these bytes (and seq). */
async function foreignHolders(targetHex: string, valueHex: string, seq?: number): Promise<{ bt: number; lt: number }> {
  const count = async (host: ForeignHost, n: number): Promise<number> => {
    const held = await Promise.all(Array.from({ length: n }, (_, i) => host.storedItem(i, targetHex)));
    return held.filter((h) => h !== null && h.valueBencodedHex === valueHex && h.seq === seq).length;
  };
  return { bt: await count(btdht, BTDHT), lt: await count(lt, LT) };
}

test.serial('immutable: our put is stored by both and read by both; what each of them puts, our get reads', async (t) => {
  t.timeout(120_000);
  let attempt = 0;
  while (!bothAmongClosest(createHash('sha1').update(encode({ attempt, list: [1, 2, Buffer.from([0xff, 0x00])], name: 'put by dhtscope' })).digest())) attempt++;
  const value = { attempt, list: [1, 2, Buffer.from([0xff, 0x00])], name: 'put by dhtscope' };
  const valueHex = hex(encode(value));
  const put = await ours.putImmutable(value);
  t.true(bothAmongClosest(put.target), 'the target chosen is the one put');
  t.true(put.storedAt.length >= 6, `${put.storedAt.length} acknowledgements`);
  const targetHex = hex(put.target);
  const held = await foreignHolders(targetHex, valueHex);
  t.log(`our put: ${put.storedAt.length} acknowledgements; held by ${held.bt} bittorrent-dht and ${held.lt} libtorrent nodes`);
  t.true(held.bt >= 1 && held.lt >= 1, 'stored by both implementations');
  t.is(held.bt + held.lt, put.storedAt.length, 'every acknowledging node holds it, and nothing else does');
  t.is(await btdht.getImmutable(4, targetHex), valueHex, 'bittorrent-dht reads our item');
  t.is(await lt.getImmutable(3, targetHex), valueHex, 'libtorrent reads our item');

  const btValue = hex(encode('put by bittorrent-dht'));
  const btPut = await btdht.putImmutable(2, btValue);
  const fromBt = await ours.get(Buffer.from(btPut.targetHex, 'hex'));
  t.is(fromBt.item && hex(fromBt.item.vBytes), btValue, 'we read what bittorrent-dht put');
  t.is(fromBt.invalid, 0);

  const ltValue = hex(encode({ by: 'libtorrent', n: -7 }));
  const ltPut = await lt.putImmutable(1, ltValue);
  t.true(ltPut.stored >= 4);
  const fromLt = await ours.get(Buffer.from(ltPut.targetHex, 'hex'));
  t.is(fromLt.item && hex(fromLt.item.vBytes), ltValue, 'we read what libtorrent put');
});

test.serial('mutable with a salt: our seq 1 then 2 is read as 2 by both; what each of them signs and puts, our get reads and verifies', async (t) => {
  t.timeout(120_000);
  const salt = Buffer.from('dhtscope-interop');
  let keys = generateKeyPair();
  while (!bothAmongClosest(mutableTarget(keys.publicKey, salt))) keys = generateKeyPair();
  const first = await ours.putMutable({ keyPair: keys, value: 'version one', salt });
  t.is(first.seq, 1);
  const second = await ours.putMutable({ keyPair: keys, value: 'version two', salt });
  t.is(second.seq, 2, 'the lookup found seq 1 at the foreign nodes');
  t.true(second.storedAt.length >= 6, `${second.storedAt.length} acknowledgements`);
  const targetHex = hex(mutableTarget(keys.publicKey, salt));
  const v2 = hex(encode('version two'));
  const held = await foreignHolders(targetHex, v2, 2);
  t.log(`our mutable put: held at seq 2 by ${held.bt} bittorrent-dht and ${held.lt} libtorrent nodes`);
  t.true(held.bt >= 1 && held.lt >= 1);
  const reader = { publicKeyHex: hex(keys.publicKey), saltHex: hex(salt) };
  t.deepEqual(await btdht.getMutable(5, reader), { valueBencodedHex: v2, seq: 2 }, 'bittorrent-dht reads seq 2');
  t.deepEqual(await lt.getMutable(2, reader), { valueBencodedHex: v2, seq: 2 }, 'libtorrent reads seq 2');

  // Their puts, signed with keys that never touched our code.
  const btKeys = generateKeyPair();
  const btValue = hex(encode({ by: 'bittorrent-dht', seq: 5 }));
  await btdht.putMutable(6, { seedHex: hex(btKeys.seed), publicKeyHex: hex(btKeys.publicKey), valueBencodedHex: btValue, saltHex: hex('s'), seq: 5 });
  const fromBt = await ours.get(mutableTarget(btKeys.publicKey, Buffer.from('s')), { salt: Buffer.from('s'), publicKey: btKeys.publicKey });
  t.like(fromBt.item, { seq: 5 });
  t.is(fromBt.item && hex(fromBt.item.vBytes), btValue);

  const ltKeys = generateKeyPair();
  const ltValue = hex(encode('put by libtorrent'));
  await lt.putMutable(0, { seedHex: hex(ltKeys.seed), publicKeyHex: hex(ltKeys.publicKey), valueBencodedHex: ltValue, seq: 1 });
  const fromLt = await ours.get(mutableTarget(ltKeys.publicKey), { publicKey: ltKeys.publicKey });
  t.like(fromLt.item, { seq: 1 });
  t.is(fromLt.item && hex(fromLt.item.vBytes), ltValue);
  t.is(fromLt.invalid, 0);
});
