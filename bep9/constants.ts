/**
 * Every number of the metadata fetcher (BEP 3 peer wire, BEP 10 extension protocol, BEP 9
 * ut_metadata), with the reason for its value. Protocol constants come first; then the limits
 * on what a peer controls (overridable per call through `MetadataLimits`); then the defaults of
 * the fetch scheduler and the process-wide connection gate.
 */

// ---------------------------------------------------------------------------------------------
// Protocol (fixed by the BEPs)

/** BEP 3: the handshake starts with this string, preceded by its length (19). */
export const PROTOCOL_STRING = 'BitTorrent protocol';

/** BEP 3: 1 (pstrlen) + 19 (pstr) + 8 (reserved) + 20 (info_hash) + 20 (peer_id). */
export const HANDSHAKE_BYTES = 68;

/** BEP 10: support for the extension protocol is `reserved[5] & 0x10`. We set no other bit. */
export const EXTENSION_PROTOCOL_BYTE = 5;
export const EXTENSION_PROTOCOL_BIT = 0x10;

/** BEP 3 message ids we look at; every other id is counted and ignored. */
export const MESSAGE_ID = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  /** BEP 10. */
  extended: 20,
} as const;

/** BEP 10: extended message id 0 is the extended handshake. */
export const EXTENDED_HANDSHAKE_ID = 0;

/**
 * The extended message id we ask peers to use for ut_metadata messages sent to us (BEP 10: ids
 * are chosen by the receiver, 1..255). Our extended handshake advertises nothing else.
 */
export const LOCAL_UT_METADATA_ID = 1;

/** BEP 9: the metadata is transferred in pieces of 16 KiB; only the last may be shorter. */
export const METADATA_PIECE_BYTES = 16_384;

/** BEP 9 msg_type values. */
export const UT_METADATA_MSG = { request: 0, data: 1, reject: 2 } as const;

/**
 * Our peer id: an Azureus-style client prefix ("DS" = dhtscope, version 0001, like the DHT `v`
 * in bep5/constants.ts) so peers can tell who connects, then 12 random bytes per connection.
 */
export const PEER_ID_PREFIX = '-DS0001-';
export const PEER_ID_BYTES = 20;

/** Info hashes and SHA-1 digests are 20 bytes (BEP 3). */
export const INFOHASH_BYTES = 20;

// ---------------------------------------------------------------------------------------------
// Limits on what a peer controls (defaults of MetadataLimits)

/**
 * Largest metadata_size (bencoded info dict) we accept: 10 MiB. The info dict grows with the
 * piece count (20 bytes each) and the file list; 10 MiB holds 500k pieces (a 4 TiB torrent at
 * 8 MiB pieces) or ~100k files with realistic paths. Real torrents beyond that are vanishingly rare (libtorrent
 * pre-sizes its metadata buffer only for claims up to 4 MiB; its hard cap is 30 MiB), and a
 * peer that claims more is far more likely lying than seeding one. A claim above it is
 * ERR_METADATA_TOO_LARGE before any request.
 *
 * The price of a hash-valid info dict at the cap is in decoding it, not fetching it: 10 MiB of
 * one-byte file entries (~437k files) takes ~0.5-0.8 s and ~220 MB of transient heap in the
 * strict decoder (bench/metadata.ts, part 4). Dicts over INFO_PARSE_OFF_THREAD_MIN_BYTES are
 * decoded on a worker thread, so the event loop stays free (blocked at most ~12 ms there).
 */
export const DEFAULT_MAX_METADATA_SIZE = 10 * 1024 * 1024;

/**
 * Longest peer wire message we buffer (length prefix value, id byte included): 64 KiB + 1.
 * The largest message a well-behaved peer sends us is a bitfield, and a torrent whose info
 * dict fits DEFAULT_MAX_METADATA_SIZE has at most 10 MiB / 20 B = 524,288 pieces, i.e. a
 * 65,536-byte bitfield. A ut_metadata data message is 16 KiB plus a ~50-byte header and an
 * extended handshake a few hundred bytes. A larger prefix (up to 4 GiB) is
 * ERR_PEER_MESSAGE_TOO_LARGE as soon as its 4 bytes arrive, before anything is allocated.
 */
