// Whether dist/ (the JavaScript build that bin/dhtscope.mjs runs) is there and newer than every
// source it was built from. Plain JavaScript with no dependencies: the executable checks it on
// every start, before anything else loads, in a few milliseconds.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Written last by scripts/build.mjs: its time is the build's time. */
export const BUILD_STAMP = 'BUILD.json';

/** The folders that make up the program (tsconfig.build.json's `include`; none in an installed package, which ships only the build). */
export function sourceFolders(root) {
  let text;
  try {
    text = readFileSync(join(root, 'tsconfig.build.json'), 'utf8');
  } catch {
    return [];
  }
  return JSON.parse(text).include;
}

/** Every file under the program's folders that goes into the build (sources and assets; not docs). */
export function sourceFiles(root) {
  const files = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && !e.name.endsWith('.md')) files.push(path);
    }
  };
  for (const folder of sourceFolders(root)) walk(join(root, folder));
  return files;
}

/**
 * `fresh`: the build is there and no source is newer. `missing`: no build. `stale`: `newest` (a
 * path relative to root) changed after the build. An installed package ships the build and no
 * TypeScript sources, so it is fresh.
 */
export function buildState(root) {
  let builtAtMs;
  try {
    builtAtMs = statSync(join(root, 'dist', BUILD_STAMP)).mtimeMs;
  } catch {
    return { kind: 'missing' };
  }
  let newest = null;
  for (const path of [join(root, 'tsconfig.build.json'), join(root, 'tsconfig.json'), ...sourceFiles(root)]) {
    let mtimeMs;
    try {
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      continue;
    }
    if (mtimeMs > builtAtMs && (newest === null || mtimeMs > newest.mtimeMs)) newest = { path: relative(root, path), mtimeMs };
  }
  return newest === null ? { kind: 'fresh' } : { kind: 'stale', newest: newest.path };
}
