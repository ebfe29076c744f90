import { type PeerAddress } from '../bep5/compact.js';
import { idToHex } from '../bep5/node-id.js';
import { type Discovery, type DiscoverySink, discoveryAddress } from './discovery.js';
import { RecentFingerprints } from './recent-fingerprints.js';
import { NODE_FLAG, type NodeIndex } from './node-index.js';

type NodeDiscovery = Extract<Discovery, { type: 'node' }>;

/**
 * What a crawl finds, told to its sink as discoveries (crawler/discovery.ts): a node at its
 * first answer, samples, infohashes (each also kept in a set of fingerprints, which says
 * whether it is new) and peers.
 */
export class DiscoveryReporter {
  /** Infohashes seen so far, the most recent `maxInfohashes` of them (crawler/recent-fingerprints.ts). */
  readonly infohashes: RecentFingerprints;
  /** Peers reported so far. */
  peersFound = 0;
  /**
   * Node discoveries held back until the node's BEP 51 verdict: a node that answered find_node
   * and is sampled next (RESAMPLE) is reported once, with the verdict, so the census counts it
   * right. Few at a time: the sample goes to the front of the queue.
   */
  private readonly pendingNodeEvents = new Map<number, NodeDiscovery>();

  constructor(
    private readonly nodes: NodeIndex,
    private readonly sink: DiscoverySink | undefined,
    maxInfohashes = Infinity,
  ) {
    this.infohashes = new RecentFingerprints(maxInfohashes);
  }

  /** A node's first answer, its RTT, version and flags recorded: reported now, or once its BEP 51 verdict is in. */
  nodeAnswered(index: number, version: Buffer | undefined, at: number): void {
    if (!this.sink) return;
    const f = this.nodes.flags(index);
    const event: NodeDiscovery = {
      type: 'node',
      id: idToHex(this.nodes.id(index)),
      address: this.nodes.address(index),
      version: version ? version.toString('hex') : null,
      rttMs: this.nodes.rttMs(index),
      bep51: this.bep51Verdict(index),
      bep42: (f & NODE_FLAG.BEP42) !== 0,
      at,
    };
    if (f & NODE_FLAG.RESAMPLE && event.bep51 === null) this.pendingNodeEvents.set(index, event);
    else this.write(event);
  }

  /** Reports a held-back node discovery with the BEP 51 verdict known now (or still unknown at the sweep's end). */
  release(index: number): void {
    const event = this.pendingNodeEvents.get(index);
    if (event === undefined) return;
    this.pendingNodeEvents.delete(index);
    this.write({ ...event, bep51: this.bep51Verdict(index) });
  }

  /** Reports every held-back node discovery: at a sweep's end. */
  releaseAll(): void {
    for (const index of [...this.pendingNodeEvents.keys()]) this.release(index);
  }

  /** A sample_infohashes answer from `node` ("ip:port"); its infohashes are reported one by one with infohash(). */
  sample(node: string, reply: { num: number; interval: number; samples: readonly Buffer[] }, at: number): void {
    this.write({ type: 'sample', node, num: reply.num, interval: reply.interval, samples: reply.samples.length, at });
  }

  /** Records an infohash; true the first time it is seen. */
  infohash(infoHash: Buffer, node: string, source: 'sample' | 'get_peers' | 'announce_peer'): boolean {
    const hex = infoHash.toString('hex');
    const isNew = this.infohashes.add(infoHash);
    this.write({ type: 'infohash', infohash: hex, node, source, at: Date.now() });
    return isNew;
  }

  /** Peers of an infohash, from a get_peers answer of `node` ("ip:port"). */
  peers(infoHash: Buffer, values: readonly PeerAddress[], node: string): void {
    this.peersFound += values.length;
    this.write({
      type: 'peers',
      infohash: infoHash.toString('hex'),
      peers: values.map(discoveryAddress),
      node,
      at: Date.now(),
    });
  }

  private bep51Verdict(index: number): boolean | null {
    const f = this.nodes.flags(index);
    return f & NODE_FLAG.BEP51 ? true : f & NODE_FLAG.NO_BEP51 ? false : null;
  }

  private write(event: Discovery): void {
    this.sink?.write(event);
  }
}
