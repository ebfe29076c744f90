import { DEFAULT_PAGE_LIMIT, DEFAULT_STATS_MINUTES, MAX_PAGE_LIMIT, MAX_STATS_MINUTES } from '../../server/api/constants.js';
import { SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, SEARCH_RANK_WINDOW } from '../../indexer/metadata-constants.js';
import { ApiError } from '../../server/api/errors.js';
import { type Cursor, type CursorKind } from '../../indexer/cursor.js';
import { parseCursor, parseInfohashParam, parseLimit, parseMinutes, parseOffset, parseSearchLimit, parseSearchQuery, type SearchQuery } from '../../server/api/params.js';
import { censusView, infohashListView, infohashView, peersView, searchView, statsView, surveysView, type ViewContext } from '../../server/api/views.js';
import { MigrationRunner } from '../../migrations/runner.js';
import { SchemaOutdatedError } from '../../migrations/errors.js';
import { type ParsedArgs, defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, type IndexOptionValues, withIndex } from '../index-options.js';
import { formatCensus, formatInfohash, formatList, formatPeers, formatSearch, formatStats, formatSurveys } from '../query-format.js';

const help = `Usage: dhtscope query <infohash|peers|recent|popular|stats|census|surveys> [<ih>] [options]
       dhtscope query search <words...> [--limit N] [--offset N] [--json]

Reads the crawl index in Redis: the same queries, and with --json the same JSON, as the
HTTP API (GET /api/...).

  infohash <ih>    one infohash: first and last seen, sightings, sources, newest live peers,
                   and its name, size and first files once its metadata was fetched
  peers <ih>       its live peers, most recently seen first (paged)
  recent           infohashes, most recently seen first (paged)
  popular          infohashes with the most live peers first (paged); --by seeders: the
                   most seeders in their latest BEP 33 scrape estimate first
  stats            all-time totals and per-minute counts of the last --minutes
  census           DHT nodes seen: total, clients, BEP 51 / BEP 42 support, IPv4 / IPv6, per day
  surveys          the survey series, newest first: each sweep's size estimate with its 95%
                   interval, census shares (BEP 51, 32, 33), churn and Sybil regions
                   (GET /api/surveys)
  search <words>   torrents whose name has every word (case, accents and punctuation
                   ignored), most peers first

  <ih>             40 hex or 32 base32 characters, or a magnet:?xt=urn:btih:... link
  --json           print the API's JSON body for the same query
  --limit N        peers/recent/popular/surveys: items per page, 1-${MAX_PAGE_LIMIT} (default ${DEFAULT_PAGE_LIMIT})
  --cursor C       peers/recent/popular: the page after a previous one (its nextCursor,
                   printed as "more: ..." without --json)
  --limit N        search: results per page, 1-${SEARCH_MAX_LIMIT} (default ${SEARCH_DEFAULT_LIMIT})
  --by peers|seeders popular: rank by live peers (default) or by BEP 33 seeders
  --offset N       search: results to skip, 0-${SEARCH_RANK_WINDOW - 1} (the best ${SEARCH_RANK_WINDOW} are ranked)
  --minutes N      stats: minutes of per-minute counts, 1-${MAX_STATS_MINUTES} (default ${DEFAULT_STATS_MINUTES})
${INDEX_OPTIONS_HELP}
  -h, --help       show this help

Only reads. While \`dhtscope run\` is running with the embedded Redis of the same data
directory, query connects to that server (and leaves it running).

Exit code 0 on success, 1 when the infohash is not in the index or Redis fails, 2 on a
usage error such as a malformed infohash.

Example: dhtscope query recent --limit 20
         dhtscope query infohash 08ada5a7a6183aae1e09d831df6748d566095a10 --json
         dhtscope query search ubuntu desktop --limit 5`;

const WHATS = ['infohash', 'peers', 'recent', 'popular', 'stats', 'census', 'surveys', 'search'] as const;
type What = (typeof WHATS)[number];
const PAGED: ReadonlySet<What> = new Set(['peers', 'recent', 'popular']);
const WITH_INFOHASH: ReadonlySet<What> = new Set(['infohash', 'peers']);

interface Request {
  index: IndexOptionValues;
  what: What;
  infohash: string;
  json: boolean;
  limit: number;
  /** ` --limit N` when given, repeated in the "more:" hint. */
  limitArg: string;
  cursor: Cursor | null;
  minutes: number;
  /** search: the words and their tokens; null for the other queries. */
  search: SearchQuery | null;
  offset: number;
  /** popular: rank by live peers or by seeders. */
  by: 'peers' | 'seeders';
}

