import { getJson } from './api.js';
import { INFOHASH_POLL_MS, PEERS_PAGE } from './config.js';
import { byId, h, showValue } from './dom.js';
import { formatAgo, formatBytes, formatInt, formatTime } from './format.js';
import { Poller } from './poller.js';

const HEX40 = /^[0-9a-f]{40}$/;

function peerRow(peer, now) {
  return h('tr', {}, [
    h('td', { class: 'address', text: String(peer.address) }),
    h('td', {}, h('time', { datetime: new Date(peer.lastSeen).toISOString(), title: formatTime(peer.lastSeen), text: formatAgo(peer.lastSeen, now) })),
  ]);
}

/** A time as "<UTC time> (<n> ago)", with the raw ms in data-value. */
function showTime(el, ms, now) {
  showValue(el, ms, `${formatTime(ms)} (${formatAgo(ms, now)})`);
}

/**
 * One infohash (`#/infohash/<hex>`): first and last seen, times seen, reporting nodes and the
 * live peers, refreshed while shown. "Show more peers" pages through /peers.
 */
export class InfohashPage {
  /** onResult(error | null) after every refresh (the connection status). */
  constructor(onResult) {
    this.hex = null;
    this.onResult = onResult;
    this.heading = byId('ih-heading');
    this.message = byId('ih-message');
    this.details = byId('ih-details');
    this.peers = byId('ih-peers');
    this.more = byId('ih-more-peers');
    /** The cursor of the next /peers page once the user pages; refreshes then leave the list alone. */
    this.peerCursor = null;
    this.paging = false;
    this.poller = new Poller(() => this.load(), INFOHASH_POLL_MS, onResult);
    this.more.addEventListener('click', () => void this.morePeers().catch((err) => this.say(err.message)));
  }

  show(hex) {
    this.poller.stop();
    this.hex = hex;
    this.paging = false;
    this.peerCursor = null;
    this.details.hidden = true;
    this.heading.textContent = 'Infohash';
    if (!HEX40.test(hex)) {
      this.say('That is not an infohash (40 hex characters).');
      return;
    }
    this.say('Loading…');
    this.poller.start();
  }

  hide() {
    this.poller.stop();
    this.hex = null;
    // A failure of this page says nothing about the overview's connection.
    this.onResult(null);
  }

  say(text) {
    this.message.hidden = false;
    this.message.textContent = text;
  }

  async load() {
    const hex = this.hex;
    let record;
    try {
      record = await getJson(`/api/infohashes/${hex}`);
    } catch (err) {
      if (err.status !== 404 || hex !== this.hex) throw err;
      this.details.hidden = true;
      this.say(`${hex} is not in the index (yet): it has not been seen by the crawler.`);
      return;
    }
    if (hex !== this.hex) return;
    const now = Date.now();
    this.message.hidden = true;
    this.details.hidden = false;
    this.heading.textContent = `Infohash ${hex.slice(0, 8)}…`;
    byId('ih-hex').textContent = hex;
    byId('ih-magnet').href = `magnet:?xt=urn:btih:${hex}`;
    showTime(byId('ih-first'), record.firstSeen, now);
    showTime(byId('ih-last'), record.lastSeen, now);
    showValue(byId('ih-seen'), record.seen, formatInt(record.seen));
    showValue(byId('ih-sources'), record.sources, formatInt(record.sources));
    showValue(byId('ih-peer-count'), record.peerCount, formatInt(record.peerCount));
    const swarm = record.swarm;
    // The estimate's age matters: a scrape is a snapshot, taken when the peer lookup ran.
    if (swarm && Number.isFinite(swarm.seeders) && Number.isFinite(swarm.leechers)) {
      showValue(byId('ih-swarm'), swarm.seeders, `${formatInt(swarm.seeders)} / ${formatInt(swarm.leechers)} (${formatAgo(swarm.at, now)})`);
    } else showValue(byId('ih-swarm'), 0, 'not scraped yet');
    this.renderMetadata(record.metadata ?? null, now);
    if (!this.paging) {
      const peers = Array.isArray(record.peers) ? record.peers : [];
      this.renderPeers(peers, now, false);
      this.more.hidden = record.peerCount <= peers.length;
    }
  }

  async morePeers() {
    const hex = this.hex;
    const first = !this.paging;
    const cursor = first ? '' : `&cursor=${encodeURIComponent(this.peerCursor)}`;
    const page = await getJson(`/api/infohashes/${hex}/peers?limit=${PEERS_PAGE}${cursor}`);
    if (hex !== this.hex) return;
    this.paging = true;
    this.peerCursor = page.nextCursor;
    this.renderPeers(Array.isArray(page.peers) ? page.peers : [], Date.now(), !first);
    this.more.hidden = page.nextCursor === null;
  }

  /** Name, size and first files once fetched (BEP 9). Strings from the network: text only. */
  renderMetadata(meta, now) {
    const box = byId('ih-metadata');
    const missing = byId('ih-no-metadata');
    const ok = meta !== null && typeof meta === 'object' && typeof meta.name?.display === 'string';
    box.hidden = !ok;
    missing.hidden = ok;
    if (!ok) return;
    this.heading.textContent = meta.name.display.length > 60 ? `${meta.name.display.slice(0, 60)}…` : meta.name.display;
    byId('ih-name').textContent = meta.name.display;
    showValue(byId('ih-size'), meta.totalSize, `${formatBytes(meta.totalSize)} (${formatInt(meta.totalSize)} bytes)`);
    showValue(byId('ih-file-count'), meta.fileCount, formatInt(meta.fileCount));
    showTime(byId('ih-fetched'), meta.fetchedAt, now);
    const files = Array.isArray(meta.files) ? meta.files : [];
    const rows = files.map((f) => h('tr', {}, [h('td', { class: 'path', text: String(f.path) }), h('td', { class: 'col-num', text: formatBytes(f.size) })]));
    if (meta.fileCount > files.length) rows.push(h('tr', {}, h('td', { colspan: '2', class: 'empty', text: `… and ${formatInt(meta.fileCount - files.length)} more` })));
    const tbody = byId('ih-files');
    tbody.replaceChildren(...rows);
    tbody.dataset.count = String(files.length);
  }

  renderPeers(peers, now, append) {
    const rows = peers.map((peer) => peerRow(peer, now));
    if (append) this.peers.append(...rows);
    else this.peers.replaceChildren(...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: '2', class: 'empty', text: 'No live peers known.' }))]));
    this.peers.dataset.count = String(this.peers.querySelectorAll('td.address').length);
  }
}
