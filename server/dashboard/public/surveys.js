import { renderBars } from './bar-list.js';
import { SURVEYS_TABLE_ROWS } from './config.js';
import { byId, h, showValue } from './dom.js';
import { formatAgo, formatInt, formatTime } from './format.js';
import { num } from './live-history.js';

/**
 * The Surveys panel, from GET /api/surveys (newest first): the size estimate with its 95%
 * interval per survey as an inline SVG sparkline (oldest left), the latest survey's figures
 * (census shares, churn), its top clients, its flagged Sybil regions, and a table of the last
 * surveys. The API has already checked every entry; what it says still goes in only as text.
 */

/** The sparkline's drawing box (the SVG scales to its CSS size). */
const WIDTH = 600;
const HEIGHT = 90;
const PAD = 4;

/** An SVG element for inside `parent` (in its namespace, the page's <svg>'s). */
function svg(parent, tag, attrs = {}) {
  const el = document.createElementNS(parent.namespaceURI, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const pct = (share) => (num(share) === null ? '–' : `${(100 * share).toFixed(1)}%`);

function sourceText(source) {
  if (source?.kind === 'run') return `run, sweep ${formatInt(num(source.sweep))}`;
  if (source?.kind === 'survey') return `survey ${String(source.name)}`;
  if (source?.kind === 'measure') return 'measure';
  return '–';
}

function sizeText(size) {
  if (size === null || typeof size !== 'object') return 'not estimated';
  return `~${formatInt(size.estimate)} (95%: ${formatInt(size.low)}–${formatInt(size.high)})`;
}

function churnText(churn) {
  if (churn === null || typeof churn !== 'object') return '– (no previous sweep or survey to compare with)';
  const counts = `${formatInt(churn.left)} left (${pct(churn.leftShare)}), ${formatInt(churn.joined)} joined (${pct(churn.joinedShare)})`;
  // A shared survey's churn is against the shared survey before it, estimated from a sample of node keys.
  if (typeof churn.since !== 'string') return counts;
  return `${counts} since survey ${churn.since}${typeof churn.sample === 'number' ? `, estimated from ${formatInt(churn.sample)} node keys` : ''}`;
}

function regionName(r) {
  return r.prefix === '' ? `${String(r.startId).slice(0, 8)}…` : String(r.prefix);
}

function timeCell(ms, now) {
  return h('td', {}, h('time', { datetime: new Date(ms).toISOString(), title: formatTime(ms), text: formatAgo(ms, now) }));
}

export class SurveysPanel {
  constructor() {
    this.el = {
      empty: byId('surveys-empty'),
      body: byId('surveys-body'),
      spark: byId('surveys-spark'),
      sizeSummary: byId('surveys-size-summary'),
      when: byId('survey-when'),
      source: byId('survey-source'),
      size: byId('survey-size'),
      answered: byId('survey-answered'),
      bep51: byId('survey-bep51'),
      bep42: byId('survey-bep42'),
      bep3233: byId('survey-bep32-33'),
      rtt: byId('survey-rtt'),
      churn: byId('survey-churn'),
      versions: byId('survey-versions'),
      sybilNote: byId('survey-sybil-note'),
      sybilTable: byId('survey-sybil-table'),
      sybilRows: byId('survey-sybil-rows'),
      rows: byId('survey-rows'),
    };
  }

  /** One /api/surveys answer: { surveys (newest first), total, capacity, skipped }. */
  show(answer) {
    const surveys = Array.isArray(answer?.surveys) ? answer.surveys : [];
    const el = this.el;
    el.body.dataset.count = String(surveys.length);
    el.empty.hidden = surveys.length > 0;
    el.body.hidden = surveys.length === 0;
    if (surveys.length === 0) return;
    const now = Date.now();
    this.showSparkline(surveys);
    this.showLatest(surveys[0], now);
    el.rows.replaceChildren(
      ...surveys.slice(0, SURVEYS_TABLE_ROWS).map((s) =>
        h('tr', { dataset: { at: String(s.at) } }, [
          timeCell(s.at, now),
          h('td', { text: sourceText(s.source) }),
          h('td', { class: 'col-num', text: s.size === null ? '–' : formatInt(s.size.estimate) }),
          h('td', { class: 'col-num wide-only', text: s.size === null ? '–' : `${formatInt(s.size.low)}–${formatInt(s.size.high)}` }),
          h('td', { class: 'col-num', text: `${formatInt(s.census.answered)} / ${formatInt(s.census.nodes)}` }),
          h('td', { class: 'col-num wide-only', text: s.churn === null ? '–' : `−${formatInt(s.churn.left)} +${formatInt(s.churn.joined)}` }),
          h('td', { class: 'col-num', text: s.sybilRegions === null ? '–' : formatInt(s.sybilRegionsFound) }),
        ]),
      ),
    );
  }

  showLatest(s, now) {
    const el = this.el;
    const c = s.census;
    showValue(el.when, s.at, `${formatTime(s.at)} (${formatAgo(s.at, now)})`);
    el.source.textContent = sourceText(s.source);
    showValue(el.size, s.size?.estimate ?? 0, sizeText(s.size));
    showValue(el.answered, c.answered, `${formatInt(c.answered)} of ${formatInt(c.nodes)} queried (${pct(c.responseRate)})`);
    showValue(el.bep51, c.bep51.share, `${pct(c.bep51.share)} of ${formatInt(c.bep51.supported + c.bep51.unsupported)} asked`);
    showValue(el.bep42, c.bep42Share, pct(c.bep42Share));
    const b32 = num(c.bep32Share);
    const b33 = num(c.bep33Share);
    el.bep3233.textContent = b32 === null && b33 === null ? 'not measured in this survey' : `${b32 === null ? '–' : pct(b32)} / ${b33 === null ? '–' : pct(b33)}`;
    el.rtt.textContent = c.rtt.samples > 0 ? `p50 ${formatInt(c.rtt.p50)} ms, p90 ${formatInt(c.rtt.p90)} ms` : '–';
    el.churn.textContent = churnText(s.churn);

    const bars = c.versions.map((v) => ({ label: `${v.client} ${v.version}`, value: v.count, title: `client ${v.client}, version ${v.version}` }));
    if (c.otherVersions.count > 0) bars.push({ label: `${formatInt(c.otherVersions.versions)} other versions`, value: c.otherVersions.count, kind: 'unknown' });
    renderBars(el.versions, bars, c.withVersion);

    const regions = s.sybilRegions;
    el.sybilTable.hidden = regions === null || regions.length === 0;
    el.sybilNote.dataset.state = regions === null ? 'unscanned' : regions.length === 0 ? 'none' : 'flagged';
    if (regions === null) el.sybilNote.textContent = 'Not scanned in this survey.';
    else if (regions.length === 0) el.sybilNote.textContent = 'None: no ID range is much denser than the size estimate predicts.';
    else
      el.sybilNote.textContent =
        `${formatInt(s.sybilRegionsFound)} ID range${s.sybilRegionsFound === 1 ? '' : 's'} much denser than the size estimate predicts` +
        (s.sybilRegionsFound > regions.length ? ` (the ${regions.length} most significant shown)` : '') +
        ': possible Sybil clusters.';
    el.sybilRows.replaceChildren(
      ...(regions ?? []).map((r) =>
        h('tr', { dataset: { prefix: String(r.prefix), nodes: String(r.nodes) } }, [
          h('td', { class: 'address', text: regionName(r), title: `${String(r.startId)} – ${String(r.endId)}` }),
          h('td', { class: 'col-num', text: formatInt(r.nodes) }),
          h('td', { class: 'col-num', text: r.expected >= 1 ? formatInt(r.expected) : Number(r.expected).toPrecision(2) }),
          h('td', { class: 'col-num', text: r.distinctSlash24 === null ? '–' : formatInt(r.distinctSlash24) }),
        ]),
      ),
    );
  }

  /** The size estimate and its band per survey, oldest left, on a time axis. */
  showSparkline(surveys) {
    const spark = this.el.spark;
    const points = surveys.filter((s) => s.size !== null && typeof s.size === 'object').reverse();
    spark.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    spark.setAttribute('preserveAspectRatio', 'none');
    spark.dataset.points = String(points.length);
    if (points.length === 0) {
      spark.replaceChildren();
      spark.setAttribute('aria-label', 'No survey has a size estimate yet.');
      this.el.sizeSummary.textContent = 'No survey has a size estimate yet.';
      return;
    }
    const t0 = points[0].at;
    const t1 = points[points.length - 1].at;
    const lo = Math.min(...points.map((p) => p.size.low));
    const hi = Math.max(...points.map((p) => p.size.high));
    const x = (t) => (t1 === t0 ? WIDTH / 2 : PAD + ((t - t0) / (t1 - t0)) * (WIDTH - 2 * PAD));
    const y = (v) => (hi === lo ? HEIGHT / 2 : HEIGHT - PAD - ((v - lo) / (hi - lo)) * (HEIGHT - 2 * PAD));
    const xy = (t, v) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    const band = [...points.map((p) => xy(p.at, p.size.high)), ...[...points].reverse().map((p) => xy(p.at, p.size.low))].join(' ');
    const last = points[points.length - 1];
    spark.replaceChildren(
      svg(spark, 'polygon', { class: 'spark-band', points: band }),
      svg(spark, 'polyline', { class: 'spark-line', points: points.map((p) => xy(p.at, p.size.estimate)).join(' ') }),
      // A zero-length stroke with round caps: a dot that the stretched viewBox does not distort.
      svg(spark, 'path', { class: 'spark-dot', d: `M${xy(last.at, last.size.estimate)}l0,0` }),
    );
    spark.dataset.max = String(Math.max(...points.map((p) => p.size.estimate)));
    const text =
      `${formatInt(points.length)} survey${points.length === 1 ? '' : 's'} with a size estimate, ${formatTime(t0)} to ${formatTime(t1)}: ` +
      `latest ${sizeText(last.size)}; estimates from ${formatInt(Math.min(...points.map((p) => p.size.estimate)))} to ${formatInt(Math.max(...points.map((p) => p.size.estimate)))}. ` +
      `Line: estimate; band: 95% interval.`;
    spark.setAttribute('aria-label', `Network size estimate per survey: ${text}`);
    this.el.sizeSummary.textContent = text;
  }
}
