/**
 * The README's library example is examples/find-peers.ts, verbatim, and it works: run as its
 * own process against a local network of real nodes on 127.x.y.z, it finds an announced peer
 * and announces itself to nodes that then hold it.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomId } from '../bep5/node-id.js';
import { ROOT } from './helpers/cli.js';
import { startLoopbackNetwork } from './helpers/network.js';
import { pollValue } from './helpers/wait.js';

const EXAMPLE = join(ROOT, 'examples', 'find-peers.ts');

test('the README shows examples/find-peers.ts as it is', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const example = await readFile(EXAMPLE, 'utf8');
  t.true(readme.includes('```ts\n' + example + '```'), 'README.md "Using the library" must contain examples/find-peers.ts verbatim');
});

test('examples/find-peers.ts finds an announced peer on a local network and announces itself', async (t) => {
  t.timeout(150_000);
  const network = await startLoopbackNetwork(30);
  t.teardown(() => Promise.all(network.map((n) => n.stop())));
  const infoHash = randomId();
  const announcer = network[7]!;
  t.true((await announcer.announce(infoHash, { port: 6000 })).announced.length >= 4);

  const bootstrap = network.slice(10, 13).map((n) => `${n.address()!.host}:${n.address()!.port}`).join(',');
  const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts', 'ts-node-register.mjs'), EXAMPLE, infoHash.toString('hex'), bootstrap], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.regex(stdout, new RegExp(`^peer ${announcer.address()!.host.replace(/\./g, '\\.')}:6000$`, 'm'));
  t.regex(stdout, /^done: \d+ queries, 8 closest nodes$/m);
  const announced = Number(/^announced to (\d+) nodes$/m.exec(stdout)?.[1]);
  t.true(announced >= 4, stdout);

  // The example's announce is stored: other nodes find port 51413 next to the announcer's.
  // Looked up again until both show or the deadline passes, from another node each try: on a
  // loaded machine one lookup can time out on the very nodes that hold the peers, and a CI run
  // once found neither for 30 s from one node (its table's state then is in the message).
  let attempt = 0;
  const seen = await pollValue(
    'other nodes to find both announced peers',
    async () => {
      const from = network[20 + (attempt++ % 10)]!;
      const lookup = from.findPeers(infoHash);
      let next = await lookup.next();
      while (!next.done) next = await lookup.next();
      const { peers, queries, answered, failed } = next.value;
      const ports = [...new Set(peers.map((p) => p.port))].sort((a, b) => a - b);
      return { from: from.address()!.host, table: from.table()!.size, queries, answered, failed, ports };
    },
    (r) => r.ports.length >= 2,
    60_000,
  );
  const ports = seen.ports;
  t.deepEqual(ports, [6000, 51413]);
});
