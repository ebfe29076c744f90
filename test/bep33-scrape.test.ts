import test from 'ava';
import { ScrapeBloom } from '../bep5/bloom.js';
import { DhtNode } from '../bep5/node.js';
import { randomId } from '../bep5/node-id.js';
import { ScrapeTally } from '../bep5/scrape-tally.js';
import { type ForeignContact, ForeignHost, type ForeignNodeSpec } from '../crawler/testnet/foreign-host.js';
import { newBatchId } from '../indexer/batch-id.js';
import { getIndexedInfohash } from '../indexer/indexed-reads.js';
import { IndexKeys } from '../indexer/keys.js';
import { SHARDED_SCHEMA_VERSION, applyShardedBatch } from '../indexer/sharded-apply.js';
import { ShardedIndexKeys } from '../indexer/sharded-keys.js';
import { setShardedSchemaVersion } from '../indexer/sharded-queries.js';
import { createPeerLookupProcessor } from '../workers/peer-lookup-processor.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';

/**
 * BEP 33's client side: ScrapeTally's union of filters, and the peer-lookup worker's estimates
 * against ground truth on a network where only libtorrent nodes store announces: known numbers of
 * seeders and leechers (our nodes, each on its own 127.153.x.y address, since the filters count
 * IPs) announce an infohash to 6 libtorrent 2.0.8 nodes and leave; the worker's lookup (the real
 * processor, a real DhtNode, a real redis-server) asks the libtorrent nodes for their filters.
 */

const redis = useRedisServer(test);

const node = (host: string, port = 6881): { id: Buffer; host: string; port: number } => ({ id: randomId(), host, port });

function filterOf(hosts: readonly string[]): Buffer {
  const f = new ScrapeBloom();
  for (const h of hosts) f.insertHost(h);
  return f.toBuffer();
}

/** BEP 33's estimator on a set of known IPs: what a perfect union of every stored filter reads. */
function idealEstimate(hosts: readonly string[]): number {
  return ScrapeBloom.from(filterOf(hosts)).estimate();
}

test('the tally ORs every node\'s filters, and counts a legacy node\'s peers as leechers unless a seed filter has them', (t) => {
  const seeds = Array.from({ length: 40 }, (_, i) => `10.1.0.${i + 1}`);
  const leechers = Array.from({ length: 60 }, (_, i) => `10.2.0.${i + 1}`);
  const tally = new ScrapeTally();
  // Two nodes hold overlapping halves of each set: the union counts each IP once.
  const a = node('192.0.2.1');
  const b = node('192.0.2.2');
  tally.add({ type: 'scrape', seeds: filterOf(seeds.slice(0, 30)), peers: filterOf(leechers.slice(0, 40)), from: a });
  tally.add({ type: 'scrape', seeds: filterOf(seeds.slice(10)), peers: filterOf(leechers.slice(20)), from: b });
  // Peers from a node that sent filters are already in them.
  tally.add({ type: 'peers', peers: [{ host: '10.9.9.9', port: 1 }], from: a });
  // A legacy node: values only. One of its peers is a known seed (not counted again), 5 are new leechers.
  const legacy = node('192.0.2.3');
  tally.add({ type: 'peers', peers: [{ host: seeds[0]!, port: 1 }, ...Array.from({ length: 5 }, (_, i) => ({ host: `10.3.0.${i + 1}`, port: 1 }))], from: legacy });
  const e = tally.estimate();
  t.is(e.filterNodes, 2);
  t.is(e.legacyNodes, 1);
  t.is(e.seeders, idealEstimate(seeds));
  t.is(e.leechers, idealEstimate([...leechers, ...Array.from({ length: 5 }, (_, i) => `10.3.0.${i + 1}`)]));
  t.true(Math.abs(e.seeders - 40) < 3 && Math.abs(e.leechers - 65) < 4, `estimates ${e.seeders} / ${e.leechers}`);

  // A node that first answered with values and later with filters is not counted twice.
  const late = new ScrapeTally();
  late.add({ type: 'peers', peers: [{ host: '10.4.0.1', port: 1 }], from: a });
  late.add({ type: 'scrape', seeds: filterOf([]), peers: filterOf(['10.4.0.1']), from: a });
  t.like(late.estimate(), { filterNodes: 1, legacyNodes: 0 });
  t.is(Math.round(late.estimate().leechers), 1);
  t.is(new ScrapeTally().estimate().seeders, 0, 'nothing heard: 0, not NaN');
});

const LT = 6;
const SEEDERS = 20;
const LEECHERS = 35;

let lt: ForeignHost;
let ltContacts: ForeignContact[];

test.before(async () => {
  const specs: ForeignNodeSpec[] = Array.from({ length: LT }, (_, i) => ({ index: i, host: `127.153.2.${i + 1}`, port: 6881, id: randomId().toString('hex') }));
  lt = await ForeignHost.start('libtorrent', specs, { probeHost: '127.153.3.9' });
  ltContacts = specs.map((s) => ({ id: lt.ids().get(s.index)!, host: s.host, port: s.port }));
  const taken = await lt.addContacts(new Map(specs.map((s) => [s.index, ltContacts.filter((c) => c.host !== s.host)])));
  for (const n of taken.values()) if (n < (LT - 1) / 2) throw new Error(`a libtorrent node took only ${n} of ${LT - 1} contacts`);
});

