import { IpError } from './errors.js';
/**
 * IP addresses as the DHT sees them: text from sockets and config, bytes from compact
 * encodings. Everything is decided on the byte form, so '::ffff:10.0.0.1', '10.0.0.1' and
 * their bytes all classify the same way.
 *
 * Parsing choices, strict because these strings come from untrusted peers and become map keys:
 * - IPv4 is the dotted quad only: no leading zeros ('01.2.3.4' could mean octal elsewhere),
 *   no shorthand ('127.1'), no hex, no surrounding whitespace.
 * - IPv6 follows RFC 4291 text forms: `::` at most once and standing for at least one group,
 *   1-4 hex digits per group in either case, a dotted IPv4 tail only in the last 32 bits.
 *   Brackets ('[::1]') are URL syntax, not an address, and are rejected.
 * - A zone ('fe80::1%eth0') is accepted on IPv6 and dropped. Node's dgram reports link-local
 *   senders with their zone in `rinfo.address`, so rejecting it would make those senders
 *   unparseable; the byte form has no room for it. Callers that must reply on a particular
 *   interface keep the original rinfo string for sending.
 */

export type IpFamily = 4 | 6;

/** A host as text, or its 4- or 16-byte form. */
export type IpInput = string | Uint8Array;

const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;
/**
 * A zone is an interface name or index. Linux names may hold almost any printable character,
 * and the zone is dropped anyway, so accept printable ASCII except '%', up to a sane length.
 */
const ZONE = /^[\x21-\x24\x26-\x7e]{1,64}$/;
/** Longest legal IPv6 text without zone: 6 full groups and a full dotted quad. */
const MAX_IPV6_TEXT = 45;

/** Parses an IP literal to 4 (IPv4) or 16 (IPv6) bytes; undefined if it is not one. */
export function parseIp(host: string): Buffer | undefined {
  if (host.includes(':')) return parseIpv6(host);
  const out = Buffer.alloc(4);
  return writeIpv4(host, out, 0) ? out : undefined;
}

/**
 * Strict dotted quad (no leading zeros, each octet <= 255), one pass without allocating:
 * this runs several times per datagram (socket, tokens, storage), so it must be cheap.
 */
function writeIpv4(text: string, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let octet = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (digits === 0 || part === 3) return false;
      out[offset + part++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return false; // leading zero
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  if (part !== 3 || digits === 0) return false;
  out[offset + 3] = octet;
  return true;
}

const scratchIpv4 = new Uint8Array(4);

function parseIpv6(text: string): Buffer | undefined {
  let address = text;
  const percent = address.indexOf('%');
  if (percent !== -1) {
    if (!ZONE.test(address.slice(percent + 1))) return undefined;
    address = address.slice(0, percent);
  }
  if (address.length > MAX_IPV6_TEXT) return undefined;

  const gap = address.indexOf('::');
  if (gap !== -1 && address.indexOf('::', gap + 1) !== -1) return undefined;
  const head = gap === -1 ? address : address.slice(0, gap);
  const tail = gap === -1 ? '' : address.slice(gap + 2);

  const out = Buffer.alloc(16);
  const written = writeGroups(head, out, 0, gap === -1);
  if (written === undefined) return undefined;
  if (gap === -1) return written === 16 ? out : undefined;

  // The tail goes at the end; parse it into a scratch buffer first to learn its length.
  const scratch = Buffer.alloc(16);
  const tailBytes = writeGroups(tail, scratch, 0, true);
  if (tailBytes === undefined) return undefined;
  // `::` must stand for at least one zero group.
  if (written + tailBytes > 14) return undefined;
  scratch.copy(out, 16 - tailBytes, 0, tailBytes);
  return out;
}

/**
 * Writes colon-separated groups; returns the byte count or undefined if malformed.
 * `mayEndInIpv4`: whether this run of groups ends the address, where a dotted quad may stand
 * for the last two groups.
 */
function writeGroups(text: string, out: Buffer, offset: number, mayEndInIpv4: boolean): number | undefined {
  if (text === '') return 0;
  const groups = text.split(':');
  let pos = offset;
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    const isLast = i === groups.length - 1;
    if (isLast && mayEndInIpv4 && group.includes('.')) {
      if (pos + 4 > 16 || !writeIpv4(group, out, pos)) return undefined;
      pos += 4;
      continue;
    }
    if (!IPV6_GROUP.test(group) || pos + 2 > 16) return undefined;
    out.writeUInt16BE(parseInt(group, 16), pos);
    pos += 2;
  }
  return pos - offset;
}

