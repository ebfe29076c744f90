import { type DhtNode } from '../../bep5/node.js';
import { type PeerAddress, decodeNodes, encodeNodes } from '../../bep5/compact.js';
import { compareDistance, idToHex } from '../../bep5/node-id.js';
import { Crawler } from '../../crawler/crawler.js';
import { type CrawlerOptions } from '../../crawler/crawler-types.js';
import { IdPartition } from '../../crawler/id-partition.js';
import { isBep42Compliant } from '../../bep5/bep42.js';
import { ExtensionTally } from '../../crawler/census.js';
import { BottomK, encodeSketch, nodeKeyHash } from '../../crawler/churn-sketch.js';
import { featureVerdict, NODE_FEATURE, NODE_FLAG, type NodeIndex } from '../../crawler/node-index.js';
import { summarizeSybilRegions } from '../../crawler/survey-summary.js';
import { FAMILY_ERROR_RATE, findSybilRegions } from '../../crawler/sybil.js';
import { type RedisClient } from '../../redis/client.js';
import { SURVEY_K } from './survey-plan.js';
import { type SurveyKeys } from './survey-keys.js';
import { PARTITION_RTT_SAMPLES, PARTITION_TOP_VERSIONS, type PartitionCensus, type PartitionResult, type TargetSample } from './survey-records.js';

/** How often a partition's crawl reads its inbox and passes contacts on (ms). */
export const SURVEY_EXCHANGE_MS = 250;
/** Contacts read from an inbox per round trip. */
const INBOX_BATCH = 2_000;

export interface PartitionCrawlOptions {
  node: DhtNode;
  redis: RedisClient;
  keys: SurveyKeys;
  bits: number;
  partition: number;
  process: string;
  bootstrap: PeerAddress[];
  /** The survey's targets (surveyTargets): the partition reports the K closest to those inside it. */
  targets: readonly Buffer[];
  /** Everything else the Crawler takes (rate, sink, …). */
  crawler: Omit<CrawlerOptions, 'node' | 'bootstrap' | 'partition' | 'onForeignContact'>;
  signal?: AbortSignal;
  /** Called with the crawler once it exists (progress display). */
  onCrawler?: (crawler: Crawler) => void;
}

/**
 * Crawls one partition of a shared survey: its own nodes, found from its inbox (contacts other
 * partitions passed on) or, while that is empty, by a lookup's hops from the bootstrap nodes.
 * Contacts of other partitions are passed on to their inboxes, not visited. Reading the inbox
 * never removes anything, so a crawl that dies is redone from the same contacts.
 */
export async function crawlPartition(o: PartitionCrawlOptions): Promise<PartitionResult> {
  const startedAt = Date.now();
  const partition = new IdPartition(o.bits, o.partition);
  const outbox = new Map<number, Buffer[]>();
  let forwarded = 0;
  let received = 0;
  const crawler = new Crawler({
    ...o.crawler,
    node: o.node,
    bootstrap: o.bootstrap,
    partition,
    onForeignContact: (id, host, port) => {
      const to = IdPartition.indexOf(id, o.bits);
      let list = outbox.get(to);
      if (list === undefined) outbox.set(to, (list = []));
      // One compact contact per item: 26 bytes for IPv4, 38 for IPv6 (BEP 32's nodes6 form).
      list.push(encodeNodes([{ id, host, port }], host.includes(':') ? 6 : 4));
    },
  });
  o.onCrawler?.(crawler);

  let cursor = 0;
  let done = new Set<string>();
  const exchangeOnce = async (): Promise<number> => {
    // Pass contacts on; those for partitions already done are counted, not stored.
    if (outbox.size > 0) {
      done = new Set(await o.redis.smembers(o.keys.done));
      const batch = o.redis.multi();
      let late = 0;
      for (const [to, items] of outbox) {
        if (done.has(String(to))) late += items.length;
        else batch.rpush(o.keys.inbox(to), ...items);
        forwarded += items.length;
      }
      if (late > 0) batch.incrby(o.keys.late, late);
      outbox.clear();
      await batch.exec();
    }
    let added = 0;
    for (;;) {
      const items = await o.redis.lrangeBuffer(o.keys.inbox(o.partition), cursor, cursor + INBOX_BATCH - 1);
      cursor += items.length;
      received += items.length;
      const contacts = items.flatMap((b) => (b.length === 26 ? decodeNodes(b, 4) : b.length === 38 ? decodeNodes(b, 6) : []));
      added += crawler.addContacts(contacts.filter((c) => partition.contains(c.id)));
      if (items.length < INBOX_BATCH) return added;
    }
  };

  // One exchange at a time: two reading the inbox from one cursor would skip contacts.
  let last: Promise<number> = Promise.resolve(0);
  let busy = false;
  const exchange = (): Promise<number> => {
    last = last.catch(() => 0).then(async () => {
      busy = true;
      try {
        return await exchangeOnce();
      } finally {
        busy = false;
      }
    });
    return last;
  };
  await exchange();
  const timer = setInterval(() => {
    if (!busy) exchange().catch(() => undefined);
  }, SURVEY_EXCHANGE_MS);
  try {
    await crawler.sweep(o.signal);
    // Contacts that came in after the sweep ran dry: go on with them, then look again.
    while (!o.signal?.aborted && (await exchange()) > 0) await crawler.sweep(o.signal, { resume: true });
  } finally {
    clearInterval(timer);
    crawler.detach();
  }
  await exchange();

  const progress = crawler.progress();
  const nodes = crawler.nodes;
  let known = 0;
  let answered = 0;
  let bep51 = 0;
  let noBep51 = 0;
  const mine: number[] = [];
  for (let i = 0; i < nodes.size; i++) {
    const f = nodes.flags(i);
    if (f & NODE_FLAG.FOREIGN) continue;
    known++;
    if (f & NODE_FLAG.ANSWERED) {
      answered++;
      mine.push(i);
    }
    if (f & NODE_FLAG.BEP51) bep51++;
    if (f & NODE_FLAG.NO_BEP51) noBep51++;
  }
  const census = partitionCensus(nodes);
  // Who answered, as a sample the next survey's churn compares with (crawler/churn-sketch.ts).
  const sketch = new BottomK();
  const ip = Buffer.alloc(4);
  for (const i of mine) sketch.add(nodeKeyHash(nodes.id(i), nodes.ipBytes(i, ip), nodes.port(i)));
  // Sybil regions among the partition's IDs (every one heard of, as measure's census scans).
  // The partition is 1/2^bits of the ID space: the density to test against is its own IDs
  // scaled to the whole space, and each partition gets its share of the false-flag rate, so
  // that the whole survey keeps the one crawler/sybil.ts allows a whole-space scan.
  const ids = partitionIds(nodes);
  const sybil = ids.size >= 16 ? findSybilRegions(ids, ids.size * 2 ** o.bits, { familyErrorRate: FAMILY_ERROR_RATE / 2 ** o.bits }) : null;
  const targets: TargetSample[] = [];
  o.targets.forEach((target, t) => {
    if (!partition.contains(target)) return;
    const closest = mine
      .map((i) => nodes.id(i))
      .sort((a, b) => compareDistance(target, a, b))
      .slice(0, SURVEY_K)
      .map(idToHex);
    targets.push({ target: t, closest });
  });
  return {
    partition: o.partition,
    process: o.process,
    startedAt,
    ms: Date.now() - startedAt,
    known,
    answered,
    bep51,
    noBep51,
    queries: progress.queriesSent,
    descentQueries: crawler.descentQueriesSent,
    samplesAsked: progress.samplesAsked,
    infohashes: progress.infohashes,
    forwarded,
    received,
    timeoutsDuringDrops: progress.timeoutsDuringDrops,
    targets,
    census,
    answeredSketch: encodeSketch(sketch.sorted()),
    ...(sybil === null ? {} : { sybilRegions: summarizeSybilRegions(sybil.regions, sybil.regionsFound).sybilRegions ?? [] }),
  };
}

