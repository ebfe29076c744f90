import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RedisClient } from './client.js';

/**
 * A Lua script run with EVALSHA, falling back to EVAL once when the server does not have it
 * cached (NOSCRIPT: a fresh or restarted server, or another cluster node). Keys are always
 * declared in KEYS, never built inside the script, so Redis Cluster routes and checks them.
 *
 * Scripts live in named `.lua` files beside the module that runs them (`<folder>/lua/`), as in
 * bullmq: they read as Lua, with their KEYS and ARGV described in their first lines.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly source: string,
    /** Where the source came from, for error messages; `inline` for a string. */
    readonly name = 'inline',
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Reads a script file once, at module load (a missing file fails at start, not mid-run). A
   * line `-- @include <path>` is replaced by that file (relative to the including one), so
   * scripts share helpers, as bullmq's do; each file is included once, nested includes too.
   */
  static fromFile(url: URL): LuaScript {
    const path = fileURLToPath(url);
    return new LuaScript(withIncludes(path, new Set()), basename(path));
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /** As run(), but binary bulk strings in the reply stay Buffers (run() decodes them as UTF-8). */
  async runBuffer(client: RedisClient, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args];
    try {
      return await client.callBuffer('EVALSHA', [this.sha, ...rest]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return await client.callBuffer('EVAL', [this.source, ...rest]);
    }
  }
}

const INCLUDE = /^--\s*@include\s+(\S+)\s*$/;

function withIncludes(path: string, seen: Set<string>): string {
  seen.add(path);
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => {
      const m = INCLUDE.exec(line);
      if (m === null) return line;
      const target = resolve(dirname(path), m[1]!);
      return seen.has(target) ? `-- (${m[1]} already included)` : withIncludes(target, seen).replace(/\n$/, '');
    })
    .join('\n');
}
