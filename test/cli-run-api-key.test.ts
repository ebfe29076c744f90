/**
 * `dhtscope run`'s API key (cli/api-key.ts, server/api/auth.ts): when one is required, where it
 * comes from, and what makes `run` refuse to start. Real `dhtscope run` processes (the build)
 * over the file's redis-server: one with --api-host 0.0.0.0 (it listens on every interface of
 * this machine and is only ever asked from 127.0.0.1), started twice on one data directory, and
 * one with --api-key-file on loopback. The rule for other hosts, which a test cannot bind, is
 * checked on apiKeyRequired itself. DHT nodes on 127.x.y.z, bootstrapping from a dead address.
 */
import test, { type ExecutionContext } from 'ava';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY_FILE_NAME, apiKeyOption, apiKeyRequired, loadOrCreateApiKey } from '../cli/api-key.js';
import { runCommand } from '../cli/commands/run.js';
import { CommandError } from '../cli/errors.js';
import { AUTH_COOKIE_NAME } from '../server/api/constants.js';
import { type CliProcess, runCli, startCli } from './helpers/cli.js';
import { runInProcess } from './helpers/in-process-command.js';
import { randomPrefix, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';
import { pollUntil } from './helpers/wait.js';

const redis = useRedisServer(test);

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-api-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A run that starts fast and sends nothing off this machine: no peer lookups or metadata, a dead bootstrap address. */
function runArgs(dataDir: string, extra: string[]): string[] {
  return [
    'run', '--bootstrap', '127.0.0.1:9', '--host', loopbackHost(), '--port', '0', '--ipv4-only', '--api-port', '0',
    '--no-peer-lookups', '--no-metadata', '--redis-url', redis.server.url, '--prefix', randomPrefix(), '--data-dir', dataDir, ...extra,
  ];
}

/** The API as seen from 127.0.0.1, whatever address it listens on. */
function localApi(api: string): string {
  const url = new URL(api);
  return `http://127.0.0.1:${url.port}`;
}

async function status(url: string, key?: string): Promise<number> {
  const res = await fetch(url, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` }, redirect: 'manual' });
  await res.arrayBuffer();
  return res.status;
}

async function stop(t: ExecutionContext, run: CliProcess): Promise<void> {
  run.child.kill('SIGTERM');
  const exit = await run.exit(60_000);
  t.is(exit.code, 0, exit.stderr);
}

/** The text summary's lines, read until the one that says how to stop. */
async function summaryLines(run: CliProcess): Promise<string[]> {
  const lines: string[] = [];
  const deadline = Date.now() + 120_000;
  for (;;) {
    const line = await run.nextLine(Math.max(1, deadline - Date.now()));
    lines.push(line);
    if (line === 'Ctrl-C stops it.') return lines;
  }
}

test('the rule: a key whenever a key file is given, and off loopback (127/8, ::1, localhost) even without one', (t) => {
  for (const host of ['127.0.0.1', '127.20.30.40', '127.255.255.254', '::1', '::ffff:127.0.0.1', 'localhost']) {
    t.false(apiKeyRequired(host, false), host);
    t.true(apiKeyRequired(host, true), `${host} with --api-key-file`);
  }
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', '203.0.113.5', '2001:db8::1', 'fe80::1', '128.0.0.1']) {
    t.true(apiKeyRequired(host, false), host);
  }
});

test('run --help documents --api-key-file', (t) => {
  t.regex(runCommand.help, /^Usage: dhtscope run .*\[--api-key-file F\]/m);
  t.regex(runCommand.help, /^ {2}--api-key-file F {7}the HTTP API's key/m);
  t.regex(runCommand.help, /Authorization: Bearer\s+<key>/);
  t.regex(runCommand.help, /\?apikey=<key>/);
});

test('on loopback without --api-key-file no key is asked for and no file is made', async (t) => {
  const dir = await tempDir(t);
  t.is(await apiKeyOption({ apiHost: '127.0.0.1', keyFile: undefined, dataDir: dir }), null);
  t.deepEqual(await readdir(dir), []);
});

test('two starts making the key at once end with one key (the file is created exclusively)', async (t) => {
  const file = join(await tempDir(t), 'sub', 'dir', API_KEY_FILE_NAME);
  const made = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateApiKey(file)));
  t.is(made.filter((m) => m.created).length, 1);
  t.is(new Set(made.map((m) => m.key)).size, 1);
  t.is((await readFile(file, 'utf8')).trim(), made[0]!.key);
  t.is((await stat(file)).mode & 0o777, 0o600);
});

test.serial('--api-host 0.0.0.0: the first start makes a 0600 key in the data directory and says where; a second start reuses it', async (t) => {
  t.timeout(240_000);
  const dataDir = join(await tempDir(t), 'data'); // not there yet: the key file's start makes it
  const keyFile = join(dataDir, API_KEY_FILE_NAME);

  const first = startCli(t, runArgs(dataDir, ['--api-host', '0.0.0.0', '--json']));
  const ready = await first.nextEvent('ready', 120_000);
  t.is(ready.apiKeyFile, keyFile);
  t.is((await stat(keyFile)).mode & 0o777, 0o600, 'made with mode 0600');
  const key = (await readFile(keyFile, 'utf8')).trim();
  t.regex(key, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  await pollUntil(() => first.stderr.includes(`made one in ${keyFile} (mode 0600)`), 'the stderr line that says where the key is', 10_000);

  const api = localApi(String(ready.api));
  for (const path of ['/api/stats', '/metrics', '/', '/dashboard/app.js']) {
    t.is(await status(`${api}${path}`), 401, `${path} without the key`);
    t.is(await status(`${api}${path}`, 'not-the-key'), 401, `${path} with a wrong key`);
    t.is(await status(`${api}${path}`, key), 200, `${path} with the key`);
  }
  t.is(await status(`${api}/api/stats?apikey=${key}`), 200);
  const login = await fetch(`${api}/?apikey=${key}`, { redirect: 'manual' });
  t.is(login.status, 303);
  t.regex(login.headers.get('set-cookie') ?? '', new RegExp(`^${AUTH_COOKIE_NAME}=${key}; Path=/;.*HttpOnly; SameSite=Strict`));
  await stop(t, first);

  // The second start, in text mode: the same key, found where the summary says.
  const second = startCli(t, runArgs(dataDir, ['--api-host', '0.0.0.0']));
  const lines = await summaryLines(second);
  t.true(lines.includes(`  API key     in ${keyFile}: send "Authorization: Bearer <key>", or open ${lines.find((l) => l.startsWith('  API  '))!.split(/\s+/)[2]}/?apikey=<key>`), lines.join('\n'));
  t.false(second.stdout.includes('made one'), 'no new key');
  t.is((await readFile(keyFile, 'utf8')).trim(), key, 'the file is unchanged');
  const api2 = localApi(lines.find((l) => l.startsWith('  API  '))!.split(/\s+/)[2]!);
  t.is(await status(`${api2}/api/stats`), 401);
  t.is(await status(`${api2}/api/stats`, key), 200, 'the first start\'s key opens the second');
  await stop(t, second);
});

test.serial('--api-key-file on loopback: that key is required there too, and no key is made in the data directory', async (t) => {
  t.timeout(180_000);
  const dir = await tempDir(t);
  const keyFile = join(dir, 'my-key');
  await writeFile(keyFile, 'my-own-key.0123456789\n', { mode: 0o600 });
  const dataDir = join(dir, 'data');
  const run = startCli(t, runArgs(dataDir, ['--api-key-file', keyFile, '--json']));
  const ready = await run.nextEvent('ready', 120_000);
  t.is(ready.apiKeyFile, keyFile);
  const api = String(ready.api);
  t.regex(api, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(await status(`${api}/api/stats`), 401);
  t.is(await status(`${api}/api/stats`, 'my-own-key.0123456789'), 200, 'the file\'s key, without its newline');
  t.false((await readdir(dataDir)).includes(API_KEY_FILE_NAME));
  await stop(t, run);
});

test.serial('run refuses to start, exit 1 with one line, when the key file is too permissive, missing or empty', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const cases: Array<{ name: string; mode?: number; content?: string; extra: (file: string) => string[]; message: (file: string) => string }> = [
    { name: 'open.key', mode: 0o644, content: 'k3y', extra: (f) => ['--api-key-file', f], message: (f) => `the API key file ${f} may be read by others (mode 644): run chmod 600 ${f}` },
    { name: 'group.key', mode: 0o640, content: 'k3y', extra: (f) => ['--api-key-file', f], message: (f) => `the API key file ${f} may be read by others (mode 640): run chmod 600 ${f}` },
    {
      name: 'missing.key',
      extra: (f) => ['--api-key-file', f],
      message: (f) => `cannot read the API key file ${f}: it does not exist; write a key into it (e.g. openssl rand -hex 32 > ${f}; chmod 600 ${f}), or leave out --api-key-file for one made in the data directory`,
    },
    { name: 'empty.key', mode: 0o600, content: '\n', extra: (f) => ['--api-key-file', f], message: (f) => `the API key file ${f} holds no usable key: it is empty` },
    { name: 'spaces.key', mode: 0o600, content: 'two words\n', extra: (f) => ['--api-key-file', f], message: (f) => `the API key file ${f} holds no usable key: it holds characters other than visible ASCII (spaces, control characters or non-ASCII)` },
  ];
  for (const c of cases) {
    const file = join(dir, c.name);
    if (c.content !== undefined) {
      await writeFile(file, c.content);
      await chmod(file, c.mode!);
    }
    const r = await runCli(t, runArgs(join(dir, `data-${c.name}`), c.extra(file)));
    t.is(r.code, 1, `${c.name}: ${r.stderr}`);
    t.is(r.stdout, '', c.name);
    t.is(r.stderr, `dhtscope run: ${c.message(file)}\n`, c.name);
  }

  // The default file, made too permissive by hand, is refused as well.
  const dataDir = join(dir, 'data-default');
  const made = await loadOrCreateApiKey(join(dataDir, API_KEY_FILE_NAME));
  await chmod(made.file, 0o604);
  const r = await runCli(t, runArgs(dataDir, ['--api-host', '0.0.0.0']));
  t.is(r.code, 1, r.stderr);
  t.is(r.stderr, `dhtscope run: the API key file ${made.file} may be read by others (mode 604): run chmod 600 ${made.file}\n`);
  // And in-process, the same CommandError.
  await t.throwsAsync(apiKeyOption({ apiHost: '0.0.0.0', keyFile: undefined, dataDir }), { instanceOf: CommandError, message: /may be read by others/ });
});

test('--api-host takes an address; a name is a usage error that names --api-host', async (t) => {
  const r = await runInProcess(runCommand, ['--api-host', 'localhost', '--data-dir', await mkdtemp(join(tmpdir(), 'dhtscope-apihost-'))]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--api-host must be an IPv4 or IPv6 address, got "localhost"/);
});