/** The partition's nodes (not the foreign ones) as crawler/sybil.ts reads IDs. */
function partitionIds(nodes: NodeIndex): { size: number; id(i: number): Uint8Array; ipv4(i: number): number } {
  const own: number[] = [];
  for (let i = 0; i < nodes.size; i++) if (!nodes.hasFlag(i, NODE_FLAG.FOREIGN)) own.push(i);
  return { size: own.length, id: (i) => nodes.id(own[i]!), ipv4: (i) => nodes.ipv4(own[i]!) };
}

/** The partition's share of the census: its own nodes that were queried (as the census counts them). */
function partitionCensus(nodes: NodeIndex): PartitionCensus {
  const versions = new Map<number, number>();
  const rtts: number[] = [];
  const ip = Buffer.alloc(4);
  const c = { nodes: 0, answered: 0, withVersion: 0, bep42: 0, supported: 0, unsupported: 0, unknown: 0 };
  const bep32 = new ExtensionTally();
  const bep33 = new ExtensionTally();
  for (let i = 0; i < nodes.size; i++) {
    const f = nodes.flags(i);
    if (f & NODE_FLAG.FOREIGN || !(f & (NODE_FLAG.QUERIED | NODE_FLAG.ANSWERED))) continue;
    c.nodes++;
    const features = nodes.features(i);
    bep32.add(featureVerdict(features, NODE_FEATURE.BEP32, NODE_FEATURE.NO_BEP32));
    bep33.add(featureVerdict(features, NODE_FEATURE.BEP33, NODE_FEATURE.NO_BEP33));
    const answered = (f & NODE_FLAG.ANSWERED) !== 0;
    if (answered) {
      c.answered++;
      if (nodes.rttMs(i) > 0) rtts.push(nodes.rttMs(i));
      if (f & NODE_FLAG.BEP42) c.bep42++;
    } else {
      if (isBep42Compliant(nodes.id(i), nodes.ipBytes(i, ip))) c.bep42++;
    }
    if (f & NODE_FLAG.BEP51) c.supported++;
    else if (f & NODE_FLAG.NO_BEP51) c.unsupported++;
    else c.unknown++;
    const v = nodes.version(i);
    if (v !== 0) {
      c.withVersion++;
      versions.set(v, (versions.get(v) ?? 0) + 1);
    }
  }
  const top = [...versions].sort((a, b) => b[1] - a[1]).slice(0, PARTITION_TOP_VERSIONS);
  const step = Math.max(1, rtts.length / PARTITION_RTT_SAMPLES);
  const rttSample: number[] = [];
  for (let k = 0; Math.floor(k) < rtts.length && rttSample.length < PARTITION_RTT_SAMPLES; k += step) rttSample.push(rtts[Math.floor(k)]!);
  return {
    nodes: c.nodes,
    answered: c.answered,
    withVersion: c.withVersion,
    versions: Object.fromEntries(top.map(([v, n]) => [nodes.versions[v]!, n])),
    bep51: { supported: c.supported, unsupported: c.unsupported, unknown: c.unknown },
    bep42: c.bep42,
    bep32: { supported: bep32.supported, unsupported: bep32.unsupported },
    bep33: { supported: bep33.supported, unsupported: bep33.unsupported },
    rttSample,
    rttSamples: rtts.length,
  };
}
