import { sleep } from '../../bep5/clock.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { KrpcSocket } from '../../bep5/krpc-socket.js';
import { isHexId, randomId } from '../../bep5/node-id.js';
import { ForeignHostError } from '../errors.js';
import type { ItemFound, ItemPutResult } from './bittorrent-dht-host.js';
import { type Channel, bittorrentDhtChannel, libtorrentChannel } from './host-channel.js';

/**
 * Foreign DHT implementations for the testnet: one child process hosting many nodes of one
 * kind, each on its own 127.x.y.z:port, beside our own DhtNodes.
 *
 * - 'bittorrent-dht': bittorrent-dht 11.0.12 (npm; webtorrent), forked Node child
 *   (bittorrent-dht-host.ts), one instance per spec with `bootstrap: false` and the spec's ID.
 *   Hundreds of nodes fit in one process. Measured here for 300 nodes: start() takes
 *   0.6–0.9 s, most of it the child's ts-node start-up (one node: 0.6–0.7 s); the child's RSS
 *   is about 125 MB, of which 116 MB is Node + ts-node alone (about 30 KB per node), 160 MB
 *   once every node holds 100 contacts. 600 nodes: 0.9–1.0 s, 130–138 MB.
 * - 'libtorrent': libtorrent 2.0.8 (Debian's python3-libtorrent), a /usr/bin/python3 child
 *   (libtorrent-host.py) with one lt.session per spec. Meant for a handful of nodes: each
 *   session is one more network thread and about 1.5 MB (8 sessions: start() 0.2–0.25 s,
 *   RSS 33 MB).
 *
 * How each behaves, measured here (see also the shared notes, foreign-nodes.md):
 * - IDs. bittorrent-dht uses the ID it is given. libtorrent cannot be given one: on loopback
 *   its external address is unknown, so it ignores a saved ID and draws a random one at start
 *   (libtorrent-host.py explains why). So start() asks every node for its ID with a ping (a
 *   BEP 43 read-only one, from `probeHost`) and ids() reports what the nodes answered.
 *   libtorrent keeps that ID on loopback: it ignores external-address votes for 127.x, which
 *   is all our nodes ever report. One message whose `ip` field is a public address would
 *   make it switch to a BEP 42 ID at once; probeIds() asks again, diagnostics() counts changes.
 * - Tables. bittorrent-dht's addNode with an ID inserts the contact at once (K = 20 per
 *   bucket). libtorrent's add_dht_node only sends the contact a get_peers; the contact enters
 *   the table when it answers, so dead contacts never do. addContacts() waits for that and
 *   says how many made it. bittorrent-dht also adds every querier with a 20-byte ID, even for
 *   queries it does not answer, and ignores BEP 43's read-only flag. libtorrent puts
 *   queriers in its replacement cache and read-only ones nowhere, except one: an announcer
 *   whose announce_peer carried a valid token goes straight into the table, read-only or not.
 * - BEP 51. bittorrent-dht does not answer sample_infohashes at all (no error either).
 *   libtorrent answers; its sample holds at most 20 infohashes whatever
 *   dht_max_infohashes_sample_count says (a hard clamp in its storage), and with
 *   `sampleIntervalS: 0` it is redrawn on every query.
 * - Replies. bittorrent-dht's find_node and get_peers replies list its *whole* routing table
 *   (k-bucket's closest() without a count), not the 8 closest.
 *
 * - BEP 44 (putImmutable … storedItem). Both store and serve items. bittorrent-dht puts to
 *   the 20 closest nodes its lookup found and keeps its own immutable puts; libtorrent puts to
 *   8. libtorrent's Python binding can put mutable items with byte-string values only, and
 *   picks their seq itself (highest found + 1). Their wire quirks are listed in
 *   bittorrent-dht-host.ts and libtorrent-host.py.
 *
 * Only loopback: specs and contacts must be on 127.0.0.0/8, neither child is given any other
 * address, libtorrent runs without bootstrap routers, LSD, UPnP or NAT-PMP (checked with
 * strace: its only datagrams went to 127.x, besides netlink interface queries), and the
 * bittorrent-dht child refuses to send anywhere else. The children exit when this process
 * goes away (IPC disconnect, stdin EOF; measured: within 40 ms of a SIGKILL of the parent).
 *
 * Why this file is over 400 lines: one class drives both kinds of child through one protocol;
 * the BEP 44 methods are thin (checks, then one request) but say where the two kinds differ.
 */

