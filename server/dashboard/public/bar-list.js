import { h } from './dom.js';
import { formatInt, formatPercent } from './format.js';

/**
 * A horizontal bar chart as a list. Each bar has its label and its value as text (the number
 * and its share of `total`), so the bar length and colour only repeat what the text says.
 * items: [{ label, value, title?, kind? }]; `kind` picks a fill pattern (CSS class kind-<kind>).
 * Labels may come from the network: they go in as text.
 */
export function renderBars(list, items, total = items.reduce((sum, item) => sum + item.value, 0)) {
  const max = Math.max(1, ...items.map((item) => item.value));
  list.replaceChildren(
    ...items.map((item) => {
      const fill = h('span', { class: `bar-fill${item.kind ? ` kind-${item.kind}` : ''}` });
      fill.style.width = `${(100 * Math.max(0, item.value)) / max}%`;
      return h('li', { dataset: { value: String(item.value) } }, [
        h('span', { class: 'bar-label', text: item.label, title: item.title ?? item.label }),
        h('span', { class: 'bar-track', 'aria-hidden': 'true' }, fill),
        h('span', { class: 'bar-value', text: `${formatInt(item.value)} (${formatPercent(item.value, total)})` }),
      ]);
    }),
  );
  list.dataset.count = String(items.length);
}
