/**
 * dhtscope as a library JS users can install (issue 16, item 4): `npm pack` of the project
 * installs, offline from the npm cache the project's own install filled, into a scratch project
 * outside the repository, where `import { DhtNode } from 'dhtscope'` runs in plain Node 20 ESM
 * and type-checks in a TypeScript consumer. The pack ships the build and its types, not tests,
 * benchmarks or TypeScript sources.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireFreshBuild } from '../testkit/build.js';
import { ROOT } from './helpers/cli.js';
import { loopbackHost } from './helpers/udp.js';

const run = promisify(execFile);
const NPM = 'npm';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

/**
 * A lock for the scratch project: the tarball, plus exactly the project's own locked runtime
 * packages (and @types/node for the TypeScript consumer). npm then needs no registry metadata,
 * only the tarballs the project's install left in the cache, so it installs with --offline.
 */
async function consumerLock(tarball: string, tarballName: string): Promise<object> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const self = lock.packages['']!;
  const integrity = 'sha512-' + createHash('sha512').update(await readFile(tarball)).digest('base64');
  const dependencies = { dhtscope: `file:${tarballName}`, '@types/node': lock.packages['node_modules/@types/node']!.version! };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies },
    'node_modules/dhtscope': { version: self.version, resolved: `file:${tarballName}`, integrity, dependencies: self['dependencies'], bin: self['bin'], engines: self['engines'] },
  };
  const typesToo = new Set(['node_modules/@types/node', 'node_modules/undici-types']);
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || (entry.dev === true && !typesToo.has(path))) continue;
    const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
    packages[path] = kept;
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

test('npm pack installs offline into a scratch project, where plain Node imports DhtNode and TypeScript type-checks it', async (t) => {
  t.timeout(240_000);
  requireFreshBuild();
  const scratch = await mkdtemp(join(tmpdir(), 'dhtscope-consumer-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));

  // --ignore-scripts: `prepare` would rebuild dist/ under the other test files' feet.
  const packed = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [pack] = JSON.parse(packed.stdout) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>;
  const paths = pack!.files.map((f) => f.path);
  t.true(paths.includes('dist/bep5/index.js') && paths.includes('dist/bep5/index.d.ts') && paths.includes('bin/dhtscope.mjs'), 'the build, its types and the executable are in the pack');
  t.deepEqual(paths.filter((p) => !/^(dist\/|bin\/|scripts\/build-state\.mjs$|README\.md$|package\.json$)/.test(p)), [], 'nothing but the build, the executable and the README');
  t.deepEqual(paths.filter((p) => (p.endsWith('.ts') && !p.endsWith('.d.ts')) || p.endsWith('.map')), [], 'no TypeScript sources and no source maps');
  t.true(pack!.size < 1_500_000, `the pack is ${pack!.size} bytes`);

  const consumer = join(scratch, 'consumer');
  await run('mkdir', [consumer]);
  const lock = await consumerLock(join(scratch, pack!.filename), `../${pack!.filename}`);
  const dependencies = (lock as { packages: Record<string, { dependencies?: object }> }).packages['']!.dependencies;
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2));
  await writeFile(join(consumer, 'package-lock.json'), JSON.stringify(lock, null, 2));
  await run(NPM, ['install', '--offline', '--no-audit', '--no-fund'], { cwd: consumer, maxBuffer: 16 << 20 });

  // Plain Node 20 ESM: no loader, no TypeScript.
  const host = loopbackHost();
  await writeFile(
    join(consumer, 'main.mjs'),
    `import { DhtNode } from 'dhtscope';\n` +
      `const node = new DhtNode({ host: '${host}', port: 0, bootstrap: [] });\n` +
      `await node.start();\n` +
      `console.log('listening ' + node.address().host + ':' + node.address().port);\n` +
      `await node.stop();\n`,
  );
  const ran = await run(process.execPath, ['main.mjs'], { cwd: consumer });
  t.regex(ran.stdout, new RegExp(`^listening ${host.replaceAll('.', '\\.')}:\\d+\\n$`));

  // A TypeScript consumer type-checks against the shipped .d.ts, and a wrong use fails.
  await writeFile(
    join(consumer, 'main.ts'),
    `import { DhtNode } from 'dhtscope';\n` +
      `const node: DhtNode = new DhtNode({ host: '${host}', port: 0, bootstrap: [] });\n` +
      `await node.start();\n` +
      `const port: number | undefined = node.address()?.port;\n` +
      `console.log(port);\n` +
      `await node.stop();\n`,
  );
  await writeFile(join(consumer, 'wrong.ts'), `import { DhtNode } from 'dhtscope';\nconst n: number = new DhtNode({});\nconsole.log(n);\n`);
  const tsconfig = (file: string): object => ({ compilerOptions: { module: 'nodenext', target: 'ES2022', strict: true, noEmit: true, types: ['node'] }, files: [file] });
  await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig('main.ts')));
  await writeFile(join(consumer, 'tsconfig.wrong.json'), JSON.stringify(tsconfig('wrong.ts')));
  await t.notThrowsAsync(run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: consumer }), 'main.ts type-checks');
  const wrong = await run(process.execPath, [TSC, '-p', 'tsconfig.wrong.json'], { cwd: consumer }).then(
    () => '',
    (e: { stdout: string }) => e.stdout,
  );
  t.regex(wrong, /wrong\.ts\(2,7\): error TS2322: Type 'DhtNode' is not assignable to type 'number'/);

  // The installed executable runs the shipped build.
  const version = await run(join(consumer, 'node_modules', '.bin', 'dhtscope'), ['--version'], { cwd: consumer });
  const own = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.is(version.stdout.trim(), own.version);
});
