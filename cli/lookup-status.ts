import { type DhtNode } from '../bep5/node.js';
import { type Family } from '../bep5/node-types.js';
import { StatusLine, type StatusStream, count, duration } from './status-line.js';

/** The get_peers queries `node` sent over `family`: the "nodes queried" that peers and announce report. */
export function getPeersSent(node: DhtNode, family: Family): number {
  return node.stats().families[`ipv${family}`]?.socket.queriesOut['get_peers'] ?? 0;
}

/**
 * The live status of a one-shot command's lookup (peers, announce): its phase, queries sent
 * and answered, peers found, time so far. It is drawn on stderr only when stderr is a terminal
 * and the command is not printing JSON, so piped output and logs stay exactly as they were.
 * Log lines and results go through `log` / `above`, so they never land inside the status.
 */
export class LookupStatus {
  private readonly line: StatusLine;
  private readonly live: boolean;
  private phase = 'joining the DHT';
  private readonly startedAt = performance.now();
  private node: { node: DhtNode; family: Family } | null = null;

  constructor(private readonly options: { prefix: string; json: boolean; peers?: () => number; stream?: StatusStream }) {
    this.line = new StatusLine({ stream: options.stream ?? process.stderr, prefix: options.prefix });
    this.live = this.line.tty && !options.json;
  }

  /** Starts drawing, with the counters of this (started) node. */
  watch(node: DhtNode, family: Family): void {
    this.node = { node, family };
    if (this.live) this.line.follow(() => this.render());
  }

  /** What the lookup is doing now ("joining the DHT", "get_peers lookup", ...). */
  set(phase: string): void {
    this.phase = phase;
    if (this.live && this.node !== null) this.line.update(this.render());
  }

  /** A progress line that stays (not with --json). */
  log(line: string): void {
    if (!this.options.json) this.line.log(`${this.options.prefix}${line}`);
  }

  /** Writes a result (to stdout) with the status out of the way. */
  above(write: () => void): void {
    this.line.above(write);
  }

  /** Erases the status; call before the summary. */
  done(): void {
    this.line.clear();
  }

  private render(): string {
    const socket = this.node?.node.stats().families[`ipv${this.node.family}`]?.socket;
    const sent = socket ? Object.values(socket.queriesOut).reduce((a, b) => a + b, 0) : 0;
    const peers = this.options.peers ? ` · ${count(this.options.peers())} peers` : '';
    return `${this.phase}: ${count(sent)} queries, ${count(socket?.repliesIn ?? 0)} answered${peers} · ${duration(performance.now() - this.startedAt)}`;
  }
}
