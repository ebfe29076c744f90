import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { announceCommand } from '../cli/commands/announce.js';
import { queryCommand } from '../cli/commands/query.js';
import { UsageError } from '../cli/errors.js';
import { type CliResult, runCli } from './helpers/cli.js';
import { freePort, randomPrefix, useRedisServer } from './helpers/redis.js';
import { loopbackHost } from './helpers/udp.js';

/**
 * The errors a user meets most, as the real binary prints them: one line that says what is
 * wrong and what to do, and the documented exit code (1: cannot do it, 2: asked wrongly).
 */

const redis = useRedisServer(test);
const INFOHASH = '08ada5a7a6183aae1e09d831df6748d566095a10';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dhtscope-cli-errors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A UDP port taken on `host` for the test's duration. */
async function takenUdpPort(t: ExecutionContext, host: string): Promise<number> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
  return socket.address().port;
}

/** A UDP port on `host` where nobody listens (bound, then released). */
async function closedUdpPort(host: string): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/** A TCP port taken on 127.0.0.1 for the test's duration. */
async function takenTcpPort(t: ExecutionContext): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

function oneLine(t: ExecutionContext, r: CliResult, pattern: RegExp): void {
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, pattern);
}

// Serial: each test starts real dhtscope processes, and the machine is shared.

test.serial('a UDP port in use: node names the port and the option that changes it (exit 1)', async (t) => {
  const host = '127.0.0.1';
  const port = await takenUdpPort(t, host);
  const node = await runCli(t, ['node', '--host', host, '--port', String(port), '--bootstrap', 'none', '--data-dir', await tempDir(t)]);
  t.is(node.code, 1);
  t.is(node.stdout, '');
  oneLine(t, node, new RegExp(`^dhtscope node: port ${port} is in use on 127\\.0\\.0\\.1; choose another with --port\\n$`));
});

test.serial('run: a taken API port says --api-port, a taken DHT port says --port (exit 1)', async (t) => {
  t.timeout(120_000);
  const apiPort = await takenTcpPort(t);
  const udpPort = await takenUdpPort(t, '127.0.0.1');
  const common = ['--redis-url', redis.server.url, '--bootstrap', '127.0.0.1:9', '--host', '127.0.0.1', '--no-peer-lookups'];
  const api = await runCli(t, ['run', ...common, '--port', '0', '--api-port', String(apiPort), '--prefix', randomPrefix(), '--data-dir', await tempDir(t)], 55_000);
  const dht = await runCli(t, ['run', ...common, '--port', String(udpPort), '--api-port', '0', '--prefix', randomPrefix(), '--data-dir', await tempDir(t)], 55_000);
  t.is(api.code, 1, api.stderr);
  t.regex(api.stderr, new RegExp(`^dhtscope run: port ${apiPort} is in use on 127\\.0\\.0\\.1 \\(the HTTP API\\); choose another with --api-port$`, 'm'));
  t.is(dht.code, 1, dht.stderr);
  t.regex(dht.stderr, new RegExp(`^dhtscope run: port ${udpPort} is in use on 127\\.0\\.0\\.1 \\(the DHT node, UDP\\); choose another with --port$`, 'm'));
});

test.serial('Redis unreachable: one line that says where and what to do, exit 1, after a 3 s wait (not the 10 s of services)', async (t) => {
  t.timeout(60_000);
  const port = await freePort();
  const r = await runCli(t, ['query', 'stats', '--redis-url', `redis://127.0.0.1:${port}`]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  oneLine(t, r, new RegExp(`^dhtscope query: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} within 3000 ms: .*ECONNREFUSED.*; start Redis there, or give another --redis-url`));
});

test.serial('a bad infohash is a usage error (exit 2) in every command that takes one, before any network or Redis', async (t) => {
  const r = await runCli(t, ['peers', 'deadbeef', '--bootstrap', '127.0.0.1:9']);
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  oneLine(t, r, /^dhtscope: expected an infohash \(40 hex characters or 32 base32 characters\) or a magnet link .*"deadbeef"/);
  // The same UsageError (main.ts prints it and exits 2) from the other commands, in-process.
  const bad = 'g'.repeat(40);
  await t.throwsAsync(announceCommand.run([bad, '--port', '6881', '--bootstrap', '127.0.0.1:9']), { instanceOf: UsageError, message: /expected an infohash/ });
  await t.throwsAsync(queryCommand.run(['infohash', bad, '--redis-url', 'redis://127.0.0.1:1']), { instanceOf: UsageError, message: /infohash/ });
  await t.throwsAsync(queryCommand.run(['peers', `${INFOHASH}00`, '--redis-url', 'redis://127.0.0.1:1']), { instanceOf: UsageError, message: /infohash/ });
});

test.serial('no bootstrap node reachable: peers says none answered, what was tried and what to do (exit 1)', async (t) => {
  const host = loopbackHost();
  const closed = await closedUdpPort(host);
  const r = await runCli(t, ['peers', INFOHASH, '--host', host, '--bootstrap', `${host}:${closed}`, '--timeout', '2']);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  const last = r.stderr.trim().split('\n').at(-1)!;
  t.is(
    last,
    `dhtscope peers: no bootstrap node answered (tried: ${host}:${closed}) within 2 s: check the address and that outgoing UDP is not blocked, or try other --bootstrap nodes`,
  );
});