export type ForeignKind = 'bittorrent-dht' | 'libtorrent';

export interface ForeignNodeSpec {
  index: number;
  host: string;
  port: number;
  /** 40 hex: the ID wanted. bittorrent-dht uses it; libtorrent cannot (see ids()). */
  id: string;
}

export interface ForeignContact {
  /** 40 hex. libtorrent learns it from the contact itself. */
  id: string;
  host: string;
  port: number;
}

export interface ForeignHostOptions {
  /** libtorrent: dht_max_infohashes_sample_count (libtorrent never samples more than 20). */
  sampleCount?: number;
  /** libtorrent: dht_sample_infohashes_interval in seconds (0..21,600; 0 = redraw on every query). */
  sampleIntervalS?: number;
  /** Loopback address the ID probe pings from (any free port). Default 127.0.0.1. */
  probeHost?: string;
  /** Deadline for the child to start every node and for every node to answer the probe. Default 60 s. */
  startTimeoutMs?: number;
  /**
   * libtorrent: the Python interpreter. Default /usr/bin/python3, Debian's, the one
   * python3-libtorrent is installed for (a pyenv or venv python3 earlier on PATH has no libtorrent).
   */
  python?: string;
}

/** What the foreign process reports about itself after start. */
export interface ForeignHostInfo {
  /** e.g. "bittorrent-dht 11.0.12", "libtorrent 2.0.8.0". */
  implementation: string;
  pid: number;
  /**
   * libtorrent: the session settings as read back from a session (the dht_* limits lifted,
   * the sample settings, what keeps it on loopback). bittorrent-dht: its options.
   */
  settings: Record<string, string | number | boolean>;
  /** BEP 51 as the node will really answer it; undefined for bittorrent-dht, which has no BEP 51. */
  sampleCount?: number;
  sampleIntervalS?: number;
}

/** Debian's interpreter: python3-libtorrent is installed for it, not for other pythons on PATH. */
const PYTHON = '/usr/bin/python3';

const PROBE_TIMEOUT_MS = 500;
const PROBE_CONCURRENCY = 64;

const isLoopback = (host: string): boolean => isIPv4(host) && host.startsWith('127.');

function validate(kind: ForeignKind, specs: ForeignNodeSpec[], options: ForeignHostOptions): void {
  if (kind !== 'bittorrent-dht' && kind !== 'libtorrent') throw new ForeignHostError(`unknown foreign kind: ${String(kind)}`);
  if (!Array.isArray(specs) || specs.length === 0) throw new ForeignHostError('specs must be a non-empty array');
  const indexes = new Set<number>();
  const addresses = new Set<string>();
  for (const s of specs) {
    if (!Number.isInteger(s.index) || indexes.has(s.index)) throw new ForeignHostError(`bad or duplicate index: ${s.index}`);
    indexes.add(s.index);
    if (!isLoopback(s.host)) throw new ForeignHostError(`node ${s.index}: ${s.host} is not an address on 127.0.0.0/8`);
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65_535) throw new ForeignHostError(`node ${s.index}: bad port ${s.port}`);
    const address = `${s.host}:${s.port}`;
    if (addresses.has(address)) throw new ForeignHostError(`node ${s.index}: duplicate address ${address}`);
    addresses.add(address);
    if (!isHexId(s.id)) throw new ForeignHostError(`node ${s.index}: id must be 40 hex digits`);
  }
  for (const key of ['sampleCount', 'sampleIntervalS'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new ForeignHostError(`${key} must be a non-negative integer`);
  }
  if (options.probeHost !== undefined && !isLoopback(options.probeHost)) throw new ForeignHostError(`probeHost ${options.probeHost} is not on 127.0.0.0/8`);
}

