import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type PeerAddress } from '../bep5/compact.js';
import { ipFamily, isLoopback, isPrivate, normalizeHost } from '../bep5/ip.js';
import { type AddressScope } from '../bep5/address-scope.js';
import { DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { CommandError, UsageError } from './errors.js';

/** Option parsing and start-up shared by the commands that run a DhtNode (node, peers, announce). */

export interface BindHost {
  host: string;
  family: Family;
}

/** `--host`: an IPv4 or IPv6 literal to bind; the family follows from it. */
export function parseBindHost(value: string | undefined, fallback = '0.0.0.0', flag = '--host'): BindHost {
  const text = value ?? fallback;
  const host = normalizeHost(text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text);
  const family = host === undefined ? undefined : ipFamily(host);
  if (host === undefined || family === undefined) throw new UsageError(`${flag} must be an IPv4 or IPv6 address, got "${text}"`);
  return { host, family };
}

/** `--host` of a command whose IPv4 bind it is (`why`: where the IPv6 one comes from, or why there is none). */
export function parseIpv4BindHost(value: string | undefined, fallback: string, why: string): BindHost {
  const bind = parseBindHost(value, fallback);
  if (bind.family !== 4) throw new UsageError(`--host must be an IPv4 address (${why}), got "${value}"`);
  return bind;
}

/**
 * The bind address when --host is not given: `::` when every bootstrap entry is an IPv6
 * literal (an IPv4 node could not reach any of them), else 0.0.0.0.
 */
export function defaultBindHost(bootstrapEntries: string[]): string {
  const v6 = bootstrapEntries.length > 0 && bootstrapEntries.every((e) => {
    const m = /^\[([^\]]+)\]:\d+$/.exec(e);
    return m !== null && ipFamily(m[1]!) === 6;
  });
  return v6 ? '::' : '0.0.0.0';
}

/** A port option: an integer 1..65535, or 0 (any free port) when `allowZero`. */
export function parsePort(value: string | undefined, option: string, fallback: number, allowZero: boolean): number {
  if (value === undefined) return fallback;
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65_535) {
    throw new UsageError(`${option} must be an integer ${min}-65535${allowZero ? ' (0: any free port)' : ''}, got "${value}"`);
  }
  return port;
}

/** `--timeout S` in seconds (decimals allowed), returned in milliseconds. */
export function parseTimeoutSeconds(value: string | undefined, fallbackSeconds: number, option = '--timeout'): number {
  if (value === undefined) return fallbackSeconds * 1000;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`${option} must be a positive number of seconds, got "${value}"`);
  return Math.round(seconds * 1000);
}

/** A file option (`--out`, `--ground-truth`): an absolute path, `fallback()` when not given; empty is refused. */
export function parseFileOption(value: string | undefined, option: string, fallback: () => string): string {
  if (value === '') throw new UsageError(`${option} needs a file name`);
  return value !== undefined ? resolve(value) : fallback();
}

/** `$DHTSCOPE_DATA_DIR`, else `~/.dhtscope`. */
export function defaultDataDir(): string {
  const fromEnv = process.env.DHTSCOPE_DATA_DIR;
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(homedir(), '.dhtscope');
}

/**
 * The address scope (bep5/address-scope.ts) from `--allow-private` / `--allow-loopback`, or
 * implied by the bind address: a node bound to loopback can only reach loopback (and keeps
 * every other private or bogon range filtered, so a testnet that advertises 10.x contacts
 * cannot make it send there); one bound to a private address gets the private scope.
 * Otherwise undefined: DhtNode then derives it from the bootstrap addresses.
 */
export function addressScopeOption(flags: { allowPrivate?: boolean; allowLoopback?: boolean }, bind: BindHost): AddressScope | undefined {
  if (flags.allowPrivate === true) return 'private';
  if (flags.allowLoopback === true || isLoopback(bind.host)) return 'loopback';
  if (isPrivate(bind.host)) return 'private';
  return undefined;
}

/**
 * For metadata fetches (TCP to peers), `--allow-private`, or implied: a node bound to a loopback or private address can only reach
 * such addresses, so refusing them in its table would leave it empty (e.g. the first node of
 * a local network, started with `--bootstrap none`). Otherwise undefined: DhtNode then allows
 * them when every bootstrap address is private or loopback.
 */
