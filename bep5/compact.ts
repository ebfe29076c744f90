import { formatIp, parseIp, unmapIp, type IpFamily } from './ip.js';
import { ID_BYTES } from './constants.js';
import { isNodeId } from './node-id.js';
import { CompactError } from './errors.js';

/**
 * Compact address encodings: BEP 5 "compact IP-address/port info" (6 bytes) and "compact node
 * info" (26 bytes), and their BEP 32 IPv6 forms (18 and 38 bytes). All numbers big-endian.
 *
 * Encoding is strict (bad input is our bug and should surface); decoding is strict about
 * lengths (a short entry means a broken or hostile sender, and a silently shortened list would
 * hide it) but passes values such as port 0 through: what to do with them is routing policy.
 */

export interface PeerAddress {
  host: string;
  port: number;
}

export interface NodeInfo {
  /** 20 bytes. */
  id: Buffer;
  host: string;
  port: number;
}

/** An address as a map key: "host|port" (hosts as the socket reports them, normalized). */
export const addressKey = (a: PeerAddress): string => `${a.host}|${a.port}`;

export const PEER_LENGTH = { 4: 6, 6: 18 } as const satisfies Record<IpFamily, number>;
export const NODE_LENGTH = { 4: 26, 6: 38 } as const satisfies Record<IpFamily, number>;

/**
 * The address bytes to put on the wire: 4 for IPv4, including an IPv4-mapped host (a
 * dual-stack socket's view of an IPv4 peer, which IPv4 nodes must be able to read), else 16.
 */
function hostBytes(host: string): Buffer {
  const bytes = parseIp(host);
  if (bytes === undefined) throw new CompactError('bad-host', `not an IP address: ${JSON.stringify(host)}`);
  return unmapIp(bytes);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new CompactError('bad-port', `port must be an integer 0..65535, got ${String(port)}`);
  }
}

function checkFamily(family: IpFamily): void {
  if (family !== 4 && family !== 6) throw new CompactError('wrong-family', `family must be 4 or 6, got ${String(family)}`);
}

/** 6 bytes for an IPv4 (or IPv4-mapped) host, 18 for IPv6. */
export function encodePeer(peer: PeerAddress): Buffer {
  const ip = hostBytes(peer.host);
  checkPort(peer.port);
  const out = Buffer.allocUnsafe(ip.length + 2);
  ip.copy(out, 0);
  out.writeUInt16BE(peer.port, ip.length);
  return out;
}

/**
 * Reads exactly one 6- or 18-byte compact peer. The host is formatIp's text, so an 18-byte
 * IPv4-mapped value reads as '::ffff:a.b.c.d'; normalizeHost it to compare with IPv4 peers.
 */
export function decodePeer(bytes: Uint8Array): PeerAddress {
  if (bytes.length !== PEER_LENGTH[4] && bytes.length !== PEER_LENGTH[6]) {
    throw new CompactError('bad-length', `a compact peer has 6 or 18 bytes, not ${bytes.length}`);
  }
  const ipLength = bytes.length - 2;
  return {
    host: formatIp(bytes.subarray(0, ipLength)),
    port: (bytes[ipLength]! << 8) | bytes[ipLength + 1]!,
  };
}

/** BEP 42's top-level `ip` field uses the compact peer form. */
export const encodeAddress = encodePeer;
export const decodeAddress = decodePeer;

/** `nodes` (family 4, 26-byte entries) or `nodes6` (family 6, 38-byte entries). */
export function encodeNodes(nodes: readonly NodeInfo[], family: IpFamily): Buffer {
  checkFamily(family);
  const entryLength = NODE_LENGTH[family];
  const out = Buffer.allocUnsafe(nodes.length * entryLength);
  nodes.forEach((node, index) => {
    if (!isNodeId(node.id)) throw new CompactError('bad-id', `node ${index}: id must be a ${ID_BYTES}-byte Buffer`);
    const ip = hostBytes(node.host);
    if (ip.length !== (family === 4 ? 4 : 16)) {
      throw new CompactError('wrong-family', `node ${index}: ${node.host} is not IPv${family}`);
    }
    checkPort(node.port);
    const offset = index * entryLength;
    node.id.copy(out, offset);
    ip.copy(out, offset + ID_BYTES);
    out.writeUInt16BE(node.port, offset + entryLength - 2);
  });
  return out;
}

/**
 * Decodes a `nodes`/`nodes6` string. The length must be a whole number of entries. IDs are
 * copies, not views: nodes live in the routing table for hours, and a view would keep the
 * whole datagram alive.
 */
export function decodeNodes(bytes: Uint8Array, family: IpFamily): NodeInfo[] {
  checkFamily(family);
  const entryLength = NODE_LENGTH[family];
  if (bytes.length % entryLength !== 0) {
    throw new CompactError('bad-length', `${bytes.length} bytes is not a multiple of ${entryLength} (IPv${family} nodes)`);
  }
  const nodes: NodeInfo[] = [];
  for (let offset = 0; offset < bytes.length; offset += entryLength) {
    const ipEnd = offset + entryLength - 2;
    nodes.push({
      id: Buffer.from(bytes.subarray(offset, offset + ID_BYTES)),
      host: formatIp(bytes.subarray(offset + ID_BYTES, ipEnd)),
      port: (bytes[ipEnd]! << 8) | bytes[ipEnd + 1]!,
    });
  }
  return nodes;
}
