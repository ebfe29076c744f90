import uPlot from './vendor/uPlot.esm.js';
import { CHART_HEIGHT } from './config.js';

/** Okabe–Ito colours (distinguishable with the common colour vision deficiencies); every series also has its own dash pattern and a text label. */
export const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'];
export const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === '' ? fallback : v;
}

/**
 * A uPlot time series chart that follows its container's width. It is created on the first
 * data while the container is visible (uPlot needs a width), and exposes what it shows as
 * data-points and data-max on the container.
 *
 * series: [{ label, scale? ('y' default), format?(n), color?, dash? }]; colours and dashes
 * default by position.
 * options: { scales: { name: { from0: true } }, axes: [{ scale, side (3 left, 1 right) }],
 *            band: [upper series, lower series] (1-based, as uPlot counts) }
 */
export class TimeChart {
  constructor(container, series, options = {}) {
    this.container = container;
    this.series = series;
    this.options = options;
    this.plot = null;
    this.data = [[], ...series.map(() => [])];
    this.width = 0;
    new ResizeObserver(() => requestAnimationFrame(() => this.fit())).observe(container);
  }

  /** uPlot data: [times in seconds, ...one array per series]. */
  setData(data) {
    this.data = data;
    let max = -Infinity;
    for (const column of data.slice(1)) for (const v of column) if (v !== null && v > max) max = v;
    this.container.dataset.points = String(data[0].length);
    this.container.dataset.max = String(Number.isFinite(max) ? max : 0);
    if (this.plot === null) this.fit();
    else this.plot.setData(data);
  }

  fit() {
    const width = Math.floor(this.container.clientWidth);
    if (width <= 0 || width === this.width) return;
    this.width = width;
    if (this.plot === null) this.plot = new uPlot(this.uplotOptions(width), this.data, this.container);
    else this.plot.setSize({ width, height: CHART_HEIGHT });
  }

  uplotOptions(width) {
    const fg = cssVar('--fg-muted', '#555');
    const grid = cssVar('--grid', '#ddd');
    const scales = { x: { time: true } };
    for (const [name, s] of Object.entries(this.options.scales ?? { y: { from0: true } })) {
      scales[name] = s.from0 ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } : { auto: true };
    }
    const axis = (extra) => ({ stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, ...extra });
    const axes = [axis({}), ...(this.options.axes ?? [{ scale: 'y' }]).map((a) => axis({ scale: a.scale, side: a.side ?? 3, size: 64, ...(a.side === 1 ? { grid: { show: false } } : {}) }))];
    return {
      width,
      height: CHART_HEIGHT,
      scales,
      axes,
      series: [
        {},
        ...this.series.map((s, i) => ({
          label: s.label,
          scale: s.scale ?? 'y',
          stroke: s.color ?? COLORS[i % COLORS.length],
          width: 2,
          dash: s.dash ?? DASHES[i % DASHES.length],
          value: (_u, v) => (v === null || v === undefined ? '–' : (s.format ?? String)(v)),
        })),
      ],
      ...(this.options.band ? { bands: [{ series: this.options.band, fill: cssVar('--band', 'rgba(0, 114, 178, 0.15)') }] } : {}),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
  }
}
