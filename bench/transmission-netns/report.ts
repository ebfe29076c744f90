import { CRAWLER_PORT, PROBE_PORT, type PacketRow, type ProbeResult, type TransmissionNetnsResult } from './shared.js';

/** What issue 12 expects of jech/dht, checked against what happened. */
export function verdict(r: Omit<TransmissionNetnsResult, 'verdict'>): Array<{ check: string; ok: boolean }> {
  const probe = (name: string): ProbeResult | undefined => r.probes.find((p) => p.name === name);
  const tr = r.crawl.transmission;
  return [
    { check: 'ping answered, with the ID from its dht.dat', ok: probe('ping')?.outcome === 'reply' && probe('ping')?.id === r.transmissionId },
    { check: 'find_node answered with nodes', ok: probe('find_node')?.outcome === 'reply' && (probe('find_node')?.nodes ?? 0) > 0 },
    { check: 'get_peers answered with an 8-byte token', ok: probe('get_peers')?.outcome === 'reply' && probe('get_peers')?.tokenBytes === 8 },
    { check: 'sample_infohashes: silence', ok: probe('sample_infohashes')?.outcome === 'silent' },
    { check: 'unknown method: silence', ok: probe('unknown method')?.outcome === 'silent' },
    { check: 'ping without id: silence', ok: probe('ping without id')?.outcome === 'silent' },
    { check: 'ping answered again after the silent ones', ok: probe('ping (after)')?.outcome === 'reply' },
    { check: 'crawler: Transmission answered find_node after the silent sample (live)', ok: tr.known && tr.answered && !tr.failed && (r.crawl.queriesToTransmission.find_node ?? 0) >= 1 },
    { check: 'crawler: Transmission marked without BEP 51', ok: tr.noBep51 && !tr.bep51 },
    { check: 'crawler: the "no v" client counted without BEP 51', ok: r.crawl.clientBep51.some((c) => c.version === null && c.unsupported >= 1) },
    { check: 'no datagram of ours refused by the guard', ok: r.blocked.length === 0 },
    { check: 'Transmission logged no address outside the namespaces', ok: r.foreignAddressesInLog.length === 0 },
  ];
}

// ---- the report ------------------------------------------------------------------------------

