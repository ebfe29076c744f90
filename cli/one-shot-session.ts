import { KrpcAbortError } from '../bep5/errors.js';
import { type DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { parseBootstrapOption } from './bootstrap-option.js';
import { CommandError } from './errors.js';
import { formatSeconds, joinNetwork } from './join.js';
import { LookupStatus } from './lookup-status.js';
import { commandSignal, defaultBindHost, oneShotClient, parseBindHost, parsePort, parseTimeoutSeconds, startNode } from './node-options.js';

/** The options every one-shot command that joins the DHT reads (announce, put, get). */
export interface OneShotFlags {
  bootstrap?: string;
  host?: string;
  'bind-port'?: string;
  timeout?: string;
  'data-dir'?: string;
  json?: boolean;
  'allow-private'?: boolean;
  'allow-loopback'?: boolean;
}

export interface OneShotOutcome<T> {
  /** The work's result, when it finished. */
  result?: T;
  /** Why it did not: the join failed, the command timed out or was interrupted. */
  error?: string;
  ms: number;
  /** What `measure` read from the node before it stopped (finished or not). */
  measured?: number;
}

/**
 * Runs one piece of DHT work the way a one-shot command does: a BEP 43 read-only node on the
 * bind address, joined within the command's timeout, the live status on a terminal, Ctrl-C
 * and the timeout as one signal, and the node stopped whatever happens. `phase` names the work
 * in the status line and in the error when the timeout or Ctrl-C ends it.
 */
export async function runOneShot<T>(
  flags: OneShotFlags,
  command: string,
  phase: string,
  work: (node: DhtNode, signal: AbortSignal, family: Family) => Promise<T>,
  measure?: (node: DhtNode, family: Family) => number,
): Promise<OneShotOutcome<T>> {
  const bootstrap = parseBootstrapOption(flags.bootstrap);
  const bind = parseBindHost(flags.host, defaultBindHost(bootstrap.entries));
  const bindPort = parsePort(flags['bind-port'], '--bind-port', 0, true);
  const timeoutMs = parseTimeoutSeconds(flags.timeout, 30);
  const status = new LookupStatus({ prefix: `dhtscope ${command}: `, json: flags.json ?? false });
  const log = (line: string): void => status.log(line);
  const started = performance.now();
  const node = oneShotClient({
    bind,
    port: bindPort,
    bootstrap: bootstrap.entries,
    dataDir: flags['data-dir'],
    allowPrivate: flags['allow-private'],
    allowLoopback: flags['allow-loopback'],
    log,
  });
  const cmd = commandSignal(timeoutMs);
  const outcome: Omit<OneShotOutcome<T>, 'ms'> = {};
  try {
    await startNode(node, bind.host, bindPort, '--bind-port');
    status.watch(node, bind.family);
    try {
      await joinNetwork(node, bootstrap, cmd.signal, { timeoutMs, timedOut: cmd.timedOut, log });
      status.set(phase);
      outcome.result = await work(node, cmd.signal, bind.family);
    } catch (err) {
      if (err instanceof KrpcAbortError) {
        outcome.error = cmd.timedOut() ? `timed out after ${formatSeconds(timeoutMs)} during the ${phase}` : `interrupted during the ${phase}`;
      } else if (err instanceof CommandError) {
        outcome.error = err.message;
      } else {
        throw err;
      }
    }
    if (measure) outcome.measured = measure(node, bind.family);
  } finally {
    status.done();
    cmd.dispose();
    await node.stop();
  }
  return { ...outcome, ms: Math.round(performance.now() - started) };
}

/** The help lines for the options runOneShot reads. */
export const ONE_SHOT_OPTIONS_HELP = `  --bootstrap LIST   comma-separated host:port or [ipv6]:port entries, or "none"
                     (default: router.bittorrent.com:6881 and the other well-known routers)
  --timeout S        bound the whole command, bootstrap and lookup, to S seconds (default 30)
  --host H           address to bind (default 0.0.0.0, or :: when every bootstrap entry is IPv6)
  --bind-port P      UDP port to bind (default 0: any free port)
  --data-dir DIR     join from (and save back) the routing table saved in DIR (default: none)
  --allow-loopback   also use loopback nodes (127.0.0.0/8, ::1) but no other private, reserved
                     or bogon address (implied when every bootstrap address, or --host, is
                     loopback): for test networks on this machine
  --allow-private    also use private, link-local and loopback nodes (a LAN; implied when every
                     bootstrap address, or --host, is private)`;
