import { type Redis } from 'ioredis';

/**
 * Every key of one index (`{<prefix>}…` and its shards' `{<prefix>:<shard>}…`, BullMQ's
 * `{<prefix>:bull}` keys excluded) as JSON, and
 * back. Made for fixtures that must outlive the code that wrote them: data written by the
 * schema-4 writer, kept to test migration 005 after that writer is gone. Values are base64, so
 * binary HyperLogLog registers and arbitrary bytes survive exactly; TTLs are kept as the
 * milliseconds left at dump time. Tests only (it SCANs the keyspace, which the index never does).
 */

export type DumpedValue =
  | { type: 'string'; value: string }
  | { type: 'hash'; value: Array<[string, string]> }
  | { type: 'zset'; value: Array<[string, string]> }
  | { type: 'set'; value: string[] }
  | { type: 'list'; value: string[] };

export type DumpedKey = DumpedValue & { key: string; pttl: number | null };

export interface IndexDump {
  format: 1;
  /** The prefix the keys were written under; restoreIndex may put them under another. */
  prefix: string;
  /** What wrote them, for the reader of the fixture. */
  note: string;
  keys: DumpedKey[];
}

const b64 = (b: Buffer): string => b.toString('base64');

/** `{P}:…` (schema 4 and the global keys) or `{P:<shard>}:…` (schema 5), not BullMQ's `{P:bull}:…`. */
function ofIndex(key: string, prefix: string): boolean {
  return key.startsWith(`{${prefix}}:`) || (key.startsWith(`{${prefix}:`) && !key.startsWith(`{${prefix}:bull}`));
}
const unb64 = (s: string): Buffer => Buffer.from(s, 'base64');

/** Reads every key of the index under `prefix`, sorted by name. */
export async function dumpIndex(client: Redis, prefix: string, note: string): Promise<IndexDump> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `{${prefix}*`, 'COUNT', 1000);
    cursor = next;
    names.push(...batch.filter((k) => ofIndex(k, prefix)));
  } while (cursor !== '0');
  names.sort();
  const keys: DumpedKey[] = [];
  for (const key of names) {
    const type = await client.type(key);
    const ttl = await client.pttl(key);
    const pttl = ttl >= 0 ? ttl : null;
    if (type === 'string') keys.push({ key, pttl, type, value: b64((await client.getBuffer(key))!) });
    else if (type === 'hash') {
      const flat = await client.hgetallBuffer(key);
      keys.push({ key, pttl, type, value: Object.entries(flat).map(([f, v]) => [b64(Buffer.from(f, 'latin1')), b64(v)] as [string, string]).sort() });
    } else if (type === 'zset') {
      const flat = await client.zrangeBuffer(key, '0', '-1', 'WITHSCORES');
      const value: Array<[string, string]> = [];
      for (let i = 0; i < flat.length; i += 2) value.push([b64(flat[i]!), flat[i + 1]!.toString()]);
      keys.push({ key, pttl, type, value });
    } else if (type === 'set') keys.push({ key, pttl, type, value: (await client.smembersBuffer(key)).map(b64).sort() });
    else if (type === 'list') keys.push({ key, pttl, type, value: (await client.lrangeBuffer(key, 0, -1)).map(b64) });
    else throw new Error(`${key}: a ${type} cannot be dumped`);
  }
  return { format: 1, prefix, note, keys };
}

/**
 * Writes a dump back, under `prefix` (default: the dump's own), with each key's remaining TTL.
 * Refuses to write into an index that already has keys.
 */
export async function restoreIndex(client: Redis, dump: IndexDump, prefix = dump.prefix): Promise<number> {
  if (dump.format !== 1) throw new Error(`unknown dump format ${String(dump.format)}`);
  const from = `{${dump.prefix}}`;
  const to = `{${prefix}}`;
  const [, existing] = await client.scan('0', 'MATCH', `{${prefix}*`, 'COUNT', 1000);
  if (existing.some((k) => ofIndex(k, prefix))) throw new Error(`the index ${prefix} is not empty`);
  const p = client.pipeline();
  for (const k of dump.keys) {
    // Shard tags are chosen per prefix (indexer/shard.ts): sharded keys only restore under their own.
    if (!k.key.startsWith(from) && !(prefix === dump.prefix && ofIndex(k.key, prefix))) throw new Error(`${k.key} cannot be restored under ${to}`);
    const key = k.key.startsWith(from) ? to + k.key.slice(from.length) : k.key;
    if (k.type === 'string') p.set(key, unb64(k.value));
    else if (k.type === 'hash') p.hset(key, new Map(k.value.map(([f, v]) => [unb64(f), unb64(v)])));
    else if (k.type === 'zset') p.zadd(key, ...k.value.flatMap(([m, s]) => [s, unb64(m)] as [string, Buffer]));
    else if (k.type === 'set') p.sadd(key, ...k.value.map(unb64));
    else p.rpush(key, ...k.value.map(unb64));
    if (k.pttl !== null) p.pexpire(key, Math.max(1, k.pttl));
  }
  for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  return dump.keys.length;
}
