import { h } from './dom.js';
import { formatCompact, formatInt } from './format.js';

const HEX = '0123456789abcdef';
/** Shades of the scale (CSS classes level-1 … level-LEVELS); level-0 (hatched) is "no known node". */
const LEVELS = 5;

/** The share of the busiest cell a count falls in: 1..LEVELS, 0 for none. */
function levelOf(count, max) {
  return count <= 0 || max <= 0 ? 0 : Math.min(LEVELS, Math.ceil((count / max) * LEVELS));
}

/** The counts that fall in a level, [lo, hi], or null when none can (small maxima). */
function levelRange(level, max) {
  const lo = Math.floor((max * (level - 1)) / LEVELS) + 1;
  const hi = Math.floor((max * level) / LEVELS);
  return lo <= hi ? [lo, hi] : null;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function isCounts(value, length) {
  return Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
}

/**
 * Coverage of the ID space as a 16 × 16 grid over the 8-bit ID prefixes (row: first hex digit,
 * column: second). Colour is never the only cue: each cell shows its count as text and has a
 * title, empty cells are hatched, cells where some known nodes did not answer have a dashed
 * outline, and the legend gives each shade's range in numbers.
 */
export class CoverageHeatmap {
  constructor(grid, legend, summary) {
    this.grid = grid;
    this.legend = legend;
    this.summary = summary;
    this.cells = [];
    grid.append(h('span', { class: 'hm-head', 'aria-hidden': 'true' }));
    for (const digit of HEX) grid.append(h('span', { class: 'hm-head', 'aria-hidden': 'true', text: digit }));
    for (let row = 0; row < 16; row++) {
      grid.append(h('span', { class: 'hm-head', 'aria-hidden': 'true', text: HEX[row] }));
      for (let col = 0; col < 16; col++) {
        const cell = h('span', { class: 'hm-cell level-0', title: `prefix ${HEX[row]}${HEX[col]}: no data yet` });
        this.cells.push(cell);
        grid.append(cell);
      }
    }
  }

  /** coverage: live.coverage from /api/stats ({ bits: 8, known[256], answered[256] }) or null. */
  update(coverage) {
    const cells = this.cells.length;
    if (coverage === null || typeof coverage !== 'object' || coverage.bits !== 8 || !isCounts(coverage.known, cells) || !isCounts(coverage.answered, cells)) {
      this.summary.textContent = 'No coverage figures yet (they come from the running crawler).';
      return;
    }
    const { known, answered } = coverage;
    const max = Math.max(...known);
    let nonzero = 0;
    known.forEach((count, i) => {
      const cell = this.cells[i];
      const prefix = i.toString(16).padStart(2, '0');
      const answeredHere = answered[i];
      if (count > 0) nonzero++;
      cell.textContent = count > 0 ? formatCompact(count) : '';
      cell.title = `prefix ${prefix}: ${formatInt(count)} known, ${formatInt(answeredHere)} answered`;
      cell.className = `hm-cell level-${levelOf(count, max)}${answeredHere < count ? ' partial' : ''}`;
      cell.dataset.known = String(count);
    });
    this.grid.dataset.nonzero = String(nonzero);
    this.grid.dataset.max = String(max);
    const text = `${nonzero} of ${cells} prefixes have known nodes; per prefix: fewest ${formatInt(Math.min(...known))}, median ${formatInt(median(known))}, most ${formatInt(max)}. ${formatInt(answered.reduce((a, b) => a + b, 0))} of ${formatInt(known.reduce((a, b) => a + b, 0))} known nodes answered.`;
    this.grid.setAttribute('aria-label', `ID space coverage: ${text}`);
    this.summary.textContent = text;
    this.renderLegend(max);
  }

  renderLegend(max) {
    const items = [h('li', {}, [h('span', { class: 'swatch level-0', 'aria-hidden': 'true' }), 'none'])];
    for (let level = 1; level <= LEVELS; level++) {
      const range = levelRange(level, max);
      if (range === null) continue;
      const [lo, hi] = range;
      items.push(h('li', {}, [h('span', { class: `swatch level-${level}`, 'aria-hidden': 'true' }), lo === hi ? formatInt(lo) : `${formatInt(lo)}–${formatInt(hi)}`]));
    }
    items.push(h('li', {}, [h('span', { class: 'swatch level-1 partial', 'aria-hidden': 'true' }), 'dashed: some did not answer']));
    this.legend.replaceChildren(h('span', { class: 'legend-title', text: 'Known nodes per prefix:' }), h('ul', {}, items));
  }
}
