import { type PeerAddress } from '../bep5/compact.js';
import { KrpcQueryError } from '../bep5/errors.js';
import { ipFamily } from '../bep5/ip.js';
import { KrpcSocket } from '../bep5/krpc-socket.js';
import { UsageError } from './errors.js';

/** What the commands that send one query to one node (ping, sample) share. */

/** `--timeout MS`: a positive integer of milliseconds. */
export function parseTimeoutMs(value: string | undefined, fallback: number): number {
  const timeoutMs = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout must be a positive integer, got ${value}`);
  return timeoutMs;
}

/**
 * Runs `query` on a socket of the target's address family (closed afterwards) and resolves to
 * its exit code. A query that fails (no answer, an error reply) is reported as one JSON object
 * on stdout with `json`, else as a line on stderr, and exits 1.
 */
export async function queryOnce(
  target: PeerAddress,
  report: { command: string; node: string; json: boolean | undefined; message?: (err: KrpcQueryError) => string },
  query: (socket: KrpcSocket) => Promise<number>,
): Promise<number> {
  const socket = new KrpcSocket({ type: ipFamily(target.host) === 6 ? 'udp6' : 'udp4' });
  await socket.bind(0);
  try {
    return await query(socket);
  } catch (err) {
    if (!(err instanceof KrpcQueryError)) throw err;
    const message = report.message?.(err) ?? err.message;
    if (report.json) process.stdout.write(JSON.stringify({ node: report.node, error: err.code, message }) + '\n');
    else process.stderr.write(`dhtscope ${report.command}: ${report.node}: ${message}\n`);
    return 1;
  } finally {
    await socket.close();
  }
}
