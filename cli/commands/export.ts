import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { type Writable } from 'node:stream';
import { exportIndex } from '../../indexer/export-stream.js';
import { CSV_HEADER, EXPORT_COLUMNS, type ExportFormat, csvLine, ndjsonLine } from '../../indexer/export-format.js';
import { ShardedIndexKeys } from '../../indexer/sharded-keys.js';
import { SchemaOutdatedError } from '../../migrations/errors.js';
import { MigrationRunner } from '../../migrations/runner.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, withIndex } from '../index-options.js';

const help = `Usage: dhtscope export [--since T] [--format ndjson|csv] [--output FILE]

Writes the Redis index, one line per infohash, to stdout (or FILE), sorted by infohash, in
constant memory (chunks of about 2,000 infohashes; under 200 MB of RSS for 1 M infohashes).
\`dhtscope import\` reads it back.

  --since T         only infohashes last seen at or after T: an ISO 8601 date or time
                    (2026-05-01, 2026-05-01T12:00Z) or a duration back from now (90m, 24h, 7d, 2w)
  --format F        ndjson (one JSON object per line; the default) or csv (RFC 4180, a header
                    row; the default when FILE ends in .csv)
  --output FILE     write to FILE instead of stdout, and print a summary
${INDEX_OPTIONS_HELP}
  -h, --help        show this help

Columns (NDJSON keys, CSV header), the same in both formats:
  ${EXPORT_COLUMNS.slice(0, 9).join(', ')},
  ${EXPORT_COLUMNS.slice(9).join(', ')}
Times are ISO 8601 UTC with milliseconds. peers is the live peer count at the last write;
seeders, leechers and swarmAt are the latest BEP 33 scrape estimate. name, size, files and
the columns after them are the torrent's metadata, empty (null) until it was fetched; names
and paths are printed as the API shows them (controls and invalid UTF-8 escaped as \\x0a,
\\u{202e}, \\xff; a backslash doubled), which import turns back into the exact bytes. files is
a JSON array of {path, size} (in CSV, that JSON in one cell). In CSV, empty cells are null.
Names come from the network and are written as they are: a spreadsheet may take one that
starts with =, +, - or @ for a formula, so open such a file as text, not with formulas on.

Exit code 0 on success (also when the reader of stdout goes away), 1 when Redis fails or
FILE cannot be written, 2 on a usage error.

Example: dhtscope export --since 7d --format csv --output last-week.csv`;

const DURATION_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** --since: an ISO 8601 date (UTC midnight) or time with a zone, or a duration back from `now`. */
export function parseSince(value: string, now: number): number {
  const d = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(value);
  if (d !== null) return Math.round(now - Number(d[1]) * DURATION_MS[d[2]!]!);
  const date = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/.test(value);
  const ms = date || time ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    const local = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(value) ? ' (a time needs its zone: add Z for UTC)' : '';
    throw new UsageError(`--since must be an ISO 8601 date or time (2026-05-01, 2026-05-01T12:00Z) or a duration (90m, 24h, 7d, 2w), got "${value}"${local}`);
  }
  return ms;
}

export function parseFormat(value: string | undefined, file: string | undefined): ExportFormat {
  if (value === undefined) return file !== undefined && /\.csv$/i.test(file) ? 'csv' : 'ndjson';
  if (value !== 'ndjson' && value !== 'csv') throw new UsageError(`--format must be ndjson or csv, got "${value}"`);
  return value;
}

/** Writes `text`, then waits while the stream's buffer is full: the walk never runs ahead of the reader. */
async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

export const exportCommand = defineCommand({
  name: 'export',
  help,
  options: {
    ...INDEX_COMMAND_OPTIONS,
    since: { type: 'string' },
    format: { type: 'string' },
    output: { type: 'string' },
  },
  argsError: (got) => `export takes no arguments, got ${JSON.stringify(got[0])} (to write a file: --output FILE)`,
  async run({ values }) {
    const started = Date.now();
    const since = values.since === undefined ? undefined : parseSince(values.since, started);
    const format = parseFormat(values.format, values.output);
    if (values.output === '') throw new UsageError('--output needs a file name');

    return withIndex(values, async (index) => {
      const redis = index.connection.client;
      // As query does: a fresh database (version 0) reads as an empty index; an older schema needs migrating.
      const runner = new MigrationRunner(redis, index.keys);
      const version = await runner.assertCompatible();
      if (version !== 0 && version !== runner.latest) throw new SchemaOutdatedError(version, runner.latest);
      const file = values.output;
      const stream: Writable = file === undefined ? process.stdout : createWriteStream(file);
      // Set by the stream's 'error' (in a callback, hence a holder the compiler does not narrow).
      const broken: { error: NodeJS.ErrnoException | null } = { error: null };
      const stop = new AbortController();
      const onError = (err: NodeJS.ErrnoException): void => {
        broken.error ??= err;
        stop.abort();
      };
      stream.on('error', onError);
      try {
        if (file !== undefined) await once(stream, 'ready');
        const line = format === 'csv' ? csvLine : ndjsonLine;
        if (format === 'csv') await write(stream, CSV_HEADER);
        const stats = await exportIndex(redis, ShardedIndexKeys.of(index.keys.prefix), { ...(since === undefined ? {} : { since }), signal: stop.signal }, async (rows) => {
          if (stop.signal.aborted) return;
          let text = '';
          for (const row of rows) text += line(row);
          await write(stream, text);
        });
        if (file !== undefined) {
          stream.end();
          await once(stream, 'close');
        }
        if (broken.error === null && stats.damaged > 0) process.stderr.write(`dhtscope export: ${stats.damaged} records or metadata values did not decode (not written by dhtscope) and were left out\n`);
        if (broken.error === null && stats.movedDuring > 0) {
          process.stderr.write(
            `dhtscope export: the schema-4 to 5 move took ${stats.movedDuring} infohashes during the export; some may be listed twice (with the same times and sightings; import merges them)\n`,
          );
        }
        if (broken.error === null && file !== undefined) {
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          process.stdout.write(`exported ${stats.rows} infohashes${since === undefined ? '' : ` last seen since ${new Date(since).toISOString()}`} to ${file} (${format}) in ${seconds} s\n`);
        }
      } catch (err) {
        // once() rejects with the stream's error; it is reported below like one that ended the walk.
        if (broken.error === null) throw err;
      } finally {
        stream.off('error', onError);
      }
      if (broken.error !== null) {
        // A reader that went away (export | head) is a normal end, as for any Unix filter.
        if (file === undefined && broken.error.code === 'EPIPE') return 0;
        throw new CommandError(`cannot write ${file ?? 'stdout'}: ${broken.error.message}`);
      }
      return 0;
    });
  },
});
