import test from 'ava';
import { LookupStatus } from '../cli/lookup-status.js';
import { StatusLine } from '../cli/status-line.js';
import { DhtNode } from '../bep5/node.js';
import { loopbackHost } from './helpers/udp.js';

/** Live status lines that share a terminal with results (peers, announce). */

function terminal(): { stream: { write: (s: string) => boolean; isTTY: boolean; columns: number }; text: () => string } {
  let out = '';
  return { stream: { write: (s) => ((out += s), true), isTTY: true, columns: 200 }, text: () => out };
}

test('StatusLine.above: output for another stream goes out with the status erased, then the status is redrawn', (t) => {
  const term = terminal();
  let stdout = '';
  const status = new StatusLine({ stream: term.stream });
  status.above(() => (stdout += 'nothing drawn yet\n'));
  status.update('looking up');
  status.above(() => (stdout += '10.0.0.1:6881\n'));
  t.is(stdout, 'nothing drawn yet\n10.0.0.1:6881\n');
  t.is(term.text(), '\rlooking up\x1b[K' + '\r\x1b[K' + '\rlooking up\x1b[K');

  let plain = '';
  const pipe = new StatusLine({ stream: { write: (s) => ((plain += s), true) } });
  pipe.update('x', { force: true });
  pipe.above(() => (stdout += 'y\n'));
  t.is(plain, 'x\n', 'nothing to erase off a terminal');
});

test("LookupStatus: on a terminal it shows the phase, the node's queries and the peers; with --json or off a terminal, nothing", async (t) => {
  const node = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true });
  await node.start();
  t.teardown(() => node.stop());
  const peer = new DhtNode({ host: loopbackHost(), port: 0, bootstrap: [], allowPrivate: true });
  await peer.start();
  t.teardown(() => peer.stop());

  const term = terminal();
  const status = new LookupStatus({ prefix: 'dhtscope peers: ', json: false, peers: () => 3, stream: term.stream });
  t.is(term.text(), '', 'nothing until there is a node to watch');
  status.watch(node, 4);
  await node.ping(peer.address()!);
  status.set('get_peers lookup');
  status.log('a line that stays');
  status.done();
  const out = term.text();
  t.regex(out, /\rjoining the DHT: 0 queries, 0 answered · 3 peers · \d+ ms\x1b\[K/);
  t.regex(out, /\rget_peers lookup: 1 queries, 1 answered · 3 peers · \d+ ms\x1b\[K/);
  t.true(out.includes('\r\x1b[Kdhtscope peers: a line that stays\n'));
  t.true(out.endsWith('\r\x1b[K'), 'erased at the end');

  for (const options of [{ json: true, tty: true }, { json: false, tty: false }]) {
    let text = '';
    const quiet = new LookupStatus({ prefix: 'p: ', json: options.json, stream: { write: (s) => ((text += s), true), isTTY: options.tty } });
    quiet.watch(node, 4);
    quiet.set('phase');
    quiet.log('kept');
    quiet.done();
    t.is(text, options.json ? '' : 'p: kept\n', JSON.stringify(options));
  }
});
