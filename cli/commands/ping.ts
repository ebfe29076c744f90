import { isBep42Compliant } from '../../bep5/bep42.js';
import { idToHex, randomId } from '../../bep5/node-id.js';
import { defineCommand } from '../define-command.js';
import { parseHostPort } from '../host-port.js';
import { parseTimeoutMs, queryOnce } from '../one-query.js';

const help = `Usage: dhtscope ping <ip:port> [--timeout MS] [--json]

Sends one KRPC ping to a DHT node and prints its node ID, client version, round-trip
time, whether its ID is BEP 42-compliant for its address, and our address as it saw it.

  <ip:port>       an IPv4 address (1.2.3.4:6881) or IPv6 in brackets ([::1]:6881)
  --timeout MS    give up after MS milliseconds (default 2000)
  --json          print one JSON object instead of text
  -h, --help      show this help

Exit code 0 when the node answered, 1 when it did not, 2 on a usage error.

Example: dhtscope ping 127.0.0.1:6881`;

export const pingCommand = defineCommand({
  name: 'ping',
  help,
  options: { timeout: { type: 'string' }, json: { type: 'boolean' } },
  args: '<ip:port>',
  argsError: () => 'ping takes exactly one <ip:port>',
  async run({ values, positionals }) {
    const target = parseHostPort(positionals[0]!);
    const timeoutMs = parseTimeoutMs(values.timeout, 2000);
    const node = `${target.host}:${target.port}`;
    return queryOnce(target, { command: 'ping', node, json: values.json }, async (socket) => {
      const { reply, rttMs, v, ip } = await socket.query(target, { method: 'ping', id: randomId() }, { timeoutMs });
      const result = {
        node,
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
    });
  },
});

/** Client versions are 2 letters + 2 binary bytes (BEP 20); show letters as text, the rest as hex. */
function printable(v: Buffer): string {
  const letters = v.subarray(0, 2);
  const isText = letters.length === 2 && [...letters].every((c) => c >= 0x20 && c < 0x7f);
  return isText ? `${letters.toString('latin1')} ${v.subarray(2).toString('hex')}` : v.toString('hex');
}