/**
 * Formats 4 or 16 bytes as text. IPv6 comes out as RFC 5952 canonical text, byte-for-byte what
 * Node's dgram reports in `rinfo.address` (libuv's inet_ntop): lowercase, no leading zeros,
 * the longest run of two or more zero groups (the first on a tie) as `::`. Like libuv, an
 * IPv4-mapped address is written '::ffff:a.b.c.d', and the deprecated IPv4-compatible form
 * (the first 96 bits zero and the next 16 not) as '::a.b.c.d'.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIpv4(bytes, 0);
  if (bytes.length !== 16) throw new IpError('bad-length', `an IP address has 4 or 16 bytes, not ${bytes.length}`);

  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);

  let bestStart = -1;
  let bestLength = 0;
  let runStart = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (runStart === -1) runStart = i;
      continue;
    }
    if (runStart !== -1 && i - runStart > bestLength) {
      bestStart = runStart;
      bestLength = i - runStart;
    }
    runStart = -1;
  }

  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
    return (bestLength === 6 ? '::' : '::ffff:') + formatIpv4(bytes, 12);
  }
  const hex = (w: number): string => w.toString(16);
  if (bestLength < 2) return words.map(hex).join(':');
  const head = words.slice(0, bestStart).map(hex).join(':');
  const tail = words.slice(bestStart + bestLength).map(hex).join(':');
  return `${head}::${tail}`;
}

function formatIpv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** True for the 16-byte form of an IPv4-mapped address (::ffff:0:0/96). */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * The 4-byte IPv4 address inside an IPv4-mapped one; any other 4- or 16-byte address as is.
 * A dual-stack socket reports IPv4 peers as mapped addresses, and they are the same peer.
 */
export function unmapIp(bytes: Uint8Array): Buffer {
  if (bytes.length === 4 && Buffer.isBuffer(bytes)) return bytes;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isIpv4Mapped(bytes) ? view.subarray(12, 16) : view;
}

/**
 * The unit of per-source quotas (stored peers, BEP 44 items, reflection budgets): an IPv4
 * address, or the /64 of an IPv6 one (what one host gets for free), as a latin1 string of its
 * bytes (4 or 8 characters, so the two never clash). Takes the address's 4 or 16 bytes, unmapped.
 */
export function sourceKey(ip: Uint8Array): string {
  return Buffer.from(ip.buffer, ip.byteOffset, ip.length === 4 ? 4 : 8).toString('latin1');
}

/**
 * One canonical string per address, for map keys and comparisons: IPv4-mapped IPv6 becomes
 * plain IPv4, everything else its canonical text, and non-IP text undefined.
 */
export function normalizeHost(host: string): string | undefined {
  // A valid dotted quad is already canonical: parsing is strict, so no formatting is needed.
  if (!host.includes(':')) return writeIpv4(host, scratchIpv4, 0) ? host : undefined;
  const bytes = parseIp(host);
  return bytes === undefined ? undefined : formatIp(unmapIp(bytes));
}

/** The family of the literal as written: '::ffff:1.2.3.4' is 6 (normalize it first to get 4). */
export function ipFamily(host: string): IpFamily | undefined {
  if (!host.includes(':')) return writeIpv4(host, scratchIpv4, 0) ? 4 : undefined;
  const bytes = parseIp(host);
  if (bytes === undefined) return undefined;
  return bytes.length === 4 ? 4 : 6;
}

/** An address block. `network` has the family's full length, with bits past the prefix zero. */
export interface IpRange {
  readonly cidr: string;
  readonly network: Buffer;
  readonly prefixBits: number;
  /** Why the block is listed, for readers and for log lines. */
  readonly note: string;
}

