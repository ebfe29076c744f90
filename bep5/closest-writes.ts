import { type NodeInfo } from './compact.js';
import { DEFAULT_ANNOUNCE_CONCURRENCY } from './constants.js';
import { KrpcRemoteError } from './errors.js';
import { type ClosestNode } from './lookup.js';

/** What the writes after a lookup came to. */
export interface WriteOutcome {
  /** Nodes that answered the write with success. */
  acknowledged: NodeInfo[];
  /** KRPC errors the nodes answered with, by code. */
  errors: Record<number, number>;
  /** Writes without an answer (timeout, send failure, abort). */
  failed: number;
}

/**
 * The second half of announce_peer and BEP 44 put: one write to each of a lookup's closest
 * nodes that gave a write token, `concurrency` at a time.
 */
export async function writeToClosest(
  closest: readonly ClosestNode[],
  write: (node: NodeInfo, token: Buffer) => Promise<unknown>,
  concurrency = DEFAULT_ANNOUNCE_CONCURRENCY,
): Promise<WriteOutcome> {
  const targets = closest.filter((c): c is ClosestNode & { token: Buffer } => c.token !== undefined);
  const outcome: WriteOutcome = { acknowledged: [], errors: {}, failed: 0 };
  for (let i = 0; i < targets.length; i += concurrency) {
    await Promise.all(
      targets.slice(i, i + concurrency).map(async ({ node, token }) => {
        try {
          await write(node, token);
          outcome.acknowledged.push(node);
        } catch (err) {
          if (err instanceof KrpcRemoteError) outcome.errors[err.krpcCode] = (outcome.errors[err.krpcCode] ?? 0) + 1;
          else outcome.failed++;
        }
      }),
    );
  }
  return outcome;
}
