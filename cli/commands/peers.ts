import { KrpcAbortError } from '../../bep5/errors.js';
import { idToHex } from '../../bep5/node-id.js';
import { parseBootstrapOption } from '../bootstrap-option.js';
import { NO_BOOTSTRAP_ANSWER_HINT } from '../constants.js';
import { parseInfohash } from '../infohash.js';
import { formatSeconds, joinNetwork } from '../join.js';
import { getPeersSent, LookupStatus } from '../lookup-status.js';
import {
  defaultBindHost,
  commandSignal,
  formatPeer,
  parseBindHost,
  parsePort,
  parseTimeoutSeconds,
  startNode,
  NODE_COMMAND_OPTIONS,
  oneShotClient,
} from '../node-options.js';
import { defineCommand } from '../define-command.js';
import { CommandError } from '../errors.js';

const help = `Usage: dhtscope peers <infohash|magnet> [--bootstrap LIST] [--timeout S] [--json]
                      [--host H] [--port P] [--data-dir DIR] [--allow-private|--allow-loopback]

Finds a torrent's peers on the DHT, without a tracker: starts a short-lived node, joins the
network, runs a get_peers lookup and prints each peer as ip:port ([ip]:port for IPv6), one per
line, as it arrives. Progress and the summary go to stderr.

  <infohash|magnet>  40 hex or 32 base32 characters, or a magnet:?xt=urn:btih:... link
  --bootstrap LIST   comma-separated host:port or [ipv6]:port entries, or "none"
                     (default: router.bittorrent.com:6881 and the other well-known routers)
  --timeout S        bound the whole command, bootstrap and lookup, to S seconds (default 30)
  --json             print one JSON object at the end instead:
                     {"infohash","peers":["ip:port",...],"nodesQueried","ms"}
  --host H           address to bind (default 0.0.0.0, or :: when every bootstrap entry is IPv6;
                     an IPv6 address runs the lookup over IPv6)
  --port P           UDP port to bind (default 0: any free port)
  --data-dir DIR     join from (and save back) the routing table saved in DIR (default: none)
  --allow-loopback   also use loopback nodes (127.0.0.0/8, ::1) but no other private, reserved
                     or bogon address (implied when every bootstrap address, or --host, is
                     loopback): for test networks on this machine
  --allow-private    also use private, link-local and loopback nodes (a LAN; implied when every
                     bootstrap address, or --host, is private)
  -h, --help         show this help

Exit code 0 when peers were found, 1 when none were (or no bootstrap node answered), 2 on a
usage error such as a malformed infohash.

Example: dhtscope peers 'magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10' --timeout 20`;

export const peersCommand = defineCommand({
  name: 'peers',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    timeout: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  args: '<infohash|magnet>',
  async run({ values, positionals }) {
    const { infoHash } = parseInfohash(positionals[0]!);
    const bootstrap = parseBootstrapOption(values.bootstrap);
    const bind = parseBindHost(values.host, defaultBindHost(bootstrap.entries));
    const port = parsePort(values.port, '--port', 0, true);
    const timeoutMs = parseTimeoutSeconds(values.timeout, 30);
    const json = values.json ?? false;
    const peers = new Set<string>();
    const status = new LookupStatus({ prefix: 'dhtscope peers: ', json, peers: () => peers.size });
    const log = (line: string): void => status.log(line);

    const started = performance.now();
    const node = oneShotClient({
      bind,
      port: port,
      bootstrap: bootstrap.entries,
      dataDir: values['data-dir'],
      allowPrivate: values['allow-private'],
      allowLoopback: values['allow-loopback'],
      log,
    });
    let nodesQueried = 0;
    let error: string | undefined;
    let timedOut = false;
    const cmd = commandSignal(timeoutMs);
    try {
      await startNode(node, bind.host, port);
      status.watch(node, bind.family);
      try {
        // The lookup starts at once from the bootstrap addresses (and a saved table) instead of
        // joining first: a join is a lookup of our own ID, and a node that has left among its
        // closest holds it for the whole hard timeout before the get_peers lookup even begins.
        // Only when nothing answered does the command join (with retries) and look up again.
        let answeredAny = false;
        const lookupPeers = async (seeds?: Array<{ host: string; port: number; id?: Buffer }>): Promise<number> => {
          let answered = 0;
          for await (const event of node.lookup(infoHash, { method: 'get_peers', signal: cmd.signal, ...(seeds ? { seeds } : {}) })) {
            if (event.type === 'node-answered') answeredAny = true;
            if (event.type === 'done') answered = event.result.answered;
            if (event.type !== 'peers') continue;
            for (const p of event.peers) {
              const text = formatPeer(p);
              if (peers.has(text)) continue;
              peers.add(text);
              if (!json) status.above(() => process.stdout.write(text + '\n'));
            }
          }
          return answered;
        };
        try {
          status.set('get_peers lookup');
          const seeds = await node.startingPoints(bind.family);
          if (seeds.length === 0 || (await lookupPeers(seeds)) === 0) {
            await joinNetwork(node, bootstrap, cmd.signal, { timeoutMs, timedOut: cmd.timedOut, log });
            status.set('get_peers lookup');
            await lookupPeers();
          }
        } catch (err) {
          if (!(err instanceof KrpcAbortError)) throw err;
          timedOut = cmd.timedOut();
          // Stopped before any node answered: the same words a join that never succeeded uses.
          if (!answeredAny) {
            const tried = bootstrap.entries.length > 0 ? bootstrap.entries.join(', ') : 'none';
            throw new CommandError(
              timedOut
                ? `no bootstrap node answered (tried: ${tried}) within ${formatSeconds(timeoutMs)}: ${NO_BOOTSTRAP_ANSWER_HINT}`
                : `interrupted while bootstrapping (tried: ${tried})`,
            );
          }
        }
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        error = err.message;
      }
      nodesQueried = getPeersSent(node, bind.family);
    } finally {
      status.done();
      cmd.dispose();
      await node.stop();
    }

    const ms = Math.round(performance.now() - started);
    const hex = idToHex(infoHash);
    if (json) {
      const out: Record<string, unknown> = { infohash: hex, peers: [...peers], nodesQueried, ms };
      if (timedOut) out.timedOut = true;
      if (error !== undefined) out.error = error;
      process.stdout.write(JSON.stringify(out) + '\n');
    }
    if (error !== undefined) {
      process.stderr.write(`dhtscope peers: ${error}\n`);
      return 1;
    }
    const ending = timedOut ? `; stopped by --timeout after ${formatSeconds(timeoutMs)}` : cmd.interrupted() ? '; interrupted' : '';
    if (peers.size === 0) {
      process.stderr.write(`dhtscope peers: no peers found for ${hex} (${nodesQueried} nodes queried in ${ms} ms${ending})\n`);
      return 1;
    }
    log(`${peers.size} peer${peers.size === 1 ? '' : 's'} for ${hex} (${nodesQueried} nodes queried in ${ms} ms${ending})`);
    return 0;
  },
});
