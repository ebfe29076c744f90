import { run } from './children.js';
import { TR_RPC_PORT, type TransmissionNetnsResult } from './shared.js';

/** Talking to the Transmission daemon under test: its RPC, and its DHT debug log turned into counts. */

/** Asks Transmission's RPC (on its namespace's loopback) from a tiny Node process inside that namespace. */
const RPC_SCRIPT = `
const [port, body] = process.argv.slice(1);
const url = 'http://127.0.0.1:' + port + '/transmission/rpc';
let sid = '';
for (let i = 0; i < 5; i++) {
  const res = await fetch(url, { method: 'POST', headers: { 'X-Transmission-Session-Id': sid, 'content-type': 'application/json' }, body });
  if (res.status === 409) { sid = res.headers.get('x-transmission-session-id') ?? ''; continue; }
  process.stdout.write(await res.text());
  process.exit(res.ok ? 0 : 1);
}
process.exit(1);
`;

export async function transmissionRpc(ns: string, method: string, args: Record<string, unknown>): Promise<{ result: string; arguments?: Record<string, unknown> }> {
  const body = JSON.stringify({ method, arguments: args });
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', RPC_SCRIPT, String(TR_RPC_PORT), body]);
  return JSON.parse(stdout) as { result: string; arguments?: Record<string, unknown> };
}

/** jech/dht's debug lines (TR_DHT_VERBOSE) turned into counts. */
export function parseTransmissionLog(text: string): TransmissionNetnsResult['transmissionLog'] {
  const received: Record<string, number> = {};
  const unparseable: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const bump = (r: Record<string, number>, k: string): void => void (r[k] = (r[k] ?? 0) + 1);
  const lines = text.split('\n');
  for (const line of lines) {
    const l = line.trim();
    if (l.startsWith('Ping (')) bump(received, 'ping');
    else if (l === 'Find node!') bump(received, 'find_node');
    else if (l === 'Get_peers!') bump(received, 'get_peers');
    else if (l === 'Announce peer!') bump(received, 'announce_peer');
    else if (l.startsWith('Pong!')) bump(received, 'reply to its ping');
    else if (l.startsWith('Nodes found')) bump(received, 'reply with nodes');
    else if (l.startsWith('Unparseable message')) {
      // The dump shows the packet with unprintable bytes as dots: pick the method name out of it.
      const q = /1:q(\d+):/.exec(l);
      const method = q ? l.slice(q.index + q[0].length, q.index + q[0].length + Number(q[1])) : '?';
      const noId = !/2:id20:/.test(l);
      bump(unparseable, `${method}${noId ? ' (no id)' : ''}`);
    } else if (l.startsWith('Sending ')) bump(sent, l.replace(/\s*\(.*\)\.?$/, '').replace(/\.$/, ''));
    else if (/rate limit|blacklist/i.test(l)) bump(received, l);
  }
  return { received, unparseable, sent, lines: lines.length };
}
