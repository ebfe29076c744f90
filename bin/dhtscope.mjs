#!/usr/bin/env node
// The `dhtscope` executable: registers ts-node (transpile only), then runs the TypeScript CLI.
import '../scripts/ts-node-register.mjs';

await import('../cli/main.ts');
