import { type BencodeValue, type Encodable, decode, encode } from './bencode.js';
import { immutableTarget, mutableTarget, publicKeyFromSeed, signItem, verifyItemSignature } from './bep44.js';
import { writeToClosest } from './closest-writes.js';
import { type NodeInfo, addressKey } from './compact.js';
import { BEP44_MAX_SALT_BYTES, BEP44_MAX_VALUE_BYTES, BEP44_MAX_VALUE_DEPTH } from './constants.js';
import { BencodeDecodeError, Bep44Error } from './errors.js';
import { type LookupEvent, type LookupResult, type Querier } from './lookup.js';
import { type Bep44GetOptions, type Bep44GetResult, type Bep44Item, type Bep44MutablePutOptions, type Bep44MutablePutResult, type Bep44PutOptions, type Bep44PutResult, type Family } from './node-types.js';
import { type PutQuery } from './queries.js';
import { type GetReply } from './replies.js';

/**
 * The BEP 44 client of a DhtNode (node.ts composes it): get, putImmutable, putMutable. Each is
 * a `get` lookup (lookup.ts, shared with get_peers: the same iteration, tokens and K-closest
 * bookkeeping), in which every item received is verified and the invalid ones ignored; a put
 * then writes to the K closest nodes that gave a token.
 */

/** What the client needs from its node. */
export interface Bep44ClientHost {
  ownId(): Buffer;
  defaultFamily(): Family;
  lookup(target: Buffer, options: { method: 'get'; family?: Family; signal?: AbortSignal; seq?: number }): AsyncGenerator<LookupEvent, LookupResult>;
  querier(family: Family): Querier;
}

/**
 * The item of a get answer, if it verifies for `target`: immutable, SHA-1 of the value is the
 * target; mutable, SHA-1 of key and salt is the target, the key is `publicKey` when given, and
 * the signature holds. Values over 1,000 bytes are refused too (BEP 44 nodes store no more).
 */
export function verifyItem(target: Buffer, reply: Pick<GetReply, 'v' | 'vBytes' | 'k' | 'seq' | 'sig'>, options: { salt?: Buffer; publicKey?: Buffer } = {}): Bep44Item | undefined {
  const { v, vBytes, k, seq, sig } = reply;
  if (v === undefined || vBytes === undefined || vBytes.length > BEP44_MAX_VALUE_BYTES) return undefined;
  if (k === undefined) {
    if (options.publicKey !== undefined || !immutableTarget(vBytes).equals(target)) return undefined;
    return { target, v, vBytes };
  }
  if (seq === undefined || sig === undefined) return undefined;
  if (options.publicKey !== undefined && !options.publicKey.equals(k)) return undefined;
  if (!mutableTarget(k, options.salt).equals(target) || !verifyItemSignature(k, sig, seq, vBytes, options.salt)) return undefined;
  return { target, v, vBytes, k, seq, sig, ...(options.salt === undefined ? {} : { salt: options.salt }) };
}

/** A value to put: its canonical bytes (at most 1,000, nesting no deeper than nodes decode) and their decoded form. */
function valueOf(value: Encodable): { v: BencodeValue; vBytes: Buffer } {
  const vBytes = encode(value);
  if (vBytes.length > BEP44_MAX_VALUE_BYTES) throw new Bep44Error('value-too-big', `${vBytes.length} bytes bencoded (at most ${BEP44_MAX_VALUE_BYTES})`);
  try {
    return { v: decode(vBytes, { maxDepth: BEP44_MAX_VALUE_DEPTH }), vBytes };
  } catch (err) {
    if (err instanceof BencodeDecodeError) throw new Bep44Error('bad-value', `nodes could not decode it (${err.reason}; values nest at most ${BEP44_MAX_VALUE_DEPTH} levels, integers stay within 2^53-1)`);
    throw err;
  }
}

export class Bep44Client {
  constructor(private readonly host: Bep44ClientHost) {}

