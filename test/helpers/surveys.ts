import { type SurveyEntry } from '../../indexer/survey-series.js';

/** A survey-series entry of a 1,700-node run sweep (indexer/survey-series.ts), with a Sybil region when `sybil`. */
export function survey(at: number, sweep: number, sybil: boolean): SurveyEntry {
  return {
    at,
    source: { kind: 'run', sweep },
    size: { estimate: 1_590 + sweep, low: 1_529, high: 1_650 + sweep },
    census: {
      nodes: 1_700,
      answered: 1_590,
      responseRate: 0.935294,
      withVersion: 1_590,
      versions: [{ client: 'DS', version: '0.1', count: 1_590, share: 1 }],
      otherVersions: { versions: 0, count: 0, share: 0 },
      bep51: { supported: 1_272, unsupported: 318, unknown: 110, share: 0.8 },
      bep42Share: 1,
      rtt: { samples: 1_590, p50: 3, p90: 9 },
    },
    churn: sweep === 1 ? null : { before: 1_590, after: 1_590, left: 2, joined: 2, leftShare: 0.001258, joinedShare: 0.001258 },
    sybilRegions: sybil ? [{ prefix: 'abcd', prefixBits: 16, startId: 'abcd' + '0'.repeat(36), endId: 'abcd' + 'f'.repeat(36), nodes: 40, expected: 0.02, log10PValue: -90.1, distinctSlash24: 1 }] : [],
    sybilRegionsFound: sybil ? 1 : 0,
  };
}
