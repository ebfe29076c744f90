/**
 * What the HTTP API tests (api-*.test.ts) share: the file's redis-server and `setup` (an empty
 * index, an API server over it on a fixed clock, and `apply` through the real write path), GET
 * by inject, and a batch with every count known.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { type FastifyInstance } from 'fastify';
import { type Redis } from 'ioredis';
import type { Discovery } from '../../crawler/discovery.js';
import { type ApiServerOptions, createApiServer } from '../../server/api/server.js';
import { newBatchId } from '../../indexer/batch-id.js';
import { type IndexKeys } from '../../indexer/keys.js';
import { hostIn, infohashes, nodeIdHex, testNetPeer } from './generators.js';
import { type RedisFixture, useRedisServer } from './redis.js';
import { applyIndexed } from './index-writes.js';

export const IH = infohashes('f');
const NODE_ID = nodeIdHex;
export const ADDR = hostIn('10.0.0');
export const PEER = testNetPeer;

/** The server's clock: the middle of the current minute. T0: a minute start 30 minutes earlier. */
export const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
export const T0 = NOW - 30_000 - 30 * 60_000;

export interface Setup {
  c: Redis;
  keys: IndexKeys;
  app: FastifyInstance;
  apply: (events: Discovery[], now?: number) => Promise<unknown>;
}

/** One redis-server for the test file (useRedisServer), and `setup` for each test. */
export function useApiServer(test: TestFn): { redis: RedisFixture; setup: (t: ExecutionContext, options?: Partial<ApiServerOptions>) => Promise<Setup> } {
  const redis = useRedisServer(test);
  async function setup(t: ExecutionContext, options: Partial<ApiServerOptions> = {}): Promise<Setup> {
    const { c, keys } = await redis.freshIndex(t);
    const app = await createApiServer({ redis: c, keys, now: () => NOW, ...options });
    t.teardown(() => app.close());
    return { c, keys, app, apply: (events, now = NOW) => applyIndexed(c, events, { keys, batchId: newBatchId(), now }) };
  }
  return { redis, setup };
}

/** GET through inject: the status, the parsed JSON body and the headers. */
export async function get(app: FastifyInstance, url: string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

/** 3 infohashes, 3 nodes, peers and a sample, with every count known. */
export function sampleBatch(): Discovery[] {
  return [
    { type: 'node', id: NODE_ID(1), address: ADDR(1), version: '4c540102', rttMs: 40, bep51: true, bep42: true, at: T0 },
    { type: 'node', id: NODE_ID(2), address: ADDR(2), version: '4c540102', rttMs: 60, bep51: false, bep42: false, at: T0 + 1000 },
    { type: 'node', id: NODE_ID(3), address: ADDR(3), version: null, rttMs: 80, bep51: null, bep42: true, at: T0 + 61_000 },
    { type: 'sample', node: ADDR(1), num: 120, interval: 300, samples: 20, at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'sample', at: T0 },
    { type: 'infohash', infohash: IH(1), node: ADDR(2), source: 'sample', at: T0 + 5000 },
    { type: 'infohash', infohash: IH(1), node: ADDR(1), source: 'get_peers', at: T0 + 70_000 },
    { type: 'infohash', infohash: IH(2), node: ADDR(3), source: 'announce_peer', at: T0 + 10_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(1), PEER(2), PEER(3)], node: ADDR(1), at: T0 + 20_000 },
    { type: 'peers', infohash: IH(1), peers: [PEER(2), PEER(4)], node: ADDR(2), at: T0 + 30_000 },
    { type: 'peers', infohash: IH(3), peers: [PEER(9)], node: ADDR(2), at: T0 + 40_000 },
  ];
}