  /** Looks up the item stored under `target`; see Bep44GetOptions for mutable items. */
  async get(target: Buffer, options: Bep44GetOptions = {}): Promise<Bep44GetResult> {
    let item: Bep44Item | undefined;
    const holders: NodeInfo[] = [];
    let invalid = 0;
    const it = this.host.lookup(target, { method: 'get', family: options.family, signal: options.signal, seq: options.seq });
    for (;;) {
      const next = await it.next();
      if (next.done) {
        const { closest, queries, answered, failed } = next.value;
        return { target, ...(item === undefined ? {} : { item }), holders, closest, queries, answered, failed, invalid };
      }
      // An answer with a seq and no value says the node holds nothing newer than we asked for.
      if (next.value.type !== 'item' || next.value.reply.vBytes === undefined) continue;
      const found = verifyItem(target, next.value.reply, options);
      if (found === undefined) {
        invalid++;
        continue;
      }
      holders.push(next.value.from);
      if (item === undefined || (found.seq ?? 0) > (item.seq ?? 0)) item = found;
    }
  }

  /** Stores `value` under SHA-1 of its encoding at the K closest nodes to that target. */
  async putImmutable(value: Encodable, options: Bep44PutOptions = {}): Promise<Bep44PutResult> {
    const { v, vBytes } = valueOf(value);
    const target = immutableTarget(vBytes);
    const lookup = await this.get(target, options);
    return { target, lookup, ...(await this.write(lookup, options, (token) => ({ method: 'put', id: this.host.ownId(), token, v, vBytes }))) };
  }

  /** Signs `value` with the seed's key and stores it under SHA-1(key ‖ salt) at the K closest nodes to that target. */
  async putMutable(options: Bep44MutablePutOptions): Promise<Bep44MutablePutResult> {
    const seed = options.keyPair?.seed ?? options.seed;
    if (seed === undefined) throw new Bep44Error('bad-seed', 'putMutable needs a seed or a keyPair');
    const publicKey = options.keyPair?.publicKey ?? publicKeyFromSeed(seed);
    const salt = options.salt !== undefined && options.salt.length > 0 ? options.salt : undefined;
    if (salt !== undefined && salt.length > BEP44_MAX_SALT_BYTES) throw new Bep44Error('bad-salt', `salt of ${salt.length} bytes (at most ${BEP44_MAX_SALT_BYTES})`);
    const { v, vBytes } = valueOf(options.value);
    const target = mutableTarget(publicKey, salt);
    const lookup = await this.get(target, { salt, publicKey, family: options.family, signal: options.signal });
    const seq = options.seq ?? (lookup.item?.seq === undefined ? 1 : lookup.item.seq + 1);
    const sig = signItem(seed, seq, vBytes, salt);
    // BEP 44: cas goes only to nodes that returned the item; elsewhere there is nothing to compare.
    const holders = new Set(lookup.holders.map(addressKey));
    const written = await this.write(lookup, options, (token, node) => ({
      method: 'put',
      id: this.host.ownId(),
      token,
      v,
      vBytes,
      k: publicKey,
      sig,
      seq,
      ...(salt === undefined ? {} : { salt }),
      ...(options.cas !== undefined && holders.has(addressKey(node)) ? { cas: options.cas } : {}),
    }));
    return { target, seq, publicKey, lookup, ...written };
  }

  private async write(lookup: Bep44GetResult, options: Bep44PutOptions, query: (token: Buffer, node: NodeInfo) => PutQuery): Promise<Omit<Bep44PutResult, 'target' | 'lookup'>> {
    const querier = this.host.querier(options.family ?? this.host.defaultFamily());
    const { acknowledged, errors, failed } = await writeToClosest(lookup.closest, (node, token) => querier.query(node, query(token, node), { signal: options.signal }));
    return { storedAt: acknowledged, errors, failed };
  }
}
