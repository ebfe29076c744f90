import { parseArgs } from 'node:util';
import { MIGRATE_HELP, runMigrate } from '../../migrations/command.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, openIndex, toCommandError } from '../index-options.js';
import { type Command } from '../usage-error.js';

const help = `${MIGRATE_HELP}
${INDEX_OPTIONS_HELP}
  -h, --help        show this help

Exit code 0 on success, 1 when the schema is newer than this dhtscope or the lock is busy.

Example: dhtscope migrate --status`;

export const migrateCommand: Command = {
  summary: 'apply the Redis index schema migrations (or show their status)',
  help,
  async run(argv) {
    // Our own options are split off; the rest go to the migrations' parser (strict).
    const { values, tokens } = parseArgs({
      args: argv,
      strict: false,
      tokens: true,
      options: { ...INDEX_COMMAND_OPTIONS, help: { type: 'boolean', short: 'h' }, to: { type: 'string' } },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    const own = new Set(Object.keys(INDEX_COMMAND_OPTIONS));
    const rest: string[] = [];
    for (const t of tokens ?? []) {
      if (t.kind === 'option' && own.has(t.name)) continue;
      if (t.kind === 'option') {
        rest.push(t.rawName);
        if (t.value !== undefined) rest.push(t.value);
      } else if (t.kind === 'positional') rest.push(t.value);
    }
    const index = await openIndex({
      'redis-url': values['redis-url'] as string | undefined,
      prefix: values.prefix as string | undefined,
      'data-dir': values['data-dir'] as string | undefined,
    });
    try {
      return await runMigrate(rest, { redis: index.connection.client, keys: index.keys, out: (text) => process.stdout.write(text + '\n') });
    } catch (err) {
      throw toCommandError(err);
    } finally {
      await index.connection.close();
    }
  },
};
