/**
 * `GET /api/surveys` (server/api/routes/surveys.ts) over a survey series recorded through the
 * real writer (indexer/survey-series.ts) on a real redis-server: the body, newest first, limit,
 * time range, a malformed stored entry left out and counted, and the 400s.
 */
import test from 'ava';
import { MAX_SURVEY_ENTRIES, recordSurvey, type SurveyEntry } from '../indexer/survey-series.js';
import { survey } from './helpers/surveys.js';
import { get, NOW, useApiServer } from './helpers/api.js';

const { setup } = useApiServer(test);

test('GET /api/surveys: the series newest first with total, capacity and skipped; limit and from/to select', async (t) => {
  const { c, keys, app } = await setup(t);
  const empty = await get(app, '/api/surveys');
  t.is(empty.status, 200);
  t.deepEqual(empty.body, { surveys: [], total: 0, capacity: MAX_SURVEY_ENTRIES, skipped: 0 });

  const entries = [1, 2, 3, 4].map((n) => survey(NOW - (5 - n) * 60_000, n, n === 3));
  for (const e of entries) await recordSurvey(c, keys, e);
  const all = await get(app, '/api/surveys');
  t.is(all.status, 200);
  t.regex(String(all.headers['content-type']), /^application\/json/);
  t.deepEqual(all.body, { surveys: [...entries].reverse(), total: 4, capacity: MAX_SURVEY_ENTRIES, skipped: 0 });

  t.deepEqual((await get(app, '/api/surveys?limit=2')).body.surveys, [entries[3], entries[2]]);
  const range = await get(app, `/api/surveys?from=${entries[1]!.at}&to=${entries[2]!.at}`);
  t.deepEqual(range.body.surveys, [entries[2], entries[1]]);
  t.is(range.body.total, 4, 'total counts the whole series');
  t.deepEqual((await get(app, `/api/surveys?to=${entries[0]!.at}`)).body.surveys, [entries[0]]);
  t.deepEqual((await get(app, `/api/surveys?from=${entries[3]!.at + 1}`)).body.surveys, []);
  t.deepEqual((await get(app, '/api/surveys?from=&to=')).body.surveys.length, 4, 'empty bounds are no bounds');

  // Something else wrote under the prefix: left out, counted.
  await c.zadd(keys.surveys, NOW, '{"f":1,"at":"now","census":"<img src=x onerror=alert(1)>"}');
  const withJunk = await get(app, '/api/surveys');
  t.is(withJunk.status, 200);
  t.is(withJunk.body.skipped, 1);
  t.is(withJunk.body.total, 5);
  t.deepEqual(withJunk.body.surveys, [...entries].reverse());
});

test('GET /api/surveys: bad parameters are 400s with stable codes', async (t) => {
  const { app } = await setup(t);
  const cases: Array<[string, string, RegExp]> = [
    ['/api/surveys?limit=0', 'ERR_BAD_LIMIT', /limit must be an integer from 1 to 1000/],
    ['/api/surveys?limit=1001', 'ERR_BAD_LIMIT', /limit/],
    ['/api/surveys?limit=1&limit=2', 'ERR_BAD_LIMIT', /given once/],
    ['/api/surveys?from=yesterday', 'ERR_BAD_TIME_RANGE', /from must be a time in ms/],
    ['/api/surveys?to=-5', 'ERR_BAD_TIME_RANGE', /to must be a time in ms/],
    ['/api/surveys?to=1e12', 'ERR_BAD_TIME_RANGE', /to must be a time in ms/],
    ['/api/surveys?from=1000000000000000', 'ERR_BAD_TIME_RANGE', /from must be a time in ms/],
    ['/api/surveys?from=20&to=10', 'ERR_BAD_TIME_RANGE', /from \(20\) is after to \(10\)/],
    ['/api/surveys?from=1&from=2', 'ERR_BAD_TIME_RANGE', /given once/],
  ];
  for (const [url, code, message] of cases) {
    const res = await get(app, url);
    t.is(res.status, 400, url);
    t.is(res.body.error.code, code, url);
    t.regex(res.body.error.message, message, url);
  }
});
