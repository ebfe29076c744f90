/**
 * `dhtscope put` and `dhtscope get` (BEP 44, issue 16 item 1) as users run them: the real
 * executable against a local network of 24 of our nodes on 127.x.y.z. An immutable value put by
 * one process is read back by another; a mutable one is signed with a key file the first put
 * creates (mode 0600), updated with a higher seq, and read back by public key and salt; a key
 * file others may read is refused; bad input is a usage error.
 */
import test from 'ava';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DhtNode } from '../bep5/node.js';
import { immutableTarget } from '../bep5/bep44.js';
import { encode } from '../bep5/bencode.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/discovery-queue.js';
import { loopbackHost } from './helpers/udp.js';

const network: DhtNode[] = [];
let bootstrap = '';

test.before(async () => {
  const options = { port: 0, allowPrivate: true, adoptBep42Id: false, outgoingRate: 10_000, outgoingBurst: 10_000 };
  const first = new DhtNode({ ...options, host: loopbackHost(), bootstrap: [] });
  await first.start();
  network.push(first);
  const seed = `${first.address()!.host}:${first.address()!.port}`;
  for (let i = 1; i < 24; i++) {
    const node = new DhtNode({ ...options, host: loopbackHost(), bootstrap: [seed] });
    await node.start();
    network.push(node);
  }
  await Promise.all(network.slice(1).map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
  await Promise.all(network.map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
  bootstrap = network.slice(5, 8).map((n) => `${n.address()!.host}:${n.address()!.port}`).join(',');
});

test.after.always(() => Promise.all(network.map((n) => n.stop())));

const client = (): string[] => ['--bootstrap', bootstrap, '--host', loopbackHost(), '--timeout', '30'];

/** How many of the network's nodes hold the item at `target` in their own store. */
const holders = (target: string): number => network.filter((n) => n.items.get(Buffer.from(target, 'hex')) !== undefined).length;

test('put prints the target of an immutable value; another process gets it back', async (t) => {
  t.timeout(120_000);
  const value = 'hello from dhtscope put';
  const put = await runCli(t, ['put', value, ...client()], 60_000);
  t.is(put.code, 0, put.stderr);
  const target = immutableTarget(encode(Buffer.from(value))).toString('hex');
  t.is(put.stdout, `${target}\n`);
  t.regex(put.stderr, /^stored on \d+ of \d+ nodes; \d+ nodes queried in \d+ ms\n$/);
  t.true(holders(target) >= 4, `held by ${holders(target)} nodes`);

  const got = await runCli(t, ['get', target, '--json', ...client()], 60_000);
  t.is(got.code, 0, got.stderr);
  t.like(JSON.parse(got.stdout), { target, found: true, value, valueBencodedHex: encode(Buffer.from(value)).toString('hex'), seq: null });
});

test('put --mutable creates a 0600 key file, a later put with a higher seq replaces the value, get reads the newest by key and salt', async (t) => {
  t.timeout(180_000);
  const dir = await tempDir(t, 'dhtscope-key-');
  const keyFile = join(dir, 'item.key');
  const first = await runCli(t, ['put', '--mutable', '--key', keyFile, '--salt', 'notes', 'version one', '--json', ...client()], 60_000);
  t.is(first.code, 0, first.stderr);
  const one = JSON.parse(first.stdout) as { target: string; publicKey: string; seq: number; keyFileCreated?: string; storedAt: string[] };
  t.is(one.seq, 1);
  t.is(one.keyFileCreated, keyFile);
  t.true(one.storedAt.length >= 4);
  t.is((await stat(keyFile)).mode & 0o777, 0o600);

  const second = await runCli(t, ['put', '--mutable', '--key', keyFile, '--salt', 'notes', 'version two', '--json', ...client()], 60_000);
  t.is(second.code, 0, second.stderr);
  const two = JSON.parse(second.stdout) as { target: string; publicKey: string; seq: number; keyFileCreated?: string };
  t.like(two, { target: one.target, publicKey: one.publicKey, seq: 2 });
  t.is(two.keyFileCreated, undefined, 'the key file is reused');

  const got = await runCli(t, ['get', '--public-key', one.publicKey, '--salt', 'notes', ...client()], 60_000);
  t.is(got.code, 0, got.stderr);
  t.is(got.stdout, 'version two\n');
  t.regex(got.stderr, /^seq 2, held by \d+ nodes/);

  // The wrong salt names another target, where nothing is stored.
  const none = await runCli(t, ['get', '--public-key', one.publicKey, '--salt', 'other', ...client()], 60_000);
  t.is(none.code, 1);
  t.regex(none.stderr, /^dhtscope get: no node holds [0-9a-f]{40} /);
});

test('a key file that others may read is refused, and bad input is a usage error', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t, 'dhtscope-key-');
  const keyFile = join(dir, 'open.key');
  await writeFile(keyFile, JSON.stringify({ ed25519Seed: '11'.repeat(32) }));
  await chmod(keyFile, 0o644);
  const open = await runCli(t, ['put', '--mutable', '--key', keyFile, 'x', ...client()], 60_000);
  t.is(open.code, 1);
  t.is(open.stderr, `dhtscope put: the key file ${keyFile} may be read by others (mode 644): run chmod 600 ${keyFile}\n`);

  const cases: Array<[string[], RegExp]> = [
    [['put'], /^dhtscope: put needs a value/],
    [['put', 'x', '--salt', 's'], /^dhtscope: --salt is for mutable items: add --mutable/],
    [['put', '--mutable', 'x'], /^dhtscope: put --mutable needs --key KEYFILE/],
    [['put', 'x'.repeat(1000)], /^dhtscope: the value is 1005 bytes bencoded; BEP 44 nodes store at most 1000/],
    [['get', 'xyz'], /^dhtscope: the target must be 40 hex digits, got "xyz"/],
    [['get', '--public-key', 'ab'], /^dhtscope: --public-key must be 64 hex digits/],
    [['get', 'e5f96f6f38320f0f33959cb4d3d656452117aadb', '--public-key', '77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548'], /is not the target of that public key \(that is 4a533d47ec9c7d95b1ad75f576cffc641853b750\)/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(t, args, 30_000);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, expected);
  }
});