export const DEFAULT_MAX_MESSAGE_LENGTH = 65_537;

/**
 * Messages accepted per connection after the handshake, keep-alives included: 2,000. A seeder
 * sends an extended handshake, a bitfield (or nothing), maybe unchoke and some haves, then one
 * data message per 16 KiB of metadata: at most 640 at the 10 MiB cap. The rest is headroom for
 * haves from a peer that is downloading while we talk; a flood of tiny messages ends here
 * (ERR_PEER_TOO_MANY_MESSAGES) instead of costing CPU until the total timeout.
 */
export const DEFAULT_MAX_MESSAGES = 2_000;

/**
 * TCP connect timeout: 5 s. Linux retransmits an unanswered SYN after 1 s and 3 s, so this
 * allows two retries; most DHT peers that do not answer by then are behind NAT and never will.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/**
 * From TCP connect until the peer's BEP 3 handshake and BEP 10 extended handshake have both
 * arrived: 5 s. Clients send both right after ours (BEP 10 says "immediately"); a peer that
 * accepts and stays silent is dropped here (ERR_PEER_TIMEOUT, phase 'handshake').
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * Whole connection, connect included: 30 s. Enough for 1 MiB of metadata at 35 KiB/s (a slow
 * home uplink shared with a swarm); a slow drip (one byte per second) or a peer that ignores
 * our requests ends here (ERR_PEER_TIMEOUT, phase 'total'). Huge metadata from a slow peer may
 * not fit: the fetcher then moves on to the next peer.
 */
export const DEFAULT_TOTAL_TIMEOUT_MS = 30_000;

/**
 * ut_metadata requests outstanding at once per connection: 4. libtorrent itself keeps 2 in
 * flight and serves requests while its send buffer holds under 160 KiB (10 pieces), queueing
 * up to 1,024 more; 4 keeps a pipeline full over a long RTT without ever hitting those limits.
 */
export const DEFAULT_REQUEST_WINDOW = 4;

/**
 * Largest bencoded header of a ut_metadata message: 1 KiB. The header is a dict of three
 * integers (~50 bytes); the bound keeps the scan for the header's end short on hostile data.
 */
export const MAX_UT_METADATA_HEADER_BYTES = 1_024;

/** Nesting accepted in that header: 4 (it is flat; unknown keys may hold a small list or dict). */
export const MAX_UT_METADATA_HEADER_DEPTH = 4;

/**
 * Largest `piece` index parsed from a ut_metadata message: 2^31 - 1, so it is a plain int32 like
 * libtorrent's. The metadata cap allows only 640 pieces; anything above is refused as unrequested.
 */
export const MAX_METADATA_PIECE_INDEX = 0x7fff_ffff;

/**
 * Nesting depth accepted in an extended handshake: 16. Real ones are 2 deep (`m` is a dict in
 * the dict); unknown keys are allowed by BEP 10, so leave room without allowing stack games.
 */
export const MAX_EXTENDED_HANDSHAKE_DEPTH = 16;

/**
 * ut_metadata requests from the peer that we answer with a reject (BEP 9: a peer without the
 * metadata MUST reject). We never advertise metadata_size, so well-behaved peers never ask;
 * past this many, requests are only counted, so a peer cannot make us queue writes.
 */
export const MAX_REJECTS_SENT = 16;

/** The peer's client name (`v` of its extended handshake) is kept up to this many bytes, escaped. */
export const MAX_CLIENT_NAME_BYTES = 64;

// ---------------------------------------------------------------------------------------------
// The info dictionary (what we keep of it)

