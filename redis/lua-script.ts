import { createHash } from 'node:crypto';
import { type RedisClient } from './client.js';

/**
 * A Lua script run with EVALSHA, falling back to EVAL once when the server does not have it
 * cached (NOSCRIPT: a fresh or restarted server, or another cluster node). Keys are always
 * declared in KEYS, never built inside the script, so Redis Cluster routes and checks them.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
