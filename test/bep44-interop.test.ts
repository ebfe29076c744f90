/**
 * BEP 44 against an independent implementation: bittorrent-dht 11.0.12 (webtorrent), whose
 * get / put follow the BEP with its own bencode and its own signing buffer. Items put by our
 * client are read by its client from our nodes, and items its client puts are stored by our
 * nodes and found by our client: targets, signing buffers and wire fields agree both ways.
 * (Typed through a local interface: only the calls made here.)
 */
import test from 'ava';
import DHT from 'bittorrent-dht';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { encode } from '../bep5/bencode.js';
import { immutableTarget, mutableTarget } from '../bep5/bep44.js';
import { DhtNode } from '../bep5/node.js';
import { loopbackHost } from './helpers/udp.js';
import { pollValue } from './helpers/wait.js';

interface TheirGetResult {
  v: Buffer;
  k?: Buffer;
  seq?: number;
  sig?: Buffer;
}

interface TheirBep44 {
  put(opts: { v: Buffer; k?: Buffer; seq?: number; salt?: Buffer; sign?: (message: Buffer) => Buffer }, cb: (err: Error | null, key: Buffer, n: number) => void): void;
  get(key: Buffer, opts: { salt?: Buffer; cache?: boolean }, cb: (err: Error | null, res: TheirGetResult | null) => void): void;
  listen(port: number, host: string, cb: () => void): void;
  once(event: 'ready', cb: () => void): void;
  on(event: 'error' | 'warning', cb: (err: Error) => void): void;
  address(): { port: number };
  destroy(cb: () => void): void;
}

const theirVerify = (sig: Buffer, message: Buffer, k: Buffer): boolean =>
  verify(null, message, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.toString('base64url') }, format: 'jwk' }), sig);

/** A raw ed25519 key pair: our seed and public key, and a signer for their put. */
function keyPair(): { seed: Buffer; publicKey: Buffer; signer: (m: Buffer) => Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { seed: Buffer.from(jwk.d!, 'base64url'), publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'), signer: (m) => sign(null, m, privateKey) };
}

const ours: DhtNode[] = [];
let theirs: TheirBep44;
let theirsAt = '';

test.before(async () => {
  const host = loopbackHost();
  const options = { bootstrap: false, timeout: 1_000, verify: theirVerify } as unknown as ConstructorParameters<typeof DHT>[0];
  theirs = new DHT(options) as unknown as TheirBep44;
  theirs.on('error', () => undefined);
  theirs.on('warning', () => undefined);
  await Promise.all([new Promise<void>((resolve) => theirs.listen(0, host, resolve)), new Promise<void>((resolve) => theirs.once('ready', resolve))]);
  theirsAt = `${host}:${theirs.address().port}`;
  for (let i = 0; i < 6; i++) {
    const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [theirsAt], allowPrivate: true, adoptBep42Id: false, outgoingRate: 10_000, outgoingBurst: 10_000, queryTimeoutMs: 1_000 });
    await node.start();
    ours.push(node);
  }
  await Promise.all(ours.map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
  await Promise.all(ours.map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
});

test.after.always(async () => {
  await Promise.all(ours.map((n) => n.stop()));
  await new Promise<void>((resolve) => theirs.destroy(resolve));
});

const theirGet = (key: Buffer, salt?: Buffer): Promise<TheirGetResult | null> =>
  new Promise((resolve, reject) => theirs.get(key, { cache: false, ...(salt ? { salt } : {}) }, (err, res) => (err ? reject(err) : resolve(res))));

const theirPut = (opts: Parameters<TheirBep44['put']>[0]): Promise<number> =>
  new Promise((resolve, reject) => theirs.put(opts, (err, _key, n) => (err ? reject(err) : resolve(n))));

test.serial('ours put, theirs get: immutable and mutable (with salt) items', async (t) => {
  const put = await ours[0]!.putImmutable(Buffer.from('stored by dhtscope'));
  t.true(put.storedAt.length >= 4);
  const got = await pollValue('their get to find our immutable item', () => theirGet(put.target), (r) => r !== null, 20_000);
  t.is(got!.v.toString(), 'stored by dhtscope');

  const keys = keyPair();
  const salt = Buffer.from('interop');
  const m1 = await ours[1]!.putMutable({ seed: keys.seed, value: Buffer.from('first'), salt });
  const m2 = await ours[2]!.putMutable({ seed: keys.seed, value: Buffer.from('second'), salt });
  t.deepEqual([m1.seq, m2.seq], [1, 2]);
  const mutable = await pollValue('their get to find seq 2', () => theirGet(mutableTarget(keys.publicKey, salt), salt), (r) => r?.seq === 2, 20_000);
  t.is(mutable!.v.toString(), 'second');
  t.true(mutable!.k!.equals(keys.publicKey));
});

test.serial('theirs put, ours get: immutable and mutable (with salt) items, stored by our nodes', async (t) => {
  const value = Buffer.from('stored by bittorrent-dht');
  t.true((await theirPut({ v: value })) >= 1);
  const target = immutableTarget(encode(value));
  const got = await pollValue('our get to find their immutable item', () => ours[5]!.get(target), (r) => r.item !== undefined, 20_000);
  t.true(got.item!.vBytes.equals(encode(value)));
  t.true(ours.some((n) => n.items.get(target) !== undefined), 'held by one of our nodes');

  const keys = keyPair();
  const salt = Buffer.from('from them');
  t.true((await theirPut({ v: Buffer.from('their first'), k: keys.publicKey, seq: 4, salt, sign: keys.signer })) >= 1);
  const mutable = await pollValue(
    'our get to find their mutable item',
    () => ours[4]!.get(mutableTarget(keys.publicKey, salt), { salt }),
    (r) => r.item?.seq === 4,
    20_000,
  );
  t.is(mutable.item!.vBytes.toString(), '11:their first');
  t.is(mutable.invalid, 0);
  // Our update of their item: seq 5 by default, accepted by their node as well as ours.
  const update = await ours[3]!.putMutable({ seed: keys.seed, value: Buffer.from('our second'), salt });
  t.is(update.seq, 5);
  t.deepEqual(update.errors, {});
  const after = await pollValue('their get to find seq 5', () => theirGet(mutableTarget(keys.publicKey, salt), salt), (r) => r?.seq === 5, 20_000);
  t.is(after!.v.toString(), 'our second');
});
