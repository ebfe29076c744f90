import { indexedSummaries, pageIndexedRecent } from '../../indexer/indexed-reads.js';
import { displayText } from '../../bep5/display-text.js';
import { type MetadataContent, decodeMetadataBlob } from '../../indexer/metadata-blob.js';
import { shardOfBucket } from '../../indexer/shard.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { readFields } from '../../indexer/sharded-metadata.js';
import { type SearchQuery } from '../api/params.js';
import { searchView, type ViewContext } from '../api/views.js';
import { type Classification, classify, inCategories } from './classify.js';
import { FILTER_CHUNK, RECENT_FIRST_PAGE, RECENT_METADATA_CHUNK, RECENT_SCAN_LIMIT } from './constants.js';
import { type FeedItem, swarmFigures } from './feed.js';
import { type TorznabSearch } from './params.js';

/**
 * The results of `t=search`, `tvsearch` and `movie`, from the index:
 *
 * - with words, the name search of `/api/search` (views.ts searchView): same matching, same
 *   ranking (most live peers first), same window (the 1,000 best matches can be paged to);
 * - without words, the most recently seen torrents whose metadata the index has, among the
 *   RECENT_SCAN_LIMIT most recently seen infohashes: what Sonarr's and Radarr's RSS sync and
 *   Prowlarr's test ask for, none of which send `q`.
 *
 * Categories and episodes are not in the index, so `cat`, `season` and `ep` filter the ranked
 * candidates as they are read, FILTER_CHUNK first, and `offset` counts filtered results.
 * Each candidate's metadata is read once more for its files (the classifier) and raw name (the
 * magnet link); one that lost its metadata in between (retention) is left out.
 */

interface Candidate {
  infohash: string;
  /** The name's display form. */
  title: string;
  metadata: MetadataContent;
  category: Classification;
}

type Source = AsyncGenerator<Candidate[], void>;

/** A path's bytes as Latin-1 text: enough for extensions and SxxEyy, without building a display form. */
const latin1 = (elements: readonly Uint8Array[]): string => elements.map((e) => Buffer.from(e.buffer, e.byteOffset, e.length).toString('latin1')).join('/');

/**
 * The candidates among `infohashes` that have metadata, in order. getShardedMetadata's read for
 * many infohashes at once (readFields: one script call, not one HGET each), and the blob decoded
 * without the display forms of every path (storedMetadataOf): a filtered search may classify
 * thousands of torrents, and those display forms were most of its time (a search through 5,000
 * torrents of 20 files each went from 1.3 s to 0.5 s on the loaded 2-core machine).
 */
async function withMetadata(ctx: ViewContext, keys: ShardedIndexKeys, infohashes: readonly string[]): Promise<Candidate[]> {
  const blobs = await readFields(
    ctx.redis,
    infohashes.map((hex) => {
      const { bucket } = keys.locate(hex);
      const shard = shardOfBucket(bucket);
      return { shard, key: keys.shards[shard]!.meta(bucket), field: Buffer.from(hex, 'hex') };
    }),
  );
  return infohashes.flatMap((infohash, i) => {
    const blob = blobs[i];
    if (blob === null || blob === undefined) return [];
    let metadata: MetadataContent;
    try {
      metadata = decodeMetadataBlob(blob);
    } catch {
      // Only a hand edit damages a blob; the API shows such a torrent as having no metadata too.
      return [];
    }
    const title = displayText(metadata.name);
    return [{ infohash, title, metadata, category: classify(title, metadata.files.map((f) => ({ path: latin1(f.path), size: f.size }))) }];
  });
}

/**
 * The ranked name matches from `start`, `chunk` at a time; `grow` doubles the chunk after each
 * read, so that a filter few matches pass reaches the end of the window in 4 searches, not 10.
 */
async function* byName(ctx: ViewContext, keys: ShardedIndexKeys, query: SearchQuery, start: number, chunk: number, grow: boolean): Source {
  let offset: number | null = start;
  for (let limit = chunk; offset !== null; limit = grow ? limit * 2 : limit) {
    const page = await searchView(ctx, query, { limit, offset });
    yield await withMetadata(ctx, keys, page.items.map((i) => i.infohash));
    offset = page.nextOffset;
  }
}

/**
 * The RECENT_SCAN_LIMIT most recently seen infohashes that have metadata. Two reads of
 * `recent`: a page of RECENT_FIRST_PAGE (most requests need no more), then the rest at once,
 * since every page costs a script call on each of the 64 shards whatever its size. Metadata
 * is read RECENT_METADATA_CHUNK infohashes at a time, so a filled page stops the reads.
 */
async function* recentWithMetadata(ctx: ViewContext, keys: ShardedIndexKeys): Source {
  const first = await pageIndexedRecent(ctx.redis, keys, { limit: RECENT_FIRST_PAGE });
  const rest = first.next === null ? [] : (await pageIndexedRecent(ctx.redis, keys, { limit: RECENT_SCAN_LIMIT - RECENT_FIRST_PAGE, after: first.next })).items;
  const all = [...first.items, ...rest].map((i) => i.member);
  for (let i = 0; i < all.length; i += RECENT_METADATA_CHUNK) yield await withMetadata(ctx, keys, all.slice(i, i + RECENT_METADATA_CHUNK));
}

export async function torznabSearch(ctx: ViewContext, req: TorznabSearch): Promise<FeedItem[]> {
  // Words given, none of them searchable ("a", "the"): nothing can match, which is not an error.
  if (req.query !== null && req.query.tokens.length === 0) return [];
  const keys = ShardedIndexKeys.of(ctx.keys.prefix);
  const filtered = req.categories !== null || req.episode !== null;
  const keep = (c: Candidate): boolean =>
    (req.episode === null || req.episode.test(c.title)) && (req.categories === null || inCategories(c.category, req.categories));
  // Unfiltered, the name search pages by itself; every other source is read from its start.
  const direct = req.query !== null && !filtered;
  const source = req.query === null ? recentWithMetadata(ctx, keys) : direct ? byName(ctx, keys, req.query, req.offset, req.limit, false) : byName(ctx, keys, req.query, 0, FILTER_CHUNK, true);
  let skip = direct ? 0 : req.offset;
  const picked: Candidate[] = [];
  reading: for await (const chunk of source) {
    for (const c of chunk) {
      if (!keep(c)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      picked.push(c);
      if (picked.length === req.limit) break reading;
    }
  }

  const summaries = await indexedSummaries(ctx.redis, keys, picked.map((c) => c.infohash));
  return picked.map(({ infohash, title, metadata, category }, i): FeedItem => {
    const s = summaries[i]!;
    return {
      infohash,
      title,
      rawName: metadata.name,
      size: metadata.totalSize,
      fileCount: metadata.fileCount,
      // A record pruned since the search read it has no first sighting left: the fetch is the next best date.
      published: s.firstSeen > 0 ? s.firstSeen : metadata.fetchedAt,
      ...swarmFigures(s.swarm, s.peerCount),
      category,
    };
  });
}
