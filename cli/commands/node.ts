import { resolve } from 'node:path';
import { KrpcAbortError } from '../../bep5/errors.js';
import { DhtNode } from '../../bep5/node.js';
import { idToHex } from '../../bep5/node-id.js';
import { tableFilePath } from '../../bep5/table-file.js';
import { parseBootstrapOption } from '../bootstrap-option.js';
import { formatSeconds } from '../join.js';
import {
  addressScopeOption,
  bindOptions,
  defaultBindHost,
  defaultDataDir,
  formatPeer,
  onStopSignal,
  parseBindHost,
  parsePort,
  parseTimeoutSeconds,
  startNode,
  NODE_COMMAND_OPTIONS,
} from '../node-options.js';
import { defineCommand } from '../define-command.js';

const help = `Usage: dhtscope node [--host H] [--port P] [--bootstrap LIST|none] [--data-dir DIR]
                     [--json] [--allow-private|--allow-loopback] [--stats-interval S]

Runs a BEP 5 DHT node until Ctrl-C (SIGINT) or SIGTERM, then saves its routing table to the
data directory, so the next start rejoins without the routers, and exits 0.

  --host H            address to bind (default 0.0.0.0, or :: when every bootstrap entry is
                      IPv6; an IPv6 address runs an IPv6 node)
  --port P            UDP port (default 6881; 0: any free port)
  --bootstrap LIST    comma-separated host:port or [ipv6]:port entries, or "none" for the
                      first node of a network (default: router.bittorrent.com:6881,
                      router.utorrent.com:6881, dht.transmissionbt.com:6881, dht.libtorrent.org:25401)
  --data-dir DIR      where the routing table is kept (default $DHTSCOPE_DATA_DIR, else ~/.dhtscope)
  --json              one JSON object per stdout line, each with an "event" field; the first is
                      {"event":"listening","host":H,"port":P,"id":"<40 hex>"}, then bootstrapped,
                      bootstrap-failed, warning, id-changed, announce (someone announced to us),
                      stats (every --stats-interval: table size, stored peers and BEP 44 items, packet counters,
                      announce / get_peers queries seen) and finally stopped
  --allow-loopback    also use loopback nodes (127.0.0.0/8, ::1) but no other private, reserved
                      or bogon address (implied when every bootstrap address, or --host, is
                      loopback): for test networks on this machine
  --allow-private     also use private, link-local and loopback nodes (a LAN; implied when every
                      bootstrap address, or --host, is private)
  --stats-interval S  seconds between stats lines (default 60)
  -h, --help          show this help

Exit code 0 after a clean stop, 1 when the node cannot start (port in use, ...), 2 on a
usage error.

Example: dhtscope node --port 6881 --json`;

type Json = Record<string, unknown>;

