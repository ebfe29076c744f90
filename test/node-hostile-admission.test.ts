/**
 * Hostile traffic at a whole running DhtNode, what it lets in: an unknown querier is pinged
 * (once) before it may enter the table, on its first query if near or into an empty table,
 * else on its second; announce_peer checks tokens and ports, and get_peers scrapes (BEP 33) and
 * sample_infohashes reports (BEP 51) what was stored; the 'announce' event reports accepted
 * announces only. Serial, like the other node-hostile-*.test.ts files.
 */
import test from 'ava';
import { type BencodeDict, encode } from '../bep5/bencode.js';
import { ScrapeBloom } from '../bep5/bloom.js';
import { decodePeer } from '../bep5/compact.js';
import { DEFAULT_SAMPLE_INTERVAL_SECONDS } from '../bep5/constants.js';
import { parseIp } from '../bep5/ip.js';
import { randomId } from '../bep5/node-id.js';
import { ask, bytes, drain, errorCode, q, r, rawPeer, startNode, tokenFor, y } from './helpers/node-hostile.js';
import { pollUntil } from './helpers/wait.js';

/** A random ID sharing exactly its first `bits` bits with `self`. */
function idSharing(self: Buffer, bits: number): Buffer {
  const id = randomId();
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >>> (i & 7);
    id[i >>> 3] = (id[i >>> 3]! & ~mask) | (self[i >>> 3]! & mask);
  }
  const mask = 0x80 >>> (bits & 7);
  id[bits >>> 3] = (id[bits >>> 3]! & ~mask) | (~self[bits >>> 3]! & mask);
  return id;
}

test.serial('an unknown querier is pinged on its first query if near us or the table is empty, else on its second, and once', async (t) => {
  const { node, at } = await startNode(t);
  // Into an empty table: the first query draws the ping at once.
  const early = await rawPeer(t);
  const earlyQueries: BencodeDict[] = [];
  await ask(early, at, q('ping', { id: randomId() }), earlyQueries);
  await pollUntil(() => {
    drain(early, earlyQueries);
    return earlyQueries.length > 0;
  }, 'the ping of the first querier', 2_000, 10);
  t.deepEqual(earlyQueries.map((d) => bytes(d.q).toString()), ['ping'], 'first query into an empty table');

  // A table of several buckets, 4 contacts in the farthest (IDs differing in the first bit).
  for (let bits = 0; bits < 6; bits++) {
    for (let i = 0; i < 4; i++) node.table()!.recordResponse({ id: idSharing(node.id, bits), host: `127.9.${bits}.${i + 1}`, port: 6881 });
  }
  const far = (): Buffer => idSharing(node.id, 0);
  t.true(node.table()!.bucketsFromNearest(far()) >= 2, 'the far bucket is not among the nearest two');
  t.is(node.table()!.bucketFill(far()), 4);

  // A far querier passing by is not pinged for one query: the node decides on a ping as it
  // answers, so a ping drawn by the first query would arrive before the answer to the second
  // (`ask` collects it on the way)...
  const passer = await rawPeer(t);
  const passerId = far();
  const passerQueries: BencodeDict[] = [];
  await ask(passer, at, q('find_node', { id: passerId, target: randomId() }), passerQueries);
  const afterFirst: BencodeDict[] = [];
  await ask(passer, at, q('get_peers', { id: passerId, info_hash: randomId() }), afterFirst);
  t.deepEqual(afterFirst, [], 'no ping after one query');

  // ...but on its second query it is, and answering puts it in the table.
  await pollUntil(() => {
    drain(passer, passerQueries);
    return passerQueries.length > 0;
  }, 'the ping after the second query', 2_000, 10);
  t.deepEqual(passerQueries.map((d) => bytes(d.q).toString()), ['ping'], 'one ping after the second query');
  await passer.send(encode({ t: bytes(passerQueries[0]!.t), y: 'r', r: { id: passerId } }), at.port, at.host);
  await pollUntil(() => node.table()!.get(passerId) !== undefined, 'the passer to enter the table', 2_000, 10);
  t.truthy(node.table()!.get(passerId));

  // A near querier (sharing 20 bits with us) is pinged on its first query.
  const neighbour = await rawPeer(t);
  const neighbourQueries: BencodeDict[] = [];
  await ask(neighbour, at, q('find_node', { id: idSharing(node.id, 20), target: randomId() }), neighbourQueries);
  await pollUntil(() => {
    drain(neighbour, neighbourQueries);
    return neighbourQueries.length > 0;
  }, 'the ping of the near querier', 2_000, 10);
  t.deepEqual(neighbourQueries.map((d) => bytes(d.q).toString()), ['ping'], 'near: pinged on the first query');

  // A far querier that never answers gets exactly one ping however often it asks.
  const silent = await rawPeer(t);
  const silentId = far();
  const silentQueries: BencodeDict[] = [];
  for (let i = 0; i < 5; i++) await ask(silent, at, q('ping', { id: silentId }), silentQueries);
  // One more query: its answer comes after any ping the five drew (collected on the way).
  await ask(silent, at, q('find_node', { id: silentId, target: randomId() }), silentQueries);
  drain(silent, silentQueries);
  t.deepEqual(silentQueries.map((d) => bytes(d.q).toString()), ['ping']);
});

