import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { SchemaMismatchError } from '../../indexer/errors.js';
import { type ExportColumn, type ExportFormat } from '../../indexer/export-format.js';
import { MAX_LINE_BYTES, type Piece, csvRecords, ndjsonLines } from '../../indexer/import-lines.js';
import { type MergeCounts, emptyCounts, mergeImport } from '../../indexer/import-merge.js';
import { type ImportRow, LineError, csvHeader, rowFromCells, rowFromJson } from '../../indexer/import-parse.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { readSchemaVersion, ensureSchema } from '../../migrations/runner.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, withIndex } from '../index-options.js';
import { parseInteger } from '../number-options.js';
import { parseFormat } from './export.js';

const DEFAULT_SHOWN = 20;
/** Rows per merge: one script per shard they touch, each a few ms inside Redis. */
export const IMPORT_CHUNK = 500;

const help = `Usage: dhtscope import [FILE|-] [--format ndjson|csv] [--show-errors N] [--json]

Reads what \`dhtscope export\` writes (from FILE, or stdin for - or no FILE) and merges it
into the Redis index, in chunks of ${IMPORT_CHUNK} lines, in constant memory:

  first seen        the earlier of the file's and the index's
  last seen         the later of the two
  seen (sightings)  the larger of the two, not the sum: importing a file twice, or an export
                    of the same index, counts nothing twice
  sources           at least the larger count of the two
  metadata          the file's replaces the index's only when fetched later (fetchedAt), or
                    fills an infohash without metadata; name search picks it up
  peers, seeders, leechers, swarmAt
                    checked, not imported: peers expire within hours and the next peer
                    lookup takes a new scrape

Every field of every line is checked (the file is untrusted input). A bad line is skipped and
reported with its line number and reason; the rest is imported. An empty index (a new --prefix)
is created at the current schema; an older schema must be migrated first (dhtscope migrate).
Retention applies to what is imported: \`dhtscope run\` prunes infohashes last seen longer ago
than its --retain-days (30) at its next hourly pass.

  --format F        ndjson (the default) or csv (the default when FILE ends in .csv); CSV needs
                    the header row export writes (infohash, firstSeen and lastSeen at least)
  --show-errors N   list at most N bad lines (default ${DEFAULT_SHOWN}; all are counted)
  --json            print the summary as one JSON object
${INDEX_OPTIONS_HELP}
  -h, --help        show this help

Lines are at most ${MAX_LINE_BYTES / 1024 / 1024} MiB. Exit code 0 when every line was imported, 1 when some
were skipped (the others are imported) or Redis fails, 2 on a usage error.

Example: dhtscope import last-week.csv --prefix restored`;

export interface ImportSummary {
  lines: number;
  imported: number;
  created: number;
  merged: number;
  changed: number;
  metadataStored: number;
  metadataKept: number;
  skipped: number;
  reasons: Record<string, number>;
  errors: Array<{ line: number; reason: string; message: string }>;
}

/** Reads, checks and merges the whole input; never throws for what a line holds. */
export async function importLines(
  pieces: AsyncIterable<Piece<string | string[]>>,
  format: ExportFormat,
  merge: (rows: ImportRow[], counts: MergeCounts) => Promise<void>,
  opts: { shown: number; now: number },
): Promise<ImportSummary> {
  const counts = emptyCounts();
  const summary: ImportSummary = { lines: 0, imported: 0, created: 0, merged: 0, changed: 0, metadataStored: 0, metadataKept: 0, skipped: 0, reasons: {}, errors: [] };
  const bad = (line: number, reason: string, message: string): void => {
    summary.skipped++;
    summary.reasons[reason] = (summary.reasons[reason] ?? 0) + 1;
    if (summary.errors.length < opts.shown) summary.errors.push({ line, reason, message });
  };
  let header: ExportColumn[] | null = null;
  let chunk: ImportRow[] = [];
  for await (const piece of pieces) {
    if (format === 'csv' && header === null) {
      // The header is no data line: a bad one leaves nothing readable.
      if ('error' in piece) throw new CommandError(`line ${piece.line}: the CSV header is unreadable: ${piece.message}`);
      try {
        header = csvHeader(piece.value as string[]);
      } catch (err) {
        if (err instanceof LineError) throw new CommandError(`line ${piece.line}: ${err.message}`);
        throw err;
      }
      continue;
    }
    summary.lines++;
    if ('error' in piece) {
      bad(piece.line, piece.error, piece.message);
      continue;
    }
    try {
      chunk.push(format === 'csv' ? rowFromCells(header!, piece.value as string[], opts.now) : rowFromJson(piece.value as string, opts.now));
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      bad(piece.line, err.reason, err.message);
      continue;
    }
    if (chunk.length >= IMPORT_CHUNK) {
      await merge(chunk, counts);
      chunk = [];
    }
  }
  if (chunk.length > 0) await merge(chunk, counts);
  if (format === 'csv' && header === null) throw new CommandError('the file is empty: a CSV import needs at least the header row');
  summary.created = counts.created;
  summary.changed = counts.changed;
  summary.merged = counts.changed + counts.unchanged;
  summary.imported = summary.created + summary.merged;
  summary.metadataStored = counts.metadataStored;
  summary.metadataKept = counts.metadataKept;
  return summary;
}

