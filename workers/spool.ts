import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '../redis/embedded-server.js';
import { SPOOL_FILE_MAX_BYTES, SPOOL_LINE_MAX_BYTES, SPOOL_MAX_BYTES, SPOOL_READ_CHUNK_BYTES } from './constants.js';
import { SpoolBusyError, SpoolClosedError, SpoolReadError, SpoolWriteError } from './errors.js';
import { type DiscoveryBatchJob } from './queues.js';
import { isCanonicalHexId } from '../bep5/node-id.js';

/**
 * Discovery batches on disk while Redis cannot take them: a FIFO of NDJSON lines, one batch
 * `{id, events}` per line, in files `spool-<seq>.ndjson` under one directory.
 *
 * - Durable per batch: each append is written and fdatasync'ed before it resolves, so a crash
 *   loses nothing already spooled. A crash mid-write leaves a truncated last line, which is
 *   skipped and counted when read back, never fatal.
 * - Bounded: appends beyond `maxBytes` in total are refused (the caller counts them as dropped).
 * - Files are deleted only when every batch in them was read back and acknowledged, so a crash
 *   during delivery replays (at worst) a file's already-delivered batches again. The batch id is
 *   the job id and applyBatch is idempotent per id, so a replay is harmless.
 * - One process per directory: a `lock` file names the owner's pid. A second live owner would
 *   delete files the first is still appending to; a dead owner's lock is taken over.
 *
 * Every operation runs on one internal chain, in call order, so reads never see half a write.
 * Files found at open (a previous run's) are never appended to: new batches go to a new file.
 */

export interface SpoolOptions {
  /** Bytes on disk at most, all files together (default SPOOL_MAX_BYTES). */
  maxBytes?: number;
  /** A file is closed and a new one started past this size (default SPOOL_FILE_MAX_BYTES). */
  fileMaxBytes?: number;
  /** Lines longer than this are refused on append and skipped as corrupt on read (default SPOOL_LINE_MAX_BYTES). */
  lineMaxBytes?: number;
  /** Read-back chunk size (default SPOOL_READ_CHUNK_BYTES). */
  readChunkBytes?: number;
}

/** A batch read back from the spool; pass it to ack() once Redis holds it. */
export interface SpooledBatch {
  readonly job: DiscoveryBatchJob;
  /** The spool file it came from. */
  readonly file: string;
}

interface Reader {
  fh: FileHandle;
  /** The file offset of the next read. */
  pos: number;
  /** Bytes read but not yet split into lines. */
  buf: Buffer;
  /** Inside a line longer than lineMaxBytes: drop bytes up to the next newline. */
  skipping: boolean;
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes of complete appends (or the size found at open). */
  size: number;
  /** Bytes of lines handed out or skipped. */
  consumed: number;
  /** Batches handed out and not yet acknowledged. */
  unacked: number;
  /** Open for appends: only the newest file this process created. */
  writer: FileHandle | null;
  reader: Reader | null;
}

const FILE_RE = /^spool-(\d{12})\.ndjson$/;
const NEWLINE = 0x0a;

type LineResult = Buffer | 'corrupt' | null;

export class Spool {
  private readonly segments: Segment[];
  private nextSeq: number;
  private chain: Promise<unknown> = Promise.resolve();
  /** Bytes of appends accepted but not yet written. */
  private reservedBytes = 0;
  private pendingAppends = 0;
  private closed = false;
  private readonly maxBytes: number;
  private readonly fileMaxBytes: number;
  private readonly lineMaxBytes: number;
  private readonly readChunkBytes: number;
  /** Lines skipped on read-back because they were truncated or not a batch. */
  corruptLines = 0;

  private constructor(
    readonly dir: string,
    private readonly lockToken: string,
    found: Segment[],
    options: SpoolOptions,
  ) {
    this.segments = found;
    this.nextSeq = found.length === 0 ? 1 : found[found.length - 1]!.seq + 1;
    this.maxBytes = options.maxBytes ?? SPOOL_MAX_BYTES;
    this.fileMaxBytes = options.fileMaxBytes ?? SPOOL_FILE_MAX_BYTES;
    this.lineMaxBytes = options.lineMaxBytes ?? SPOOL_LINE_MAX_BYTES;
    this.readChunkBytes = options.readChunkBytes ?? SPOOL_READ_CHUNK_BYTES;
  }

