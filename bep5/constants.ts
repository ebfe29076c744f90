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
 * Per-query timeout. Mainline replies arrive within 1 s at the 95th percentile in published
 * measurements; 2 s leaves room for slow links without holding slots for long. Lookups use
 * their own soft timeout on top of this.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 2_000;

/**
 * Queries in flight per socket. Bounds the pending map (memory) and the burst a node can
 * emit; a crawler raises it explicitly.
 */
export const DEFAULT_MAX_INFLIGHT = 256;

/** The version we send in `v`: "DS" (dhtscope) + two version bytes (0.1). */
export const CLIENT_VERSION = Buffer.from([0x44, 0x53, 0x00, 0x01]);
