import { renderBars } from './bar-list.js';
import { CENSUS_TOP_VERSIONS } from './config.js';
import { byId, showValue } from './dom.js';
import { formatInt } from './format.js';

/** Labels the index uses for nodes without a decodable version (indexer/SCHEMA.md). */
const SPECIAL = { none: 'no version sent', other: 'other (beyond the label cap)', invalid: 'invalid version' };

function versionName(v) {
  if (typeof v.client === 'string') return `${v.client} ${typeof v.version === 'string' ? v.version : ''}`.trim();
  return SPECIAL[v.label] ?? String(v.label);
}

function count(n) {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/** yes / no / not known (nodes never asked, or not yet): three bars with their own fill patterns. */
function flagBars(list, flag, nodes) {
  const yes = count(flag?.yes);
  const no = count(flag?.no);
  renderBars(list, [
    { label: 'yes', value: yes, kind: 'yes' },
    { label: 'no', value: no, kind: 'no' },
    // HyperLogLog counts can disagree by a node or two: never below 0.
    { label: 'not known', value: Math.max(0, nodes - yes - no), kind: 'unknown' },
  ]);
}

/** Nodes seen per address family (a dual-stack node is in both): two bars. */
function familyBars(list, families) {
  renderBars(list, [
    { label: 'IPv4', value: count(families?.ipv4) },
    { label: 'IPv6', value: count(families?.ipv6) },
  ]);
}

/** /api/nodes/census: client versions (the most common CENSUS_TOP_VERSIONS, then the rest summed), BEP 51, BEP 42 and address families. */
export function renderCensus(census) {
  const nodes = count(census.nodes);
  showValue(byId('c-census'), nodes, formatInt(nodes));
  const versions = (Array.isArray(census.versions) ? census.versions : []).map((v) => ({ label: versionName(v), value: count(v.nodes), title: `v = ${String(v.label)}` }));
  const shown = versions.slice(0, CENSUS_TOP_VERSIONS);
  const rest = versions.slice(CENSUS_TOP_VERSIONS);
  if (rest.length > 0) shown.push({ label: `${rest.length} other versions`, value: rest.reduce((sum, v) => sum + v.value, 0), kind: 'unknown' });
  renderBars(byId('census-versions'), shown);
  flagBars(byId('census-bep51'), census.bep51, nodes);
  flagBars(byId('census-bep42'), census.bep42, nodes);
  familyBars(byId('census-families'), census.families);
}
