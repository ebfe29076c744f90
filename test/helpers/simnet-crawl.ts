import { type Simnet } from '../../crawler/simnet/simnet.js';

/**
 * `dhtscope crawl` arguments for a crawl of a simulated DHT (crawler/simnet/): its envelope
 * address and bootstrap nodes, 1,500 queries a second with 1,024 in flight (a process's share
 * of a 2-core machine beside the simulator), no get_peers, JSON on stdout and the discoveries
 * in `out`.
 */
export function simnetCrawlArgs(s: Simnet, out: string): string[] {
  return [
    'crawl',
    '--simnet',
    `${s.address.host}:${s.address.port}`,
    '--bootstrap',
    s.bootstrap.map((b) => `${b.host}:${b.port}`).join(','),
    '--rate',
    '1500',
    '--inflight',
    '1024',
    '--per-ip-rate',
    '100',
    '--get-peers-rate',
    '0',
    '--json',
    '--out',
    out,
  ];
}
