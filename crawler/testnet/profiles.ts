/**
 * How the nodes of a testnet behave. The real DHT is not made of dhtscope nodes: beside our own
 * nodes a testnet runs real foreign processes (bittorrent-dht from npm, libtorrent through
 * python3-libtorrent), and our own nodes take behaviour profiles for what the foreign clients
 * that cannot run here do on the wire (../shared/notes/foreign-nodes.md). A profile changes
 * only what crosses the socket (crawler/testnet/profile-socket.ts) and the node's options; the
 * node code under test stays the real node code.
 */

/** What runs at a testnet address. `dead` is a socket that counts what it receives and never answers. */
export type NodeKind = 'dhtscope' | 'bittorrent-dht' | 'libtorrent' | 'dead';

export const PROFILES = ['dhtscope', 'no-bep51', 'silent', 'aria2', 'rtorrent', 'lt-old', 'rate-limited', 'read-only', 'bogon-contacts'] as const;

/** Behaviour profiles of our own nodes. */
export type Profile = (typeof PROFILES)[number];

export interface ProfileBehaviour {
  /** What it sends as `v` (hex), or null for none. */
  version: string | null;
  /** It answers sample_infohashes with samples. */
  bep51: boolean;
  /** It sends nothing back to sample_infohashes and to methods it does not know. */
  silentOnUnknown: boolean;
  /** The error it answers sample_infohashes and unknown methods with, when not silent (BEP 5 says 204). */
  unknownError: 203 | 204;
  /** BEP 43 read-only: it answers no query at all. */
  readOnly: boolean;
  /** Per-IP limit on the queries it answers (libtorrent-style), loopback included. */
  perIpRate?: { ratePerSecond: number; burst: number };
  /** Its find_node / get_peers answers also list contacts at private and bogon addresses. */
  bogonContacts: boolean;
  /** What it imitates, for the ground truth and --help. */
  about: string;
}

const DS = '44530001'; // "DS" 0.1, our own
export const BEHAVIOUR: Record<Profile, ProfileBehaviour> = {
  dhtscope: { version: DS, bep51: true, silentOnUnknown: false, unknownError: 204, readOnly: false, bogonContacts: false, about: 'a dhtscope node (BEP 51)' },
  'no-bep51': { version: DS, bep51: false, silentOnUnknown: false, unknownError: 204, readOnly: false, bogonContacts: false, about: 'a dhtscope node without BEP 51 (204)' },
  silent: {
    version: null,
    bep51: false,
    silentOnUnknown: true,
    unknownError: 204,
    readOnly: false,
    bogonContacts: false,
    about: 'jech/dht (Transmission): no v, silent to sample_infohashes and unknown methods',
  },
  aria2: { version: '41320003', bep51: false, silentOnUnknown: true, unknownError: 204, readOnly: false, bogonContacts: false, about: 'aria2 1.36: v A2 0.3, silent to sample_infohashes and unknown methods' },
  rtorrent: { version: '6c740d80', bep51: false, silentOnUnknown: false, unknownError: 204, readOnly: false, bogonContacts: false, about: 'rtorrent 0.9.8: v lt 0d80, 204 to sample_infohashes' },
  'lt-old': { version: '4c540110', bep51: false, silentOnUnknown: false, unknownError: 203, readOnly: false, bogonContacts: false, about: 'libtorrent 1.1 (before BEP 51): 203 "unknown message"' },
  'rate-limited': {
    version: DS,
    bep51: true,
    silentOnUnknown: false,
    unknownError: 204,
    readOnly: false,
    perIpRate: { ratePerSecond: 1, burst: 3 },
    bogonContacts: false,
    about: 'answers each IP at most 1 query/s (bursts of 3), loopback too',
  },
  'read-only': { version: DS, bep51: true, silentOnUnknown: false, unknownError: 204, readOnly: true, bogonContacts: false, about: 'BEP 43 read-only: answers nothing (not live)' },
  'bogon-contacts': {
    version: DS,
    bep51: true,
    silentOnUnknown: false,
    unknownError: 204,
    readOnly: false,
    bogonContacts: true,
    about: 'also lists contacts at 10.x, 192.168.x, 169.254.x, 100.64.x, 0.x, 224.x',
  },
};

/**
 * The default mix of a testnet (tests, benchmarks, `run --testnet`): what a realistic slice of
 * the DHT looks like, with the foreign processes that run here. Shares of our own nodes per
 * profile; the rest are plain dhtscope nodes. Silent profiles (silent, aria2) are 32% of ours.
 */
export const DEFAULT_PROFILE_SHARES: Partial<Record<Profile, number>> = {
  silent: 0.22,
  aria2: 0.1,
  rtorrent: 0.03,
  'lt-old': 0.03,
  'rate-limited': 0.04,
  'read-only': 0.02,
  'bogon-contacts': 0.04,
};

/** Parses `silent=0.2,aria2=0.1` (shares of our nodes); throws RangeError with the reason. */
export function parseProfileShares(text: string): Partial<Record<Profile, number>> {
  const out: Partial<Record<Profile, number>> = {};
  let total = 0;
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=(\d*\.?\d+)$/.exec(part);
    if (!m) throw new RangeError(`"${part}" is not profile=share (e.g. silent=0.2)`);
    const name = m[1] as Profile;
    if (!PROFILES.includes(name)) throw new RangeError(`unknown profile "${m[1]}" (profiles: ${PROFILES.join(', ')})`);
    const share = Number(m[2]);
    if (!(share >= 0 && share <= 1)) throw new RangeError(`the share of ${name} must be from 0 to 1, got ${m[2]}`);
    out[name] = share;
    total += share;
  }
  if (total > 1 + 1e-9) throw new RangeError(`the shares add up to ${total.toFixed(3)}, more than 1`);
  return out;
}

/**
 * The mix a testnet gets unless told otherwise (`dhtscope testnet`, `run --testnet`, the mixed
 * benchmarks): 30% bittorrent-dht processes, 4 libtorrent processes whose BEP 51 interval is
 * 0 (they allow a new sample at once; 21,600 s is libtorrent's default, which would leave a
 * crawl one sample of at most 20 infohashes per node), our nodes in DEFAULT_PROFILE_SHARES.
 */
export const MIXED_NETWORK = {
  bittorrentDht: 0.3,
  libtorrent: 4,
  libtorrentIntervalS: 0,
  profiles: DEFAULT_PROFILE_SHARES,
} as const;
