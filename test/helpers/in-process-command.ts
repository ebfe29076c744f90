import { type Command } from '../../cli/define-command.js';
import { CommandError, UsageError } from '../../cli/errors.js';

/**
 * Runs a CLI command in this process, capturing stdout and stderr and mapping errors to exit
 * codes as cli/main.ts does. A real `dhtscope` process costs ~3 s of CPU to start (ts-node),
 * so tests run the binary once per exit code and everything else through this. Not
 * reentrant: it swaps process.stdout/stderr.write, so callers run it from serial tests.
 */

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runInProcess(command: Command, argv: string[]): Promise<InProcessRun> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await command.run(argv), stdout, stderr };
  } catch (e) {
    if (e instanceof UsageError) return { code: 2, stdout, stderr: stderr + e.message };
    if (e instanceof CommandError) return { code: e.exitCode, stdout, stderr: stderr + e.message };
    throw e;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
