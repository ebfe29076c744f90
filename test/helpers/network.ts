import { DhtNode } from '../../bep5/node.js';
import { type DhtNodeOptions } from '../../bep5/node-types.js';
import { loopbackHost } from './udp.js';

/**
 * A network of `size` real DhtNodes, each on a 127.x.y.z address of its own, joined through the
 * first and bootstrapped twice (the second pass fills tables from what the first taught), with
 * loopback contacts allowed and an outgoing budget no test reaches. The caller stops them; if
 * starting fails halfway, the nodes already started are stopped before the error is thrown.
 */
export async function startLoopbackNetwork(size: number, extra: DhtNodeOptions = {}): Promise<DhtNode[]> {
  const options: DhtNodeOptions = { port: 0, allowPrivate: true, adoptBep42Id: false, outgoingRate: 10_000, outgoingBurst: 10_000, ...extra };
  const network: DhtNode[] = [];
  try {
    const first = new DhtNode({ ...options, host: loopbackHost(), bootstrap: [] });
    await first.start();
    network.push(first);
    const seed = `${first.address()!.host}:${first.address()!.port}`;
    for (let i = 1; i < size; i++) {
      const node = new DhtNode({ ...options, host: loopbackHost(), bootstrap: [seed] });
      await node.start();
      network.push(node);
    }
    await Promise.all(network.slice(1).map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
    await Promise.all(network.map((n) => n.bootstrap({ signal: AbortSignal.timeout(20_000) })));
    return network;
  } catch (err) {
    await Promise.all(network.map((n) => n.stop()));
    throw err;
  }
}
