/**
 * The long-lived commands (`node`, `run`, `crawl`, `workers`) run the JavaScript build and never
 * load the TypeScript compiler (issue 16, item 3). Proven from the modules each process loaded:
 * testkit/loaded-modules.mjs lists every script the process compiled, on SIGUSR2. ts-node runs
 * the compiler in a loader thread that the main thread's list cannot show, so the list is
 * checked for what running the sources always brings into the main thread: `.ts` modules and
 * the ts-node register script. A control run from the sources shows the check can fail.
 */
import test, { type ExecutionContext } from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CliProcess, ROOT, startCli } from './helpers/cli.js';
import { tempDir } from './helpers/discovery-queue.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

const redis = useRedisServer(test);
const HOOK = join(ROOT, 'testkit', 'loaded-modules.mjs');

interface Started {
  proc: CliProcess;
  listFile: string;
}

async function start(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const dir = await tempDir(t, 'dhtscope-loaded-');
  const listFile = join(dir, 'loaded.txt');
  const proc = startCli(t, args, { nodeArgs: ['--import', HOOK], env: { ...process.env, ...env, HOME: dir, DHTSCOPE_LOADED_MODULES_FILE: listFile } });
  return { proc, listFile };
}

/** The scripts the process has loaded, asked for once it has done `ready`. */
async function loadedModules(started: Started): Promise<string[]> {
  started.proc.child.kill('SIGUSR2');
  let text = '';
  await pollUntil(async () => {
    text = await readFile(started.listFile, 'utf8').catch(() => '');
    return text !== '';
  }, `the module list in ${started.listFile}`, 20_000);
  return text.split('\n').filter(Boolean);
}

function assertNoCompiler(t: ExecutionContext, urls: string[]): void {
  t.true(urls.some((u) => u.endsWith('/dist/cli/main.js')), 'the build ran (dist/cli/main.js loaded)');
  t.deepEqual(urls.filter((u) => u.endsWith('.ts') || u.endsWith('.mts')), [], 'no TypeScript module loaded');
  t.deepEqual(urls.filter((u) => /ts-node|\/typescript\//.test(u)), [], 'neither ts-node nor typescript loaded');
}

async function stop(t: ExecutionContext, proc: CliProcess): Promise<void> {
  proc.child.kill('SIGINT');
  const r = await proc.exit(60_000);
  t.not(r.signal, 'SIGKILL', r.stderr);
}

test('dhtscope node loads no TypeScript compiler', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t, 'dhtscope-node-');
  const started = await start(t, ['node', '--json', '--host', loopbackHost(), '--port', '0', '--bootstrap', 'none', '--data-dir', dir]);
  await started.proc.nextLine(60_000);
  assertNoCompiler(t, await loadedModules(started));
  await stop(t, started.proc);
});

test('dhtscope crawl loads no TypeScript compiler', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t, 'dhtscope-crawl-');
  const started = await start(t, ['crawl', '--bootstrap', '127.0.0.1:9', '--host', loopbackHost(), '--duration', '120', '--out', join(dir, 'c.ndjson')]);
  await pollUntil(() => /crawling .*from /.test(started.proc.stdout + started.proc.stderr), 'the crawl to start', 60_000);
  assertNoCompiler(t, await loadedModules(started));
  await stop(t, started.proc);
});

test('dhtscope workers loads no TypeScript compiler', async (t) => {
  t.timeout(120_000);
  const started = await start(t, ['workers', '--json', '--redis-url', redis.server.url, '--prefix', randomPrefix(), '--bootstrap', '127.0.0.1:9', '--host', loopbackHost()]);
  await started.proc.nextEvent('ready', 60_000);
  assertNoCompiler(t, await loadedModules(started));
  await stop(t, started.proc);
});

test('dhtscope run loads no TypeScript compiler', async (t) => {
  t.timeout(120_000);
  const started = await start(t, ['run', '--bootstrap', '127.0.0.1:9', '--host', loopbackHost(), '--port', '0', '--api-port', '0', '--no-peer-lookups', '--no-metadata', '--json', '--prefix', randomPrefix()], { REDIS_URL: redis.server.url });
  await started.proc.nextLine(60_000);
  assertNoCompiler(t, await loadedModules(started));
  await stop(t, started.proc);
});

test('control: run from the sources, the same check finds TypeScript modules and ts-node', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t, 'dhtscope-node-');
  const started = await start(t, ['node', '--json', '--host', loopbackHost(), '--port', '0', '--bootstrap', 'none', '--data-dir', dir], { DHTSCOPE_FROM_SOURCES: '1' });
  await started.proc.nextLine(60_000);
  const urls = await loadedModules(started);
  t.true(urls.some((u) => u.endsWith('/bep5/node.ts')), 'bep5/node.ts loaded');
  t.true(urls.some((u) => u.endsWith('/scripts/ts-node-register.mjs')), 'the ts-node register script loaded');
  t.false(urls.some((u) => u.endsWith('/dist/cli/main.js')));
  await stop(t, started.proc);
});
