/**
 * A live status line for long-running commands (testnet, crawl, measure).
 *
 * On a terminal the line is rewritten in place ("\r", the text, then erase-to-end-of-line),
 * cut to the terminal width so it never wraps. Anywhere else (a pipe, a file, a CI log) the
 * same text becomes plain lines, at most one per `plainIntervalMs`, so a log gets a readable
 * trace instead of thousands of carriage returns. Lines that must stay (`log`) clear the
 * status, print, and redraw it.
 */

export interface StatusStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface StatusLineOptions {
  /** Where to draw (default process.stdout). */
  stream?: StatusStream;
  /** Override terminal detection (default: the stream's isTTY). */
  tty?: boolean;
  /** Minimum time between plain (non-terminal) lines; default 10 s. */
  plainIntervalMs?: number;
  /** Prefix of plain lines, e.g. "dhtscope crawl: ". */
  prefix?: string;
  now?: () => number;
}

export class StatusLine {
  readonly tty: boolean;
  private readonly stream: StatusStream;
  private readonly plainIntervalMs: number;
  private readonly prefix: string;
  private readonly now: () => number;
  /** The text currently drawn on a terminal ('' when none). */
  private shown = '';
  private lastPlainAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: StatusLineOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.plainIntervalMs = options.plainIntervalMs ?? 10_000;
    this.prefix = options.prefix ?? '';
    this.now = options.now ?? Date.now;
  }

  /**
   * Shows `text` as the current status. On a terminal it replaces the line at once; otherwise
   * it is printed as a plain line if `plainIntervalMs` has passed since the last one (or `force`).
   */
  update(text: string, options: { force?: boolean } = {}): void {
    if (this.tty) {
      // A pty without a size reports 0 columns: assume the classic 80.
      const columns = this.stream.columns !== undefined && this.stream.columns > 0 ? this.stream.columns : 80;
      const width = Math.max(20, columns - 1);
      const line = text.length > width ? text.slice(0, width - 1) + '…' : text;
      if (line === this.shown) return;
      this.stream.write(`\r${line}\x1b[K`);
      this.shown = line;
      return;
    }
    const at = this.now();
    if (!options.force && at - this.lastPlainAt < this.plainIntervalMs) return;
    this.lastPlainAt = at;
    this.stream.write(`${this.prefix}${text}\n`);
  }

  /** Prints a line that stays (above the status on a terminal). */
  log(line: string): void {
    if (this.tty && this.shown !== '') {
      const shown = this.shown;
      this.stream.write(`\r\x1b[K${line}\n`);
      this.shown = '';
      this.update(shown);
      return;
    }
    this.stream.write(`${line}\n`);
  }

  /**
   * Runs `write` with the status erased from the terminal, then redraws it: for output to
   * another stream that shares the terminal (results on stdout under a status on stderr).
   */
  above(write: () => void): void {
    if (!this.tty || this.shown === '') return write();
    const shown = this.shown;
    this.stream.write('\r\x1b[K');
    this.shown = '';
    write();
    this.update(shown);
  }

  /**
   * Redraws `render()` every `intervalMs` (default 1 s) until `stopFollowing` or `clear`. On a
   * terminal the first draw is immediate; plain lines start after one plain interval.
   */
  follow(render: () => string, intervalMs = 1_000): void {
    this.stopFollowing();
    if (this.tty) this.update(render());
    else this.lastPlainAt = Math.max(this.lastPlainAt, this.now());
    this.timer = setInterval(() => this.update(render()), intervalMs);
    this.timer.unref();
  }

  stopFollowing(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops following and erases the status from a terminal, leaving the cursor at the line start. */
  clear(): void {
    this.stopFollowing();
    if (this.tty && this.shown !== '') this.stream.write('\r\x1b[K');
    this.shown = '';
  }
}

/** 1234567 → "1,234,567" (the same on every machine). */
export function count(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Milliseconds as "850 ms", "12.3 s" or "4 min 05 s". */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
