import { type CensusView, type InfohashListView, type PeersView, type StatsView } from '../indexer/api/views.js';
import { type InfohashRecord } from '../indexer/queries.js';

/**
 * `dhtscope query` output for people: aligned columns, times as ISO plus how long ago,
 * counts with thousands separators. The `--json` output is the API's body instead (views.ts).
 */

const count = (n: number): string => n.toLocaleString('en-US');

/** "42 s ago", "5 min ago", "3 h ago", "2 d ago" ("in …" for the future). */
export function ago(ms: number, now: number): string {
  const d = Math.round((now - ms) / 1000);
  const abs = Math.abs(d);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.floor(abs / 60)} min` : abs < 86_400 ? `${Math.floor(abs / 3600)} h` : `${Math.floor(abs / 86_400)} d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

const when = (ms: number, now: number): string => `${new Date(ms).toISOString()}  (${ago(ms, now)})`;

/** Rows as aligned columns; `right[i]` right-aligns column i (numbers). */
export function table(rows: readonly string[][], right: readonly boolean[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 && !right[i] ? cell : right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line chart of `values` (one character each, scaled to the largest). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  if (max === 0) return BARS[0]!.repeat(values.length);
  return values.map((v) => BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5))]).join('');
}

export function formatInfohash(r: InfohashRecord, now: number): string {
  const lines = table([
    ['infohash', r.infohash],
    ['first seen', when(r.firstSeen, now)],
    ['last seen', when(r.lastSeen, now)],
    ['sightings', count(r.seen)],
    ['sources', `${count(r.sources)} DHT node${r.sources === 1 ? '' : 's'}`],
    ['live peers', count(r.peerCount)],
  ]);
  if (r.peers.length > 0) {
    lines.push(`newest peers${r.peers.length < r.peerCount ? ` (${r.peers.length} of ${count(r.peerCount)}: dhtscope query peers ${r.infohash})` : ''}`);
    lines.push(...table(r.peers.map((p) => ['', p.address, when(p.lastSeen, now)])));
  }
  return lines.join('\n');
}

function nextHint(cursor: string | null, command: string): string[] {
  return cursor === null ? [] : [`more: dhtscope query ${command} --cursor ${cursor}`];
}

export function formatPeers(v: PeersView, now: number, limitArg: string): string {
  if (v.peers.length === 0) return `no live peers of ${v.infohash}`;
  return [
    ...table([['ADDRESS', 'LAST SEEN', 'AGE'], ...v.peers.map((p) => [p.address, new Date(p.lastSeen).toISOString(), ago(p.lastSeen, now)])]),
    ...nextHint(v.nextCursor, `peers ${v.infohash}${limitArg}`),
  ].join('\n');
}

export function formatList(v: InfohashListView, now: number, limitArg: string): string {
  if (v.items.length === 0) return 'no infohashes in the index';
  const rows = v.items.map((i) => [i.infohash, new Date(i.lastSeen).toISOString(), ago(i.lastSeen, now), count(i.seen), count(i.sources), count(i.peerCount)]);
  return [
    ...table([['INFOHASH', 'LAST SEEN', 'AGE', 'SEEN', 'SOURCES', 'PEERS'], ...rows], [false, false, false, true, true, true]),
    ...nextHint(v.nextCursor, `${v.sort}${limitArg}`),
  ].join('\n');
}

export function formatStats(v: StatsView): string {
  const { metrics, minutes } = v.series;
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const rows = Object.entries(metrics).map(([name, values]) => [name, count(v.totals[name] ?? 0), count(sum(values)), sparkline(values)]);
  const rtt = (values: Record<string, number>, s: string, c: string): string => ((values[c] ?? 0) > 0 ? `${Math.round((values[s] ?? 0) / values[c]!)} ms` : '-');
  const window: Record<string, number> = Object.fromEntries(Object.entries(metrics).map(([k, xs]) => [k, sum(xs)]));
  const lines = [
    `infohashes  ${count(v.infohashes)}`,
    `mean RTT    ${rtt(v.totals, 'rtt:sum', 'rtt:count')} all time, ${rtt(window, 'rtt:sum', 'rtt:count')} in the last ${minutes} min`,
    '',
    ...table([['METRIC', 'TOTAL', `LAST ${minutes} MIN`, `PER MINUTE, ${new Date(v.series.from).toISOString().slice(11, 16)}–${new Date(v.series.to).toISOString().slice(11, 16)} UTC`], ...rows], [false, true, true, false]),
  ];
  for (const [k, x] of Object.entries(v.totals)) if (!(k in metrics)) lines.push(`${k}: ${count(x)}`);
  if (v.live !== null) lines.push('', `live: ${JSON.stringify(v.live)}`);
  return lines.join('\n');
}

export function formatCensus(v: CensusView): string {
  const versions = v.versions.map((x) => [x.client === null ? x.label : `${x.client} ${x.version}`, x.client === null ? '' : `(${x.label})`, count(x.nodes)]);
  return [
    `nodes   ${count(v.nodes)} distinct IDs (HyperLogLog estimate, ±0.81%)`,
    `BEP 51  ${count(v.bep51.yes)} answer sample_infohashes, ${count(v.bep51.no)} refuse it`,
    `BEP 42  ${count(v.bep42.yes)} compliant IDs, ${count(v.bep42.no)} not`,
    '',
    ...(versions.length === 0 ? ['no client versions yet'] : table([['CLIENT', 'V', 'NODES'], ...versions], [false, false, true])),
    '',
    ...table([['DAY (UTC)', 'NODES'], ...v.perDay.map((d) => [d.day, count(d.nodes)])], [false, true]),
  ].join('\n');
}
