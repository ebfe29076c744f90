import { type CensusView, type InfohashListView, type InfohashView, type PeersView, type SearchView, type StatsView, type SurveysView } from '../server/api/views.js';
import { type StoredMetadata } from '../indexer/metadata-store.js';

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

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** "4.7 GiB", "512 B": binary units, 3 significant digits. */
export function bytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** Files shown by `query infohash` (the JSON has every stored one). */
const SHOWN_FILES = 20;
/** Names are cut to this many characters in search results (the JSON has them whole). */
const NAME_COLUMN_CHARS = 100;

const cut = (text: string, max: number): string => ([...text].length > max ? `${[...text].slice(0, max - 1).join('')}…` : text);

/** Rows about the torrent (name, size, pieces, fetch), shown under the infohash. */
function metadataRows(m: StoredMetadata, now: number): string[][] {
  const rows = [
    ['name', `${m.name.display}${m.name.truncated ? '  (cut: the name is longer)' : ''}`],
    ['size', `${bytes(m.totalSize)} (${count(m.totalSize)} bytes) in ${count(m.fileCount)} file${m.fileCount === 1 ? '' : 's'}`],
    ['pieces', `${count(m.pieceCount)} of ${bytes(m.pieceLength)}`],
    ['metadata', `fetched ${when(m.fetchedAt, now)} from ${m.peer}`],
  ];
  if (m.private) rows.push(['private', 'yes (BEP 27: peers only from its trackers)']);
  return rows;
}

/** The first stored files as "size  path" lines. */
function fileLines(m: StoredMetadata): string[] {
  if (m.files.length === 0) return [];
  const shown = m.files.slice(0, SHOWN_FILES);
  const more = m.fileCount > shown.length ? ` (first ${shown.length} of ${count(m.fileCount)})` : '';
  return [`files${more}`, ...table(shown.map((f) => ['', bytes(f.size), `${f.path}${f.truncated ? '  (path cut)' : ''}`]), [false, true, false])];
}

export function formatInfohash(r: InfohashView, now: number): string {
  const lines = table([
    ['infohash', r.infohash],
    ...(r.metadata === null ? [] : metadataRows(r.metadata, now)),
    ['first seen', when(r.firstSeen, now)],
    ['last seen', when(r.lastSeen, now)],
    ['sightings', count(r.seen)],
    ['sources', `${count(r.sources)} DHT node${r.sources === 1 ? '' : 's'}`],
    ['live peers', count(r.peerCount)],
    ['swarm', r.swarm === null ? 'not scraped yet' : `${count(r.swarm.seeders)} seeders, ${count(r.swarm.leechers)} leechers (BEP 33 estimate, ${when(r.swarm.at, now)})`],
    ...(r.metadata === null ? [['metadata', 'not fetched yet']] : []),
  ]);
  if (r.peers.length > 0) {
    lines.push(`newest peers${r.peers.length < r.peerCount ? ` (${r.peers.length} of ${count(r.peerCount)}: dhtscope query peers ${r.infohash})` : ''}`);
    lines.push(...table(r.peers.map((p) => ['', p.address, when(p.lastSeen, now)])));
  }
  if (r.metadata !== null) lines.push(...fileLines(r.metadata));
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
  const swarm = (i: InfohashListView['items'][number], n: 'seeders' | 'leechers'): string => (i.swarm === null ? '-' : count(i.swarm[n]));
  const rows = v.items.map((i) => [i.infohash, new Date(i.lastSeen).toISOString(), ago(i.lastSeen, now), count(i.seen), count(i.sources), count(i.peerCount), swarm(i, 'seeders'), swarm(i, 'leechers')]);
  return [
    ...table([['INFOHASH', 'LAST SEEN', 'AGE', 'SEEN', 'SOURCES', 'PEERS', 'SEEDERS', 'LEECHERS'], ...rows], [false, false, false, true, true, true, true, true]),
    ...nextHint(v.nextCursor, `${v.sort === 'seeders' ? 'popular --by seeders' : v.sort}${limitArg}`),
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
    `family  ${count(v.families.ipv4)} seen over IPv4, ${count(v.families.ipv6)} over IPv6`,
    '',
    ...(versions.length === 0 ? ['no client versions yet'] : table([['CLIENT', 'V', 'NODES'], ...versions], [false, false, true])),
    '',
    ...table([['DAY (UTC)', 'NODES'], ...v.perDay.map((d) => [d.day, count(d.nodes)])], [false, true]),
  ].join('\n');
}

