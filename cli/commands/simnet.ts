import { Population } from '../../crawler/simnet/population.js';
import { Simulator } from '../../crawler/simnet/simulator.js';
import { defineCommand } from '../define-command.js';
import { parseInteger } from '../number-options.js';
import { onStopSignal, parsePort } from '../node-options.js';
import { UsageError } from '../errors.js';
import { count } from '../status-line.js';

const help = `Usage: dhtscope simnet [--nodes N] [--seed S] [--unreachable X] [--bep51 X] [--bep33 X] [--port P] [--json]

Serves a simulated DHT on 127.0.0.1 until Ctrl-C (crawler/simnet/): N virtual nodes with
Kademlia-shaped routing tables computed from a seed (a few bytes per node, so 10 million fit),
half of the contacts they hand out unreachable, 40% of the reachable ones answering BEP 51
like libtorrent and the rest refusing or ignoring it, heavy-tailed round-trip times, nodes
sharing an IP, Sybil clusters and churn. Crawl it with
  dhtscope crawl --simnet 127.0.0.1:PORT --bootstrap <the list this prints>
(also with --survey). The simulator counts every packet each virtual node receives; on
Ctrl-C it prints the ground truth: live nodes, those the crawl reached, packets per live node.

  --nodes N        virtual nodes (default 100000; up to 20000000)
  --seed S         the network's seed (default 1): the same seed, the same network
  --unreachable X  share of the nodes that never answer (default 0.5)
  --bep51 X        share of the reachable nodes with BEP 51 (default 0.4)
  --bep33 X        share of the BEP 51 nodes that answer a BEP 33 scrape of what they store
                   with bloom filters (default 1, as libtorrent); the others answer with peers
  --port P         UDP port on 127.0.0.1 (default 0: any free port)
  --json           print the start line and the final report as JSON objects
  -h, --help       show this help`;

function share(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === '' || !(x >= 0 && x <= 1)) throw new UsageError(`${option} must be a share between 0 and 1, got "${value}"`);
  return x;
}

export const simnetCommand = defineCommand({
  name: 'simnet',
  help,
  options: {
    nodes: { type: 'string' },
    seed: { type: 'string' },
    unreachable: { type: 'string' },
    bep51: { type: 'string' },
    bep33: { type: 'string' },
    port: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values }) {
    const nodes = parseInteger(values.nodes, '--nodes', 100_000, 16, 20_000_000);
    const seed = parseInteger(values.seed, '--seed', 1, 0, 2 ** 32 - 1);
    const port = parsePort(values.port, '--port', 0, true);
    const population = new Population({ nodes, seed, unreachable: share(values.unreachable, '--unreachable', 0.5), bep51: share(values.bep51, '--bep51', 0.4), bep33: share(values.bep33, '--bep33', 1) });
    const simulator = await Simulator.start({ population, host: '127.0.0.1', port });
    const bootstrap = population.bootstrap(8).map((j) => {
      const a = population.address(j);
      return `${Population.dotted(a.ip)}:${a.port}`;
    });
    const address = `${simulator.address.host}:${simulator.address.port}`;
    if (values.json === true) process.stdout.write(JSON.stringify({ event: 'ready', address, bootstrap, nodes }) + '\n');
    else process.stdout.write(`simulated DHT of ${count(nodes)} nodes on ${address}\ncrawl it with: dhtscope crawl --simnet ${address} --bootstrap ${bootstrap.join(',')}\n`);
    await new Promise<void>((resolve) => {
      const dispose = onStopSignal(
        () => {
          dispose();
          resolve();
        },
        (signal) => `\ndhtscope simnet: ${signal} again, exiting\n`,
      );
    });
    const { live, reached } = simulator.coverage();
    const packets = simulator.packetsToNodes();
    await simulator.close();
    const report = { event: 'report', nodes, live, reached, packets, packetsPerLiveNode: live > 0 ? packets / live : 0 };
    if (values.json === true) process.stdout.write(JSON.stringify(report) + '\n');
    else
      process.stdout.write(
        `live nodes reached  ${count(reached)} of ${count(live)} (${((100 * reached) / Math.max(1, live)).toFixed(2)}%)\n` +
          `packets received   ${count(packets)} (${report.packetsPerLiveNode.toFixed(2)} per live node)\n`,
      );
    return 0;
  },
});
