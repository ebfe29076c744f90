/**
 * Every default of the protocol library, in one place, each with the reason for its value.
 * Modules import from here; callers override through options, never by editing modules.
 */

/** BEP 5: node IDs and infohashes are 160-bit. */
export const ID_BYTES = 20;

/** BEP 5 error codes. */
export const KRPC_ERROR_GENERIC = 201;
export const KRPC_ERROR_SERVER = 202;
export const KRPC_ERROR_PROTOCOL = 203;
export const KRPC_ERROR_METHOD_UNKNOWN = 204;

/**
 * Largest datagram we accept. UDP payloads cannot exceed 65,507 bytes over IPv4; anything
 * longer is not a datagram. BEP 32 asks us to accept more than 1,024 bytes "for robustness".
 */
export const MAX_DATAGRAM_BYTES = 65_536;

/**
 * Largest datagram we send. 1,232 bytes is the IPv6 minimum MTU (1,280) less IPv6 and UDP
 * headers, so a reply of that size crosses any path unfragmented; BEP 32's 1,024 is stricter
 * than deployed nodes need and would cost get_peers replies half their values.
 */
export const MAX_SEND_BYTES = 1_232;

/** KRPC messages nest at most 4 deep (message → r → values → string); 8 leaves room for extensions. */
export const MAX_MESSAGE_DEPTH = 8;

/**
 * Transaction IDs we send: 4 random bytes. BEP 5 suggests 2, but 2 bytes give an off-path
 * attacker who knows our address a 1-in-65,536 chance per guessed reply; 4 bytes make blind
 * reply spoofing impractical at the cost of 2 bytes per packet.
 */
export const TRANSACTION_ID_BYTES = 4;

/** Transaction IDs we accept from others: BEP 5 calls them short; bound them so echoes stay small. */
export const MAX_INCOMING_TRANSACTION_ID_BYTES = 32;

/** Write tokens: BEP 5 calls them "short binary strings"; deployed ones are 4–20 bytes. */
export const MAX_TOKEN_BYTES = 64;

/** The `v` client version: BEP 5 specifies 4 bytes; tolerate longer, but bounded. */
export const MAX_VERSION_BYTES = 64;

/** BEP 32 `want` holds "n4"/"n6" and maybe future flags; more than this is abuse. */
export const MAX_WANT_ITEMS = 16;

/** BEP 51: `interval` is 0..21,600 seconds inclusive. */
export const MAX_SAMPLE_INTERVAL_SECONDS = 21_600;

/** BEP 33: bloom filters are exactly 256 bytes. */
export const BLOOM_FILTER_BYTES = 256;

/** Error messages we keep from others: enough to log, not enough to matter. */
export const MAX_ERROR_MESSAGE_CHARS = 200;

/**
 * Per-query timeout: long enough for far-away nodes behind slow home links, short enough
 * that a dead node does not hold a slot for long. Not yet measured on the live DHT: the
 * crawler's RTT percentiles (issue 4) will set it. Lookups add a soft timeout on top.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 2_000;

/**
 * Queries in flight per socket. Bounds the pending map (memory) and the burst a node can
 * emit; a crawler raises it explicitly.
 */
export const DEFAULT_MAX_INFLIGHT = 256;

/** The version we send in `v`: "DS" (dhtscope) + two version bytes (0.1). */
export const CLIENT_VERSION = Buffer.from([0x44, 0x53, 0x00, 0x01]);

/** Lookups: K closest nodes to converge on (BEP 5's bucket size, K = 8). */
export const DEFAULT_LOOKUP_K = 8;

/**
 * Lookups: queries in flight at once. Kademlia's alpha = 3; libtorrent's default search
 * branching is 3 as well. More finds the same nodes sooner but sends more packets.
 */
export const DEFAULT_LOOKUP_ALPHA = 3;

/**
 * Lookups: queries in flight at once to candidates already among the K closest still in play.
 * The lookup must hear from those before it ends, so querying them in parallel rather than
 * `alpha` at a time mostly saves round trips, not packets (measured in bench/lookup.ts).
 */
export const DEFAULT_LOOKUP_CLOSE_WINDOW = 8;

/**
 * Lookups: the close window opens only once the lookup's fastest answer took at least this.
 * Below it (loopback, LAN) round trips are processing time, and more parallel queries only
 * add CPU: measured on loopback in bench/lookup.ts, the window made lookups slower there. At
 * 5 ms a busy machine's own queueing opened it on loopback, and 32 concurrent lookups then
 * timed out live nodes (size estimates 2-4% low in test/crawl-testnet.test.ts); 15 ms stays
 * below any Internet path and below the 20 ms the lookup benchmark adds.
 */
export const DEFAULT_LOOKUP_WIDE_RTT_MS = 15;

/**
 * Lookups: after this long a query stops holding its slot (it may still answer), so one slow
 * node cannot stall a lookup. A starting value, to be replaced by measured RTTs (issue 4).
 */
export const DEFAULT_SOFT_TIMEOUT_MS = 750;

/** Lookups: a hard cap on queries per lookup, so a hostile network cannot make one endless. */
export const DEFAULT_LOOKUP_MAX_QUERIES = 200;

/** Lookups: candidates kept in the shortlist; far ones beyond this are forgotten unqueried. */
export const DEFAULT_LOOKUP_SHORTLIST = 64;

/** BEP 5: the token secret changes every five minutes, so tokens live 5–10 minutes. */
export const DEFAULT_TOKEN_ROTATE_MS = 5 * 60_000;

/** Write tokens we issue: a 64-bit HMAC tag gives a blind forger 1 chance in 2^64 and costs 8 bytes per reply. */
export const TOKEN_BYTES = 8;

