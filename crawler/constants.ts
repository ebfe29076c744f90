/**
 * The crawler's defaults, each with its reason. They are polite enough for a home router:
 * 200 queries/s is about 60 kB/s up and a few hundred NAT entries a second, which consumer
 * routers handle; flags raise every one of them for a server with a real uplink.
 */

/** Queries per second, all kinds together. */
export const CRAWL_DEFAULT_RATE = 200;

/** Queries in flight. At 200/s and timeouts up to 3 s, 256 leaves room for slow replies. */
export const CRAWL_DEFAULT_INFLIGHT = 256;

/** Queries per second to one IP: several nodes may share an address (NAT), none is hammered. */
export const CRAWL_DEFAULT_PER_IP_RATE = 2;

/**
 * Infohash fingerprints `run` keeps (crawler/recent-fingerprints.ts): past this many, the
 * older half is forgotten. 32 M is the whole DHT's sample set and then some (a 10 M-node
 * survey found 30.9 M infohashes, bench/RESULTS.md) in at most 32 M * 12 B = 384 MB; a crawl
 * that runs for months holds no more than that, whatever it was shown.
 */
export const CRAWL_RUN_MAX_INFOHASHES = 32_000_000;

/** get_peers per second for newly seen infohashes (asked of the node that sampled them). */
export const CRAWL_DEFAULT_GET_PEERS_RATE = 20;

/** Adaptive timeout bounds: 3x the 95th percentile RTT, within these limits. */
export const CRAWL_MIN_TIMEOUT_MS = 300;
export const CRAWL_MAX_TIMEOUT_MS = 3_000;

/**
 * The one retry of a node that timed out waits this many times longer (still at most the
 * maximum): a retry is for a node that may only have been slow, and on loopback, where the
 * adaptive timeout sits at its 300 ms floor, a busy machine alone delays replies that much
 * (the acceptance crawl reached 97.5% instead of 99.9% of nodes while other suites ran).
 */
export const CRAWL_RETRY_TIMEOUT_FACTOR = 4;

/**
 * Share of visits that ask a node for its own neighbourhood (what its table knows best);
 * the rest ask for the thinnest-known prefix. Chosen by measurement on the testnet
 * (bench/RESULTS.md).
 */
export const CRAWL_NEIGHBOURHOOD_SHARE = 0.5;

/**
 * While the discovery sink reports itself saturated (Redis down and the spool about full),
 * the crawler checks again this often before it sends anything new. Idle waiting costs no
 * packets, and a tenth of a second is nothing next to an outage.
 */
export const CRAWL_SINK_POLL_MS = 100;

/**
 * Nodes of one client version (`v`, or none) that must lack BEP 51, with not one node of that
 * version having it, before the crawler asks that version's nodes find_node first. A version
 * seen with BEP 51 even once is always sampled, so a client that mixes both keeps its samples;
 * 8 keeps the learning cost (a silent sample each) small next to a network's worth of nodes.
 */
export const CRAWL_CLIENT_NO_BEP51_AFTER = 8;

/**
 * Samples asked of one node in one sweep, at most. BEP 51: a node that holds more infohashes
 * than one reply carries (`num` above the samples) and allows another sample at once
 * (`interval` 0) is asked again while its answers still bring infohashes we had not seen; a
 * reply holds at most 20 from libtorrent, so 16 covers a few hundred stored infohashes.
 */
export const CRAWL_MAX_SAMPLES_PER_SWEEP = 16;

/**
 * SO_RCVBUF asked for a crawling node's socket: at thousands of queries per second, replies
 * arrive in bursts that overflow the kernel's default buffer (rmem_default, 208 KiB on most
 * Linux systems), and what does not fit is dropped before the crawler sees it. Linux caps the
 * value at net.core.rmem_max (the README says how to raise it).
 */
export const CRAWL_RECV_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * First contacts visited, sample first, before the crawler judges from what they turned out to be
 * whether find_node first is cheaper (crawl-learning.ts findNodeFirst): enough for the share of BEP 51
 * nodes among them to be known within a few points.
 */
export const CRAWL_FIRST_CONTACT_LEARNING = 200;

/**
 * Second tries of silent first contacts (crawl-learning.ts firstContactRetryPays) made before
 * judging whether they pay, and the share of them that must answer for the crawler to go on
 * retrying: on a network that loses 1% of packets about 1% of the retries of live-looking
 * contacts answer; on one that loses none, none do, and every retry is a packet to a dead node.
 */
export const CRAWL_RETRY_LEARNING = 100;
export const CRAWL_RETRY_MIN_YIELD = 0.01;

/**
 * Kernel receive-buffer drops (crawler/receive-drops.ts): a timeout that came while the kernel
 * dropped datagrams is tried again up to this many times before it counts, and the rate is cut
 * to this share at once, then raised by the recovery factor every CRAWL_RATE_ADAPT_MS after
 * ten such periods without drops, never below CRAWL_MIN_RATE_SHARE of what was asked for.
 */
export const CRAWL_DROP_RETRIES = 3;
export const CRAWL_DROP_BACKOFF = 0.8;
export const CRAWL_DROP_RECOVERY = 1.05;
export const CRAWL_MIN_RATE_SHARE = 0.1;
export const CRAWL_RATE_ADAPT_MS = 250;

/**
 * A crawl of one partition (a shared survey) that knows fewer than CRAWL_DESCENT_UNTIL of its
 * nodes asks the other nodes it hears of for its partition, as a lookup's hops would, at most
 * CRAWL_DESCENT_MAX_QUERIES times: a lookup takes 3-5 hops of 3-8 nodes each.
 */
export const CRAWL_DESCENT_UNTIL = 16;
export const CRAWL_DESCENT_MAX_QUERIES = 64;

/**
 * BEP 33 census probes: a get_peers with `scrape` for one of a node's own samples (the only
 * infohash we know it stores: libtorrent and dhtscope answer with filters only for a swarm they
 * hold). The first CRAWL_SCRAPE_PROBE_FIRST nodes that give samples in a sweep are all asked,
 * so a small network is measured in full; after that one in CRAWL_SCRAPE_PROBE_EVERY, at most
 * CRAWL_SCRAPE_PROBES_PER_SWEEP a sweep. At 40% BEP 51 nodes that is up to about 2.5% more
 * packets until the cap (a 10 M survey: 1,024 of 11.9 M, 0.01%), and 1,024 verdicts give the
 * share within about ±3 points.
 */
export const CRAWL_SCRAPE_PROBE_FIRST = 64;
export const CRAWL_SCRAPE_PROBE_EVERY = 16;
export const CRAWL_SCRAPE_PROBES_PER_SWEEP = 1_024;
