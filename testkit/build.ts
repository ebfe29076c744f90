import { fileURLToPath } from 'node:url';
import { buildState } from '../scripts/build-state.mjs';

/**
 * Tests and benchmarks that start the `dhtscope` executable run what users run: the build in
 * dist/, made once by `npm test` (its `pretest` script) or `npm run build`. Started from a
 * single test file (`npx ava FILE`) with a missing or stale build, they fail at once with this
 * message rather than with the executable's exit code.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
let checked = false;

export function requireFreshBuild(): void {
  if (checked) return;
  const state = buildState(ROOT);
  if (state.kind === 'missing') throw new Error('dist/ holds no build: run `npm run build` (npm test does it first)');
  if (state.kind === 'stale') throw new Error(`dist/ is older than the sources (${state.newest} changed): run \`npm run build\` (npm test does it first)`);
  checked = true;
}
