import { parseArgs } from 'node:util';
import { KrpcInvalidReplyError, KrpcQueryError, KrpcRemoteError } from '../../bep5/errors.js';
import { ipFamily } from '../../bep5/ip.js';
import { KrpcSocket } from '../../bep5/krpc-socket.js';
import { NodeIdError, idFromHex, idToHex, randomId } from '../../bep5/node-id.js';
import { parseHostPort } from '../host-port.js';
import { formatPeer } from '../node-options.js';
import { type Command, UsageError } from '../usage-error.js';

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

export const sampleCommand: Command = {
  summary: 'ask one node for a sample of the infohashes it stores (BEP 51)',
  help,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('sample takes exactly one <ip:port>');
    const to = parseHostPort(positionals[0]!);
    let target: Buffer;
    try {
      target = values.target === undefined ? randomId() : idFromHex(values.target);
    } catch (err) {
      if (err instanceof NodeIdError) throw new UsageError(`--target must be 40 hex characters, got "${values.target}"`);
      throw err;
    }
    const timeoutMs = values.timeout === undefined ? 2000 : Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout must be a positive integer, got ${values.timeout}`);
    const node = formatPeer(to);

    const socket = new KrpcSocket({ type: ipFamily(to.host) === 6 ? 'udp6' : 'udp4' });
    await socket.bind(0);
    try {
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
    } catch (err) {
      if (!(err instanceof KrpcQueryError)) throw err;
      let message = err.message;
      if (err instanceof KrpcRemoteError && err.krpcCode === 204) message = `does not support BEP 51 (it answered 204 method unknown: ${err.remoteMessage})`;
      else if (err instanceof KrpcInvalidReplyError) message = `does not support BEP 51 (${err.message})`;
      if (values.json) process.stdout.write(JSON.stringify({ node, error: err.code, message }) + '\n');
      else process.stderr.write(`dhtscope sample: ${node}: ${message}\n`);
      return 1;
    } finally {
      await socket.close();
    }
  },
};
