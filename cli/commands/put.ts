import { readFile } from 'node:fs/promises';
import { encode } from '../../bep5/bencode.js';
import { BEP44_MAX_SALT_BYTES, BEP44_MAX_VALUE_BYTES } from '../../bep5/constants.js';
import { type Bep44MutablePutResult, type Bep44PutResult } from '../../bep5/node-types.js';
import { idToHex } from '../../bep5/node-id.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { loadOrCreateKeyFile } from '../key-file.js';
import { NODE_COMMAND_OPTIONS, formatPeer } from '../node-options.js';
import { ONE_SHOT_OPTIONS_HELP, runOneShot } from '../one-shot-session.js';

const help = `Usage: dhtscope put (<value> | --file F) [--json] [--bootstrap LIST] [--timeout S]
       dhtscope put --mutable --key KEYFILE (<value> | --file F) [--salt S] [--seq N] [--cas N]

Stores a value in the DHT (BEP 44) on the closest nodes that gave a write token, and prints
its target: what \`dhtscope get\` needs to read it back. The value is stored as a byte string:
the argument as UTF-8, or the file's bytes; at most ${BEP44_MAX_VALUE_BYTES} bytes once bencoded.

Immutable (the default): the target is the SHA-1 of the bencoded value, so the value can
never change. Nodes keep it about 2 hours; put it again to keep it alive.

Mutable (--mutable): signed with an ed25519 key, stored under SHA-1(public key + salt), and
replaced by a later put with a higher sequence number.
  --key KEYFILE      the key file; created (mode 0600) with a new key when missing; refused
                     when group or others may read it
  --salt S           a salt (UTF-8, at most ${BEP44_MAX_SALT_BYTES} bytes): one key, many items
  --seq N            the sequence number (default: one more than the newest found)
  --cas N            store only where the current sequence number is N (compare and swap)

  --file F           the value is the content of file F
  --json             print one JSON object: {"target","storedAt":["ip:port",...],"failed",
                     "errors":{"code":count},"nodesQueried","ms"} (+ "publicKey","seq","salt")
${ONE_SHOT_OPTIONS_HELP}
  -h, --help         show this help

Exit code 0 when at least one node stored the value, 1 when none did, 2 on a usage error.

Example: dhtscope put 'hello from dhtscope'`;

/** A whole number in 0..2^53-1 (our integers; BEP 44 allows up to 2^63-1). */
function parseSeq(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${option} must be a whole number 0-${Number.MAX_SAFE_INTEGER}, got "${value}"`);
  return Number(value);
}

export const putCommand = defineCommand({
  name: 'put',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    file: { type: 'string' },
    mutable: { type: 'boolean' },
    key: { type: 'string' },
    salt: { type: 'string' },
    seq: { type: 'string' },
    cas: { type: 'string' },
    timeout: { type: 'string' },
    'bind-port': { type: 'string' },
    'data-dir': { type: 'string' },
  },
  args: 'any',
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`put takes one value (quote it), got ${positionals.length}`);
    if ((positionals.length === 1) === (values.file !== undefined)) throw new UsageError('put needs a value: give <value> or --file F (not both)');
    const mutable = values.mutable ?? false;
    if (!mutable) {
      for (const option of ['key', 'salt', 'seq', 'cas'] as const) {
        if (values[option] !== undefined) throw new UsageError(`--${option} is for mutable items: add --mutable`);
      }
    } else if (values.key === undefined) {
      throw new UsageError('put --mutable needs --key KEYFILE (created when missing)');
    }
    let bytes: Buffer;
    if (values.file !== undefined) {
      try {
        bytes = await readFile(values.file);
      } catch (err) {
        throw new CommandError(`cannot read ${values.file}: ${(err as Error).message}`);
      }
    } else {
      bytes = Buffer.from(positionals[0]!, 'utf8');
    }
    const encoded = encode(bytes).length;
    if (encoded > BEP44_MAX_VALUE_BYTES) throw new UsageError(`the value is ${encoded} bytes bencoded; BEP 44 nodes store at most ${BEP44_MAX_VALUE_BYTES}`);
    const salt = values.salt === undefined ? undefined : Buffer.from(values.salt, 'utf8');
    if (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES) throw new UsageError(`--salt is ${salt.length} bytes; BEP 44 allows at most ${BEP44_MAX_SALT_BYTES}`);
    const seq = parseSeq(values.seq, '--seq');
    const cas = parseSeq(values.cas, '--cas');
    const key = mutable ? await loadOrCreateKeyFile(values.key!) : undefined;
    const json = values.json ?? false;
    if (key?.created && !json) process.stderr.write(`dhtscope put: created the key file ${values.key} (mode 0600); keep it to update this item\n`);

    const outcome = await runOneShot<Bep44PutResult | Bep44MutablePutResult>(values, 'put', 'get lookup, then put', (node, signal, family) =>
      key === undefined
        ? node.putImmutable(bytes, { family, signal })
        : node.putMutable({ keyPair: key.keyPair, value: bytes, salt, seq, cas, family, signal }),
    );
    const result = outcome.result;
    const target = result === undefined ? undefined : idToHex(result.target);
    const storedAt = (result?.storedAt ?? []).map(formatPeer);
    const nodesQueried = result?.lookup.queries ?? 0;
    const mutableResult = result !== undefined && 'seq' in result ? result : undefined;
    if (json) {
      const out: Record<string, unknown> = { target: target ?? null, storedAt, failed: result?.failed ?? 0, errors: result?.errors ?? {}, nodesQueried, ms: outcome.ms };
      if (mutableResult) Object.assign(out, { publicKey: mutableResult.publicKey.toString('hex'), seq: mutableResult.seq, salt: values.salt ?? null });
      if (key?.created) out.keyFileCreated = values.key;
      if (outcome.error !== undefined) out.error = outcome.error;
      process.stdout.write(JSON.stringify(out) + '\n');
    }
    if (outcome.error !== undefined) {
      process.stderr.write(`dhtscope put: ${outcome.error}\n`);
      return 1;
    }
    if (storedAt.length === 0) {
      const codes = Object.entries(result?.errors ?? {}).map(([code, n]) => `${n} answered ${code}`);
      const why = codes.length > 0 ? codes.join(', ') : (result?.failed ?? 0) > 0 ? `${result!.failed} did not answer` : 'none of them gave a write token';
      process.stderr.write(`dhtscope put: no node stored ${target} (${nodesQueried} nodes queried; ${why})\n`);
      return 1;
    }
    if (!json) {
      const what = mutableResult ? ` (mutable: public key ${mutableResult.publicKey.toString('hex')}${values.salt === undefined ? '' : `, salt ${JSON.stringify(values.salt)}`}, seq ${mutableResult.seq})` : '';
      process.stdout.write(`${target}\n`);
      process.stderr.write(`stored on ${storedAt.length} of ${storedAt.length + result!.failed} nodes${what}; ${nodesQueried} nodes queried in ${outcome.ms} ms\n`);
    }
    return 0;
  },
});
