import { MIGRATE_HELP, runMigrate } from '../../migrations/command.js';
import { defineCommand } from '../define-command.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, withIndex } from '../index-options.js';

const help = `${MIGRATE_HELP}
${INDEX_OPTIONS_HELP}
  -h, --help        show this help

Exit code 0 on success, 1 when the schema is newer than this dhtscope or the lock is busy.

Example: dhtscope migrate --status`;

export const migrateCommand = defineCommand({
  name: 'migrate',
  help,
  // Our own options are split off; the rest go to the migrations' parser (strict).
  options: INDEX_COMMAND_OPTIONS,
  forward: { to: { type: 'string' } },
  async run({ values, rest }) {
    return withIndex(values, (index) => runMigrate(rest, { redis: index.connection.client, keys: index.keys, out: (text) => process.stdout.write(text + '\n') }));
  },
});
