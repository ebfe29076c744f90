import { type Command } from './usage-error.js';

/**
 * Every command, in the order `--help` lists them, loaded only when it runs: ts-node compiles
 * a command's module graph on first import, and a command that ran everything's imports (the
 * HTTP server, BullMQ, the crawler) took seconds of CPU to print one ping. Summaries live here
 * so `--help` needs no module; test/cli-help.test.ts checks they match the commands' own.
 */
export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  run: { summary: 'run everything: node, crawler, workers, Redis index and HTTP API', load: async () => (await import('./commands/run.js')).runCommand },
  node: { summary: 'run a DHT node until Ctrl-C, then save its routing table', load: async () => (await import('./commands/node.js')).nodeCommand },
  peers: { summary: 'find the peers of an infohash or magnet link (get_peers lookup)', load: async () => (await import('./commands/peers.js')).peersCommand },
  announce: { summary: 'announce that you have a torrent (announce_peer to the closest nodes)', load: async () => (await import('./commands/announce.js')).announceCommand },
  sample: { summary: 'ask one node for a sample of the infohashes it stores (BEP 51)', load: async () => (await import('./commands/sample.js')).sampleCommand },
  ping: { summary: 'ping one DHT node and show its ID, version and RTT', load: async () => (await import('./commands/ping.js')).pingCommand },
  crawl: { summary: 'crawl the DHT: every node, its infohashes and their peers, to an NDJSON file', load: async () => (await import('./commands/crawl.js')).crawlCommand },
  measure: { summary: 'measure the DHT: size estimate with a 95% interval, client census, churn', load: async () => (await import('./commands/measure.js')).measureCommand },
  testnet: { summary: 'run a local test DHT (loopback addresses) with a ground-truth file, until Ctrl-C', load: async () => (await import('./commands/testnet.js')).testnetCommand },
  workers: {
    summary: 'apply queued discovery batches to the Redis index and look up fresh peers (scale out: run more)',
    load: async () => (await import('./commands/workers.js')).workersCommand,
  },
  query: {
    summary: 'query the Redis index: an infohash, its peers, recent, popular, stats, census, name search',
    load: async () => (await import('./commands/query.js')).queryCommand,
  },
  migrate: { summary: 'apply the Redis index schema migrations (or show their status)', load: async () => (await import('./commands/migrate.js')).migrateCommand },
  prune: { summary: 'remove infohashes not seen for a while from the Redis index (retention)', load: async () => (await import('./commands/prune.js')).pruneCommand },
};
