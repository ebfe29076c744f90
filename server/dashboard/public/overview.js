import { renderBars } from './bar-list.js';
import { byId, h, showValue } from './dom.js';
import { formatInt, formatRate } from './format.js';
import { healthText } from './health.js';
import { CoverageHeatmap } from './heatmap.js';
import { LiveHistory, num } from './live-history.js';
import { TimeChart } from './time-chart.js';

/** Display names of the queues `live.queues` reports. */
const QUEUE_NAMES = { discoveries: 'Discoveries', peerLookups: 'Peer lookups' };
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'];

const perSecond = (v) => `${formatRate(v)}/s`;

function sumEvents(totals) {
  return ['events:node', 'events:infohash', 'events:sample', 'events:peers'].reduce((sum, m) => sum + (num(totals?.[m]) ?? 0), 0);
}

/** The overview's figures from each /api/stats answer: counters, charts, the heat map, queues. */
export class Overview {
  constructor() {
    this.history = new LiveHistory();
    this.charts = {
      discovered: new TimeChart(
        byId('chart-discovered'),
        [{ label: 'nodes known', scale: 'nodes', format: formatInt }, { label: 'nodes answered', scale: 'nodes', format: formatInt }, { label: 'infohashes', scale: 'ih', format: formatInt }],
        { scales: { nodes: { from0: true }, ih: { from0: true } }, axes: [{ scale: 'nodes', side: 3 }, { scale: 'ih', side: 1 }] },
      ),
      minutes: new TimeChart(byId('chart-minutes'), [
        { label: 'new infohashes', format: formatInt },
        { label: 'node replies', format: formatInt },
        { label: 'peers reported', format: formatInt },
      ]),
      rpc: new TimeChart(byId('chart-rpc'), [{ label: 'datagrams in/s', format: formatRate }, { label: 'datagrams out/s', format: formatRate }]),
      estimate: new TimeChart(
        byId('chart-estimate'),
        [
          { label: '95% low', format: formatInt, color: '#56b4e9', dash: [4, 4] },
          { label: 'estimate', format: formatInt, color: '#0072b2', dash: [] },
          { label: '95% high', format: formatInt, color: '#56b4e9', dash: [4, 4] },
        ],
        { scales: { y: { from0: false } }, band: [3, 1] },
      ),
      workers: new TimeChart(byId('chart-workers'), [{ label: 'events applied/s', format: formatRate }, { label: 'peer lookups/s', format: formatRate }]),
      queues: new TimeChart(byId('chart-queues'), [{ label: 'discoveries waiting', format: formatInt }, { label: 'peer lookups waiting', format: formatInt }]),
    };
    this.heatmap = new CoverageHeatmap(byId('heatmap'), byId('heatmap-legend'), byId('coverage-summary'));
  }

  /** One /api/stats answer. */
  showStats(stats) {
    const derived = this.history.add(stats);
    const live = stats.live !== null && typeof stats.live === 'object' ? stats.live : null;
    const crawl = live?.crawl ?? null;
    const totals = stats.totals ?? {};

    showValue(byId('c-infohashes'), stats.infohashes, formatInt(stats.infohashes));
    showValue(byId('c-known'), num(crawl?.known) ?? 0, formatInt(num(crawl?.known)));
    showValue(byId('c-answered'), num(crawl?.answered) ?? 0, formatInt(num(crawl?.answered)));
    showValue(byId('c-peers'), num(totals['peers:reported']) ?? 0, formatInt(num(totals['peers:reported'])));
    showValue(byId('c-events'), sumEvents(totals), formatInt(sumEvents(totals)));
    showValue(byId('c-sweep'), num(crawl?.sweep) ?? 0, formatInt(num(crawl?.sweep)));

    this.charts.discovered.setData(this.history.discovered.toArrays());
    byId('discovered-summary').textContent =
      crawl === null
        ? `${formatInt(stats.infohashes)} infohashes indexed. This server runs no crawler, so there are no live figures.`
        : `Known ${formatInt(num(crawl.known))} nodes, ${formatInt(num(crawl.answered))} answered; ${formatInt(stats.infohashes)} infohashes indexed. The crawler sends ${formatRate(num(crawl.rps))} queries/s with ${formatInt(num(crawl.inflight))} in flight and ${formatInt(num(crawl.queued))} queued.` +
          healthText(live);

    this.showMinutes(stats.series);
    if (live === null) return;
    this.showTraffic(derived);
    this.showEstimate(live.estimate ?? null);
    this.heatmap.update(live.coverage ?? null);
    this.showWorkers(derived, live.workers ?? null);
    this.showQueues(live.queues ?? null);
  }

