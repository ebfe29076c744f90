/**
 * Reply bodies for the bep5/replies.ts tests (replies-*.test.ts): compact node lists built by
 * hand (not through compact.ts) and sample infohashes.
 */
import { bytes as filled } from './bep5-wire.js';

/** A node id: 20 bytes of 0x10 + i. */
export const nodeId = (i: number): Buffer => filled(20, 0x10 + i);

/** A compact IPv4 node entry, built by hand (not through compact.ts). */
export function node4(id: Buffer, ip: [number, number, number, number], port: number): Buffer {
  return Buffer.concat([id, Buffer.from(ip), Buffer.from([port >> 8, port & 0xff])]);
}

/** A compact IPv6 node entry, built by hand. */
export function node6(id: Buffer, ip: Buffer, port: number): Buffer {
  return Buffer.concat([id, ip, Buffer.from([port >> 8, port & 0xff])]);
}

export const V6_A = Buffer.from('20010db8000000000000000000000001', 'hex'); // 2001:db8::1
export const V6_B = Buffer.from('2a0100000000000000000000000000ff', 'hex'); // 2a01::ff

/** 8 IPv4 nodes: 10.0.0.i:(6881+i). */
export const EIGHT = Buffer.concat(Array.from({ length: 8 }, (_, i) => node4(nodeId(i), [10, 0, 0, i + 1], 6881 + i)));

/** Three sample infohashes, distinct bytes each. */
export const SAMPLES = [filled(20, 0xa1), filled(20, 0xb2), filled(20, 0xc3)];