test.serial('announce_peer checks tokens and ports; get_peers scrapes; sample_infohashes reports', async (t) => {
  const { node, at } = await startNode(t);
  const a = await rawPeer(t);
  const b = await rawPeer(t);
  const aId = randomId();
  const bId = randomId();
  const infoHash = randomId();

  const first = r(await ask(a, at, q('get_peers', { id: aId, info_hash: infoHash })));
  const aToken = bytes(first.token);
  t.is(first.values, undefined);
  t.is(first.BFsd, undefined);
  t.is(first.BFpe, undefined);
  t.true(Buffer.isBuffer(first.nodes), 'nodes present (empty) so the reply is a valid get_peers answer');
  const bToken = bytes(r(await ask(b, at, q('get_peers', { id: bId, info_hash: infoHash }))).token);
  t.notDeepEqual(aToken, bToken, 'tokens are per IP');

  // A forged token, and a real token presented from another IP: 203, nothing stored.
  for (const [what, token] of [
    ['forged', randomId().subarray(0, 8)],
    ["b's token from a", bToken],
  ] as const) {
    const e = await ask(a, at, q('announce_peer', { id: aId, info_hash: infoHash, port: 6881, token }));
    t.is(y(e), 'e', what);
    t.is(errorCode(e), 203, what);
  }
  t.false(node.store.has(infoHash));

  // Port 0 without implied_port: 203, nothing stored.
  const zero = await ask(a, at, q('announce_peer', { id: aId, info_hash: infoHash, port: 0, token: aToken }));
  t.is(errorCode(zero), 203);
  t.false(node.store.has(infoHash));

  // implied_port: the datagram's source port is stored, whatever `port` says.
  const implied = await ask(a, at, q('announce_peer', { id: aId, info_hash: infoHash, port: 0, implied_port: 1, token: aToken }));
  t.is(y(implied), 'r');
  t.deepEqual(node.store.getPeers(infoHash, { family: 4, max: 10 }), [{ host: a.host, port: a.port }]);
  // b announces as a seed, with an explicit port.
  const seed = await ask(b, at, q('announce_peer', { id: bId, info_hash: infoHash, port: 51413, seed: 1, token: bToken }));
  t.is(y(seed), 'r');
  t.is(node.store.count(infoHash), 2);

  // BEP 33 scrape: two 256-byte filters, the seed in BFsd, the other in BFpe, beside the values.
  const scraped = r(await ask(a, at, q('get_peers', { id: aId, info_hash: infoHash, scrape: 1 })));
  const bfsd = bytes(scraped.BFsd);
  const bfpe = bytes(scraped.BFpe);
  t.is(bfsd.length, 256);
  t.is(bfpe.length, 256);
  t.true(ScrapeBloom.from(bfsd).mayContain(parseIp(b.host)!));
  t.true(ScrapeBloom.from(bfpe).mayContain(parseIp(a.host)!));
  t.is(Math.round(ScrapeBloom.from(bfsd).estimate()), 1);
  t.is(Math.round(ScrapeBloom.from(bfpe).estimate()), 1);
  const values = (scraped.values as Buffer[]).map((v) => decodePeer(v));
  t.deepEqual(
    values.map((p) => `${p.host}:${p.port}`).sort(),
    [`${a.host}:${a.port}`, `${b.host}:51413`].sort(),
  );
  // No filters for an infohash the node does not store (BEP 33).
  const unknown = r(await ask(a, at, q('get_peers', { id: aId, info_hash: randomId(), scrape: 1 })));
  t.is(unknown.BFsd, undefined);
  t.is(unknown.BFpe, undefined);

  // BEP 51.
  const sample = r(await ask(a, at, q('sample_infohashes', { id: aId, target: randomId() })));
  t.is(sample.num, 1);
  t.is(sample.interval, DEFAULT_SAMPLE_INTERVAL_SECONDS);
  t.deepEqual(bytes(sample.samples), infoHash);
  t.true(Buffer.isBuffer(sample.nodes));
});

test.serial("the 'announce' event reports only announces the node accepted, not forged ones", async (t) => {
  // DhtNodeEvents.announce is what passive observers (the crawler, an indexer) record. An
  // announce_peer with a bad token proves nothing about its source address (it can be sent
  // with a spoofed source IP), is answered with 203 and is not stored, so it must not be
  // reported either.
  const { node, at } = await startNode(t);
  const a = await rawPeer(t);
  const id = randomId();
  const infoHash = randomId();
  const events: string[] = [];
  node.on('announce', (e) => events.push(`${e.peer.host}:${e.peer.port}${e.seed ? ' seed' : ''}`));
  const token = await tokenFor(a, at, id);

  const forged = await ask(a, at, q('announce_peer', { id, info_hash: infoHash, port: 6881, token: Buffer.alloc(8, 0x5a) }));
  t.is(errorCode(forged), 203);
  t.false(node.store.has(infoHash));
  t.deepEqual(events, [], 'a rejected announce_peer (bad token) was reported as an announce');

  const ok = await ask(a, at, q('announce_peer', { id, info_hash: infoHash, port: 6881, seed: 1, token }));
  t.is(y(ok), 'r');
  t.deepEqual(events.slice(-1), [`${a.host}:6881 seed`]);
});