/** Stored peers live 30 min: a client re-announcing on the common 15-min cycle survives one lost announce. */
export const DEFAULT_PEER_TTL_MS = 30 * 60_000;

/** Peers kept per infohash: far below BEP 33's 6,000 (bloom estimates stay sound), 10× what a reply can carry. */
export const DEFAULT_MAX_PEERS_PER_INFOHASH = 1_000;

/** Infohashes kept: an honest node is among the ~8–20 stores of only tens of swarms; 10,000 is headroom for BEP 51. */
export const DEFAULT_MAX_INFOHASHES = 10_000;

/** Peers kept in all: bounds the store to roughly 30 MB whatever is announced. */
export const DEFAULT_MAX_TOTAL_PEERS = 100_000;

/** Entries one source (IPv4 address or IPv6 /64) may hold: honest hosts hit a given node about once; caps are not one source's to fill. */
export const DEFAULT_MAX_ENTRIES_PER_SOURCE = 32;

/** BEP 51 interval we advertise and cache samples for: stored swarms turn over within a TTL, so 5 min keeps indexers fed. */
export const DEFAULT_SAMPLE_INTERVAL_SECONDS = 300;

/** Rate-limiter keys kept (about 1 MB): covers the sources seen while a drained bucket refills; older ones are full anyway. */
export const DEFAULT_RATE_LIMIT_MAX_KEYS = 10_000;

/** Routing table: BEP 5's bucket size, K = 8 nodes per bucket. */
export const DEFAULT_BUCKET_SIZE = 8;

/** Routing table: BEP 5 makes a node questionable, and a bucket due for refresh, after 15 minutes. */
export const DEFAULT_NODE_STALE_AFTER_MS = 15 * 60_000;

/** Routing table: BEP 5 suggests retrying a silent node once before discarding it, so 2 failures make it bad. */
export const DEFAULT_FAILURES_BEFORE_BAD = 2;

/** Routing table: entries read from a saved table; a full one holds 160 × 8 = 1,280, so this bounds a tampered file. */
export const MAX_PERSISTED_NODES = 2_048;

/** Node: how often to look for buckets that need a refresh (BEP 5's 15 minutes is per bucket). */
export const DEFAULT_REFRESH_CHECK_MS = 60_000;

/** Node: how often expired peers are swept from storage (reads also skip expired ones). */
export const DEFAULT_EXPIRE_INTERVAL_MS = 60_000;

/** Node: how often the routing table is saved, besides at shutdown (a crash loses at most this). */
export const DEFAULT_SAVE_INTERVAL_MS = 5 * 60_000;

/** Node: first retry delay when no bootstrap node answers; doubles up to the maximum. */
export const DEFAULT_BOOTSTRAP_MIN_BACKOFF_MS = 1_000;
export const DEFAULT_BOOTSTRAP_MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Node: incoming queries per second per IP (token bucket), and the burst allowed. A normal
 * node sends a peer a handful of queries per lookup; 20/s with bursts of 50 never bites a
 * well-behaved client and caps what one address can make us send back.
 */
export const DEFAULT_QUERY_RATE_PER_IP = 20;
export const DEFAULT_QUERY_RATE_BURST = 50;

/**
 * Node: our own outgoing queries per second across all lookups (not replies). A lookup sends
 * 20–60 queries; 100/s lets several run at once while staying far below what a home router's
 * NAT table or uplink notices. The crawler has its own, explicit pacing.
 */
export const DEFAULT_OUTGOING_RATE = 100;
export const DEFAULT_OUTGOING_BURST = 200;

/** Node: announce_peer queries sent at once after the lookup (to the K closest with tokens). */
export const DEFAULT_ANNOUNCE_CONCURRENCY = 8;

/** Node: an unknown querier is pinged (to add it if it answers) at most once per BEP 5's 15 minutes. */
export const VERIFY_QUERIER_EVERY_MS = 15 * 60_000;

/**
 * Node: an unknown querier far from us is pinged on its second query, not its first. Most
 * first-time queriers are passing lookups that will not be back; a node that keeps us in its
 * table contacts us again (its lookups pass us, it pings us when we turn questionable).
 * Measured in bench/lookup.ts: 5 verification pings per lookup went to the looking-up node,
 * and without them a lookup from a network node took 0.46x bittorrent-dht's time, not 0.53x.
 */
export const VERIFY_QUERIER_AFTER_QUERIES = 2;

/**
 * Node: ...but a querier whose ID falls into one of this many buckets nearest our own ID is
 * pinged on its first query. Near nodes are few and each matters: lookups converge only if
 * the nodes around a target know each other. With the second-query rule everywhere, lookups
 * in a 200-node test network found the true 8 closest in 265 of 300 cases instead of 300;
 * with the nearest 1 or 2 buckets exempt, 300 of 300 (also on 1,000 nodes).
 */
export const VERIFY_QUERIER_AT_ONCE_NEAREST_BUCKETS = 2;

/** Node: ...and so is one into a bucket holding fewer contacts than this (a table still filling). */
export const VERIFY_QUERIER_AT_ONCE_BELOW = 2;

/** Node: queriers remembered for these rules; more are forgotten least recent first (memory bound). */
export const VERIFY_QUERIER_MEMORY = 8_192;

/** Node: verification pings to unknown queriers in flight at once; more queriers are skipped. */
export const VERIFY_QUERIER_MAX_PENDING = 16;

/** Node: verification pings are sent only while at least this much outgoing budget is free. */
export const VERIFY_QUERIER_BUDGET_RESERVE = 100;