export const nodeCommand = defineCommand({
  name: 'node',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    'stats-interval': { type: 'string' },
  },
  async run({ values }) {
    const bootstrap = parseBootstrapOption(values.bootstrap);
    const bind = parseBindHost(values.host, defaultBindHost(bootstrap.entries));
    const port = parsePort(values.port, '--port', 6881, true);
    const dataDir = values['data-dir'] !== undefined && values['data-dir'] !== '' ? resolve(values['data-dir']) : defaultDataDir();
    const statsMs = parseTimeoutSeconds(values['stats-interval'], 60, '--stats-interval');
    const json = values.json ?? false;

    // Output. Until the listening line is out, everything else is held back so it comes first.
    let ready = false;
    const held: Array<() => void> = [];
    const later = (write: () => void): void => {
      if (ready) write();
      else held.push(write);
    };
    const event = (obj: Json): void => later(() => process.stdout.write(JSON.stringify(obj) + '\n'));
    const say = (line: string): void => later(() => process.stdout.write(line + '\n'));
    const complain = (line: string): void => later(() => process.stderr.write(`dhtscope node: ${line}\n`));

    const node = new DhtNode({
      ...bindOptions(bind, port),
      bootstrap: bootstrap.entries,
      dataDir,
      addressScope: addressScopeOption({ allowPrivate: values['allow-private'], allowLoopback: values['allow-loopback'] }, bind),
    });
    let saveFailed = false;
    let announcesSeen = 0;
    let getPeersSeen = 0;
    node.on('warning', (message) => {
      if (message.startsWith('could not save')) saveFailed = true;
      if (json) event({ event: 'warning', message });
      else complain(`warning: ${message}`);
    });
    node.on('bootstrapped', ({ nodes, queries }) => {
      if (json) event({ event: 'bootstrapped', nodes, queries });
      else say(`bootstrapped: ${nodes} nodes in the routing table after ${queries} queries`);
    });
    node.on('bootstrap-failed', ({ reason, retryInMs }) => {
      if (json) event({ event: 'bootstrap-failed', reason, retryInMs });
      else if (retryInMs > 0) complain(`bootstrap: ${reason}; retrying in ${formatSeconds(retryInMs)}`);
      else if (bootstrap.entries.length === 0) say(`not bootstrapping (${reason}); waiting for other nodes to contact us`);
      else complain(`bootstrap: ${reason}`);
    });
    node.on('id-changed', ({ id, externalAddress }) => {
      if (json) event({ event: 'id-changed', id, externalAddress });
      else say(`new node id ${id} (BEP 42, for our external address ${externalAddress})`);
    });
    node.on('announce', ({ infoHash, peer, seed }) => {
      announcesSeen++;
      if (json) event({ event: 'announce', infohash: idToHex(infoHash), peer: formatPeer(peer), seed });
    });
    node.on('get-peers', () => {
      getPeersSeen++;
    });

    // Signals are caught from the start: one stops and saves, a second one exits at once.
    let wake: (signal: NodeJS.Signals) => void = () => undefined;
    const stopRequested = new Promise<NodeJS.Signals>((r) => (wake = r));
    const dispose = onStopSignal(wake, (signal) => `dhtscope node: ${signal} again, exiting without saving\n`);

    const started = Date.now();
    try {
      await startNode(node, bind.host, port);
    } catch (err) {
      dispose();
      throw err;
    }
    const address = node.address(bind.family)!;
    const tablePath = tableFilePath(dataDir);
    if (json) process.stdout.write(JSON.stringify({ event: 'listening', host: address.host, port: address.port, id: idToHex(node.id) }) + '\n');
    else process.stdout.write(`dhtscope node: listening on ${formatPeer(address)} as ${idToHex(node.id)}; routing table in ${tablePath}; Ctrl-C to stop\n`);
    ready = true;
    for (const write of held.splice(0)) write();

    const bootstrapping = node.bootstrap().then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof KrpcAbortError)) complain(`bootstrap stopped: ${String(err)}`);
      },
    );

    const stats = (): void => {
      const s = node.stats();
      const f = s.families[`ipv${bind.family}`];
      if (f === undefined) return;
      const sock = f.socket;
      const sum = (r: Record<string | number, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
      const packets = {
        in: sock.datagramsIn,
        out: sock.datagramsOut,
        bytesIn: sock.bytesIn,
        bytesOut: sock.bytesOut,
        queriesIn: sum(sock.queriesIn),
        queriesOut: sum(sock.queriesOut),
        repliesIn: sock.repliesIn,
        errorsIn: sock.errorsIn,
        timeouts: sock.timeouts,
        dropped: sum(sock.dropped),
      };
      if (json) {
        event({
          event: 'stats',
          uptimeS: Math.round((Date.now() - started) / 1000),
          id: s.id,
          tableSize: f.tableSize,
          buckets: f.buckets,
          infohashes: s.store.infohashes,
          peers: s.store.peers,
          items: s.items.items,
          itemBytes: s.items.bytes,
          packets,
          observed: { announce: announcesSeen, getPeers: getPeersSeen },
        });
      } else {
        say(
          `stats: ${f.tableSize} nodes in ${f.buckets} buckets; storing ${s.store.peers} peers for ${s.store.infohashes} infohashes and ${s.items.items} BEP 44 items; ` +
            `packets in ${packets.in} out ${packets.out}, ${packets.timeouts} timeouts; seen ${announcesSeen} announces, ${getPeersSeen} get_peers`,
        );
      }
    };
    const statsTimer = setInterval(stats, statsMs);

    const signal = await stopRequested;
    clearInterval(statsTimer);
    if (!json) say(`${signal}: saving the routing table and stopping`);
    await node.stop();
    await bootstrapping;
    if (json) event({ event: 'stopped', signal, saved: saveFailed ? null : tablePath });
    else say(saveFailed ? 'stopped (the routing table was not saved)' : `stopped; routing table saved to ${tablePath}`);
    dispose();
    return 0;
  },
});
