import { KrpcAbortError } from '../bep5/errors.js';
import { type DhtNode } from '../bep5/node.js';
import { type BootstrapOption } from './bootstrap-option.js';
import { CommandError } from './errors.js';
import { NO_BOOTSTRAP_ANSWER_HINT } from './constants.js';

/**
 * Bootstraps an ephemeral node for a one-shot command (peers, announce) within the command's
 * signal. Failure is a CommandError that says what was tried, never a hang: DhtNode retries
 * with backoff until the signal fires.
 */
export async function joinNetwork(
  node: DhtNode,
  bootstrap: BootstrapOption,
  signal: AbortSignal,
  options: { timeoutMs: number; timedOut: () => boolean; log?: (line: string) => void },
): Promise<number> {
  const tried = bootstrap.entries.length > 0 ? bootstrap.entries.join(', ') : 'none';
  const unresolved: string[] = [];
  const onWarning = (message: string): void => {
    const m = /^bootstrap (.+): cannot resolve \((.+)\)$/.exec(message);
    if (m) unresolved.push(`${m[1]} (${m[2]})`);
  };
  const onFailed = (info: { reason: string; retryInMs: number }): void => {
    if (info.retryInMs > 0) options.log?.(`bootstrap: ${info.reason}; retrying in ${formatSeconds(info.retryInMs)}`);
  };
  node.on('warning', onWarning);
  node.on('bootstrap-failed', onFailed);
  try {
    const size = await node.bootstrap({ signal });
    if (size > 0) return size;
    if (unresolved.length > 0) throw new CommandError(`no bootstrap host name resolved (tried: ${unresolved.join(', ')})`);
    if (bootstrap.entries.length > 0) throw new CommandError(`no bootstrap address of this address family (tried: ${tried}); check --host and --bootstrap`);
    throw new CommandError('nothing to bootstrap from: --bootstrap none and no saved routing table');
  } catch (err) {
    if (!(err instanceof KrpcAbortError)) throw err;
    if (options.timedOut()) {
      throw new CommandError(`no bootstrap node answered (tried: ${tried}) within ${formatSeconds(options.timeoutMs)}: ${NO_BOOTSTRAP_ANSWER_HINT}`);
    }
    throw new CommandError(`interrupted while bootstrapping (tried: ${tried})`);
  } finally {
    node.off('warning', onWarning);
    node.off('bootstrap-failed', onFailed);
  }
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