const toMap = <V>(pairs: Array<[number, V]>): Map<number, V> => new Map(pairs);

/** A BEP 44 mutable item to put. Hex byte strings; the value is bencoded (canonically). */
export interface ForeignMutablePut {
  /** The 32-byte ed25519 seed (RFC 8032 private key) that signs. */
  seedHex: string;
  /** Its 32-byte public key (`k`); checked against the seed before anything is sent. */
  publicKeyHex: string;
  valueBencodedHex: string;
  /** At most 64 bytes; absent or empty: no salt. */
  saltHex?: string;
  /** libtorrent picks the seq itself (the highest its lookup found + 1); a different one rejects, after the put. */
  seq: number;
}

export interface ForeignMutableGet {
  publicKeyHex: string;
  saltHex?: string;
  /** How long the lookup may take before null (or, libtorrent, the best item seen so far). Default 10 s. */
  timeoutMs?: number;
}

export interface ForeignPutResult {
  /** 40 hex: where the item is stored. */
  targetHex: string;
  /** How many nodes acknowledged the put (bittorrent-dht: put replies; libtorrent: dht_put_alert num_success). */
  stored: number;
  /** Mutable: the seq that was put. */
  seq?: number;
  /** bittorrent-dht, when no node acknowledged: its last error (a 3xx reply) or "All queries failed". */
  error?: string;
}

export interface ForeignItem {
  valueBencodedHex: string;
  /** Mutable items. */
  seq?: number;
}

const GET_TIMEOUT_MS = 10_000;
const PUT_TIMEOUT_MS = 30_000;
/** Beyond an op's own deadline, for the reply to come back from the host. */
const REPLY_MARGIN_MS = 5_000;

const HEX = /^(?:[0-9a-f]{2})*$/i;

function hexBytes(what: string, hex: unknown, min: number, max: number): string {
  if (typeof hex !== 'string' || !HEX.test(hex) || hex.length / 2 < min || hex.length / 2 > max) {
    throw new ForeignHostError(`${what} must be ${min === max ? min : `${min}..${max}`} bytes in hex`);
  }
  return hex.toLowerCase();
}

function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ForeignHostError(`timeoutMs must be positive, got ${timeoutMs}`);
  return timeoutMs;
}

/** The ed25519 public key of a 32-byte seed (Node ignores a JWK's `x` when `d` is given: derived, then compared). */
function publicKeyOfSeed(seedHex: string): string {
  const d = Buffer.from(seedHex, 'hex').toString('base64url');
  const jwk = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x: d }, format: 'jwk' })).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('hex');
}

const toPutResult = (r: ItemPutResult): ForeignPutResult => ({
  targetHex: r.target,
  stored: r.stored,
  ...(r.seq === undefined ? {} : { seq: r.seq }),
  ...(r.error === undefined ? {} : { error: r.error }),
});

const toItem = (r: ItemFound | null): ForeignItem | null => (r === null ? null : { valueBencodedHex: r.value, ...(r.seq === undefined ? {} : { seq: r.seq }) });

export class ForeignHost {
  private stopping: Promise<void> | undefined;
  private idMap: Map<number, string>;

  private constructor(
    readonly kind: ForeignKind,
    readonly specs: readonly ForeignNodeSpec[],
    readonly info: ForeignHostInfo,
    private readonly channel: Channel,
    private readonly probeHost: string,
    ids: Map<number, string>,
  ) {
    this.idMap = ids;
  }

