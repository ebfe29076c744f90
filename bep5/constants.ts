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

/** BEP 44 error codes: `v` too big, invalid signature, salt too big, CAS mismatch, sequence number less than current. */
export const KRPC_ERROR_VALUE_TOO_BIG = 205;
export const KRPC_ERROR_INVALID_SIGNATURE = 206;
export const KRPC_ERROR_SALT_TOO_BIG = 207;
export const KRPC_ERROR_CAS_MISMATCH = 301;
export const KRPC_ERROR_SEQ_TOO_LOW = 302;

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

/**
 * KRPC messages nest at most 4 deep (message → r → values → string), but a BEP 44 `v` is any
 * bencoded value, at depth 3 (message → a or r → v). 10 is libtorrent's limit for DHT
 * messages (dht_tracker.cpp), the implementation that stores most BEP 44 items, so we accept
 * what it accepts: values that nest 8 levels (BEP44_MAX_VALUE_DEPTH). The decoder's recursion
 * stays far from any stack limit either way.
 */
export const MAX_MESSAGE_DEPTH = 10;

/**
 * Transaction IDs we send: 4 random bytes. BEP 5 suggests 2, but 2 bytes give an off-path
 * attacker who knows our address a 1-in-65,536 chance per guessed reply; 4 bytes make blind
 * reply spoofing impractical at the cost of 2 bytes per packet.
 */
export const TRANSACTION_ID_BYTES = 4;

/**
 * Largest BEP 44 datagram we send (get replies carrying an item, put queries). A get reply
 * with a 1,000-byte `v`, `k`, `sig`, `seq`, token, id and the envelope takes up to 1,266 bytes
 * before any node list, so MAX_SEND_BYTES cannot carry it. 1,452 is a 1,500-byte Ethernet MTU
 * less IPv6 (40) and UDP (8) headers: one limit that crosses Ethernet paths unfragmented in
 * both families (IPv4 alone would allow 1,472). Node lists are trimmed to fit beside the item
 * (handlers/reply-budget.ts); every other reply keeps MAX_SEND_BYTES. Paths with a smaller
 * MTU (PPPoE, tunnels) fragment these datagrams, as they do libtorrent's.
 */
export const MAX_BEP44_SEND_BYTES = 1_452;

/** BEP 44: storing nodes may refuse a `v` whose bencoded form is longer than 1,000 bytes (error 205); we do. */
export const BEP44_MAX_VALUE_BYTES = 1_000;

/** BEP 44: a salt MUST NOT be longer than 64 bytes (error 207). */
export const BEP44_MAX_SALT_BYTES = 64;

/** BEP 44: the levels of lists and dicts a `v` may nest, so that its put still decodes under MAX_MESSAGE_DEPTH. */
export const BEP44_MAX_VALUE_DEPTH = MAX_MESSAGE_DEPTH - 2;

/** BEP 44 (ed25519): public keys are 32 bytes, signatures 64; we sign from 32-byte seeds (RFC 8032 private keys). */
export const BEP44_PUBLIC_KEY_BYTES = 32;
export const BEP44_SIGNATURE_BYTES = 64;
export const BEP44_SEED_BYTES = 32;

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

/** BEP 44: stored items "MAY expire in 2 hours" without a re-put; publishers re-put hourly. */
export const DEFAULT_ITEM_TTL_MS = 2 * 60 * 60_000;

/**
 * BEP 44 items kept. libtorrent keeps 700 by default; an honest node is among the 8 closest
 * of a small share of all items, so 4,000 is headroom, and at most about 4.6 MB with
 * ITEM_OVERHEAD_BYTES each (the byte cap below binds first when most are near 1,000 bytes).
 */
export const DEFAULT_MAX_ITEMS = 4_000;

/** BEP 44 bytes kept (values plus ITEM_OVERHEAD_BYTES per item): 4 MiB bounds the store whatever is put. */
export const DEFAULT_MAX_ITEM_BYTES = 4 * 1024 * 1024;

/**
 * What one item costs in memory beyond its value: target, key, signature (116 bytes) and the
 * map entry and object around them. Counted toward DEFAULT_MAX_ITEM_BYTES so that many tiny
 * items cannot hold more memory than the cap says.
 */
export const ITEM_OVERHEAD_BYTES = 200;

/**
 * BEP 44 items one source (IPv4 address or IPv6 /64) may have created and still hold here, as
 * for stored peers: a publisher's items are spread over the ID space, so a given node holds
 * few of one publisher's, and flushing the store takes DEFAULT_MAX_ITEMS / 32 addresses.
 */
export const DEFAULT_MAX_ITEMS_PER_SOURCE = 32;

/**
 * BEP 44 reflection budget: a get reply can carry 1,000 bytes of `v` for a 100-byte query, so
 * to a source that has not proved its address (not in our table, never answered a query of
 * ours) the bytes of replies carrying `v` stay within about this many times the bytes of the
 * get queries it sent (the "about 3x"); past that it is answered without `v`.
 */
export const BEP44_REFLECTION_RATIO = 3;

/**
 * ...plus one full reply's worth for a source we have not heard from within the window: an
 * honest lookup asks each node once, mostly nodes that do not know it yet, and must get the
 * item. A spoofed victim gets at most this plus 3x per node per window.
 */
export const BEP44_REFLECTION_ALLOWANCE_BYTES = MAX_BEP44_SEND_BYTES;

/** BEP 44 reflection budget: a source silent this long starts over with the allowance. */
export const BEP44_REFLECTION_WINDOW_MS = 60_000;

/** BEP 44 reflection budget: slots of the fixed table of sources (25 bytes each, 400 KiB); a new source takes a free or stale slot, else the least recently seen of the few it may use. */
export const BEP44_REFLECTION_SLOTS = 16_384;

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

/** Node: announce_peer (and BEP 44 put) queries sent at once after the lookup (to the K closest with tokens). */
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