test.after.always(async () => {
  await lt?.stop();
});

/** A node of ours on `host`, joined to the libtorrent nodes. */
async function ourNode(host: string): Promise<DhtNode> {
  const n = new DhtNode({ host, port: 0, allowPrivate: true, adoptBep42Id: false, bootstrap: ltContacts.map((c) => `${c.host}:${c.port}`) });
  await n.start();
  await n.bootstrap({ signal: AbortSignal.timeout(20_000) });
  return n;
}

test.serial('the peer-lookup worker stores seeders and leechers within BEP 33\'s error of what announced, from libtorrent\'s filters', async (t) => {
  t.timeout(180_000);
  const infoHash = randomId();
  const hex = infoHash.toString('hex');
  const seederHosts = Array.from({ length: SEEDERS }, (_, i) => `127.153.10.${i + 1}`);
  const leecherHosts = Array.from({ length: LEECHERS }, (_, i) => `127.153.11.${i + 1}`);

  // Each announcer announces and leaves, so only the libtorrent nodes hold the swarm. Twenty at a
  // time: libtorrent's per-IP limits are lifted on loopback, not its patience.
  const announced = { seeders: 0, leechers: 0, toLibtorrent: 0 };
  const all = [...seederHosts.map((h) => ({ host: h, seed: true })), ...leecherHosts.map((h) => ({ host: h, seed: false }))];
  for (let i = 0; i < all.length; i += 20) {
    await Promise.all(
      all.slice(i, i + 20).map(async ({ host, seed }) => {
        const n = await ourNode(host);
        try {
          // Up to 3 tries: on a loaded machine one lookup can time out on every libtorrent node.
          for (let attempt = 0; attempt < 3; attempt++) {
            const out = await n.announce(infoHash, { port: 6881, seed, signal: AbortSignal.timeout(30_000) });
            const toLt = out.announced.filter((a) => a.host.startsWith('127.153.2.')).length;
            if (toLt > 0) {
              announced[seed ? 'seeders' : 'leechers']++;
              announced.toLibtorrent += toLt;
              break;
            }
          }
        } finally {
          await n.stop();
        }
      }),
    );
  }
  t.log(`announced to libtorrent: ${announced.seeders} of ${SEEDERS} seeders, ${announced.leechers} of ${LEECHERS} leechers (${announced.toLibtorrent} announces)`);
  t.is(announced.seeders, SEEDERS, 'every seeder reached a libtorrent node');
  t.is(announced.leechers, LEECHERS, 'every leecher reached a libtorrent node');

  // The worker: a record for the infohash (estimates are kept only with one), then one job.
  const c = redis.client(t);
  const keys = new IndexKeys(randomPrefix());
  const sharded = ShardedIndexKeys.of(keys.prefix);
  await setShardedSchemaVersion(c, sharded, SHARDED_SCHEMA_VERSION);
  const now = Date.now();
  await applyShardedBatch(c, [{ type: 'infohash', infohash: hex, node: '127.153.2.1:6881', source: 'sample', at: now }], { keys: sharded, batchId: newBatchId(), now });
  const worker = await ourNode('127.153.3.1');
  t.teardown(() => worker.stop());
  const processor = createPeerLookupProcessor({ node: worker, client: c, keys, timeoutMs: 30_000 });
  const result = await processor({ data: { infohash: hex }, id: `${hex}-scrape` });
  t.log(`worker: ${JSON.stringify(result)}`);
  t.truthy(result.swarm);
  t.true(result.swarm!.filterNodes >= 1, 'libtorrent nodes answered the scrape with filters');

  const record = await getIndexedInfohash(c, sharded, hex, { now: Date.now() });
  const swarm = record!.swarm!;
  t.truthy(swarm, 'the estimate is in the index');
  t.true(Math.abs(swarm.at - Date.now()) < 5 * 60_000, 'taken now (to the minute)');
  // BEP 33's estimator is deterministic for a set of IPs: the union of every filter reads
  // idealEstimate. A node the lookup missed can only lower it; hash collisions are already in
  // the ideal. Allowed: the ideal, rounded, give or take 10% of the truth for a missed holder.
  const check = (what: string, got: number, hosts: readonly string[]): void => {
    const ideal = idealEstimate(hosts);
    t.true(Math.abs(got - Math.round(ideal)) <= Math.max(2, Math.ceil(hosts.length * 0.1)), `${what}: stored ${got}, ideal ${ideal.toFixed(2)}, truth ${hosts.length}`);
  };
  check('seeders', swarm.seeders, seederHosts);
  check('leechers', swarm.leechers, leecherHosts);
  t.log(`stored: ${swarm.seeders} seeders, ${swarm.leechers} leechers; truth ${SEEDERS} and ${LEECHERS}`);

  // node.scrape() tells who answered: the filters came from libtorrent, the only stores.
  const direct = await worker.scrape(infoHash, { signal: AbortSignal.timeout(30_000) });
  t.true(direct.filterNodes >= 1 && direct.lookup.answered >= 1);
  check('seeders, by node.scrape()', Math.round(direct.seeders), seederHosts);
});