/** A shell word for `text` (single-quoted unless plainly safe), for the "more:" hint. */
function shellWord(text: string): string {
  return /^[\w.,:@%+=/-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export function formatSearch(v: SearchView, now: number, limitArg: string): string {
  if (v.items.length === 0) return v.total === 0 ? `no torrent names with every word of ${JSON.stringify(v.q)}` : `no more results for ${JSON.stringify(v.q)} (${count(v.total)} in all)`;
  const rows = v.items.map((i) => [i.infohash, bytes(i.totalSize), count(i.fileCount), count(i.peers), ago(i.lastSeen, now), cut(i.name, NAME_COLUMN_CHARS)]);
  const shown = `${count(v.offset + 1)}-${count(v.offset + v.items.length)}`;
  return [
    `${shown} of ${count(v.total)} torrent${v.total === 1 ? '' : 's'} named with every word of ${JSON.stringify(v.q)}, most peers first`,
    ...table([['INFOHASH', 'SIZE', 'FILES', 'PEERS', 'LAST SEEN', 'NAME'], ...rows], [false, true, true, true, false, false]),
    ...(v.nextOffset === null ? [] : [`more: dhtscope query search ${v.q.split(/\s+/).filter(Boolean).map(shellWord).join(' ')}${limitArg} --offset ${v.nextOffset}`]),
  ].join('\n');
}

/** The survey series, newest first: one row per survey, then the newest one's census in full. */
export function formatSurveys(v: SurveysView, now: number): string {
  if (v.surveys.length === 0) return 'no surveys recorded yet (each sweep of dhtscope run, measure --redis-url and each finished shared survey records one)';
  const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
  const source = (s: SurveysView['surveys'][number]['source']): string => (s.kind === 'run' ? `run sweep ${s.sweep}` : s.kind === 'survey' ? `survey ${s.name}` : 'measure');
  const rows = v.surveys.map((e) => [
    new Date(e.at).toISOString(),
    ago(e.at, now),
    source(e.source),
    e.size === null ? '-' : `${count(Math.round(e.size.estimate))} [${count(Math.round(e.size.low))}, ${count(Math.round(e.size.high))}]`,
    `${count(e.census.answered)}/${count(e.census.nodes)}`,
    pct(e.census.bep51.share),
    pct(e.census.bep32Share),
    pct(e.census.bep33Share),
    e.churn === null ? '-' : `-${count(e.churn.left)} +${count(e.churn.joined)}`,
    e.sybilRegions === null ? '-' : count(e.sybilRegionsFound),
  ]);
  const newest = v.surveys[0]!;
  const top = newest.census.versions.slice(0, 5).map((x) => `${x.client} ${x.version} ${pct(x.share)}`);
  return [
    ...table(
      [['ENDED', 'AGO', 'SOURCE', 'SIZE [95%]', 'ANSWERED', 'BEP 51', 'BEP 32', 'BEP 33', 'CHURN', 'SYBIL'], ...rows],
      [false, false, false, true, true, true, true, true, true, true],
    ),
    '',
    `newest: clients ${top.length === 0 ? '-' : top.join(', ')}; BEP 42 ${pct(newest.census.bep42Share)}; RTT p50 ${newest.census.rtt.p50 ?? '-'} ms, p90 ${newest.census.rtt.p90 ?? '-'} ms`,
    `${count(v.total)} surveys kept (at most ${count(v.capacity)})` + (v.skipped > 0 ? `; ${count(v.skipped)} unreadable entries skipped` : ''),
  ].join('\n');
}
