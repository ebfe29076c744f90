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
