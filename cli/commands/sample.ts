import { KrpcInvalidReplyError, type KrpcQueryError, KrpcRemoteError, NodeIdError } from '../../bep5/errors.js';
import { idFromHex, idToHex, randomId } from '../../bep5/node-id.js';
import { defineCommand } from '../define-command.js';
import { UsageError } from '../errors.js';
import { parseHostPort } from '../host-port.js';
import { formatPeer } from '../node-options.js';
import { parseTimeoutMs, queryOnce } from '../one-query.js';

const help = `Usage: dhtscope sample <ip:port> [--target HEX] [--timeout MS] [--json]

Sends one BEP 51 sample_infohashes query to a DHT node and prints the sampling interval,
how many infohashes it stores (num), the sample (one 40-hex infohash per line) and how many
nodes it returned.

  <ip:port>       an IPv4 address (1.2.3.4:6881) or IPv6 in brackets ([::1]:6881)
  --target HEX    the 40-hex target whose closest nodes to return (default: random)
  --timeout MS    give up after MS milliseconds (default 2000)
  --json          print one JSON object:
                  {"node","id","interval","num","samples":[hex,...],"nodes","nodes6","rttMs"}
  -h, --help      show this help

Exit code 0 when the node answered with a sample, 1 when it did not (no answer, or it does
not support BEP 51), 2 on a usage error.

Example: dhtscope sample 67.215.246.10:6881 --json`;

export const sampleCommand = defineCommand({
  name: 'sample',
  help,
  options: { target: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
  args: '<ip:port>',
  argsError: () => 'sample takes exactly one <ip:port>',
  async run({ values, positionals }) {
    const to = parseHostPort(positionals[0]!);
    let target: Buffer;
    try {
      target = values.target === undefined ? randomId() : idFromHex(values.target);
    } catch (err) {
      if (err instanceof NodeIdError) throw new UsageError(`--target must be 40 hex characters, got "${values.target}"`);
      throw err;
    }
    const timeoutMs = parseTimeoutMs(values.timeout, 2000);
    const node = formatPeer(to);
    return queryOnce(to, { command: 'sample', node, json: values.json, message: bep51Failure }, async (socket) => {
      const { reply, rttMs } = await socket.query(to, { method: 'sample_infohashes', id: randomId(), target }, { timeoutMs });
      const result = {
        node,
        id: idToHex(reply.id),
        interval: reply.interval,
        num: reply.num,
        samples: reply.samples.map((s) => s.toString('hex')),
        nodes: reply.nodes.length,
        nodes6: reply.nodes6.length,
        rttMs: Math.round(rttMs * 10) / 10,
      };
      if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        const nodes = result.nodes6 > 0 ? `${result.nodes} + ${result.nodes6} IPv6` : `${result.nodes}`;
        process.stdout.write(
          `${node} answered in ${result.rttMs} ms\n` +
            `  interval  ${result.interval} s\n` +
            `  num       ${result.num} infohashes stored\n` +
            `  nodes     ${nodes} returned\n` +
            `  samples   ${result.samples.length}${result.samples.length > 0 ? ':' : ''}\n` +
            result.samples.map((s) => s + '\n').join(''),
        );
      }
      return 0;
    });
  },
});

/** A 204 or a reply that is not a sample says the node lacks BEP 51, not that it failed. */
function bep51Failure(err: KrpcQueryError): string {
  if (err instanceof KrpcRemoteError && err.krpcCode === 204) return `does not support BEP 51 (it answered 204 method unknown: ${err.remoteMessage})`;
  if (err instanceof KrpcInvalidReplyError) return `does not support BEP 51 (${err.message})`;
  return err.message;
}
