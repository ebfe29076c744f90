import { type DhtNode } from '../../bep5/node.js';
import { type PeerAddress, decodeNodes, encodeNodes } from '../../bep5/compact.js';
import { compareDistance, idToHex } from '../../bep5/node-id.js';
import { Crawler } from '../../crawler/crawler.js';
import { type CrawlerOptions } from '../../crawler/crawler-types.js';
import { IdPartition } from '../../crawler/id-partition.js';
import { NODE_FLAG } from '../../crawler/node-index.js';
import { type RedisClient } from '../../redis/client.js';
import { SURVEY_K } from './survey-plan.js';
import { type SurveyKeys } from './survey-keys.js';
import { type PartitionResult, type TargetSample } from './survey-records.js';

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
      list.push(encodeNodes([{ id, host, port }], 4));
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
      const contacts = items.filter((b) => b.length === 26).flatMap((b) => decodeNodes(b, 4));
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
  };
}