function range(cidr: string, note: string): IpRange {
  const slash = cidr.indexOf('/');
  const network = parseIp(cidr.slice(0, slash));
  const prefixBits = Number(cidr.slice(slash + 1));
  if (network === undefined || !Number.isInteger(prefixBits) || prefixBits < 0 || prefixBits > network.length * 8) {
    throw new IpError('bad-cidr', cidr);
  }
  return { cidr, network, prefixBits, note };
}

/** Whether `bytes` (same family as the range) lies inside it. */
export function inRange(bytes: Uint8Array, block: IpRange): boolean {
  if (bytes.length !== block.network.length) return false;
  const whole = block.prefixBits >>> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== block.network[i]) return false;
  const rest = block.prefixBits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole]! ^ block.network[whole]!) & mask) === 0;
}

/** The first range in `table` that holds `bytes`. */
export function findRange(bytes: Uint8Array, table: readonly IpRange[]): IpRange | undefined {
  return table.find((block) => inRange(bytes, block));
}

export const IPV4_LOOPBACK: readonly IpRange[] = [range('127.0.0.0/8', 'loopback')];
export const IPV6_LOOPBACK: readonly IpRange[] = [range('::1/128', 'loopback')];

/**
 * "Private" means a site's own addresses: RFC 1918 and IPv6 unique-local. CGNAT space
 * (100.64.0.0/10) is deliberately not here: RFC 6598 keeps it apart from RFC 1918 because it
 * belongs to the carrier, not the site; BEP 42 does not exempt it either. It is a bogon.
 */
export const IPV4_PRIVATE: readonly IpRange[] = [
  range('10.0.0.0/8', 'private (RFC 1918)'),
  range('172.16.0.0/12', 'private (RFC 1918)'),
  range('192.168.0.0/16', 'private (RFC 1918)'),
];
export const IPV6_PRIVATE: readonly IpRange[] = [range('fc00::/7', 'unique local (RFC 4193)')];

export const IPV4_LINK_LOCAL: readonly IpRange[] = [range('169.254.0.0/16', 'link local (RFC 3927)')];
export const IPV6_LINK_LOCAL: readonly IpRange[] = [range('fe80::/10', 'link local (RFC 4291)')];

