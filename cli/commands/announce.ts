import { type AnnounceOutcome } from '../../bep5/node-types.js';
import { idToHex } from '../../bep5/node-id.js';
import { parseInfohash } from '../infohash.js';
import { getPeersSent } from '../lookup-status.js';
import { formatPeer, parsePort, NODE_COMMAND_OPTIONS } from '../node-options.js';
import { runOneShot } from '../one-shot-session.js';
import { defineCommand } from '../define-command.js';
import { UsageError } from '../errors.js';

const help = `Usage: dhtscope announce <infohash|magnet> (--port N | --implied-port) [--seed]
                         [--bootstrap LIST] [--timeout S] [--json]
                         [--host H] [--bind-port P] [--data-dir DIR] [--allow-private|--allow-loopback]

Announces that this machine has a torrent: starts a short-lived node, joins the network,
runs a get_peers lookup and sends announce_peer to the closest nodes that gave a write
token. Prints how many nodes accepted.

  <infohash|magnet>  40 hex or 32 base32 characters, or a magnet:?xt=urn:btih:... link
  --port N           the port your BitTorrent client accepts peers on (1-65535)
  --implied-port     announce the UDP source port of this command's socket instead
                     (BEP 5 implied_port; pair it with --bind-port)
  --seed             announce as a seed (BEP 33)
  --bootstrap LIST   comma-separated host:port or [ipv6]:port entries, or "none"
                     (default: router.bittorrent.com:6881 and the other well-known routers)
  --timeout S        bound the whole command, bootstrap and lookup, to S seconds (default 30)
  --json             print one JSON object:
                     {"infohash","announcedTo":["ip:port",...],"failed","nodesQueried","ms"}
  --host H           address to bind (default 0.0.0.0, or :: when every bootstrap entry is IPv6;
                     an IPv6 address announces over IPv6)
  --bind-port P      UDP port to bind (default 0: any free port)
  --data-dir DIR     join from (and save back) the routing table saved in DIR (default: none)
  --allow-loopback   also use loopback nodes (127.0.0.0/8, ::1) but no other private, reserved
                     or bogon address (implied when every bootstrap address, or --host, is
                     loopback): for test networks on this machine
  --allow-private    also use private, link-local and loopback nodes (a LAN; implied when every
                     bootstrap address, or --host, is private)
  -h, --help         show this help

Exit code 0 when at least one node accepted, 1 when none did (or no bootstrap node
answered), 2 on a usage error (neither or both of --port and --implied-port, a bad port).

Example: dhtscope announce 08ada5a7a6183aae1e09d831df6748d566095a10 --port 51413`;

export const announceCommand = defineCommand({
  name: 'announce',
  help,
  options: {
    ...NODE_COMMAND_OPTIONS,
    port: { type: 'string' },
    'implied-port': { type: 'boolean' },
    seed: { type: 'boolean' },
    timeout: { type: 'string' },
    'bind-port': { type: 'string' },
    'data-dir': { type: 'string' },
  },
  args: '<infohash|magnet>',
  async run({ values, positionals }) {
    const { infoHash } = parseInfohash(positionals[0]!);
    const impliedPort = values['implied-port'] ?? false;
    if (impliedPort && values.port !== undefined) throw new UsageError('give either --port N or --implied-port, not both');
    if (!impliedPort && values.port === undefined) throw new UsageError('announce needs --port N (your BitTorrent port) or --implied-port');
    const announcedPort = impliedPort ? undefined : parsePort(values.port, '--port', 0, false);
    const bindPort = parsePort(values['bind-port'], '--bind-port', 0, true);
    const json = values.json ?? false;
    let ourPort = bindPort;
    const run = await runOneShot<AnnounceOutcome>(
      values,
      'announce',
      'get_peers lookup, then announce_peer',
      (node, signal, family) => {
        ourPort = node.address(family)?.port ?? bindPort;
        return node.announce(infoHash, { port: announcedPort, impliedPort, seed: values.seed ?? false, family, signal });
      },
      getPeersSent,
    );
    const outcome = run.result;
    const error = run.error;
    const nodesQueried = outcome?.lookup.queries ?? run.measured ?? 0;
    const ms = run.ms;
    const hex = idToHex(infoHash);
    const announcedTo = (outcome?.announced ?? []).map(formatPeer);
    const failed = outcome?.failed ?? 0;
    if (json) {
      const out: Record<string, unknown> = { infohash: hex, announcedTo, failed, nodesQueried, ms };
      if (error !== undefined) out.error = error;
      process.stdout.write(JSON.stringify(out) + '\n');
    }
    if (error !== undefined) {
      process.stderr.write(`dhtscope announce: ${error}\n`);
      return 1;
    }
    const what = impliedPort ? `implied port ${ourPort}` : `port ${announcedPort}`;
    if (announcedTo.length === 0) {
      const why = failed > 0 ? `all ${failed} refused or did not answer` : 'none of them gave a write token';
      process.stderr.write(`dhtscope announce: no node accepted the announce of ${hex} (${nodesQueried} nodes queried, ${why})\n`);
      return 1;
    }
    if (!json) {
      process.stdout.write(
        `announced ${hex} (${what}${values.seed ? ', seed' : ''}) to ${announcedTo.length} of ${announcedTo.length + failed} nodes` +
          `${failed > 0 ? ` (${failed} failed)` : ''}; ${nodesQueried} nodes queried in ${ms} ms\n`,
      );
    }
    return 0;
  },
});
