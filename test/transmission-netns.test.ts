import test from 'ava';
import { preflight, runTransmissionNetns } from '../bench/transmission-netns.js';

/**
 * A real Transmission (jech/dht, Debian's transmission-daemon) in a network namespace of its
 * own, since jech/dht never answers on loopback; our prober, seed nodes and crawler in a
 * second one (bench/transmission-netns.ts builds and removes both). The judge is what
 * Transmission did on the wire and what its own DHT log says it received, not what our
 * crawler believes. Needs root and transmission-daemon (scripts/setup-debian.sh installs it);
 * without them the test fails and says what is missing, it is never skipped.
 */
test('Transmission answers find_node, ignores sample_infohashes, and our crawler counts it live without BEP 51', async (t) => {
  t.timeout(75_000);
  const { problems } = await preflight();
  if (problems.length > 0) {
    t.fail(`the Transmission interop test cannot run here:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return;
  }
  const lines: string[] = [];
  const r = await runTransmissionNetns({ timeoutMs: 60_000, log: (line) => lines.push(line) });
  const probe = (name: string) => r.probes.find((p) => p.name === name);
  t.log(`${r.version}; ${(r.timings.totalMs / 1000).toFixed(1)} s; ${lines.join('; ')}`);

  // On the wire: every BEP 5 query answered, by the node whose ID we wrote into its dht.dat.
  t.is(probe('ping')?.outcome, 'reply');
  t.is(probe('ping')?.id, r.transmissionId);
  t.is(probe('find_node')?.outcome, 'reply');
  t.true((probe('find_node')?.nodes ?? 0) > 0, 'find_node lists our seed nodes');
  t.is(probe('get_peers')?.tokenBytes, 8);
  t.is(probe('get_peers')?.v, null, 'jech/dht in Transmission 3.00 sends no v');
  // Silent to BEP 51, to an unknown method and to an id-less ping; alive all the same.
  t.is(probe('sample_infohashes')?.outcome, 'silent');
  t.is(probe('unknown method')?.outcome, 'silent');
  t.is(probe('ping without id')?.outcome, 'silent');
  t.is(probe('ping (after)')?.outcome, 'reply');
  // Its own log: it received our sample_infohashes queries and dropped them as unparseable.
  t.true((r.transmissionLog.unparseable.sample_infohashes ?? 0) >= 2, JSON.stringify(r.transmissionLog));

  // The crawl: bootstrapped from Transmission alone, found our seeds through it, and after the
  // silent sample asked find_node, which Transmission answered: live, without BEP 51.
  const tr = r.crawl.transmission;
  t.true(tr.known && tr.answered && !tr.failed, JSON.stringify(tr));
  t.true(tr.noBep51 && !tr.bep51);
  t.true((r.crawl.queriesToTransmission.sample_infohashes ?? 0) >= 1);
  t.true((r.crawl.queriesToTransmission.find_node ?? 0) >= 2, 'bootstrap find_node, then find_node after the silent sample');
  t.is(r.crawl.sweeps[1]?.failedThisSweep, 0);
  t.true(r.crawl.seedsLearned >= 1);
  t.true(r.crawl.clientBep51.some((c) => c.version === null && c.unsupported >= 1 && c.supported === 0));

  // Nothing left the two namespaces.
  t.deepEqual(r.blocked, []);
  t.deepEqual(
    r.destinations.filter((d) => `${d}:51413` !== r.transmissionAddress && d !== r.ourAddress),
    [],
  );
  t.deepEqual(r.foreignAddressesInLog, []);
  t.deepEqual(
    r.verdict.filter((v) => !v.ok),
    [],
  );
});
