import { getJson } from './api.js';
import { TABLE_ROWS } from './config.js';
import { h } from './dom.js';
import { formatAgo, formatInt, formatTime } from './format.js';

const HEX40 = /^[0-9a-f]{40}$/;

/**
 * What the infohash search endpoint accepts (it checks again): a hex prefix of 4+ characters,
 * a full infohash (40 hex, 32 base32) or a magnet link. Anything else with a word of 2+
 * letters or digits is a search of torrent names (/api/search).
 */
export function isSearchable(text) {
  return /^[0-9a-f]{4,40}$/i.test(text) || /^[a-z2-7]{32}$/i.test(text) || /^magnet:\?/i.test(text);
}

export function isNameSearch(text) {
  return !isSearchable(text) && /[\p{L}\p{N}]{2}/u.test(text);
}

function timeCell(ms, now, className) {
  return h('td', { class: className }, h('time', { datetime: new Date(ms).toISOString(), title: formatTime(ms), text: formatAgo(ms, now) }));
}

/**
 * The recent / popular infohash table and its search box. Rows are focusable (Tab, arrow keys,
 * Home, End) and Enter, Space or a click opens the infohash's page.
 */
export class InfohashTable {
  /** el: { rows, status, recent, popular, seeders, form, input, clear }; open(infohash) shows its page. */
  constructor(el, open) {
    this.el = el;
    this.open = open;
    this.mode = { kind: 'list', sort: 'recent' };
    el.rows.addEventListener('keydown', (e) => this.onKey(e));
    el.rows.addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-infohash]');
      // The infohash link navigates by itself (and opens a new tab when asked to).
      if (row !== null && e.target.closest('a') === null) open(row.dataset.infohash);
    });
    el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.search(el.input.value).catch((err) => this.showStatus(err.message));
    });
    el.clear.addEventListener('click', () => {
      el.input.value = '';
      this.setMode({ kind: 'list', sort: this.listSort() });
    });
    el.recent.addEventListener('click', () => this.setMode({ kind: 'list', sort: 'recent' }));
    el.popular.addEventListener('click', () => this.setMode({ kind: 'list', sort: 'popular' }));
    el.seeders.addEventListener('click', () => this.setMode({ kind: 'list', sort: 'seeders' }));
  }

  listSort() {
    for (const sort of ['popular', 'seeders']) if (this.el[sort].getAttribute('aria-pressed') === 'true') return sort;
    return 'recent';
  }

  setMode(mode) {
    this.mode = mode;
    this.el.clear.hidden = mode.kind !== 'search';
    if (mode.kind === 'list') {
      this.el.recent.setAttribute('aria-pressed', String(mode.sort === 'recent'));
      this.el.popular.setAttribute('aria-pressed', String(mode.sort === 'popular'));
      this.el.seeders.setAttribute('aria-pressed', String(mode.sort === 'seeders'));
    }
    void this.load().catch((err) => this.showStatus(err.message));
  }

  /** For the poller: a list follows the index; a search result stays as it was. */
  async refresh() {
    if (this.mode.kind === 'list') await this.load();
  }

  async search(text) {
    const q = text.trim();
    if (q === '') return this.setMode({ kind: 'list', sort: this.listSort() });
    if (isNameSearch(q)) return this.setMode({ kind: 'names', q });
    if (!isSearchable(q)) {
      this.showStatus('Enter words of a torrent name, at least 4 hex characters of an infohash, a whole infohash or a magnet link.');
      return;
    }
    this.setMode({ kind: 'search', q });
  }

  async load() {
    const mode = this.mode;
    const body =
      mode.kind === 'list'
        ? await getJson(`/api/infohashes?sort=${mode.sort}&limit=${TABLE_ROWS}`)
        : mode.kind === 'names'
          ? await getJson(`/api/search?q=${encodeURIComponent(mode.q)}&limit=${TABLE_ROWS}`)
          : await getJson(`/api/search/infohash?q=${encodeURIComponent(mode.q)}&limit=${TABLE_ROWS}`);
    if (mode !== this.mode) return;
    if (mode.kind === 'names') {
      const hits = Array.isArray(body.items) ? body.items.filter((item) => HEX40.test(item?.infohash)) : [];
      this.render(hits.map((hit) => ({ infohash: hit.infohash, name: String(hit.name ?? ''), lastSeen: hit.lastSeen, peerCount: hit.peers })), 'No torrent name has all these words.');
      this.showStatus(`${hits.length} torrent${hits.length === 1 ? '' : 's'} named with every word of "${mode.q}", most peers first.`);
      return;
    }
    const items = Array.isArray(body.items) ? body.items.filter((item) => HEX40.test(item?.infohash)) : [];
    this.render(items, mode.kind === 'list' ? 'No infohashes in the index yet.' : 'No infohash matches.');
    if (mode.kind === 'list') {
      const order = { recent: 'most recently seen', popular: 'with the most peers', seeders: 'with the most seeders (BEP 33 estimates)' }[mode.sort];
      this.showStatus(`${items.length} ${order}, updated ${new Date().toLocaleTimeString()}.`);
    } else if (body.match === 'exact') {
      if (items.length === 1) this.open(items[0].infohash);
      else this.showStatus(`Infohash ${body.query} is not in the index.`);
    } else {
      const scope = `in the whole index (${formatInt(body.scanned)} records read)`;
      this.showStatus(`${items.length}${body.more ? '+' : ''} match${items.length === 1 ? '' : 'es'} for prefix ${body.query} ${scope}${body.more ? ` (the first ${items.length} shown)` : ''}.`);
    }
  }

  showStatus(text) {
    this.el.status.textContent = text;
  }

  render(items, emptyText) {
    const focused = document.activeElement?.closest?.('tr[data-infohash]')?.dataset.infohash;
    const now = Date.now();
    const rows = items.map((item) =>
      h('tr', { tabindex: '0', dataset: { infohash: item.infohash } }, [
        h('td', { class: 'col-ih' }, [
          // A name comes from the network: text only, with the infohash under it.
          ...(item.name ? [h('span', { class: 'torrent-name', text: item.name })] : []),
          h('a', { class: 'infohash', href: `#/infohash/${item.infohash}`, tabindex: '-1', text: item.infohash }),
        ]),
        timeCell(item.lastSeen, now, 'col-time'),
        item.firstSeen !== undefined ? timeCell(item.firstSeen, now, 'col-time wide-only') : h('td', { class: 'col-time wide-only', text: '–' }),
        h('td', { class: 'col-num wide-only', text: formatInt(item.seen) }),
        h('td', { class: 'col-num', text: formatInt(item.peerCount) }),
      ]),
    );
    if (rows.length === 0) rows.push(h('tr', {}, h('td', { colspan: '5', class: 'empty', text: emptyText })));
    this.el.rows.replaceChildren(...rows);
    this.el.rows.dataset.count = String(items.length);
    // A refresh keeps the keyboard where it was.
    if (focused !== undefined) this.focusRow(focused);
  }

  /** Focuses the row of `infohash` when it is shown; returns whether it was. */
  focusRow(infohash) {
    const row = [...this.el.rows.querySelectorAll('tr[data-infohash]')].find((r) => r.dataset.infohash === infohash);
    row?.focus({ preventScroll: true });
    return row !== undefined;
  }

  onKey(e) {
    const row = e.target.closest('tr[data-infohash]');
    if (row === null) return;
    const rows = [...this.el.rows.querySelectorAll('tr[data-infohash]')];
    const next = { ArrowDown: row.nextElementSibling, ArrowUp: row.previousElementSibling, Home: rows[0], End: rows.at(-1) }[e.key];
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.open(row.dataset.infohash);
    } else if (next !== undefined) {
      e.preventDefault();
      next?.focus();
    }
  }
}