  /**
   * Starts the child, every node in it, and asks every node for its ID. Rejects with a
   * ForeignHostError (address in use, python3-libtorrent missing, a node that never answers)
   * after killing the child.
   */
  static async start(kind: ForeignKind, specs: ForeignNodeSpec[], options: ForeignHostOptions = {}): Promise<ForeignHost> {
    validate(kind, specs, options);
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    const channel = kind === 'bittorrent-dht' ? bittorrentDhtChannel() : libtorrentChannel(options.python ?? PYTHON);
    try {
      const hello = await withDeadline(channel.hello, left(), `${kind} host did not start within ${timeoutMs} ms`);
      let info: ForeignHostInfo;
      if (kind === 'bittorrent-dht') {
        await channel.request('start', { specs }, left());
        info = { implementation: `bittorrent-dht ${hello.version}`, pid: hello.pid, settings: { bootstrap: false, k: 20 } };
      } else {
        const started = await channel.request<{ settings: Record<string, string | number | boolean>; effective: { sampleCount: number; sampleIntervalS: number } }>(
          'start',
          {
            specs: specs.map((s) => ({ index: s.index, host: s.host, port: s.port })),
            sampleCount: options.sampleCount,
            sampleIntervalS: options.sampleIntervalS,
            // Its own deadline first, so that its message (which node, why) is the one seen.
            timeoutS: Math.max(1, left() / 1000 - 2),
          },
          left(),
        );
        info = {
          implementation: `libtorrent ${hello.version}`,
          pid: hello.pid,
          settings: started.settings,
          sampleCount: started.effective.sampleCount,
          sampleIntervalS: started.effective.sampleIntervalS,
        };
      }
      const probeHost = options.probeHost ?? '127.0.0.1';
      const host = new ForeignHost(kind, specs, info, channel, probeHost, new Map());
      await host.probeIds(left());
      // Counting starts now: the probe's pings are not the caller's traffic.
      await channel.request('reset_counts');
      return host;
    } catch (err) {
      await channel.kill();
      throw err instanceof ForeignHostError ? err : new ForeignHostError(`${kind} host: ${(err as Error).message}`);
    }
  }

  /** The ID each node really answers with (asked of the node with a ping at start, or by the last probeIds()). */
  ids(): Map<number, string> {
    return new Map(this.idMap);
  }

  /** The foreign process's pid (for diagnostics). */
  get pid(): number {
    return this.info.pid;
  }

  /**
   * Pings every node again and updates ids(). The ping is BEP 43 read-only; bittorrent-dht
   * ignores that and adds any querier, so the probe's contact is removed from its tables again.
   * Datagrams the probe sends are counted by received() (source: probeHost).
   */
  async probeIds(timeoutMs = 10_000): Promise<Map<number, string>> {
    const socket = new KrpcSocket({ readOnly: true, timeoutMs: PROBE_TIMEOUT_MS, maxInflight: PROBE_CONCURRENCY * 2 });
    await socket.bind(0, this.probeHost);
    const probeId = randomId();
    const deadline = Date.now() + timeoutMs;
    const ids = new Map<number, string>();
    const silent: number[] = [];
    try {
      let next = 0;
      const run = async (): Promise<void> => {
        while (next < this.specs.length) {
          const spec = this.specs[next++]!;
          for (;;) {
            const sent = Date.now();
            try {
              const { reply } = await socket.query({ host: spec.host, port: spec.port }, { method: 'ping', id: probeId });
              ids.set(spec.index, reply.id.toString('hex'));
              break;
            } catch {
              if (Date.now() >= deadline) {
                silent.push(spec.index);
                break;
              }
              // An error rather than a timeout (a send failure, an error reply): do not spin.
              if (Date.now() - sent < PROBE_TIMEOUT_MS) await sleep(50);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, this.specs.length) }, run));
    } finally {
      await socket.close();
    }
    if (this.kind === 'bittorrent-dht') await this.channel.request('forget', { id: probeId.toString('hex') });
    if (silent.length > 0) {
      throw new ForeignHostError(`${this.kind}: ${silent.length} node(s) did not answer a ping within ${timeoutMs} ms (indexes ${silent.slice(0, 10).join(', ')})`);
    }
    this.idMap = new Map(this.specs.map((s) => [s.index, ids.get(s.index)!]));
    return this.ids();
  }

