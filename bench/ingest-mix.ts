import { randomBytes } from 'node:crypto';
import { type Discovery } from '../crawler/discovery.js';

/**
 * bench:ingest's event mix for the writer benchmarks (apply-throughput.ts, plan-cpu.ts): 70%
 * sightings over a pool of n/3 infohashes (so they repeat), 20% node answers from 2,000 nodes,
 * 10% peer lists of two.
 */
export function ingestMix(n: number): Discovery[] {
  const address = (): string => `${10 + (randomBytes(1)[0]! % 200)}.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}:${1024 + (randomBytes(2).readUInt16BE(0) % 60_000)}`;
  const pool = Array.from({ length: Math.max(1, Math.floor(n / 3)) }, () => randomBytes(20).toString('hex'));
  const nodes = Array.from({ length: 2_000 }, () => ({ id: randomBytes(20).toString('hex'), address: address() }));
  const at = Date.now();
  return Array.from({ length: n }, (_, i): Discovery => {
    const r = Math.random();
    const node = nodes[i % nodes.length]!;
    const infohash = pool[Math.floor(Math.random() * pool.length)]!;
    if (r < 0.7) return { type: 'infohash', infohash, node: node.address, source: 'sample', at: at + i };
    if (r < 0.9) return { type: 'node', id: node.id, address: node.address, version: '4c540200', rttMs: 50, bep51: true, bep42: false, at: at + i };
    return { type: 'peers', infohash, peers: [address(), address()], node: node.address, at: at + i };
  });
}
