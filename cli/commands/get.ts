import { mutableTarget } from '../../bep5/bep44.js';
import { BEP44_MAX_SALT_BYTES, BEP44_PUBLIC_KEY_BYTES } from '../../bep5/constants.js';
import { displayText } from '../../bep5/display-text.js';
import { type Bep44GetResult } from '../../bep5/node-types.js';
import { idToHex, isHexId } from '../../bep5/node-id.js';
import { defineCommand } from '../define-command.js';
import { UsageError } from '../errors.js';
import { NODE_COMMAND_OPTIONS } from '../node-options.js';
import { ONE_SHOT_OPTIONS_HELP, runOneShot } from '../one-shot-session.js';

const help = `Usage: dhtscope get <target> [--json] [--bootstrap LIST] [--timeout S]
       dhtscope get [<target>] --public-key HEX [--salt S] [--json]

Reads an item stored in the DHT (BEP 44) by \`dhtscope put\` or any other client: a get
lookup toward the target, every answer checked (an immutable value must hash to the target;
a mutable one must be signed by the key whose SHA-1, with the salt, is the target). For a
mutable item the newest (highest sequence number) is printed.

  <target>           40 hex digits, as put printed it; for a mutable item it follows from
                     --public-key and --salt and may be left out
  --public-key HEX   the mutable item's ed25519 public key (64 hex digits)
  --salt S           the mutable item's salt (UTF-8), if it was put with one
  --json             print one JSON object: {"target","found","value","valueBencodedHex",
                     "seq","publicKey","holders","invalid","nodesQueried","ms"}
${ONE_SHOT_OPTIONS_HELP}
  -h, --help         show this help

A value that is a byte string is printed as text (bytes that are not UTF-8, and control
characters, escaped); any other bencoded value as its bencoding in hex.

Exit code 0 when the item was found, 1 when not, 2 on a usage error.

Example: dhtscope get e5f96f6f38320f0f33959cb4d3d656452117aadb`;

export const getCommand = defineCommand({
  name: 'get',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    'public-key': { type: 'string' },
    salt: { type: 'string' },
    timeout: { type: 'string' },
    'bind-port': { type: 'string' },
    'data-dir': { type: 'string' },
  },
  args: 'any',
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`get takes one target, got ${positionals.length}`);
    const keyHex = values['public-key'];
    if (keyHex !== undefined && !new RegExp(`^[0-9a-fA-F]{${BEP44_PUBLIC_KEY_BYTES * 2}}$`).test(keyHex)) {
      throw new UsageError(`--public-key must be ${BEP44_PUBLIC_KEY_BYTES * 2} hex digits, got "${keyHex}"`);
    }
    if (values.salt !== undefined && keyHex === undefined) throw new UsageError('--salt is for mutable items: give --public-key too');
    const publicKey = keyHex === undefined ? undefined : Buffer.from(keyHex, 'hex');
    const salt = values.salt === undefined ? undefined : Buffer.from(values.salt, 'utf8');
    if (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES) throw new UsageError(`--salt is ${salt.length} bytes; BEP 44 allows at most ${BEP44_MAX_SALT_BYTES}`);
    const given = positionals[0];
    if (given !== undefined && !isHexId(given)) throw new UsageError(`the target must be 40 hex digits, got "${given}"`);
    if (given === undefined && publicKey === undefined) throw new UsageError('get needs a <target> (40 hex digits) or --public-key HEX');
    const target = publicKey !== undefined ? mutableTarget(publicKey, salt) : Buffer.from(given!, 'hex');
    if (given !== undefined && publicKey !== undefined && !target.equals(Buffer.from(given, 'hex'))) {
      throw new UsageError(`${given.toLowerCase()} is not the target of that public key${salt ? ' and salt' : ''} (that is ${idToHex(target)})`);
    }

    const json = values.json ?? false;
    const outcome = await runOneShot<Bep44GetResult>(values, 'get', 'get lookup', (node, signal, family) => node.get(target, { salt, publicKey, family, signal }));
    const result = outcome.result;
    const item = result?.item;
    const value = item === undefined ? null : Buffer.isBuffer(item.v) ? displayText(item.v) : null;
    if (json) {
      const out: Record<string, unknown> = {
        target: idToHex(target),
        found: item !== undefined,
        value,
        valueBencodedHex: item?.vBytes.toString('hex') ?? null,
        seq: item?.seq ?? null,
        publicKey: item?.k?.toString('hex') ?? null,
        holders: result?.holders.length ?? 0,
        invalid: result?.invalid ?? 0,
        nodesQueried: result?.queries ?? 0,
        ms: outcome.ms,
      };
      if (outcome.error !== undefined) out.error = outcome.error;
      process.stdout.write(JSON.stringify(out) + '\n');
    }
    if (outcome.error !== undefined) {
      process.stderr.write(`dhtscope get: ${outcome.error}\n`);
      return 1;
    }
    if (item === undefined) {
      const invalid = result!.invalid > 0 ? `; ${result!.invalid} answers did not verify and were ignored` : '';
      process.stderr.write(`dhtscope get: no node holds ${idToHex(target)} (${result!.queries} nodes queried${invalid})\n`);
      return 1;
    }
    if (!json) {
      process.stdout.write(`${value ?? `bencoded: ${item.vBytes.toString('hex')}`}\n`);
      const seq = item.seq === undefined ? '' : `seq ${item.seq}, `;
      process.stderr.write(`${seq}held by ${result!.holders.length} nodes; ${result!.queries} nodes queried in ${outcome.ms} ms\n`);
    }
    return 0;
  },
});