  /**
   * Fills node `index`'s routing table with these contacts (127.0.0.0/8 only). bittorrent-dht:
   * addNode with the ID, in the table at once. libtorrent: add_dht_node, which queries the
   * contact; resolves once every contact is in the table, or the count has stopped moving for
   * a second (dead contacts, full buckets). Returns how many of each node's contacts are in
   * its table now.
   */
  async addContacts(contacts: Map<number, ForeignContact[]>): Promise<Map<number, number>> {
    const known = new Set(this.specs.map((s) => s.index));
    const list: Array<[number, ForeignContact[]]> = [];
    for (const [index, cs] of contacts) {
      if (!known.has(index)) throw new ForeignHostError(`no node ${index} in this ${this.kind} host`);
      for (const c of cs) {
        if (!isLoopback(c.host)) throw new ForeignHostError(`contact ${c.host}:${c.port} is not on 127.0.0.0/8`);
        if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65_535) throw new ForeignHostError(`contact ${c.host}: bad port ${c.port}`);
        if (!isHexId(c.id)) throw new ForeignHostError(`contact ${c.host}:${c.port}: id must be 40 hex digits`);
      }
      list.push([index, cs.map((c) => ({ id: c.id.toLowerCase(), host: c.host, port: c.port }))]);
    }
    return toMap(await this.channel.request<Array<[number, number]>>('add_contacts', { contacts: list }, 60_000));
  }

  /**
   * Datagrams each node received since start() resolved, by source "ip:port".
   * bittorrent-dht: every datagram its socket delivered. libtorrent: every datagram its DHT
   * accepted as a message (dht_pkt_alert): more than 20 bytes, starting with 'd' and ending
   * with 'e' (anything else is not DHT traffic to libtorrent and is not seen); rejects if
   * libtorrent dropped alerts, since the counts would be short.
   */
  async received(): Promise<Map<number, Map<string, number>>> {
    const pairs = await this.channel.request<Array<[number, Record<string, number>]>>('received');
    return new Map(pairs.map(([i, bySource]) => [i, new Map(Object.entries(bySource))]));
  }

  /**
   * bittorrent-dht adds every querier to its table, read-only ones too: the testnet's
   * announcers and probes leave through this after they are done. No-op for libtorrent.
   */
  async forget(idHex: string): Promise<void> {
    if (this.kind === 'bittorrent-dht') await this.channel.request('forget', { id: idHex });
  }

  /** Routing-table sizes as the foreign process reports them (libtorrent: live nodes, not the replacement cache). */
  async tableSizes(): Promise<Map<number, number>> {
    return toMap(await this.channel.request<Array<[number, number]>>('table_sizes'));
  }

  /** Routing-table contents as the foreign process lists them (ground truth). */
  async tables(): Promise<Map<number, ForeignContact[]>> {
    return toMap(await this.channel.request<Array<[number, ForeignContact[]]>>('tables'));
  }

  /**
   * Per node, what the process says about itself. bittorrent-dht: `id`, `guarded` (datagrams
   * its guard dropped), `blockedSends` (non-loopback targets refused), `warnings`, `errors`;
   * `uncaught`: exceptions that escaped into the process. libtorrent: `startedId`, `currentId`,
   * `idChanges`, `externalIps` (addresses it adopted from `ip` fields).
   */
  async diagnostics(): Promise<{ nodes: Map<number, Record<string, unknown>>; uncaught: string[] }> {
    const d = await this.channel.request<{ nodes: Array<[number, Record<string, unknown>]>; uncaught: string[] }>('diagnostics');
    return { nodes: toMap(d.nodes), uncaught: d.uncaught };
  }

  /**
   * BEP 44: node `index` stores an immutable item (its own lookup, then puts with the tokens
   * it got). Resolves when the put is done, with the target and how many nodes acknowledged
   * (0 is a result, not an error). The value must be canonical bencoding.
   */
  async putImmutable(index: number, valueBencodedHex: string, timeoutMs = PUT_TIMEOUT_MS): Promise<ForeignPutResult> {
    this.checkIndex(index);
    const value = hexBytes('value', valueBencodedHex, 1, 1_000);
    checkTimeout(timeoutMs);
    return toPutResult(await this.channel.request<ItemPutResult>('put_immutable', { index, value, timeoutMs }, timeoutMs + REPLY_MARGIN_MS));
  }

  /**
   * BEP 44: node `index` looks the target up on the network (bittorrent-dht: never from its
   * own store) and returns the value, bencoded, or null when nothing valid came within timeoutMs.
   */
  async getImmutable(index: number, targetHex: string, timeoutMs = GET_TIMEOUT_MS): Promise<string | null> {
    this.checkIndex(index);
    const target = hexBytes('target', targetHex, 20, 20);
    checkTimeout(timeoutMs);
    return this.channel.request<string | null>('get_immutable', { index, target, timeoutMs }, timeoutMs + REPLY_MARGIN_MS);
  }

  /**
   * BEP 44: node `index` signs (with `seedHex`) and stores a mutable item. libtorrent: byte-string
   * values only, and the seq is its own choice (see ForeignMutablePut.seq).
   */
  async putMutable(index: number, item: ForeignMutablePut, timeoutMs = PUT_TIMEOUT_MS): Promise<ForeignPutResult> {
    this.checkIndex(index);
    const seed = hexBytes('seed', item.seedHex, 32, 32);
    const publicKey = hexBytes('public key', item.publicKeyHex, 32, 32);
    if (publicKeyOfSeed(seed) !== publicKey) throw new ForeignHostError(`the seed's public key is ${publicKeyOfSeed(seed)}, not ${publicKey}`);
    const value = hexBytes('value', item.valueBencodedHex, 1, 1_000);
    const salt = item.saltHex === undefined ? undefined : hexBytes('salt', item.saltHex, 0, 64);
    if (!Number.isSafeInteger(item.seq) || item.seq < 0) throw new ForeignHostError(`seq must be a non-negative integer, got ${item.seq}`);
    checkTimeout(timeoutMs);
    const args = { index, seed, publicKey, value, ...(salt ? { salt } : {}), seq: item.seq, timeoutMs };
    return toPutResult(await this.channel.request<ItemPutResult>('put_mutable', args, timeoutMs + REPLY_MARGIN_MS));
  }

  /** BEP 44: node `index` looks up the mutable item of this key and salt; the highest seq that verified, or null. */
  async getMutable(index: number, query: ForeignMutableGet): Promise<ForeignItem | null> {
    this.checkIndex(index);
    const publicKey = hexBytes('public key', query.publicKeyHex, 32, 32);
    const salt = query.saltHex === undefined ? undefined : hexBytes('salt', query.saltHex, 0, 64);
    const timeoutMs = checkTimeout(query.timeoutMs ?? GET_TIMEOUT_MS);
    const args = { index, publicKey, ...(salt ? { salt } : {}), timeoutMs };
    return toItem(await this.channel.request<ItemFound | null>('get_mutable', args, timeoutMs + REPLY_MARGIN_MS));
  }

  /**
   * Ground truth: the item node `index` itself holds for the target, or null. bittorrent-dht:
   * read from its store (`_values`). libtorrent, whose store the binding cannot list: its
   * answer to a plain `get` sent to it alone (from its own address, an ephemeral port; counted
   * by received()), which it answers from its store.
   */
  async storedItem(index: number, targetHex: string): Promise<ForeignItem | null> {
    this.checkIndex(index);
    const target = hexBytes('target', targetHex, 20, 20);
    return toItem(await this.channel.request<ItemFound | null>('stored', { index, target }, 10_000));
  }

  private checkIndex(index: number): void {
    if (!this.specs.some((s) => s.index === index)) throw new ForeignHostError(`no node ${index} in this ${this.kind} host`);
  }

  /** Stops every node and the child (SIGKILL if it does not exit within 3 s). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.channel.stop();
    return this.stopping;
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ForeignHostError(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