/**
 * Nesting depth for decoding an info dict: 128. v1 dicts are 4 deep (info → files → file →
 * path); hybrid torrents add the BEP 52 `file tree`, one level per directory plus 2, so this
 * allows paths ~120 directories deep. The strict decoder recurses per level, hence a bound.
 */
export const INFO_MAX_DEPTH = 128;

/** Files listed in an InfoSummary (`fileCount` still counts them all). */
export const DEFAULT_MAX_LISTED_FILES = 100;

/**
 * Bytes kept of each untrusted string (name, path element): 1 KiB; longer ones are cut and
 * flagged `truncated`. File systems cap a name at 255 bytes, so only hostile torrents hit it.
 */
export const MAX_TEXT_BYTES = 1_024;

/** Path elements kept per listed file; deeper paths are cut and flagged `truncated`. */
export const MAX_PATH_ELEMENTS = 32;

// ---------------------------------------------------------------------------------------------
// Fetch scheduling (fetchMetadata) and the process-wide connection gate

/** Peers of one infohash tried at once: a few, never a flood (one success ends the others). */
export const DEFAULT_PEERS_AT_ONCE = 3;

/**
 * Peers tried at most per fetch: 24. With 3 at a time and 5 s connect timeouts, a list of
 * unreachable peers costs at most ~40 s; peers beyond it rarely help (a DHT get_peers
 * answer holds the same swarm again).
 */
export const DEFAULT_MAX_PEERS_PER_FETCH = 24;

/**
 * Connections to one IP per fetch: 2. Several ports on one IP are usually one host (or a
 * poisoned peer list); two still covers two users behind one NAT address.
 */
export const DEFAULT_MAX_ATTEMPTS_PER_IP_PER_FETCH = 2;

/**
 * TCP connections open at once in the whole process: 32. Each costs a slot in every NAT
 * table on the path (home routers hold 4k-16k) and up to one message + one metadata buffer.
 */
export const DEFAULT_MAX_CONNECTIONS = 32;

/** Connections open at once to one IP across all fetches: 1 (a seedbox of many torrents is not hammered). */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 1;

/**
 * New connections started per second in the whole process: 16 (burst 16). A home router keeps
 * a conntrack entry for ~120 s after a connection closes (and for an unanswered SYN), so this
 * caps lingering entries near 2,000, well under a small router's table.
 */
export const DEFAULT_CONNECTS_PER_SECOND = 16;
export const DEFAULT_CONNECT_BURST = 16;

/**
 * Connection attempts per IP across all fetches: 6 per minute, burst 3. A seedbox is a peer of
 * many torrents we may want; this spreads our visits instead of opening one per infohash at
 * once. Beyond it, the peer is skipped (ERR_PEER_IP_LIMIT), not waited for.
 */
export const DEFAULT_IP_ATTEMPTS_PER_MINUTE = 6;
export const DEFAULT_IP_ATTEMPT_BURST = 3;

/** Characters of an invalid host (or port) kept, escaped, in its PeerAttempt label. */
export const MAX_PEER_LABEL_CHARS = 64;

/** IPs whose attempt budget is remembered (least recently used forgotten first): bounds memory. */
export const DEFAULT_MAX_TRACKED_IPS = 65_536;

/**
 * Info dicts at least this long are parsed on a worker thread, not the event loop. Decoding
 * costs up to ~60 ms per MiB (a dict of one-byte files, the most values per byte; 0.6 s for
 * the 10 MiB cap), so 256 KiB blocks at most ~15 ms inline, while a real torrent's dict is a
 * few KB to a few hundred (its piece hashes), and handing one to the thread costs ~1 ms.
 */
export const INFO_PARSE_OFF_THREAD_MIN_BYTES = 256 * 1024;

/** The parser thread exits after this long without work (starting it again costs ~0.5 s of its own CPU). */
export const INFO_PARSER_IDLE_MS = 60_000;
