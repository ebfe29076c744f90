import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { ROOT } from './helpers/cli.js';

/**
 * The layering lives in code, not only in a README sentence: imports point one way, toward
 * bep5/, which imports nothing of ours. Every relative import of every source file is checked
 * (static imports, `import type`, re-exports and dynamic `import()`, as TypeScript's own
 * pre-processor lists them) against what its folder may use.
 */

/** Folder → the folders (or single modules) it may import from, besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  bep5: [],
  // Metadata exchange (BEP 9/10) and the peer wire (BEP 3): a protocol library beside bep5.
  bep9: ['bep5'],
  crawler: ['bep5'],
  // Connecting to Redis (URL, cluster, the embedded server) and running Lua: no index knowledge.
  redis: ['bep5'],
  // The data layer sees the protocol and the one crawler module that defines what it stores.
  indexer: ['bep5', 'redis', 'crawler/discovery.ts'],
  migrations: ['bep5', 'redis', 'indexer'],
  workers: ['bep5', 'bep9', 'redis', 'crawler', 'indexer', 'migrations'],
  // The HTTP API, the dashboard and the metrics watch the whole system: every layer below them.
  server: ['bep5', 'bep9', 'redis', 'crawler', 'indexer', 'migrations', 'workers'],
  cli: ['bep5', 'bep9', 'redis', 'crawler', 'workers', 'indexer', 'server', 'migrations'],
  // Benchmarks may use anything but the tests' own helpers; what both need is in testkit/.
  bench: ['bep5', 'bep9', 'redis', 'crawler', 'workers', 'indexer', 'server', 'migrations', 'cli', 'testkit'],
  // build-state.mjs: whether dist/ is fresh, the check the executable itself makes.
  testkit: ['bep5', 'redis', 'scripts/build-state.mjs'],
  // The library as a user sees it.
  examples: ['bep5'],
};

/**
 * Arrows that point the wrong way, allowed for now. Issue 13 emptied it by re-homing modules;
 * an entry that no longer exists fails the test, and nothing should join it.
 */
const KNOWN_VIOLATIONS: readonly string[] = [
];

/** "from -> to" for every relative import that leaves its folder for one it may not use. */
export function boundaryViolations(sources: ReadonlyMap<string, string>, rules: Record<string, readonly string[]> = MAY_IMPORT): string[] {
  const out: string[] = [];
  for (const [file, source] of sources) {
    const folder = file.split('/')[0]!;
    const allowed = rules[folder];
    if (allowed === undefined) continue;
    for (const imported of ts.preProcessFile(source, true, true).importedFiles) {
      if (!imported.fileName.startsWith('.')) continue; // packages and node: builtins
      const target = posix.normalize(posix.join(posix.dirname(file), imported.fileName)).replace(/\.js$/, '.ts');
      const to = target.split('/')[0]!;
      if (to === folder) continue;
      if (allowed.some((a) => a === to || a === target)) continue;
      out.push(`${file} -> ${target}`);
    }
  }
  return out.sort();
}

function repositorySources(): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(ROOT, relative))) {
      const path = posix.join(relative, entry);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) sources.set(path, readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  for (const folder of Object.keys(MAY_IMPORT)) walk(folder);
  return sources;
}

test('a deliberately wrong fixture fails: static, type-only, re-exported and dynamic imports are all seen', (t) => {
  const fixture = new Map<string, string>([
    ['bep5/a.ts', "import { run } from '../cli/main.js';\n"],
    ['bep5/b.ts', "import type { Crawler } from '../crawler/crawler.js';\n"],
    ['bep5/c.ts', "export { census } from '../crawler/census.js';\n"],
    ['bep5/d.ts', "const m = await import('../indexer/keys.js');\n"],
    ['crawler/e.ts', "import { x } from '../workers/queues.js';\nimport { y } from '../bep5/node.js';\nimport { z } from './f.js';\n"],
    ['indexer/g.ts', "import { type Discovery } from '../crawler/discovery.js';\nimport { census } from '../crawler/census.js';\n"],
    ['bench/h.ts', "import { startRedisServer } from '../test/helpers/redis.js';\nimport { Redis } from 'ioredis';\n"],
  ]);
  t.deepEqual(boundaryViolations(fixture), [
    'bench/h.ts -> test/helpers/redis.ts',
    'bep5/a.ts -> cli/main.ts',
    'bep5/b.ts -> crawler/crawler.ts',
    'bep5/c.ts -> crawler/census.ts',
    'bep5/d.ts -> indexer/keys.ts',
    'crawler/e.ts -> workers/queues.ts',
    'indexer/g.ts -> crawler/census.ts',
  ]);
});

test('the repository: no import points the wrong way (KNOWN_VIOLATIONS is empty and must stay so)', (t) => {
  const sources = repositorySources();
  t.true(sources.size > 150, `${sources.size} source files read`);
  t.true([...sources.keys()].some((f) => f.startsWith('bep5/')) && [...sources.keys()].some((f) => f.startsWith('cli/commands/')));
  const found = boundaryViolations(sources);
  t.deepEqual(
    found.filter((v) => !KNOWN_VIOLATIONS.includes(v)),
    [],
    'new imports that point the wrong way',
  );
  t.deepEqual(
    KNOWN_VIOLATIONS.filter((v) => !found.includes(v)),
    [],
    'fixed: take these out of KNOWN_VIOLATIONS',
  );
  t.log(`${sources.size} files; ${KNOWN_VIOLATIONS.length} known violations left`);
});