/** IPv4 blocks that are not globally routable (RFC 6890 registry and its updates). */
export const IPV4_BOGONS: readonly IpRange[] = [
  range('0.0.0.0/8', '"this network" (RFC 791)'),
  range('10.0.0.0/8', 'private (RFC 1918)'),
  range('100.64.0.0/10', 'shared CGNAT space (RFC 6598)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link local (RFC 3927)'),
  range('172.16.0.0/12', 'private (RFC 1918)'),
  range('192.0.0.0/24', 'IETF protocol assignments (RFC 6890)'),
  range('192.0.2.0/24', 'documentation TEST-NET-1 (RFC 5737)'),
  range('192.168.0.0/16', 'private (RFC 1918)'),
  range('198.18.0.0/15', 'benchmarking (RFC 2544)'),
  range('198.51.100.0/24', 'documentation TEST-NET-2 (RFC 5737)'),
  range('203.0.113.0/24', 'documentation TEST-NET-3 (RFC 5737)'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved, incl. limited broadcast 255.255.255.255'),
];

/** IPv6 blocks that are not globally routable; checked before the 2000::/3 rule below. */
export const IPV6_BOGONS: readonly IpRange[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::/96', 'IPv4-compatible (deprecated, RFC 4291)'),
  range('64:ff9b:1::/48', 'local-use NAT64 (RFC 8215)'),
  range('100::/64', 'discard only (RFC 6666)'),
  range('2001:2::/48', 'benchmarking (RFC 5180)'),
  range('2001:10::/28', 'ORCHID (deprecated)'),
  range('2001:20::/28', 'ORCHIDv2 host identifiers, not locators (RFC 7343)'),
  range('2001:30::/28', 'drone entity tags, identifiers not locators (RFC 9374)'),
  range('2001:db8::/32', 'documentation (RFC 3849)'),
  range('3fff::/20', 'documentation (RFC 9637)'),
  range('fc00::/7', 'unique local (RFC 4193)'),
  range('fe80::/10', 'link local (RFC 4291)'),
  range('fec0::/10', 'site local (deprecated, RFC 3879)'),
  range('ff00::/8', 'multicast'),
];

/**
 * Only 2000::/3 has ever been handed out for global unicast, so any other IPv6 address (outside
 * the embeddings below) cannot be reached across the internet today. Filtering on it drops the
 * junk that shows up in `nodes6` lists.
 */
export const IPV6_GLOBAL_UNICAST: IpRange = range('2000::/3', 'global unicast');

/**
 * IPv6 blocks that carry an IPv4 address, which decides whether they are routable. RFC 6052
 * forbids non-global IPv4 inside the NAT64 well-known prefix, and a 6to4 address is only as
 * reachable as its IPv4.
 */
export const IPV6_IPV4_EMBEDDINGS: readonly { readonly block: IpRange; readonly ipv4Offset: number; readonly inverted?: boolean }[] = [
  { block: range('::ffff:0:0/96', 'IPv4-mapped'), ipv4Offset: 12 },
  { block: range('64:ff9b::/96', 'NAT64 well-known prefix (RFC 6052)'), ipv4Offset: 12 },
  { block: range('2002::/16', '6to4 (RFC 3056)'), ipv4Offset: 2 },
  // A Teredo address ends in its client's public IPv4 (mapped) address, every bit inverted.
  { block: range('2001::/32', 'Teredo (RFC 4380)'), ipv4Offset: 12, inverted: true },
];

function toBytes(host: IpInput): Buffer | undefined {
  if (typeof host === 'string') return parseIp(host);
  if (host.length !== 4 && host.length !== 16) return undefined;
  return Buffer.from(host.buffer, host.byteOffset, host.byteLength);
}

/** Bytes to classify for local-scope questions: a mapped address is its IPv4. */
function scopeBytes(host: IpInput): Buffer | undefined {
  const bytes = toBytes(host);
  return bytes === undefined ? undefined : unmapIp(bytes);
}

function inTable(host: IpInput, v4: readonly IpRange[], v6: readonly IpRange[]): boolean {
  const bytes = scopeBytes(host);
  if (bytes === undefined) return false;
  return findRange(bytes, bytes.length === 4 ? v4 : v6) !== undefined;
}

/** 127/8 and ::1 (and their mapped forms). False for anything that is not an IP. */
export function isLoopback(host: IpInput): boolean {
  return inTable(host, IPV4_LOOPBACK, IPV6_LOOPBACK);
}

/** RFC 1918 and fc00::/7; not CGNAT (see IPV4_PRIVATE). False for anything that is not an IP. */
export function isPrivate(host: IpInput): boolean {
  return inTable(host, IPV4_PRIVATE, IPV6_PRIVATE);
}

/** 169.254/16 and fe80::/10. False for anything that is not an IP. */
export function isLinkLocal(host: IpInput): boolean {
  return inTable(host, IPV4_LINK_LOCAL, IPV6_LINK_LOCAL);
}

/**
 * Why `host` is not globally routable, or undefined if it is. Text that is not an IP literal
 * (and byte arrays of the wrong length) count as bogons: this guards what we send to and store,
 * so it fails closed.
 */
export function bogonReason(host: IpInput): string | undefined {
  const bytes = toBytes(host);
  if (bytes === undefined) return 'not an IP address';
  if (bytes.length === 4) return findRange(bytes, IPV4_BOGONS)?.note;
  for (const { block, ipv4Offset, inverted } of IPV6_IPV4_EMBEDDINGS) {
    if (!inRange(bytes, block)) continue;
    const ipv4 = bytes.subarray(ipv4Offset, ipv4Offset + 4);
    const inner = findRange(inverted === true ? ipv4.map((b) => ~b & 0xff) : ipv4, IPV4_BOGONS);
    return inner === undefined ? undefined : `${block.note} of ${inner.note}`;
  }
  const listed = findRange(bytes, IPV6_BOGONS);
  if (listed !== undefined) return listed.note;
  return inRange(bytes, IPV6_GLOBAL_UNICAST) ? undefined : 'outside 2000::/3 global unicast';
}

/** True if `host` is not a globally routable address (see bogonReason). */
export function isBogon(host: IpInput): boolean {
  return bogonReason(host) !== undefined;
}