const OPTIONS = {
  ...INDEX_COMMAND_OPTIONS,
  json: { type: 'boolean' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  minutes: { type: 'string' },
  offset: { type: 'string' },
  by: { type: 'string' },
} as const;

/** Checks everything before connecting: a usage error never waits for Redis. */
function parseRequest({ values, positionals }: Pick<ParsedArgs<typeof OPTIONS>, 'values' | 'positionals'>): Request {
  const [what, ...args] = positionals;
  if (what === undefined) throw new UsageError(`query needs one of ${WHATS.join(', ')} (see dhtscope query --help)`);
  if (!(WHATS as readonly string[]).includes(what)) throw new UsageError(`unknown query "${what}": use one of ${WHATS.join(', ')}`);
  const w = what as What;
  const search = w === 'search';
  const wanted = WITH_INFOHASH.has(w) ? 1 : 0;
  if (search && args.length === 0) throw new UsageError('query search takes the words to look for in torrent names');
  if (!search && args.length !== wanted) throw new UsageError(wanted === 1 ? `query ${w} takes one infohash or magnet link` : `query ${w} takes no arguments, got "${args[0]}"`);
  if (search && values.cursor !== undefined) throw new UsageError('search pages with --offset, not --cursor');
  if (!PAGED.has(w) && !search && w !== 'surveys' && (values.limit !== undefined || values.cursor !== undefined)) throw new UsageError('--limit and --cursor apply to peers, recent and popular (and --limit to search and surveys)');
  if (w === 'surveys' && values.cursor !== undefined) throw new UsageError('surveys takes --limit, not --cursor');
  if (w !== 'stats' && values.minutes !== undefined) throw new UsageError('--minutes applies to stats');
  if (!search && values.offset !== undefined) throw new UsageError('--offset applies to search');
  if (values.by !== undefined && w !== 'popular') throw new UsageError('--by applies to popular');
  if (values.by !== undefined && values.by !== 'peers' && values.by !== 'seeders') throw new UsageError(`--by is peers or seeders, got ${JSON.stringify(values.by)}`);
  const list: What | 'seeders' = w === 'popular' && values.by === 'seeders' ? 'seeders' : w;
  return asUsage(() => ({
    index: { 'redis-url': values['redis-url'], prefix: values.prefix, 'data-dir': values['data-dir'] },
    what: w,
    infohash: wanted === 1 ? parseInfohashParam(args[0]) : '',
    json: values.json === true,
    limit: search ? parseSearchLimit(values.limit) : parseLimit(values.limit),
    limitArg: values.limit === undefined ? '' : ` --limit ${values.limit}`,
    cursor: PAGED.has(w) ? parseCursor(values.cursor, list as CursorKind) : null,
    by: list === 'seeders' ? 'seeders' : 'peers',
    minutes: parseMinutes(values.minutes),
    search: search ? parseSearchQuery(args.join(' ')) : null,
    offset: parseOffset(values.offset),
  }));
}

/** A 400 ApiError (bad input) as a UsageError: same message, exit code 2. */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ApiError && err.statusCode === 400) throw new UsageError(err.message);
    throw err;
  }
}

/** The API's body for the request (views.ts), and its text for people. */
async function answer(vc: ViewContext, r: Request): Promise<{ body: unknown; text: () => string }> {
  const now = vc.now;
  switch (r.what) {
    case 'infohash': {
      const body = await infohashView(vc, r.infohash);
      return { body, text: () => formatInfohash(body, now) };
    }
    case 'peers': {
      const body = await peersView(vc, r.infohash, { limit: r.limit, cursor: r.cursor });
      return { body, text: () => formatPeers(body, now, r.limitArg) };
    }
    case 'recent':
    case 'popular': {
      const sort = r.what === 'popular' && r.by === 'seeders' ? 'seeders' : r.what;
      const body = await infohashListView(vc, { sort, limit: r.limit, cursor: r.cursor });
      return { body, text: () => formatList(body, now, r.limitArg) };
    }
    case 'stats': {
      const body = await statsView(vc, r.minutes);
      return { body, text: () => formatStats(body) };
    }
    case 'census': {
      const body = await censusView(vc);
      return { body, text: () => formatCensus(body) };
    }
    case 'surveys': {
      const body = await surveysView(vc, { limit: r.limit });
      return { body, text: () => formatSurveys(body, now) };
    }
    case 'search': {
      const body = await searchView(vc, r.search!, { limit: r.limit, offset: r.offset });
      return { body, text: () => formatSearch(body, now, r.limitArg) };
    }
  }
}

export const queryCommand = defineCommand({
  name: 'query',
  help,
  options: OPTIONS,
  args: 'any',
  async run(parsed) {
    const request = parseRequest(parsed);
    return withIndex(request.index, async (index) => {
      const redis = index.connection.client;
      try {
        // A fresh database (version 0) reads as an empty index; an older schema needs migrating.
        const runner = new MigrationRunner(redis, index.keys);
        const version = await runner.assertCompatible();
        if (version !== 0 && version !== runner.latest) throw new SchemaOutdatedError(version, runner.latest);
        const { body, text } = await answer({ redis, keys: index.keys, now: Date.now() }, request);
        process.stdout.write((request.json ? JSON.stringify(body) : text()) + '\n');
        return 0;
      } catch (err) {
        if (err instanceof ApiError && err.code === 'ERR_INFOHASH_NOT_FOUND') {
          if (request.json) process.stdout.write(JSON.stringify(err.toBody()) + '\n');
          else process.stderr.write(`dhtscope query: ${err.message}\n`);
          return 1;
        }
        // Redis' own error replies; the typed index errors (withIndex maps them) never start so.
        if (err instanceof Error && !(err instanceof ApiError) && /^(?:WRONGTYPE|ERR|NOAUTH|NOPERM)\b/.test(err.message)) throw new CommandError(`Redis refused the query: ${err.message}`);
        throw err;
      }
    });
  },
});