export function allowPrivateOption(flag: boolean | undefined, bind: BindHost): boolean | undefined {
  if (flag) return true;
  if (isLoopback(bind.host) || isPrivate(bind.host)) return true;
  return undefined;
}

/** DhtNode options for the address family of the bind host. */
export function bindOptions(bind: BindHost, port: number): { families: Family[]; host?: string; host6?: string; port: number } {
  return bind.family === 4 ? { families: [4], host: bind.host, port } : { families: [6], host6: bind.host, port };
}

/** Starts the node; a bind failure becomes a one-line CommandError (exit 1) instead of a stack trace. */
export async function startNode(node: DhtNode, host: string, port: number, portOption = '--port'): Promise<void> {
  try {
    await node.start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CommandError(`port ${port} is in use on ${host}; choose another with ${portOption}`);
    if (code === 'EADDRNOTAVAIL') throw new CommandError(`cannot bind to ${host}: not an address of this machine; choose another with --host`);
    if (code === 'EACCES') throw new CommandError(`permission denied binding ${formatPeer({ host, port })} (ports below 1024 need privileges); choose another with ${portOption}`);
    if (code !== undefined && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
      throw new CommandError(`cannot bind ${formatPeer({ host, port })}: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** `ip:port`, or `[ip]:port` for IPv6. */
export function formatPeer(p: PeerAddress): string {
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/** Calls `handler` on SIGINT or SIGTERM (replacing the default exit); returns the unsubscribe. */
export function onTerminate(handler: (signal: NodeJS.Signals) => void): () => void {
  const listener = (signal: NodeJS.Signals): void => handler(signal);
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}

/**
 * SIGINT or SIGTERM: the first calls `stop`; another exits at once (status 1) after writing
 * `again(signal)` to stderr, for a user who will not wait for a clean stop. One within
 * `sameStopMs` of the first is ignored instead: a terminal or timeout(1) signals the whole
 * process group, so one stop can arrive twice. Returns the unsubscribe.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => string, options: { sameStopMs?: number } = {}): () => void {
  let firstAt: number | undefined;
  return onTerminate((signal) => {
    if (firstAt !== undefined) {
      if (performance.now() - firstAt < (options.sameStopMs ?? 0)) return;
      process.stderr.write(again(signal));
      process.exit(1);
    }
    firstAt = performance.now();
    stop(signal);
  });
}

/** An abort signal for the whole command: fires after `timeoutMs`, or on SIGINT/SIGTERM. */
export function commandSignal(timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean; interrupted: () => boolean; dispose: () => void } {
  const interrupt = new AbortController();
  const timeout = AbortSignal.timeout(timeoutMs);
  const dispose = onTerminate((signal) => interrupt.abort(signal));
  return {
    signal: AbortSignal.any([timeout, interrupt.signal]),
    timedOut: () => timeout.aborted,
    interrupted: () => interrupt.signal.aborted,
    dispose,
  };
}

/** The parseArgs options every command that starts a node shares (node, peers, announce, crawl, measure, workers, run). */
export const NODE_COMMAND_OPTIONS = {
  bootstrap: { type: 'string' },
  host: { type: 'string' },
  json: { type: 'boolean' },
  'allow-private': { type: 'boolean' },
  'allow-loopback': { type: 'boolean' },
} as const;

/**
 * The node a one-shot command (peers, announce) runs: BEP 43 read-only, so nobody adds a
 * node that is about to vanish; its warnings go to `log`.
 */
export function oneShotClient(options: {
  bind: BindHost;
  port: number;
  bootstrap: string[];
  dataDir: string | undefined;
  allowPrivate: boolean | undefined;
  allowLoopback?: boolean | undefined;
  log: (line: string) => void;
}): DhtNode {
  const node = new DhtNode({
    ...bindOptions(options.bind, options.port),
    bootstrap: options.bootstrap,
    dataDir: options.dataDir ? resolve(options.dataDir) : undefined,
    addressScope: addressScopeOption({ allowPrivate: options.allowPrivate, allowLoopback: options.allowLoopback }, options.bind),
    readOnly: true,
  });
  node.on('warning', (message) => options.log(`warning: ${message}`));
  return node;
}
