// Builds dist/: the program's TypeScript compiled by tsc (tsconfig.build.json, with .d.ts types
// and source maps) and its other files (Lua scripts, the dashboard's assets, the libtorrent host)
// copied beside it. `npm install` runs it (the `prepare` script), and so do `npm start` and
// `npm test` when the build is missing or older than the sources (`--if-stale`). Messages go to
// stderr, so that `npm test -- --tap` keeps a clean TAP stream.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP, buildState, sourceFiles } from './build-state.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

if (process.argv.includes('--if-stale')) {
  const state = buildState(root);
  if (state.kind === 'fresh') process.exit(0);
  process.stderr.write(state.kind === 'missing' ? 'dhtscope: building dist/ (none yet)\n' : `dhtscope: rebuilding dist/ (${state.newest} changed)\n`);
}

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 2, 2] });
if (compiled.status !== 0) {
  process.stderr.write('dhtscope: the build failed (tsc, above); dist/ left without a build stamp\n');
  process.exit(1);
}
let assets = 0;
for (const path of sourceFiles(root)) {
  if (path.endsWith('.ts')) continue;
  const target = join(dist, relative(root, path));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(path, target);
  assets++;
}
writeFileSync(join(dist, BUILD_STAMP), JSON.stringify({ builtAt: new Date().toISOString() }) + '\n');
process.stderr.write(`dhtscope: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s (${assets} assets copied)\n`);
