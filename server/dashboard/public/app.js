// The dhtscope dashboard: the overview (live figures polled from /api/stats and
// /api/nodes/census, the survey series from /api/surveys, the infohash table) and one page per infohash (#/infohash/<hex>).
import { getJson } from './api.js';
import { renderCensus } from './census.js';
import { CENSUS_POLL_MS, STATS_MINUTES, STATS_POLL_MS, SURVEYS_LIMIT, SURVEYS_POLL_MS, TABLE_POLL_MS } from './config.js';
import { byId } from './dom.js';
import { InfohashPage } from './infohash-page.js';
import { InfohashTable } from './infohash-table.js';
import { Overview } from './overview.js';
import { Poller } from './poller.js';
import { SurveysPanel } from './surveys.js';

/** The connection status line: the last error of any poller, else when data last arrived. */
const failures = new Map();
function reporter(name) {
  return (err) => {
    const wasFailing = failures.size > 0;
    if (err === null) failures.delete(name);
    else failures.set(name, err);
    const status = byId('status');
    if (failures.size > 0) {
      const first = failures.values().next().value;
      status.dataset.state = 'error';
      status.textContent = `Connection problem: ${first.message}. Retrying…`;
    } else {
      status.dataset.state = 'ok';
      status.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
    }
    // Announced to screen readers only when the state changes, not on every update.
    if (wasFailing !== failures.size > 0) byId('status-announce').textContent = failures.size > 0 ? status.textContent : 'Connection restored.';
  };
}

const overview = new Overview();
const statsPoller = new Poller(async () => overview.showStats(await getJson(`/api/stats?minutes=${STATS_MINUTES}`)), STATS_POLL_MS, reporter('stats'));
const censusPoller = new Poller(async () => renderCensus(await getJson('/api/nodes/census')), CENSUS_POLL_MS, reporter('census'));
const surveys = new SurveysPanel();
const surveysPoller = new Poller(async () => surveys.show(await getJson(`/api/surveys?limit=${SURVEYS_LIMIT}`)), SURVEYS_POLL_MS, reporter('surveys'));

const openInfohash = (hex) => {
  location.hash = `#/infohash/${hex}`;
};
const table = new InfohashTable(
  {
    rows: byId('infohash-rows'),
    status: byId('table-status'),
    recent: byId('sort-recent'),
    popular: byId('sort-popular'),
    seeders: byId('sort-seeders'),
    form: byId('search'),
    input: byId('search-input'),
    clear: byId('search-clear'),
  },
  openInfohash,
);
const tablePoller = new Poller(() => table.refresh(), TABLE_POLL_MS, reporter('table'));
const page = new InfohashPage(reporter('infohash'));

/** The infohash last opened, so going back puts the keyboard on its row again. */
let lastOpened = null;

function route() {
  const match = /^#\/infohash\/([^/?#]*)$/.exec(location.hash);
  const overviewView = byId('view-overview');
  const infohashView = byId('view-infohash');
  if (match !== null) {
    const hex = match[1].toLowerCase();
    lastOpened = hex;
    overviewView.hidden = true;
    infohashView.hidden = false;
    tablePoller.stop();
    page.show(hex);
    document.title = `${hex.slice(0, 8)}… · dhtscope`;
    byId('ih-heading').focus();
    return;
  }
  page.hide();
  infohashView.hidden = true;
  overviewView.hidden = false;
  document.title = 'dhtscope';
  tablePoller.start();
  if (lastOpened !== null && !table.focusRow(lastOpened)) byId('infohashes-heading').focus();
  lastOpened = null;
}

window.addEventListener('hashchange', route);
statsPoller.start();
censusPoller.start();
surveysPoller.start();
route();
