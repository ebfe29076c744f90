import { DEFAULT_MAX_INFLIGHT } from '../bep5/constants.js';
import { type PeerAddress } from '../bep5/compact.js';
import { type DatagramSocket } from '../bep5/krpc-socket-types.js';
import { DhtNode } from '../bep5/node.js';
import { type Crawler } from '../crawler/crawler.js';
import { CRAWL_RECV_BUFFER_BYTES } from '../crawler/constants.js';
import { type NdjsonFileSink } from '../crawler/ndjson-sink.js';
import { SurveyKeys } from '../workers/survey/survey-keys.js';
import { runSurveyProcess, type SurveyProcessSummary } from '../workers/survey/survey-process.js';
import { SurveyPlanMismatchError } from '../workers/survey/survey-plan.js';
import { type AddressScope } from '../bep5/address-scope.js';
import { CommandError, UsageError } from './errors.js';
import { openIndex, type IndexOptionValues } from './index-options.js';
import { type BindHost, onStopSignal, startNode } from './node-options.js';
import { type CrawlFamilies, boundText, crawlBindOptions, familiesText } from './crawl-shared.js';
import { StatusLine, count, duration } from './status-line.js';

export interface SurveyCrawlOptions {
  name: string;
  index: IndexOptionValues;
  bits: number | undefined;
  concurrency: number;
  lockMs: number;
  bind: BindHost;
  /** The families crawled and the IPv6 bind (cli/crawl-shared.ts crawlFamilies). */
  crawl: CrawlFamilies;
  port: number;
  bootstrapEntries: string[];
  addresses: PeerAddress[];
  addressScope?: AddressScope;
  socketFactory?: () => DatagramSocket;
  crawler: { rate: number; maxInflight: number; perIpRate: number; getPeersRate: number };
  sink: NdjsonFileSink;
  out: string;
  json: boolean;
}

/**
 * `dhtscope crawl --survey NAME`: this process's part in a shared survey
 * (workers/survey/survey-process.ts). It ends when no partition is left, or on Ctrl-C, and
 * prints what it did; `dhtscope survey NAME --status` shows the whole survey.
 */
export async function runSurveyCrawl(o: SurveyCrawlOptions): Promise<number> {
  let keys: SurveyKeys;
  const index = await openIndex(o.index);
  try {
    keys = new SurveyKeys(index.keys.prefix, o.name);
  } catch (err) {
    await index.connection.close();
    throw new UsageError((err as Error).message);
  }
  const status = new StatusLine({ stream: o.json ? process.stderr : process.stdout, prefix: 'dhtscope crawl: ' });
  const say = (line: string): void => status.log(o.json ? `dhtscope crawl: ${line}` : line);
  const node = new DhtNode({
    ...crawlBindOptions(o.bind, o.crawl, o.port),
    bootstrap: o.bootstrapEntries,
    ...(o.addressScope !== undefined ? { addressScope: o.addressScope } : {}),
    maxInflight: o.crawler.maxInflight + DEFAULT_MAX_INFLIGHT,
    recvBufferSize: CRAWL_RECV_BUFFER_BYTES,
    ...(o.socketFactory ? { socketFactory: o.socketFactory } : {}),
  });
  const stop = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const dispose = onStopSignal(
    (signal) => {
      interrupted = signal;
      stop.abort(signal);
    },
    (signal) => `\ndhtscope crawl: ${signal} again, exiting without closing ${o.out}\n`,
  );
  const started = performance.now();
  let summary: SurveyProcessSummary;
  let crawlers: ReadonlySet<Crawler> = new Set();
  try {
    await startNode(node, o.bind.host, o.port);
    say(`survey ${o.name} on ${index.connection.description}: crawling ${familiesText(o.crawl.families)} from ${o.bootstrapEntries.join(', ')} on ${boundText(node, o.crawl.families)}`);
    say(`writing discoveries to ${o.out}`);
    status.follow(() => {
      let queries = 0;
      let answered = 0;
      for (const c of crawlers) {
        const p = c.progress();
        queries += p.queriesSent;
        answered += p.answered;
      }
      return `survey ${o.name} · ${crawlers.size} partition${crawlers.size === 1 ? '' : 's'} in hand · ${count(answered)} answered · ${count(queries)} queries`;
    });
    try {
      summary = await runSurveyProcess({
        connection: index.connection,
        keys,
        node,
        bootstrap: o.addresses,
        ...(o.bits !== undefined ? { bits: o.bits } : {}),
        concurrency: o.concurrency,
        indexKeys: index.keys,
        lockMs: o.lockMs,
        crawler: { ...o.crawler, sink: o.sink },
        signal: stop.signal,
        log: say,
        onCrawlers: (set) => {
          crawlers = set;
        },
      });
    } catch (err) {
      if (err instanceof SurveyPlanMismatchError) throw new CommandError(err.message);
      throw err;
    } finally {
      status.clear();
      await o.sink.close();
    }
  } finally {
    dispose();
    await node.stop();
    await index.connection.close();
  }
  const ms = Math.round(performance.now() - started);
  const mine = summary.partitions;
  const sum = (f: (r: (typeof mine)[number]) => number): number => mine.reduce((a, r) => a + f(r), 0);
  const result = {
    survey: o.name,
    process: summary.process,
    partitions: mine.map((r) => r.partition),
    of: summary.plan.partitions,
    answered: sum((r) => r.answered),
    known: sum((r) => r.known),
    queries: sum((r) => r.queries),
    infohashes: sum((r) => r.infohashes),
    finished: summary.finished,
    failed: summary.failed,
    out: o.out,
    ms,
    interrupted: interrupted !== undefined,
  };
  if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(
      `survey ${o.name}: this process crawled ${mine.length} of ${summary.plan.partitions} partitions in ${duration(ms)}` +
        (interrupted !== undefined ? ` (stopped by ${interrupted})` : summary.finished ? '; the survey is finished' : '') +
        '\n' +
        `  nodes        ${count(result.answered)} answered of ${count(result.known)} known\n` +
        `  queries      ${count(result.queries)}\n` +
        `  infohashes   ${count(result.infohashes)}\n` +
        `  written to   ${o.out}\n` +
        `  whole survey dhtscope survey ${o.name} --status\n`,
    );
  }
  return summary.failed > 0 ? 1 : 0;
}