  /** The index's per-minute series: every minute of the window, the last one still counting. */
  showMinutes(series) {
    const metrics = series?.metrics ?? {};
    const pick = (m) => (Array.isArray(metrics[m]) ? metrics[m].map((v) => num(v)) : []);
    const columns = [pick('infohashes:new'), pick('events:node'), pick('peers:reported')];
    const minutes = Math.min(...columns.map((c) => c.length));
    const from = num(series?.from) ?? 0;
    const step = num(series?.stepMs) ?? 60_000;
    const times = Array.from({ length: minutes }, (_, i) => (from + i * step) / 1000);
    this.charts.minutes.setData([times, ...columns.map((c) => c.slice(0, minutes))]);
    const sum = (c) => c.reduce((a, b) => a + (b ?? 0), 0);
    byId('minutes-summary').textContent = `Last ${minutes} minutes: ${formatInt(sum(columns[0]))} new infohashes, ${formatInt(sum(columns[1]))} node replies, ${formatInt(sum(columns[2]))} peers reported.`;
  }

  showTraffic(derived) {
    this.charts.rpc.setData(this.history.rpc.toArrays());
    byId('rpc-summary').textContent =
      derived.datagramsIn === null ? 'Rates appear from the second update on.' : `In ${perSecond(derived.datagramsIn)}, out ${perSecond(derived.datagramsOut)} (datagrams).`;
    const methods = [...derived.queriesOut].sort((a, b) => b.total - a.total);
    renderBars(
      byId('queries-out'),
      methods.map((m) => ({ label: m.perSecond === null ? m.method : `${m.method} (${perSecond(m.perSecond)})`, value: m.total, title: m.method })),
    );
  }

  showEstimate(estimate) {
    this.charts.estimate.setData(this.history.estimate.toArrays());
    const value = num(estimate?.estimate);
    const counter = byId('c-estimate');
    if (value === null) {
      showValue(counter, 0, '–');
      byId('estimate-summary').textContent = 'Not enough answered nodes for an estimate yet.';
      return;
    }
    const low = num(estimate.low);
    const high = num(estimate.high);
    const confidence = num(estimate.confidence) ?? 0.95;
    showValue(counter, Math.round(value), `≈ ${formatInt(value)}`);
    byId('estimate-summary').textContent = `About ${formatInt(value)} nodes; ${Math.round(confidence * 100)}% interval ${formatInt(low)} to ${formatInt(high)} (the shaded band). Method: ${String(estimate.method ?? 'unknown')}.`;
  }

  showWorkers(derived, workers) {
    this.charts.workers.setData(this.history.workers.toArrays());
    if (workers === null || typeof workers !== 'object') return;
    const parts = [
      `${formatInt(num(workers.eventsApplied))} events applied`,
      `${formatInt(num(workers.discoveryJobsDone))} discovery jobs done (${formatInt(num(workers.discoveryJobsFailed))} failed)`,
      `${formatInt(num(workers.peerLookupsDone))} peer lookups (${formatInt(num(workers.peersFound))} peers found)`,
    ];
    if (derived.eventsApplied !== null) parts.unshift(`${perSecond(derived.eventsApplied)} events, ${perSecond(derived.peerLookups)} peer lookups`);
    if (workers.fatal !== null && workers.fatal !== undefined) parts.push(`stopped: ${String(workers.fatal)}`);
    byId('workers-summary').textContent = `${parts.join('; ')}.`;
  }

  showQueues(queues) {
    this.charts.queues.setData(this.history.queues.toArrays());
    const body = byId('queues-body');
    if (queues === null || typeof queues !== 'object') return;
    body.replaceChildren(
      ...Object.entries(queues).map(([name, counts]) =>
        h('tr', { dataset: { queue: name } }, [h('th', { scope: 'row', text: QUEUE_NAMES[name] ?? name }), ...QUEUE_STATES.map((s) => h('td', { class: 'col-num', text: formatInt(num(counts?.[s])) }))]),
      ),
    );
  }
}
