/**
 * What the node-hostile-*.test.ts files share: a running DhtNode on loopback that admits
 * loopback contacts, scripted raw UDP peers, and the queries, answers and probes they exchange
 * with it; and a real gc() for the memory checks.
 */
import { type ExecutionContext } from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type BencodeDict, type Encodable, decode, encode } from '../../bep5/bencode.js';
import { type PeerAddress } from '../../bep5/compact.js';
import { isDict } from '../../bep5/fields.js';
import { DhtNode } from '../../bep5/node.js';
import { type DhtNodeOptions } from '../../bep5/node-types.js';
import { randomId } from '../../bep5/node-id.js';
import { RawPeer, loopbackHost } from './udp.js';

type T = ExecutionContext<unknown>;

/** A real gc() when V8 lets us expose it at runtime (it does on Node 20); else undefined. */
export const gc: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

/** A started node on a loopback address of its own, stopped when the test ends. */
export async function startNode(t: T, extra: DhtNodeOptions = {}): Promise<{ node: DhtNode; at: PeerAddress }> {
  const node = new DhtNode({
    host: loopbackHost(),
    port: 0,
    bootstrap: [],
    // Loopback contacts admitted, so the node does ping unknown loopback queriers: the table
    // checks in the node-hostile tests are not vacuous.
    allowPrivate: true,
    adoptBep42Id: false,
    queryTimeoutMs: 300,
    ...extra,
  });
  await node.start();
  t.teardown(() => node.stop());
  return { node, at: node.address()! };
}

/** A scripted UDP peer (on `host`, else a loopback address of its own), closed when the test ends. */
export async function rawPeer(t: T, host?: string): Promise<RawPeer> {
  const peer = await RawPeer.bind(host);
  t.teardown(() => peer.close());
  return peer;
}

/** A query datagram: `method` with arguments `a`, transaction id `tid`. */
export const q = (method: string, a: Record<string, Encodable | undefined>, tid: string | Buffer = 'ab'): Buffer =>
  encode({ t: tid, y: 'q', q: method, a });

/** A received datagram decoded, which must be a dictionary. */
export function asDict(msg: Buffer): BencodeDict {
  const v = decode(msg);
  if (!isDict(v)) throw new Error('not a dictionary');
  return v;
}

/** A message's `y`, its `r` (which must be a dictionary), its error code, and a field that must be a byte string. */
export const y = (d: BencodeDict): string => (Buffer.isBuffer(d.y) ? d.y.toString('latin1') : '?');
export const r = (d: BencodeDict): BencodeDict => {
  if (!isDict(d.r)) throw new Error(`not a response: ${JSON.stringify(d)}`);
  return d.r;
};
export const errorCode = (d: BencodeDict): number | undefined => (Array.isArray(d.e) && typeof d.e[0] === 'number' ? d.e[0] : undefined);
export const bytes = (v: unknown): Buffer => {
  if (!Buffer.isBuffer(v)) throw new Error('not a byte string');
  return v;
};

/**
 * Everything `peer` has received so far, split into what the node sent it on its own
 * (queries: the verification ping of an unknown querier) and answers to its queries.
 */
export function drain(peer: RawPeer, queriesSeen?: BencodeDict[]): BencodeDict[] {
  const answers: BencodeDict[] = [];
  for (const { msg } of peer.received.splice(0)) {
    const d = asDict(msg);
    if (y(d) === 'q') queriesSeen?.push(d);
    else answers.push(d);
  }
  return answers;
}

/** The next answer (response or error) to arrive at `peer`, skipping the node's own queries. */
export async function nextAnswer(peer: RawPeer, ms = 2000, queriesSeen?: BencodeDict[]): Promise<BencodeDict> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { msg } = await peer.next(Math.max(1, deadline - Date.now()));
    const d = asDict(msg);
    if (y(d) !== 'q') return d;
    queriesSeen?.push(d);
  }
}

export async function ask(peer: RawPeer, to: PeerAddress, datagram: Buffer, queriesSeen?: BencodeDict[]): Promise<BencodeDict> {
  await peer.send(datagram, to.port, to.host);
  return nextAnswer(peer, 2000, queriesSeen);
}

export async function tokenFor(peer: RawPeer, to: PeerAddress, id: Buffer): Promise<Buffer> {
  return bytes(r(await ask(peer, to, q('get_peers', { id, info_hash: randomId() }))).token);
}

/** A ping from `prober`, answered: the node neither hung nor died on what came before. */
export async function probe(prober: RawPeer, to: PeerAddress, ms = 2000): Promise<boolean> {
  const tid = randomId().subarray(0, 4);
  await prober.send(q('ping', { id: randomId() }, tid), to.port, to.host);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const a = await nextAnswer(prober, deadline - Date.now()).catch(() => undefined);
    if (a === undefined) return false;
    if (Buffer.isBuffer(a.t) && a.t.equals(tid)) return true;
  }
  return false;
}