  /** Creates `dir` if needed, takes its lock (SpoolBusyError if a live process holds it) and finds earlier files. */
  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const token = await acquireLock(dir);
    const found: Segment[] = [];
    for (const name of await readdir(dir)) {
      const m = FILE_RE.exec(name);
      if (m === null) continue;
      const path = join(dir, name);
      const { size } = await stat(path);
      if (size === 0) await unlink(path);
      else found.push({ seq: Number(m[1]), path, size, consumed: 0, unacked: 0, writer: null, reader: null });
    }
    found.sort((a, b) => a.seq - b.seq);
    return new Spool(dir, token, found, options);
  }

  /** Bytes on disk, plus appends accepted and not yet written. */
  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0) + this.reservedBytes;
  }

  /** Whether shift() may return a batch: something was appended or found that has not been read back. */
  get hasUnread(): boolean {
    return this.pendingAppends > 0 || this.segments.some((s) => s.consumed < s.size);
  }

  /** Files on disk. */
  get files(): string[] {
    return this.segments.map((s) => s.path);
  }

  /**
   * Appends one batch and resolves once it is on disk, with the bytes written: 0 when it would
   * exceed `maxBytes` or `lineMaxBytes` (nothing written). Rejects with SpoolWriteError when the disk fails.
   */
  append(job: DiscoveryBatchJob): Promise<number> {
    if (this.closed) return Promise.reject(new SpoolClosedError());
    const line = Buffer.from(`${JSON.stringify({ id: job.id, events: job.events })}\n`, 'utf8');
    if (line.length > this.lineMaxBytes || this.bytes + line.length > this.maxBytes) return Promise.resolve(0);
    this.reservedBytes += line.length;
    this.pendingAppends++;
    return this.run(async () => {
      try {
        const seg = await this.writableSegment(line.length);
        try {
          await writeAll(seg.writer!, line);
          await seg.writer!.datasync();
        } catch (err) {
          // Part of the line may be on disk: close this file so the fragment stays its last
          // line (read back as corrupt), and count what is really there.
          await this.closeWriter(seg);
          seg.size = await stat(seg.path).then((s) => s.size, () => seg.size);
          throw new SpoolWriteError(seg.path, { cause: err });
        }
        seg.size += line.length;
        return line.length;
      } finally {
        this.reservedBytes -= line.length;
        this.pendingAppends--;
      }
    });
  }

  /** The oldest batch not yet read back, or null when there is none. Corrupt lines are skipped and counted. */
  shift(): Promise<SpooledBatch | null> {
    if (this.closed) return Promise.reject(new SpoolClosedError());
    return this.run(async () => {
      for (;;) {
        const seg = this.segments.find((s) => s.consumed < s.size);
        if (seg === undefined) return null;
        let line: LineResult;
        try {
          line = await this.nextLine(seg);
        } catch (err) {
          throw new SpoolReadError(seg.path, { cause: err });
        }
        if (line === null) return null;
        const job = line === 'corrupt' ? null : parseBatch(line);
        if (job === null) {
          this.corruptLines++;
          await this.removeIfDone(seg);
          continue;
        }
        seg.unacked++;
        return { job, file: seg.path };
      }
    });
  }

  /** Redis holds this batch: its file is deleted once every batch in it is acknowledged. */
  ack(batch: SpooledBatch): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.run(async () => {
      const seg = this.segments.find((s) => s.path === batch.file);
      if (seg === undefined || seg.unacked === 0) return;
      seg.unacked--;
      await this.removeIfDone(seg);
    });
  }

  /** Waits for pending appends, closes the files and releases the lock. Unacknowledged batches stay on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    for (const seg of this.segments) await this.closeHandles(seg);
    await releaseLock(this.dir, this.lockToken);
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.chain.then(op);
    this.chain = result.catch(() => {});
    return result;
  }

  /** The file to append `bytes` to: the current one, or a new one past fileMaxBytes. */
  private async writableSegment(bytes: number): Promise<Segment> {
    const last = this.segments[this.segments.length - 1];
    if (last?.writer != null && (last.size === 0 || last.size + bytes <= this.fileMaxBytes)) return last;
    if (last?.writer != null) await this.closeWriter(last);
    const seq = this.nextSeq++;
    const path = join(this.dir, `spool-${String(seq).padStart(12, '0')}.ndjson`);
    const writer = await open(path, 'wx');
    await syncDir(this.dir); // the new name survives a power cut, not only a crash
    const seg: Segment = { seq, path, size: 0, consumed: 0, unacked: 0, writer, reader: null };
    this.segments.push(seg);
    return seg;
  }

  /** The next line of `seg`: its bytes, 'corrupt' (truncated or overlong), or null when no complete line is left. */
  private async nextLine(seg: Segment): Promise<LineResult> {
    const r = (seg.reader ??= { fh: await open(seg.path, 'r'), pos: seg.consumed, buf: Buffer.alloc(0), skipping: false });
    for (;;) {
      const nl = r.buf.indexOf(NEWLINE);
      if (nl >= 0) {
        const line = r.buf.subarray(0, nl);
        r.buf = r.buf.subarray(nl + 1);
        seg.consumed += nl + 1;
        if (r.skipping) {
          r.skipping = false;
          return 'corrupt';
        }
        return line;
      }
      if (r.buf.length > this.lineMaxBytes) {
        seg.consumed += r.buf.length;
        r.buf = Buffer.alloc(0);
        r.skipping = true;
      }
      const want = Math.min(this.readChunkBytes, seg.size - r.pos);
      const chunk = want > 0 ? Buffer.allocUnsafe(want) : null;
      const got = chunk === null ? 0 : (await r.fh.read(chunk, 0, want, r.pos)).bytesRead;
      if (got === 0) {
        // End of what was written. A closed file's leftover is a line cut short by a crash; a
        // file still being appended to holds whole lines only, so nothing is left there.
        if (seg.writer !== null && !r.skipping && r.buf.length === 0) return null;
        const hadFragment = r.buf.length > 0 || r.skipping;
        seg.consumed += r.buf.length;
        seg.size = seg.consumed; // a file that shrank under us (someone truncated it) is read as far as it goes
        r.buf = Buffer.alloc(0);
        r.skipping = false;
        return hadFragment ? 'corrupt' : null;
      }
      r.pos += got;
      r.buf = r.buf.length === 0 ? chunk!.subarray(0, got) : Buffer.concat([r.buf, chunk!.subarray(0, got)]);
    }
  }

  private async removeIfDone(seg: Segment): Promise<void> {
    if (seg.consumed < seg.size || seg.unacked > 0) return;
    await this.closeHandles(seg);
    await unlink(seg.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.segments.splice(this.segments.indexOf(seg), 1);
  }

  private async closeWriter(seg: Segment): Promise<void> {
    const w = seg.writer;
    seg.writer = null;
    await w?.close().catch(() => {});
  }

  private async closeHandles(seg: Segment): Promise<void> {
    await this.closeWriter(seg);
    const r = seg.reader;
    seg.reader = null;
    await r?.fh.close().catch(() => {});
  }
}

