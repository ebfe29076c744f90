/**
 * Every default of the workers and producers, with the reason for its value. Options that a
 * user may change take these as defaults; nothing else in workers/ hard-codes a number.
 */

/** Events per discovery batch: large enough that one Lua call amortises its round trip, small enough to keep Redis's blocking time per script at a few ms. */
export const BATCH_MAX_EVENTS = 500;

/** A partial batch is sent after this long, so the index lags a crawl by well under a second. */
export const BATCH_MAX_DELAY_MS = 250;

/**
 * Shard groups of the discovery batches on Redis Cluster (workers/discovery-batcher.ts): a batch
 * then touches at most 64 / 8 = 8 shards, so it is at most 8 scripts instead of up to 64, and a
 * group's shards are neighbours in the slot space, mostly on one master. More groups mean
 * smaller batches at a given event rate (each group fills on its own).
 */
export const SHARD_GROUPS_ON_CLUSTER = 8;

/**
 * Batches held in memory while Redis is unreachable before they spill to the spool file. 40
 * batches are 20,000 events (a few MB): enough for a short blip without touching the disk.
 */
export const MEMORY_BATCHES_MAX = 40;

/**
 * The spool on disk is capped so a long outage cannot fill the disk. 1 GiB holds about 6
 * million events (~170 B each): hours of a busy crawl, far over the 5 minutes we promise.
 * Before it fills, the producer reports itself saturated and the crawler pauses; events that
 * still arrive beyond it are dropped and counted (`droppedEvents`), never silently.
 */
export const SPOOL_MAX_BYTES = 1024 ** 3;

/** How long one delivery (queue add) may take before the producer treats Redis as down and spools. */
export const DELIVERY_TIMEOUT_MS = 2_000;

/** While Redis is down, the producer retries delivery this often. */
export const REDELIVERY_INTERVAL_MS = 1_000;

/** Attempts per job, with exponential backoff from the delay below (1, 2, 4, … s: about 8.5 min in all). */
export const JOB_ATTEMPTS = 10;
export const JOB_BACKOFF_MS = 1_000;

/**
 * How long a peer lookup's applied marker lives (seconds). One marker per finished lookup is a
 * per-infohash trace (about 120 B); it only has to outlive the job's retries (about 8.5 min in
 * all, above) and a stalled job's redelivery, not the 7 days of a discovery batch's marker.
 */
export const PEER_LOOKUP_APPLIED_TTL_SEC = 3_600;

/**
 * A job whose worker stops renewing its lock (the process died) is moved back to waiting
 * after this long. BullMQ's default is 30 s; 15 s recovers faster and still leaves a busy
 * event loop plenty of slack.
 */
export const STALLED_INTERVAL_MS = 15_000;
export const LOCK_DURATION_MS = 30_000;

/**
 * Times a job may be recovered from a stalled state before BullMQ fails it (its default is 1).
 * Processors are idempotent, so running a batch again is harmless; failing it would lose its
 * events if its workers happened to die twice (a crash loop, two machines rebooted).
 */
export const MAX_STALLED_COUNT = 5;

/** Completed jobs kept for inspection; failed ones kept longer for diagnosis. */
export const KEEP_COMPLETED_JOBS = 1_000;
export const KEEP_FAILED_JOBS = 10_000;

/** Discovery jobs processed at once per worker process (each is one Lua call; Redis serialises them anyway). */
export const DISCOVERY_CONCURRENCY = 4;

/** Peer lookups at once per worker process: each is a DHT lookup of ~20–60 queries. */
export const PEER_LOOKUP_CONCURRENCY = 8;

/** Peer lookups started per second across all workers (BullMQ's global limiter): a polite DHT citizen. */
export const PEER_LOOKUPS_PER_SECOND = 10;

/**
 * A peer-lookup job taken while the node has no contacts goes back to the delayed set for this
 * long, its attempts untouched (worker-set.ts): about a bootstrap retry's first backoff.
 */
export const PEER_LOOKUP_NOT_JOINED_DELAY_MS = 10_000;

