import { fileURLToPath } from 'node:url';

/**
 * A module that runs in a child process or a worker thread, found beside the module that starts
 * it. Run from the TypeScript sources (tests, benchmarks), the child is a `.ts` file and needs
 * the ts-node loader, because hooks registered at run time are not inherited by children. Run
 * from the build (`dist/`, what `bin/dhtscope.mjs` runs), it is the `.js` file and needs no
 * loader, so a long-lived child never loads the TypeScript compiler.
 */
export interface ChildModule {
  /** Absolute path of the child's file. */
  path: string;
  url: URL;
  /** Node flags the child needs before any of its own. */
  execArgv: string[];
}

// In the sources this file is bep5/child-module.ts, so the register script is one folder up.
const REGISTER = fileURLToPath(new URL('../scripts/ts-node-register.mjs', import.meta.url));

/** `baseName` without extension, relative to the folder of `parentUrl` (the caller's `import.meta.url`). */
export function childModule(parentUrl: string, baseName: string): ChildModule {
  const fromSources = parentUrl.endsWith('.ts');
  const url = new URL(`${baseName}${fromSources ? '.ts' : '.js'}`, parentUrl);
  return { path: fileURLToPath(url), url, execArgv: fromSources ? ['--import', REGISTER] : [] };
}
