/**
 * Splits an import file (export-format.ts) into lines (NDJSON) or records (CSV, RFC 4180) as it
 * streams in, holding at most one line: a line longer than `maxBytes` is skipped to its end and
 * reported, never buffered, so a file without line breaks cannot exhaust memory. Text must be
 * UTF-8; a line that is not is reported. Line numbers count physical lines from 1; a CSV record
 * is numbered by the line it starts on.
 */

export type Piece<T> = { line: number; value: T } | { line: number; error: string; message: string };

/** A line, or a CSV record, of at most this many bytes (a full torrent's row is under 300 KB). */
export const MAX_LINE_BYTES = 1 << 20;

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

function utf8(bytes: Buffer): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const tooLong = (maxBytes: number): Problem => ({ error: 'too long', message: `longer than ${maxBytes} bytes` });
const NOT_UTF8: Problem = { error: 'not UTF-8', message: 'not UTF-8 text' };

interface Problem {
  error: string;
  message: string;
}

/** NDJSON lines; blank ones (spaces only) are left out. A CR before the LF is dropped. */
export async function* ndjsonLines(input: AsyncIterable<Buffer | string>, maxBytes = MAX_LINE_BYTES): AsyncGenerator<Piece<string>> {
  let parts: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let line = 1;
  function* finish(): Generator<Piece<string>> {
    const n = line++;
    if (overflow) {
      yield { line: n, ...tooLong(maxBytes) };
    } else {
      let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
      if (n === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      const text = utf8(bytes);
      if (text === null) yield { line: n, ...NOT_UTF8 };
      else if (text.trim() !== '') yield { line: n, value: text };
    }
    parts = [];
    size = 0;
    overflow = false;
  }
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(LF, from);
      const to = nl < 0 ? chunk.length : nl;
      if (!overflow) {
        if (size + (to - from) > maxBytes) {
          overflow = true;
          parts = [];
        } else {
          // A copy: the chunk's memory is not kept alive by a line that spans chunks.
          parts.push(nl < 0 ? Buffer.from(chunk.subarray(from, to)) : chunk.subarray(from, to));
          size += to - from;
        }
      }
      if (nl < 0) break;
      yield* finish();
      from = nl + 1;
    }
  }
  if (size > 0 || overflow) yield* finish();
}

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}

/**
 * CSV records as arrays of cells (RFC 4180: cells separated by commas, records by CRLF or LF, a
 * cell in double quotes may hold commas, line breaks and doubled quotes). Stricter than many
 * readers: a quote inside an unquoted cell, or anything but a comma or a line end after a
 * closing quote, makes the record bad (reported, and the reader goes on at its end). Blank
 * lines are left out.
 */
export async function* csvRecords(input: AsyncIterable<Buffer | string>, maxBytes = MAX_LINE_BYTES): AsyncGenerator<Piece<string[]>> {
  let field = Buffer.alloc(1024);
  let fieldLength = 0;
  let cells: Buffer[] = [];
  let recordBytes = 0;
  let state = State.FieldStart;
  let line = 1;
  let start = 1;
  let problem: Problem | null = null;
  let cr = false;
  let bom = true;

  const endField = (): void => {
    if (problem === null) cells.push(Buffer.from(field.subarray(0, fieldLength)));
    fieldLength = 0;
  };
  function* endRecord(): Generator<Piece<string[]>> {
    endField();
    const at = start;
    const blank = problem === null && cells.length === 1 && cells[0]!.length === 0;
    const out = cells;
    cells = [];
    recordBytes = 0;
    state = State.FieldStart;
    start = line;
    const p = problem;
    problem = null;
    if (p !== null) {
      yield { line: at, ...p };
      return;
    }
    if (blank) return;
    const texts: string[] = [];
    for (const c of out) {
      const t = utf8(c);
      if (t === null) {
        yield { line: at, ...NOT_UTF8 };
        return;
      }
      texts.push(t);
    }
    yield { line: at, value: texts };
  }
  const push = (b: number): void => {
    if (problem !== null) return;
    if (++recordBytes > maxBytes) {
      problem = tooLong(maxBytes);
      cells = [];
      return;
    }
    if (fieldLength === field.length) {
      const bigger = Buffer.alloc(field.length * 2);
      field.copy(bigger);
      field = bigger;
    }
    field[fieldLength++] = b;
  };
  const fail = (message: string): void => {
    if (problem === null) problem = { error: 'CSV syntax', message };
  };

  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    let i = 0;
    if (bom && chunk.length > 0) {
      bom = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (cr) {
        // A CR ends a record only before an LF (which may come in the next chunk).
        cr = false;
        if (b !== LF) {
          if (state === State.QuoteInQuoted) fail('only a comma or a line end may follow a closing quote');
          state = State.Unquoted;
          push(CR);
        }
      }
      switch (state) {
        case State.FieldStart:
        case State.Unquoted:
          if (b === COMMA) {
            endField();
            state = State.FieldStart;
          } else if (b === LF) {
            line++;
            yield* endRecord();
          } else if (b === CR) {
            cr = true;
          } else if (b === QUOTE) {
            if (state === State.FieldStart) state = State.Quoted;
            else fail('a quote inside an unquoted cell');
          } else {
            state = State.Unquoted;
            push(b);
          }
          break;
        case State.Quoted:
          if (b === QUOTE) state = State.QuoteInQuoted;
          else {
            if (b === LF) line++;
            push(b);
          }
          break;
        case State.QuoteInQuoted:
          if (b === QUOTE) {
            push(QUOTE);
            state = State.Quoted;
          } else if (b === COMMA) {
            endField();
            state = State.FieldStart;
          } else if (b === LF) {
            line++;
            yield* endRecord();
          } else if (b === CR) {
            cr = true;
          } else {
            fail('only a comma or a line end may follow a closing quote');
            state = State.Unquoted;
          }
          break;
      }
    }
  }
  if (state === State.Quoted) fail('a quoted cell is not closed at the end of the file');
  if (state !== State.FieldStart || cells.length > 0 || fieldLength > 0 || problem !== null) yield* endRecord();
}