/** `{id, events}` with a 40-hex id and an array of events, or null. The events are checked where the job comes in (parseDiscoveryJob). */
function parseBatch(line: Buffer): DiscoveryBatchJob | null {
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { id, events } = value as Record<string, unknown>;
  if (typeof id !== 'string' || !isCanonicalHexId(id) || !Array.isArray(events)) return null;
  return { id, events: events as DiscoveryBatchJob['events'] };
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

// ---------------------------------------------------------------------------------------
// The lock: `<dir>/lock` holds "<pid> <token>"

async function acquireLock(dir: string): Promise<string> {
  const path = join(dir, 'lock');
  const token = randomBytes(8).toString('hex');
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, `${process.pid} ${token}\n`, { flag: 'wx' });
      return token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).split(' ')[0]);
    const live = Number.isSafeInteger(holder) && holder > 0 && isAlive(holder);
    if (live || attempt >= 2) throw new SpoolBusyError(dir, holder);
    // The owner died without closing (a crash): its files are ours to replay.
    await unlink(path).catch(() => {});
  }
}

async function releaseLock(dir: string, token: string): Promise<void> {
  const path = join(dir, 'lock');
  const content = await readFile(path, 'utf8').catch(() => '');
  if (content.trim().split(' ')[1] === token) await unlink(path).catch(() => {});
}
