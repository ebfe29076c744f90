import { parseArgs } from 'node:util';
import { isBep42Compliant } from '../../bep5/bep42.js';
import { KrpcQueryError } from '../../bep5/errors.js';
import { ipFamily } from '../../bep5/ip.js';
import { KrpcSocket } from '../../bep5/krpc-socket.js';
import { idToHex, randomId } from '../../bep5/node-id.js';
import { type Command, UsageError } from '../usage-error.js';
import { parseHostPort } from '../host-port.js';

const help = `Usage: dhtscope ping <ip:port> [--timeout MS] [--json]

Sends one KRPC ping to a DHT node and prints its node ID, client version, round-trip
time, whether its ID is BEP 42-compliant for its address, and our address as it saw it.

  <ip:port>       an IPv4 address (1.2.3.4:6881) or IPv6 in brackets ([::1]:6881)
  --timeout MS    give up after MS milliseconds (default 2000)
  --json          print one JSON object instead of text
  -h, --help      show this help

Exit code 0 when the node answered, 1 when it did not, 2 on a usage error.

Example: dhtscope ping 127.0.0.1:6881`;

export const pingCommand: Command = {
  summary: 'ping one DHT node and show its ID, version and RTT',
  help,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { timeout: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('ping takes exactly one <ip:port>');
    const target = parseHostPort(positionals[0]!);
    const timeoutMs = values.timeout === undefined ? 2000 : Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout must be a positive integer, got ${values.timeout}`);

    const socket = new KrpcSocket({ type: ipFamily(target.host) === 6 ? 'udp6' : 'udp4' });
    await socket.bind(0);
    try {
      const { reply, rttMs, v, ip } = await socket.query(target, { method: 'ping', id: randomId() }, { timeoutMs });
      const result = {
        node: `${target.host}:${target.port}`,
        id: idToHex(reply.id),
        version: v ? v.toString('hex') : null,
        versionText: v ? printable(v) : null,
        rttMs: Math.round(rttMs * 10) / 10,
        bep42Compliant: isBep42Compliant(reply.id, target.host),
        ourAddress: ip ? `${ip.host}:${ip.port}` : null,
      };
      if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        process.stdout.write(
          `${result.node} answered in ${result.rttMs} ms\n` +
            `  id       ${result.id}${result.bep42Compliant ? '' : '  (not BEP 42-compliant)'}\n` +
            `  version  ${result.versionText ?? '(none sent)'}\n` +
            `  sees us  ${result.ourAddress ?? '(no ip field)'}\n`,
        );
      }
      return 0;
    } catch (err) {
      if (!(err instanceof KrpcQueryError)) throw err;
      if (values.json) process.stdout.write(JSON.stringify({ node: `${target.host}:${target.port}`, error: err.code, message: err.message }) + '\n');
      else process.stderr.write(`dhtscope ping: ${target.host}:${target.port}: ${err.message}\n`);
      return 1;
    } finally {
      await socket.close();
    }
  },
};

/** Client versions are 2 letters + 2 binary bytes (BEP 20); show letters as text, the rest as hex. */
function printable(v: Buffer): string {
  const letters = v.subarray(0, 2);
  const isText = letters.length === 2 && [...letters].every((c) => c >= 0x20 && c < 0x7f);
  return isText ? `${letters.toString('latin1')} ${v.subarray(2).toString('hex')}` : v.toString('hex');
}
