/**
 * Each command's one-line summary, in the order `dhtscope --help` lists them. A module of its
 * own that imports nothing: the command table reads it to list the commands without loading
 * any of them, and defineCommand reads it so a command's summary is written only here.
 */
export const SUMMARIES = {
  run: 'run everything: node, crawler, workers, Redis index and HTTP API',
  node: 'run a DHT node until Ctrl-C, then save its routing table',
  peers: 'find the peers of an infohash or magnet link (get_peers lookup)',
  announce: 'announce that you have a torrent (announce_peer to the closest nodes)',
  put: 'store a value in the DHT (BEP 44: immutable, or mutable and signed) and print its target',
  get: 'read a value stored in the DHT (BEP 44) by its target, or by public key and salt',
  sample: 'ask one node for a sample of the infohashes it stores (BEP 51)',
  ping: 'ping one DHT node and show its ID, version and RTT',
  crawl: 'crawl the DHT: every node, its infohashes and their peers, to an NDJSON file',
  survey: 'show a shared survey (crawl --survey NAME): partitions done, coverage, rates, size estimate',
  measure: 'measure the DHT: size estimate with a 95% interval, client census, churn',
  simnet: 'serve a simulated DHT of up to millions of nodes on loopback (for crawl --simnet), until Ctrl-C',
  testnet: 'run a local test DHT (loopback addresses) with a ground-truth file, until Ctrl-C',
  workers: 'apply queued discovery batches to the Redis index and look up fresh peers (scale out: run more)',
  query: 'query the Redis index: an infohash, its peers, recent, popular, stats, census, name search',
  migrate: 'apply the Redis index schema migrations (or show their status)',
  prune: 'remove infohashes not seen for a while from the Redis index (retention)',
  export: 'write the Redis index to NDJSON or CSV, one line per infohash (constant memory)',
  import: 'merge an export (NDJSON or CSV) into the Redis index: earliest first seen, latest last seen',
} as const;

export type CommandName = keyof typeof SUMMARIES;
