/**
 * Every default of the torrent-metadata part of the index (metadata-store.ts,
 * metadata-fetch-state.ts, search-tokens.ts, search.ts), with the reason for its value.
 * SCHEMA.md "Torrent metadata" explains the keys these bound.
 */

// ---- what is stored per torrent --------------------------------------------------------

/**
 * Bytes of a name kept (raw). The fetcher already cuts names at 1 KiB (bep9
 * MAX_TEXT_BYTES); the store enforces its own bound because its input is only InfoSummary-
 * shaped. File systems cap a name at 255 bytes, so only hostile torrents reach it.
 */
export const MAX_NAME_BYTES = 1_024;

/** Files listed per torrent at most (`fileCount` still counts them all): the first ones, in torrent order. */
export const MAX_STORED_FILES = 100;

/** Raw bytes of one file's path kept (all its elements together); deeper or longer paths are cut and flagged. */
export const MAX_FILE_PATH_BYTES = 512;

/** Path elements kept per file (the fetcher keeps 32 too); deeper paths are cut and flagged. */
export const MAX_FILE_PATH_ELEMENTS = 32;

/**
 * The stored file list (JSON) is at most this long; files past it are not stored. With the
 * two caps above a hostile torrent could otherwise make one record ~270 KB (100 paths of
 * 512 bytes that all display as `\xNN`); 32 KiB keeps the worst record around 40 KB while a
 * typical list (100 paths of ~80 bytes) needs ~15 KB.
 */
export const MAX_FILES_JSON_BYTES = 32 * 1024;

/** Longest peer label stored with a fetch (`ip:port`, `[v6]:port`): as a Discovery's addresses are checked (crawler/discovery.ts). */
export const MAX_PEER_LABEL_CHARS = 64;

/**
 * storeMetadata re-reads and retries this many times when another writer stored a different
 * record in between. Each conflict means someone else's store succeeded, so n concurrent
 * stores of one infohash need at most n rounds; the metadata queue runs one job per infohash,
 * so 16 is far more than it needs.
 */
export const STORE_CONFLICT_RETRIES = 16;

// ---- the search index --------------------------------------------------------------------

/** Distinct tokens indexed per name (the first ones): bounds the posting lists one torrent joins. */
export const MAX_TOKENS_PER_NAME = 32;

/** Tokens longer than this many characters are cut (index and query alike, so they still match). */
export const MAX_TOKEN_CHARS = 32;

/**
 * Torrents kept per token's posting list: the ones with the most peers when their metadata
 * was stored. A common token ("1080p", "x264") would otherwise grow with the crawl; with the
 * cap a list is at most ~1 MB and an intersection reads at most this many members per token.
 */
export const SEARCH_POSTINGS_CAP = 10_000;

/**
 * Tokens too common to say anything (English glue words and web-address parts). A query made
 * only of these has no searchable words (400). Format tags like `1080p` or `x264` are kept:
 * people search for them.
 */
export const NOISE_TOKENS: ReadonlySet<string> = new Set([
  'the', 'and', 'of', 'in', 'on', 'at', 'to', 'for', 'by', 'with', 'from', 'an', 'or',
  'www', 'http', 'https', 'com', 'net', 'org',
]);

// ---- searching ---------------------------------------------------------------------------

/** `q` is 1 to this many characters (code points). */
export const MAX_QUERY_CHARS = 200;

/** Distinct tokens in a query at most (a 17-character CJK title makes 16 bigrams). */
export const MAX_QUERY_TOKENS = 16;

/**
 * A search ranks at most this many matches: those with the most peers when stored (the
 * posting score) are re-ranked by their current peers, sightings and last-seen time. Ranking
 * reads one hash per candidate, so this bounds the work of the most common query to ~1 ms.
 */
export const SEARCH_RANK_WINDOW = 1_000;

/** Results per page unless `limit` says otherwise, and the largest `limit`. */
export const SEARCH_DEFAULT_LIMIT = 20;
export const SEARCH_MAX_LIMIT = 100;

// ---- fetch attempts: backoff and giving up ------------------------------------------------

export interface MetadataRetryPolicy {
  /** Wait after the first failure; doubled after each further one. */
  baseDelayMs: number;
  /** The wait never exceeds this. */
  maxDelayMs: number;
  /** After this many failures the infohash is given up on... */
  maxAttempts: number;
  /** ...for this long; then it is tried once more (and given up on again if that fails). */
  giveUpForMs: number;
  /** The attempt record (`:fetch`) lives this long past its next attempt time, then attempts count from 0 again. */
  retainMs: number;
  /** Infohashes waiting for a retry kept at most; past it the soonest-due ones are forgotten (they become due at once). */
  waitCap: number;
}

/**
 * 10 min, 20, 40, 80, then given up for a week after the 5th failure. Most failures are
 * swarms whose peers are gone or refuse ut_metadata; trying again within minutes rarely
 * helps, and a swarm that comes back is usually seen again within days.
 */
export const DEFAULT_RETRY_POLICY: Readonly<MetadataRetryPolicy> = Object.freeze({
  baseDelayMs: 10 * 60_000,
  maxDelayMs: 6 * 3600_000,
  maxAttempts: 5,
  giveUpForMs: 7 * 86_400_000,
  retainMs: 30 * 86_400_000,
  waitCap: 200_000,
});

/** metadataCandidates returns at most this many per call. */
export const MAX_CANDIDATES = 1_000;

/**
 * Failure codes that schema 5 stores as a one-byte index into this list (sharded-fetch-state.ts)
 * instead of the text: bep9's MetadataErrorCode values (bep9/errors.ts; indexer/ may not import
 * bep9, test/sharded-metadata.test.ts checks the list covers them) and the metadata worker's own
 * ERR_NO_PEERS. Stored indexes must keep their meaning: append only, never reorder. Any other
 * code that passes recordMetadataFailure's check is stored as its text.
 */
export const METADATA_FAILURE_CODES: readonly string[] = Object.freeze([
  'ERR_NO_PEERS',
  'ERR_PEER_ADDRESS',
  'ERR_PEER_IP_LIMIT',
  'ERR_PEER_CONNECT',
  'ERR_PEER_TIMEOUT',
  'ERR_PEER_CLOSED',
  'ERR_PEER_PROTOCOL',
  'ERR_PEER_MESSAGE_TOO_LARGE',
  'ERR_PEER_TOO_MANY_MESSAGES',
  'ERR_PEER_NO_METADATA_EXTENSION',
  'ERR_PEER_METADATA_REJECTED',
  'ERR_METADATA_SIZE_INVALID',
  'ERR_METADATA_TOO_LARGE',
  'ERR_METADATA_PIECE_INVALID',
  'ERR_METADATA_HASH_MISMATCH',
  'ERR_METADATA_INVALID',
  'ERR_METADATA_FETCH_FAILED',
  'ABORT_ERR',
]);