/** The input's chunks; a read error (a directory, a vanished file) as the one-line error it is. */
async function* readErrors(input: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of input) yield chunk;
  } catch (err) {
    throw new CommandError(`cannot read ${name}: ${(err as Error).message}`);
  }
}

export function formatSummary(s: ImportSummary, source: string): string {
  const out = [
    `read ${s.lines} lines from ${source}: ${s.imported} imported (${s.created} new, ${s.merged} merged into records the index had, ${s.changed} of them changed), ${s.skipped} skipped`,
  ];
  if (s.metadataStored + s.metadataKept > 0) out.push(`metadata: ${s.metadataStored} stored, ${s.metadataKept} kept (the index's was fetched as late or later)`);
  if (s.skipped > 0) {
    const reasons = Object.entries(s.reasons).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    out.push(`skipped: ${reasons.map(([r, n]) => `${r} ${n}`).join(', ')}`);
    for (const e of s.errors) out.push(`  line ${e.line}: ${e.message}`);
    if (s.errors.length < s.skipped) out.push(`  (${s.errors.length} of ${s.skipped} bad lines shown; --show-errors N shows more)`);
  }
  return out.join('\n');
}

export const importCommand = defineCommand({
  name: 'import',
  help,
  options: {
    ...INDEX_COMMAND_OPTIONS,
    format: { type: 'string' },
    'show-errors': { type: 'string' },
    json: { type: 'boolean' },
  },
  args: 'any',
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`import takes one FILE (or - for stdin), got ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
    const file = positionals[0] === undefined || positionals[0] === '-' ? null : positionals[0];
    const format = parseFormat(values.format, file ?? undefined);
    const shown = parseInteger(values['show-errors'], '--show-errors', DEFAULT_SHOWN, 0);
    const now = Date.now();

    return withIndex(values, async (index) => {
      const redis = index.connection.client;
      // A new index is created, as run would; an older one needs its migrations (and their move) first.
      await ensureSchema(redis, index.keys, { migrate: (await readSchemaVersion(redis, index.keys)) === 0 });
      const keys = ShardedIndexKeys.of(index.keys.prefix);
      const left = await redis.zcard(keys.legacy.infohashes);
      if (left > 0) {
        // The mover adds schema 4's sightings to a record later; with the import's max, a re-imported export of this index would then count them twice.
        throw new CommandError(`migration 005 is still moving ${left} schema-4 infohashes into this index; import when it is done (dhtscope migrate)`);
      }
      const input = file === null ? process.stdin : createReadStream(file);
      if (file !== null) {
        try {
          await once(input, 'open');
        } catch (err) {
          throw new CommandError(`cannot read ${file}: ${(err as Error).message}`);
        }
      }
      let summary: ImportSummary;
      try {
        const bytes = readErrors(input as AsyncIterable<Buffer>, file ?? 'stdin');
        const pieces = format === 'csv' ? csvRecords(bytes) : ndjsonLines(bytes);
        summary = await importLines(pieces, format, (rows, counts) => mergeImport(redis, keys, rows, counts), { shown, now });
      } catch (err) {
        if (err instanceof SchemaMismatchError) throw new CommandError(err.message);
        // Redis' own error replies (a key of another type under the prefix): one line, not a stack.
        if (err instanceof Error && err.name === 'ReplyError') throw new CommandError(`Redis refused the import (the chunks before were imported): ${err.message}`);
        throw err;
      } finally {
        if (file !== null) (input as ReturnType<typeof createReadStream>).destroy();
      }
      process.stdout.write((values.json ? JSON.stringify(summary) : formatSummary(summary, file ?? 'stdin')) + '\n');
      return summary.skipped > 0 ? 1 : 0;
    });
  },
});