function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function report(r: TransmissionNetnsResult): string {
  const probeRows = r.probes.map((p) => [
    p.name,
    p.outcome === 'silent' ? '**silent**' : p.outcome,
    p.ms === undefined ? '' : `${p.ms} ms`,
    [p.detail, p.nodes !== undefined ? `${p.nodes} nodes` : '', p.tokenBytes !== undefined ? `token ${p.tokenBytes} B` : '', p.v !== undefined ? `v ${p.v ?? 'none'}` : '', p.ip !== undefined ? `ip ${p.ip ? 'yes' : 'none'}` : '']
      .filter((s) => s !== '')
      .join('; '),
  ]);
  // Seeds folded into one row per kind and destination; the result's `packets` has every one.
  const who = (to: string): string => {
    if (to === r.transmissionAddress) return `Transmission (${to})`;
    const port = Number(to.split(':')[1]);
    return port === PROBE_PORT ? 'our prober' : port === CRAWLER_PORT ? 'our crawler node' : 'our seeds';
  };
  const folded = new Map<string, PacketRow>();
  for (const p of r.packets) {
    const from = p.from.startsWith('seed ') ? 'seeds' : p.from;
    const to = who(p.to);
    const key = `${from}|${to}|${p.kind}`;
    const row = folded.get(key) ?? { from, to, kind: p.kind, count: 0, bytes: 0 };
    row.count += p.count;
    row.bytes += p.bytes;
    folded.set(key, row);
  }
  const packetRows = [...folded.values()]
    .sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.kind.localeCompare(b.kind))
    .map((p) => [p.from, p.to, p.kind, p.count, p.bytes]);
  const toTransmission = r.packets.filter((p) => p.to === r.transmissionAddress).reduce((n, p) => n + p.count, 0);
  const tr = r.crawl.transmission;
  const lines = [
    `${r.version}; namespaces ${r.namespaces.join(', ')}; Transmission at ${r.transmissionAddress}, our side at ${r.ourAddress} (${r.subnet}, no default route)`,
    `Transmission answered a ping ${r.firstPingMs} ms after it started, and listed our seed nodes in find_node after ${r.firstNodesMs} ms${r.emptyTableReplies.length > 0 ? ` (before that, with an empty table, find_node got: ${r.emptyTableReplies[0]} — no \`nodes\` key at all)` : ''}.`,
    '',
    'Probes (hand-built KRPC from our prober; no torrent loaded yet):',
    '',
    table(['query', 'outcome', 'time', 'reply'], probeRows),
    '',
    'Crawl (our Crawler, Transmission as its only bootstrap contact):',
    '',
    table(
      ['sweep', 'known', 'answered', 'failed', 'BEP 51', 'no BEP 51', 'queries', 'samples', 'time'],
      r.crawl.sweeps.map((s) => [s.sweep, s.known, s.answeredThisSweep, s.failedThisSweep, s.bep51, s.noBep51, s.queriesSent, s.samplesAsked, `${s.ms} ms`]),
    ),
    '',
    `Transmission in the crawl: ${tr.answered ? 'live' : 'NOT live'}${tr.failed ? ' (failed this sweep)' : ''}, ${tr.noBep51 ? 'no BEP 51' : tr.bep51 ? 'BEP 51' : 'BEP 51 unknown'}, v ${tr.version ?? 'none'}, RTT ${tr.rttMs} ms; ` +
      `crawler's queries to it: ${Object.entries(r.crawl.queriesToTransmission).map(([m, n]) => `${m} ×${n}`).join(', ')}; ` +
      `our seeds learned through it: ${r.crawl.seedsLearned} (${r.crawl.seedsAnswered} answered).`,
    `Client tally: ${r.crawl.clientBep51.map((c) => `v ${c.version ?? 'none'}: ${c.supported} with, ${c.unsupported} without BEP 51${c.neverSupports ? ' (find_node first from now on)' : ''}`).join('; ')}.`,
    `Magnet ${r.lookup.infoHash}: ${r.lookup.getPeersAtOurNodes > 0 ? `Transmission looked it up at our nodes ${r.lookup.firstAtMs} ms after it was added (${r.lookup.getPeersAtOurNodes} get_peers, ${r.lookup.announcesAtOurNodes} announce_peer)` : `no get_peers for it at our nodes within ${r.lookup.waitedMs} ms`}.`,
    `What Transmission asked our nodes: ${Object.entries(r.queriesFromTransmission).map(([m, n]) => `${m} ×${n}`).join(', ') || 'nothing'}.`,
    `Transmission's own DHT log: received ${Object.entries(r.transmissionLog.received).map(([m, n]) => `${m} ×${n}`).join(', ')}; ` +
      `dropped as unparseable: ${Object.entries(r.transmissionLog.unparseable).map(([m, n]) => `${m} ×${n}`).join(', ') || 'none'}; ` +
      `sent: ${Object.entries(r.transmissionLog.sent).map(([m, n]) => `${m} ×${n}`).join(', ')}.`,
    '',
    `Packets our side sent: ${r.packets.reduce((n, p) => n + p.count, 0)}, ${toTransmission} of them to Transmission; every one to ${r.destinations.join(' or ')}; ` +
      `refused by the guard: ${r.blocked.length === 0 ? 'none' : JSON.stringify(r.blocked)}.`,
    '',
    table(['from', 'to', 'kind', 'packets', 'bytes'], packetRows),
    '',
    table(['check', ''], r.verdict.map((v) => [v.check, v.ok ? 'ok' : '**FAILED**'])),
    '',
    `Time: ${(r.timings.totalMs / 1000).toFixed(1)} s in all (namespaces ${r.timings.setupMs} ms, our side's start ${r.timings.innerStartMs} ms, ` +
      `Transmission start to result ${r.timings.runMs} ms, cleanup ${r.timings.cleanupMs} ms).`,
  ];
  return lines.join('\n');
}
