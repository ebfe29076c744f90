import { DhtNode } from 'dhtscope';

// Usage: node --import ./scripts/ts-node-register.mjs examples/find-peers.ts <infohash> [host:port,...]
const [infoHashHex = '', bootstrap] = process.argv.slice(2);
const infoHash = Buffer.from(infoHashHex, 'hex');
if (infoHash.length !== 20) throw new Error('give a 40-hex-digit infohash');

// Without a bootstrap list, the well-known routers; a data directory would keep the table.
const node = new DhtNode({ port: 0, ...(bootstrap ? { bootstrap: bootstrap.split(',') } : {}) });
await node.start();
await node.bootstrap({ signal: AbortSignal.timeout(30_000) });

for await (const event of node.findPeers(infoHash, { signal: AbortSignal.timeout(20_000) })) {
  if (event.type === 'peers') for (const p of event.peers) console.log(`peer ${p.host}:${p.port}`);
  if (event.type === 'done') console.log(`done: ${event.result.queries} queries, ${event.result.closest.length} closest nodes`);
}

// Tell the closest nodes that we have it too (they store us for 30 minutes).
const { announced } = await node.announce(infoHash, { port: 51413 });
console.log(`announced to ${announced.length} nodes`);
await node.stop();
