#!/usr/bin/env node
// The `dhtscope` executable. It runs the JavaScript build in dist/ (scripts/build.mjs; `npm
// install` makes it), so that long-lived processes do not load the TypeScript compiler: a
// process running the sources through ts-node holds about 110 MB more and starts 1 s later.
// DHTSCOPE_FROM_SOURCES=1 runs the TypeScript sources through ts-node instead (for development).
import { fileURLToPath } from 'node:url';
import { buildState } from '../scripts/build-state.mjs';

if (process.env.DHTSCOPE_FROM_SOURCES === '1') {
  await import('../scripts/ts-node-register.mjs');
  await import('../cli/main.ts');
} else {
  const state = buildState(fileURLToPath(new URL('..', import.meta.url)));
  if (state.kind === 'fresh') {
    await import('../dist/cli/main.js');
  } else {
    const why = state.kind === 'missing' ? 'dist/ holds no build' : `dist/ is older than the sources (${state.newest} changed since it was built)`;
    process.stderr.write(
      `dhtscope: ${why}.\n` +
        'Build it with `npm run build` (npm install, npm start and npm test also do it), or set\n' +
        'DHTSCOPE_FROM_SOURCES=1 to run the TypeScript sources through ts-node.\n',
    );
    process.exitCode = 1;
  }
}
