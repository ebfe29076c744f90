import test from 'ava';
import { announceCommand } from '../cli/commands/announce.js';
import { nodeCommand } from '../cli/commands/node.js';
import { peersCommand } from '../cli/commands/peers.js';
import { pingCommand } from '../cli/commands/ping.js';
import { sampleCommand } from '../cli/commands/sample.js';
import { type Command } from '../cli/define-command.js';
import { runCli } from './helpers/cli.js';

/** `--help` everywhere: exit 0, usage, and an example to copy. */

const COMMANDS: Record<string, Command> = { node: nodeCommand, peers: peersCommand, announce: announceCommand, sample: sampleCommand, ping: pingCommand };

test('dhtscope --help (a real process) lists every command and exits 0', async (t) => {
  const result = await runCli(t, ['--help']);
  t.is(result.code, 0, result.stderr);
  for (const name of Object.keys(COMMANDS)) t.regex(result.stdout, new RegExp(`^  ${name} +\\S`, 'm'), name);
});

test('dhtscope peers --help (a real process) exits 0 with usage and example', async (t) => {
  const result = await runCli(t, ['peers', '--help']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^Usage: dhtscope peers /);
  t.regex(result.stdout, /^Example: dhtscope peers \S/m);
});

// The same path in-process for every command (one process per command would cost ~2 s of CPU each).
for (const [name, command] of Object.entries(COMMANDS)) {
  test.serial(`${name} --help and -h print usage and an example, and return 0`, async (t) => {
    for (const flag of ['--help', '-h']) {
      let out = '';
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string) => {
        out += chunk;
        return true;
      }) as typeof process.stdout.write;
      let code: number;
      try {
        code = await command.run([flag]);
      } finally {
        process.stdout.write = write;
      }
      t.is(code, 0);
      t.is(out, command.help + '\n');
      t.regex(out, new RegExp(`^Usage: dhtscope ${name}`));
      t.regex(out, new RegExp(`^Example: dhtscope ${name} \\S[^\\n]*$`, 'm'));
      t.true(command.summary.length > 0 && !command.summary.includes('\n'));
    }
  });
}

test('every command in the table loads, and its --help summary is the command\'s own', async (t) => {
  const { COMMANDS } = await import('../cli/command-table.js');
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const command = await entry.load();
    t.is(entry.summary, command.summary, name);
    t.is(typeof command.run, 'function', name);
    t.regex(command.help, new RegExp(`^Usage: dhtscope ${name}`), name);
  }
});