/** How often a worker set waiting for its node to join looks at the node's table. */
export const PEER_LOOKUP_JOIN_CHECK_MS = 1_000;

/** A peer lookup gives up after this long. */
export const PEER_LOOKUP_TIMEOUT_MS = 15_000;

/**
 * An infohash with live peers gets a lookup, for its BEP 33 scrape, once its estimate is this
 * old: a daily snapshot of swarm sizes, at the peer-lookup queue's rate limit. BEP 33 asks that
 * scrapes of inactive torrents be paced; that limit does it.
 */
export const SCRAPE_REFRESH_MS = 86_400_000;

/** An infohash gets at most one peer lookup per this window (the job id carries the window). */
export const PEER_LOOKUP_REFRESH_MS = 3_600_000;

/** No new peer lookups are queued while this many wait: the queue cannot grow without bound. */
export const PEER_LOOKUP_QUEUE_MAX = 10_000;

/** Graceful shutdown waits this long for running jobs before closing anyway (they are then retried). */
export const SHUTDOWN_GRACE_MS = 10_000;

// ---- discovery producer and its spool (workers/discovery-producer.ts, workers/spool.ts) ----

/** Queue adds in flight at once: enough to keep one connection busy, and the most an outage can leave hanging in the client. */
export const DELIVERY_MAX_INFLIGHT = 4;

/** close() waits this long for Redis to take what is pending before it spools the rest. */
export const CLOSE_DRAIN_TIMEOUT_MS = 5_000;

/**
 * Sealed batches waiting for the spool's disk at most (each append is fsync'ed in turn). A
 * writer that ignores `saturated()` (a synchronous burst) is bounded by it: 512 batches are
 * 256,000 events (~35-70 MB). Measured: 200,000 events written in one synchronous loop with
 * Redis up dropped 130,000 at the earlier 100; none at 512. A stalled disk still cannot make
 * memory grow past it (batches beyond are dropped and counted).
 */
export const SPOOL_WRITE_BACKLOG_MAX = 512;

/**
 * The producer reports itself saturated (the crawler holds new queries) once this share of
 * SPOOL_WRITE_BACKLOG_MAX is waiting for the disk: the other half absorbs the replies to
 * queries already in flight, so a slow disk pauses the crawl instead of losing discoveries.
 */
export const SATURATED_BACKLOG_SHARE = 0.5;

/** A spool file is closed and a new one started past this size: a delivered file is deleted whole, so files stay small. */
export const SPOOL_FILE_MAX_BYTES = 16 * 1024 ** 2;

/** The longest spool line read back (one batch). A batch of BATCH_MAX_EVENTS is a few MB at most; longer means corruption. */
export const SPOOL_LINE_MAX_BYTES = 64 * 1024 ** 2;

/** Spool files are read back in chunks of this size. */
export const SPOOL_READ_CHUNK_BYTES = 1024 ** 2;

// ---- metadata (BEP 9) jobs ----

/** How often a worker process looks for infohashes that have peers and no metadata yet. */
export const METADATA_SWEEP_MS = 15_000;

/** Candidates queued per sweep at most (the fetcher's own gate caps the connections). */
export const METADATA_SWEEP_BATCH = 200;

/** No new metadata jobs while this many wait: each is up to 24 peers * 30 s of TCP work. */
export const METADATA_QUEUE_MAX = 2_000;

/**
 * Metadata jobs at once per worker process. Each tries 3 peers at a time; the process-wide
 * connection gate (bep9/constants.ts) holds the total at 32 connections.
 */
export const METADATA_CONCURRENCY = 6;

/**
 * An infohash is queued at most once per this window. Shorter than the first retry delay of
 * the fetch-state policy (indexer/metadata-constants.ts: 10 min), so a due retry is queued.
 */
export const METADATA_DEDUP_MS = 5 * 60_000;

/** Peers read from the index per metadata job (the most recently seen first). */
export const METADATA_PEERS_PER_JOB = 24;
