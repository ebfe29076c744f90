import { type Redis } from 'ioredis';

/**
 * What Redis itself says, for bench/system-memory.ts: INFO memory, every key's size and TTL,
 * and what deleting a class of keys frees.
 */

export async function infoMemory(redis: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await redis.info('memory')).split('\r\n')) {
    const [k, v] = line.split(':');
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

export interface Sized {
  key: string;
  type: string;
  bytes: number;
  /** PTTL: -1 without a TTL. */
  ttlMs: number;
}

/** Every key with its type, MEMORY USAGE (SAMPLES 0: every element counted) and PTTL. */
export async function sizeAllKeys(redis: Redis): Promise<Sized[]> {
  const out: Sized[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of keys) p.type(k).memory('USAGE', k, 'SAMPLES', 0).pttl(k);
    const res = (await p.exec()) ?? [];
    keys.forEach((key, i) => {
      const type = res[3 * i]?.[1];
      const bytes = res[3 * i + 1]?.[1];
      const ttlMs = res[3 * i + 2]?.[1];
      if (typeof bytes === 'number' && type !== 'none') out.push({ key, type: String(type), bytes, ttlMs: Number(ttlMs) }); // gone in between: skipped
    });
  } while (cursor !== '0');
  return out;
}

/** used_memory drop when each class's keys are deleted (DEL, synchronous free), class by class. */
export async function freedByClass(redis: Redis, sized: Sized[], classOf: Map<string, string>): Promise<Map<string, number>> {
  const byClass = new Map<string, string[]>();
  for (const { key } of sized) {
    const c = classOf.get(key) ?? 'other keys';
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c)!.push(key);
  }
  const freed = new Map<string, number>();
  for (const [c, names] of byClass) {
    const before = (await infoMemory(redis))['used_memory']!;
    for (let i = 0; i < names.length; i += 500) await redis.del(...names.slice(i, i + 500));
    freed.set(c, before - (await infoMemory(redis))['used_memory']!);
  }
  return freed;
}
