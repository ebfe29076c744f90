import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { pruneIndexed } from '../../indexer/sharded-prune.js';
import { DEFAULT_RETAIN_DAYS } from '../../indexer/retention-constants.js';
import { ensureSchema } from '../../migrations/runner.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, withIndex } from '../index-options.js';
import { defineCommand } from '../define-command.js';
import { parseAmount, parseInteger } from '../number-options.js';

const help = `Usage: dhtscope prune [--older-than DAYS] [--max-infohashes N] [--dry-run] [--json]

Removes infohashes that went quiet from the Redis index, with everything kept about them
(sightings, sources, peers, metadata, name search entries). An infohash seen again later comes
back as new. \`dhtscope run\` does the same every hour (its --retain-days, --max-infohashes).

  --older-than DAYS   prune infohashes not seen for DAYS days (default ${DEFAULT_RETAIN_DAYS}; fractions allowed)
  --max-infohashes N  and keep at most N infohashes, the most recently seen
  --dry-run           only count what would be pruned
  --json              print one JSON object: pruned, conflicts, remaining, dryRun
${INDEX_OPTIONS_HELP}
  -h, --help          show this help

Example: dhtscope prune --older-than 7 --dry-run`;

export const pruneCommand = defineCommand({
  name: 'prune',
  help,
  options: {
    ...INDEX_COMMAND_OPTIONS,
    'older-than': { type: 'string' },
    'max-infohashes': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  argsError: (got) => `prune takes no arguments, got ${JSON.stringify(got[0])}`,
  async run({ values }) {
    const days = parseAmount(values['older-than'], '--older-than', DEFAULT_RETAIN_DAYS, 'of days', true);
    const maxInfohashes = values['max-infohashes'] === undefined ? undefined : parseInteger(values['max-infohashes'], '--max-infohashes', 0, 0);

    return withIndex(values, async (index) => {
      const redis = index.connection.client;
      await ensureSchema(redis, index.keys, { migrate: false });
      const result = await pruneIndexed(redis, {
        keys: ShardedIndexKeys.of(index.keys.prefix),
        seenBefore: Date.now() - days * 86_400_000,
        maxInfohashes,
        dryRun: values['dry-run'] === true,
      });
      if (values.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        const rule = `not seen for ${days} days${maxInfohashes !== undefined ? ` or beyond the ${maxInfohashes} most recently seen` : ''}`;
        process.stdout.write(
          result.dryRun
            ? `would prune ${result.pruned} infohashes (${rule}); ${result.remaining} in the index\n`
            : `pruned ${result.pruned} infohashes (${rule}); ${result.remaining} kept${result.conflicts > 0 ? `; ${result.conflicts} left alone because they were written meanwhile` : ''}\n`,
        );
      }
      return 0;
    });
  },
});
