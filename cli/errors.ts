/**
 * Errors of cli/, each with a stable `code`: cli/main.ts prints either as one line without a
 * stack trace, and exits with the code it carries.
 */

/** A mistake in how the command was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
}

/**
 * A command failed for a reason the user can act on (port in use, nothing answered): printed
 * as one line without a stack trace, with its exit code (1 unless told otherwise).
 */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly code = 'ERR_COMMAND';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * node:util parseArgs throws plain errors with an `ERR_PARSE_ARGS_*` code (an unknown option,
 * a missing value); they are the caller's mistake, so they become UsageErrors with the same
 * message. Anything else is returned unchanged.
 */
export function parseArgsUsageError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') ? new UsageError((err as Error).message) : err;
}
