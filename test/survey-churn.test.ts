import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Simnet } from '../crawler/simnet/simnet.js';
import { readSurveys } from '../indexer/survey-series.js';
import { type IndexKeys } from '../indexer/keys.js';
import { previousSurveySketch, readSurveySketch } from '../workers/survey/survey-churn.js';
import { SurveyKeys } from '../workers/survey/survey-keys.js';
import { startCli } from './helpers/cli.js';
import { useRedisServer } from './helpers/redis.js';
import { simnetCrawlArgs } from './helpers/simnet-crawl.js';

/**
 * A shared survey's churn (issue 15, item 4; workers/survey/survey-churn.ts): two surveys of
 * one simulated DHT, a day apart on the simulator's clock, in which a quarter of the reachable
 * nodes leave. The second survey's entry in the series carries churn against the first,
 * estimated from the partitions' sketches (4 partitions of about 1,500 answering nodes: more
 * than a sketch holds, so the estimate is a sample). The ground truth is the simulator's: which
 * nodes answered in the first survey, and which of them are gone.
 */
const redis = useRedisServer(test);
const NODES = 12_000;
const DAY = 86_400_000;

function surveyArgs(s: Simnet, dir: string, name: string, prefix: string): string[] {
  const crawl = simnetCrawlArgs(s, join(dir, `${name}.ndjson`));
  // One process alone: twice the rate a process of three takes.
  crawl[crawl.indexOf('--rate') + 1] = '3000';
  crawl[crawl.indexOf('--inflight') + 1] = '2048';
  return [
    ...crawl,
    '--survey',
    name,
    '--partitions',
    '4',
    '--concurrency',
    '2',
    '--redis-url',
    `redis://${redis.server.host}:${redis.server.port}`,
    '--prefix',
    prefix,
  ];
}

async function survey(t: ExecutionContext, s: Simnet, dir: string, name: string, keys: IndexKeys): Promise<string> {
  const r = await startCli(t, surveyArgs(s, dir, name, keys.prefix)).exit(240_000);
  t.is(r.code, 0, r.stderr);
  return r.stderr;
}

test('churn between two shared surveys: against the one before, within 3 points of who really left; none when that one is gone', async (t) => {
  t.timeout(420_000);
  // Leaving is spread over a day from the start: during the first survey (seconds) almost
  // nobody leaves; after advance(DAY) every node due to leave is gone.
  const s = await Simnet.start({ nodes: NODES, seed: 11, churn: 0.25, churnWindowMs: DAY });
  t.teardown(() => s.stop());
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-survey-churn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { c, keys } = await redis.freshIndex(t);

  const firstLog = await survey(t, s, dir, 'before', keys);
  t.regex(firstLog, /survey before finished: recorded .*no churn: no earlier shared survey/);
  const first = await s.report();
  await s.advance(DAY);
  const truth = await s.report();
  // Who answered in the first survey, and of them who is still there.
  const answered1 = first.coverage.reached;
  const leftTruth = (truth.coverage.reached - truth.coverage.reachedStayed) / truth.coverage.reached;
  t.is(truth.coverage.reached, answered1, 'nothing was asked in between');
  t.true(leftTruth > 0.2 && leftTruth < 0.3, `the simulator's churn: ${leftTruth}`);

  const secondLog = await survey(t, s, dir, 'after', keys);
  t.regex(secondLog, /survey after finished: recorded .*churn since before: \d+ left, \d+ joined/);
  const { entries } = await readSurveys(c, keys, { limit: 10 });
  t.deepEqual(
    entries.map((e) => [e.source, e.churn === null]),
    [
      [{ kind: 'survey', name: 'after' }, false],
      [{ kind: 'survey', name: 'before' }, true],
    ],
  );
  const churn = entries[0]!.churn!;
  t.log(`churn ${JSON.stringify(churn)}; the simulator: ${answered1} answered in the first survey, ${(100 * leftTruth).toFixed(2)}% of them left`);
  t.is(churn.since, 'before');
  t.true(Math.abs(churn.before - answered1) <= 0.02 * answered1, `the first survey's answered nodes: ${churn.before} by the partitions, ${answered1} by the simulator`);
  t.is(churn.before - churn.left, churn.after - churn.joined);
  // 4 partitions of more than 1,024 answering nodes: a sample of about 4 k, so a standard
  // error near 0.7 points; plus the few nodes the second survey missed, counted as gone.
  t.true(churn.sample! > 3 * 1024 && churn.sample! < 6 * 1024, `sample ${churn.sample}`);
  t.true(Math.abs(churn.leftShare - leftTruth) <= 0.03, `left ${churn.leftShare} against ${leftTruth}`);
  t.true(churn.joinedShare <= 0.02, `nobody joins the simulator: only nodes the first survey missed (${churn.joinedShare})`);

  // The sketch is read from the survey's partition results: a result whose sketch is not one
  // leaves the survey without one, and a survey deleted leaves the next one without churn.
  const afterKeys = new SurveyKeys(keys.prefix, 'after');
  t.not(await readSurveySketch(c, afterKeys), null);
  t.like(await previousSurveySketch(c, keys, new SurveyKeys(keys.prefix, 'third'), Date.now()), { name: 'after' });
  const [partition, text] = Object.entries(await c.hgetall(afterKeys.results))[0]!;
  await c.hset(afterKeys.results, partition, JSON.stringify({ ...JSON.parse(text), answeredSketch: 'not a sketch' }));
  t.is(await readSurveySketch(c, afterKeys), null);
  const deleted = await startCli(t, ['survey', 'before', '--delete', '--force', '--redis-url', `redis://${redis.server.host}:${redis.server.port}`, '--prefix', keys.prefix]).exit(60_000);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(await previousSurveySketch(c, keys, afterKeys, Date.now()), null, 'the survey before is gone: no churn against an older one instead');
});
