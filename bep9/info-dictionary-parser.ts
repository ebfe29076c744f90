import { Worker } from 'node:worker_threads';
import { childModule } from '../bep5/child-module.js';
import { INFO_PARSE_OFF_THREAD_MIN_BYTES, INFO_PARSER_IDLE_MS } from './constants.js';
import { MetadataInvalidError } from './errors.js';
import { type InfoParseOptions, type InfoSummary, parseInfoDictionary } from './info-dictionary.js';
import type { ParseReply, ParseRequest } from './info-parser-thread.js';

export interface InfoDictionaryParserOptions {
  /** Info dicts at least this long are parsed on the worker thread (default INFO_PARSE_OFF_THREAD_MIN_BYTES). */
  offThreadMinBytes?: number;
  /** The worker thread exits after this long without work (default INFO_PARSER_IDLE_MS). */
  idleMs?: number;
  /** The thread's module (default info-parser-thread); tests point it at one that fails. */
  threadUrl?: URL;
}

export interface InfoDictionaryParserStats {
  inline: number;
  offThread: number;
  /** Big dicts parsed inline because the worker thread could not run (logged once). */
  fallbacks: number;
  workerStarts: number;
}

const THREAD = childModule(import.meta.url, './info-parser-thread');
/** Set in the thread's workerData, so the module acts only in a thread made for it (not in, say, a test runner's worker). */
export const THREAD_MARK = 'dhtscopeInfoParser';

/**
 * Parses info dicts (parseInfoDictionary) without blocking the event loop on big ones. The
 * largest dict we accept (10 MiB of one-byte files) takes about 0.6 s to decode, during which
 * a node in the same process would answer nothing and its crawler's queries would time out.
 * Small dicts (nearly all) are parsed inline; large ones on one lazily started worker thread,
 * which exits when idle. If the thread cannot run, parsing falls back to inline.
 */
export class InfoDictionaryParser {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { request: ParseRequest; resolve: (s: InfoSummary) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private broken = false;
  private readonly counters: InfoDictionaryParserStats = { inline: 0, offThread: 0, fallbacks: 0, workerStarts: 0 };
  private readonly minBytes: number;
  private readonly idleMs: number;
  private readonly threadUrl: URL;

  constructor(
    options: InfoDictionaryParserOptions = {},
    private readonly log: (line: string) => void = () => {},
  ) {
    this.minBytes = options.offThreadMinBytes ?? INFO_PARSE_OFF_THREAD_MIN_BYTES;
    this.idleMs = options.idleMs ?? INFO_PARSER_IDLE_MS;
    this.threadUrl = options.threadUrl ?? THREAD.url;
  }

  /** Resolves with the summary, or rejects with MetadataInvalidError, as parseInfoDictionary throws. */
  async parse(info: Buffer, options: InfoParseOptions = {}): Promise<InfoSummary> {
    if (info.length < this.minBytes || this.broken) {
      if (this.broken) this.counters.fallbacks++;
      else this.counters.inline++;
      return parseInfoDictionary(info, options);
    }
    this.counters.offThread++;
    const worker = this.ensureWorker();
    const id = this.nextId++;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    worker.ref();
    return new Promise<InfoSummary>((resolve, reject) => {
      const request: ParseRequest = { id, info, options };
      this.pending.set(id, { request, resolve, reject });
      worker.postMessage(request);
    });
  }

  stats(): InfoDictionaryParserStats {
    return { ...this.counters };
  }

  /** Stops the worker thread (a later parse starts a new one). */
  async close(): Promise<void> {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the info dict parser was closed'));
    await worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(this.threadUrl, { execArgv: THREAD.execArgv, workerData: { [THREAD_MARK]: true } });
    this.counters.workerStarts++;
    worker.on('message', (reply: ParseReply) => this.onReply(reply));
    worker.on('error', (err) => this.onThreadFailure(worker, err));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.onThreadFailure(worker, new Error(`the parser thread exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private onReply(reply: ParseReply): void {
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if ('summary' in reply) waiter.resolve(revive(reply.summary));
    else if ('invalid' in reply) waiter.reject(new MetadataInvalidError(reply.invalid));
    else waiter.reject(new Error(`info dict parser thread: ${reply.failure}`));
    if (this.pending.size === 0) this.idle();
  }

  /** Nothing to do: let the process exit, and stop the thread after a while. */
  private idle(): void {
    const worker = this.worker;
    if (worker === undefined) return;
    worker.unref();
    this.idleTimer = setTimeout(() => {
      if (this.worker === worker && this.pending.size === 0) {
        this.worker = undefined;
        void worker.terminate();
      }
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** The thread died or never started: parse what it held inline, and everything from now on. */
  private onThreadFailure(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.broken = true;
    this.log(`metadata: parsing info dicts on the main thread from now on (the parser thread failed: ${err.message})`);
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const { request, resolve, reject } of held) {
      this.counters.fallbacks++;
      try {
        resolve(parseInfoDictionary(Buffer.from(request.info), request.options));
      } catch (e) {
        reject(e as Error);
      }
    }
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}

/** Structured clone turns Buffers into Uint8Arrays: make them Buffers again. */
function revive(summary: InfoSummary): InfoSummary {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  const text = (t: InfoSummary['name']): InfoSummary['name'] => ({ ...t, raw: buf(t.raw) });
  return { ...summary, name: text(summary.name), files: summary.files.map((f) => ({ ...f, path: f.path.map(text) })) };
}
