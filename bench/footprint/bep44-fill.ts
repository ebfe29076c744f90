/**
 * bench/footprint.ts's BEP 44 part: the immutable items each node is filled with over UDP, the
 * fill itself (get for the token, then put), the get check that the node holds them, and the
 * retry both fills share. Our own KRPC client side (bep5/krpc-socket.ts), as for the peers.
 */
import { encode } from '../../bep5/bencode.js';
import { immutableTarget } from '../../bep5/bep44.js';
import { type PeerAddress } from '../../bep5/compact.js';
import { KrpcTimeoutError } from '../../bep5/errors.js';
import { type KrpcSocket } from '../../bep5/krpc-socket.js';
import { seededRandom } from '../../bep5/random.js';

/** One address's socket and node ID (footprint.ts's Source fits). */
export interface Client {
  socket: KrpcSocket;
  id: Buffer;
}

export interface Item {
  /** The value: a byte string. */
  v: Buffer;
  /** Its bencoded bytes (`<len>:<bytes>`): what is hashed and stored. */
  vBytes: Buffer;
  /** SHA-1 of vBytes (bep5/bep44.ts immutableTarget). */
  target: Buffer;
}

/** `count` byte strings of random lengths in [minBytes, maxBytes] and random content, from `seed`. */
export function makeItems(count: number, minBytes: number, maxBytes: number, seed: number): Item[] {
  const rng = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const v = rng.bytes(minBytes + (rng.bytes(4).readUInt32LE(0) % (maxBytes - minBytes + 1)));
    const vBytes = encode(v);
    return { v, vBytes, target: immutableTarget(vBytes) };
  });
}

/** Runs `run`, again up to twice more when it times out (counted by `onRetry`). */
export async function withRetry<T>(run: () => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof KrpcTimeoutError) || attempt >= 2) throw err;
      onRetry();
    }
  }
}

export interface ItemFillResult {
  ms: number;
  /** put queries answered with success (ours answers success even when its caps refuse the item). */
  put: number;
  failed: number;
  retries: number;
  errors: Record<string, number>;
}

const errorName = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * Client i puts items i*perSource .. i*perSource+perSource-1, each a get (for the token) then a
 * put with that token; all clients at once, one query in flight each.
 */
export async function fillItems(clients: Client[], items: Item[], perSource: number, to: PeerAddress): Promise<ItemFillResult> {
  const result: ItemFillResult = { ms: 0, put: 0, failed: 0, retries: 0, errors: {} };
  const retry = (): void => void result.retries++;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      for (const item of items.slice(i * perSource, (i + 1) * perSource)) {
        try {
          const { reply } = await withRetry(() => c.socket.query(to, { method: 'get', id: c.id, target: item.target }), retry);
          if (reply.token === undefined) throw new Error('get reply without a token');
          const token = reply.token;
          await withRetry(() => c.socket.query(to, { method: 'put', id: c.id, token, v: item.v, vBytes: item.vBytes }), retry);
          result.put++;
        } catch (err) {
          result.failed++;
          result.errors[errorName(err)] = (result.errors[errorName(err)] ?? 0) + 1;
        }
      }
    }),
  );
  result.ms = performance.now() - t0;
  return result;
}

export interface ItemCheckResult {
  sampled: number;
  /** Replies whose v was the item's value, byte for byte. */
  returned: number;
  /** Replies without v. */
  missing: number;
  /** Replies with some other v. */
  wrong: number;
  failed: number;
  retries: number;
}

/**
 * A get for every `every`th item, the sampled ones split evenly over `checkers` (addresses that
 * never put anything here), each asking its share in turn; counts the values that come back.
 */
export async function checkItems(checkers: Client[], items: Item[], every: number, to: PeerAddress): Promise<ItemCheckResult> {
  const out: ItemCheckResult = { sampled: 0, returned: 0, missing: 0, wrong: 0, failed: 0, retries: 0 };
  const sampled = items.filter((_, k) => k % every === 0);
  const share = Math.ceil(sampled.length / checkers.length);
  await Promise.all(
    checkers.map(async (c, i) => {
      for (const item of sampled.slice(i * share, (i + 1) * share)) {
        out.sampled++;
        try {
          const { reply } = await withRetry(() => c.socket.query(to, { method: 'get', id: c.id, target: item.target }), () => void out.retries++);
          if (reply.vBytes === undefined) out.missing++;
          else if (reply.vBytes.equals(item.vBytes)) out.returned++;
          else out.wrong++;
        } catch {
          out.failed++;
        }
      }
    }),
  );
  return out;
}
