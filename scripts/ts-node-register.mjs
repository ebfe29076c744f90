// Registers ts-node's ESM hooks without the deprecated --loader flag (no ExperimentalWarning).
// Resolved against this file's folder, not the cwd, so it works from anywhere.
import { register } from 'node:module';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.TS_NODE_PROJECT ??= join(root, 'tsconfig.json');
process.env.TS_NODE_TRANSPILE_ONLY ??= 'true';
register('ts-node/esm', pathToFileURL(root + '/'));
