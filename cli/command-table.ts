import { type CommandName, SUMMARIES } from './command-summaries.js';
import type { Command } from './define-command.js';

/**
 * Every command, in the order `--help` lists them, loaded only when it runs: ts-node compiles
 * a command's module graph on first import, and a command that ran everything's imports (the
 * HTTP server, BullMQ, the crawler) took seconds of CPU to print one ping. The summaries come
 * from command-summaries.ts, which the commands read too, so `--help` needs no command module.
 */
export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

const LOADERS: Readonly<Record<CommandName, () => Promise<Command>>> = {
  run: async () => (await import('./commands/run.js')).runCommand,
  node: async () => (await import('./commands/node.js')).nodeCommand,
  peers: async () => (await import('./commands/peers.js')).peersCommand,
  announce: async () => (await import('./commands/announce.js')).announceCommand,
  put: async () => (await import('./commands/put.js')).putCommand,
  get: async () => (await import('./commands/get.js')).getCommand,
  sample: async () => (await import('./commands/sample.js')).sampleCommand,
  ping: async () => (await import('./commands/ping.js')).pingCommand,
  crawl: async () => (await import('./commands/crawl.js')).crawlCommand,
  survey: async () => (await import('./commands/survey.js')).surveyCommand,
  measure: async () => (await import('./commands/measure.js')).measureCommand,
  simnet: async () => (await import('./commands/simnet.js')).simnetCommand,
  testnet: async () => (await import('./commands/testnet.js')).testnetCommand,
  workers: async () => (await import('./commands/workers.js')).workersCommand,
  query: async () => (await import('./commands/query.js')).queryCommand,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  prune: async () => (await import('./commands/prune.js')).pruneCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  import: async () => (await import('./commands/import.js')).importCommand,
};

export const COMMANDS: Readonly<Record<string, CommandEntry>> = Object.fromEntries(
  (Object.keys(SUMMARIES) as CommandName[]).map((name) => [name, { summary: SUMMARIES[name], load: LOADERS[name] }]),
);
