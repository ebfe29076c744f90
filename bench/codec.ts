/**
 * Codec benchmark: bep5/bencode.ts against the npm `bencode` 4.0.1 package, on a corpus of
 * realistic KRPC (BEP 5 / BEP 51) messages. Run from the repository root:
 *
 *   node --import ./scripts/ts-node-register.mjs bench/codec.ts
 *
 * Each operation runs over the whole corpus (every message once per pass). After a warm-up,
 * ROUNDS timed rounds interleave the libraries; the table shows the median ops/s (messages per
 * second). Target: our decode at least 2x bencode's. Always exits 0.
 */
import bencode from 'bencode';
import { decode, encode, type Encodable } from '../bep5/bencode.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 9);
const ROUND_MS = Number(process.env['ROUND_MS'] ?? 250);
const WARMUP_MS = Number(process.env['WARMUP_MS'] ?? 500);

// ---------------------------------------------------------------------------------------------
// Corpus

/** Deterministic bytes (xorshift32) so every run measures the same messages. */
let seed = 0x9e3779b9;
function bytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out[i] = seed & 0xff;
  }
  return out;
}
const id = (): Buffer => bytes(20);
const tid = (n: number): Buffer => bytes(n);
const version = Buffer.from([0x4c, 0x54, 0x02, 0x01]); // "LT" 2.1
const compactNodes = (n: number): Buffer => bytes(26 * n);
const peers = (n: number): Buffer[] => Array.from({ length: n }, () => bytes(6));

const corpus: { name: string; msg: Encodable }[] = [
  { name: 'ping query', msg: { t: tid(2), y: 'q', q: 'ping', a: { id: id() }, v: version } },
  { name: 'find_node query', msg: { t: tid(2), y: 'q', q: 'find_node', a: { id: id(), target: id() }, v: version } },
  { name: 'get_peers query', msg: { t: tid(4), y: 'q', q: 'get_peers', a: { id: id(), info_hash: id() }, v: version } },
  {
    name: 'announce_peer query',
    msg: { t: tid(3), y: 'q', q: 'announce_peer', a: { id: id(), implied_port: 1, info_hash: id(), port: 6881, token: bytes(8) }, v: version },
  },
  { name: 'sample_infohashes query', msg: { t: tid(2), y: 'q', q: 'sample_infohashes', a: { id: id(), target: id() }, v: version } },
  { name: 'ping reply', msg: { t: tid(2), y: 'r', r: { id: id() }, v: version } },
  { name: 'find_node reply (8 nodes, ip)', msg: { ip: bytes(6), t: tid(2), y: 'r', r: { id: id(), nodes: compactNodes(8) }, v: version } },
  { name: 'get_peers reply (50 values)', msg: { ip: bytes(6), t: tid(4), y: 'r', r: { id: id(), token: bytes(20), values: peers(50) }, v: version } },
  { name: 'get_peers reply (nodes)', msg: { t: tid(4), y: 'r', r: { id: id(), nodes: compactNodes(8), token: bytes(20) }, v: version } },
  {
    name: 'sample_infohashes reply (20)',
    msg: { t: tid(2), y: 'r', r: { id: id(), interval: 21_600, nodes: compactNodes(8), num: 1_234, samples: bytes(20 * 20) }, v: version },
  },
  { name: 'error [201]', msg: { t: tid(2), y: 'e', e: [201, 'A Generic Error Ocurred'], v: version } },
];

const encoded = corpus.map((c) => encode(c.msg));
// Both encoders must agree byte for byte, or the comparison means nothing.
for (const [i, c] of corpus.entries()) {
  const theirs = Buffer.from(bencode.encode(c.msg));
  if (!theirs.equals(encoded[i]!)) throw new Error(`encoders disagree on ${c.name}`);
}
const msgs = corpus.map((c) => c.msg);
const totalBytes = encoded.reduce((n, b) => n + b.length, 0);

// ---------------------------------------------------------------------------------------------
// Timing

let sink = 0;
type Op = () => void;
const ops: Record<string, Op> = {
  'ours decode': () => {
    for (const b of encoded) sink ^= (decode(b) as object) === null ? 1 : 0;
  },
  'bencode decode': () => {
    for (const b of encoded) sink ^= (bencode.decode(b) as object) === null ? 1 : 0;
  },
  'ours encode': () => {
    for (const m of msgs) sink ^= encode(m).length;
  },
  'bencode encode': () => {
    for (const m of msgs) sink ^= bencode.encode(m).length;
  },
  'ours encode+decode': () => {
    for (const m of msgs) sink ^= (decode(encode(m)) as object) === null ? 1 : 0;
  },
  'bencode encode+decode': () => {
    for (const m of msgs) sink ^= (bencode.decode(bencode.encode(m)) as object) === null ? 1 : 0;
  },
};

/** Runs `op` (one pass over the corpus) for about `ms` and returns messages per second. */
function rate(op: Op, ms: number): number {
  let passes = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(ms * 1e6));
  let now = t0;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) op();
    passes += 20;
    now = process.hrtime.bigint();
  }
  return (passes * corpus.length) / (Number(now - t0) / 1e9);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

for (const op of Object.values(ops)) rate(op, WARMUP_MS);
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map((k) => [k, [] as number[]]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, op] of Object.entries(ops)) samples[name]!.push(rate(op, ROUND_MS));
}
const med = (name: string): number => median(samples[name]!);

// Per-message decode, for finding where the time goes.
const perMessage = corpus.map((c, i) => {
  const b = encoded[i]!;
  const oursOne: Op = () => {
    for (let k = 0; k < corpus.length; k++) sink ^= (decode(b) as object) === null ? 1 : 0;
  };
  const theirsOne: Op = () => {
    for (let k = 0; k < corpus.length; k++) sink ^= (bencode.decode(b) as object) === null ? 1 : 0;
  };
  rate(oursOne, 50);
  rate(theirsOne, 50);
  const o: number[] = [];
  const t: number[] = [];
  for (let r = 0; r < 5; r++) {
    o.push(rate(oursOne, 60));
    t.push(rate(theirsOne, 60));
  }
  return { name: c.name, size: b.length, ours: median(o), theirs: median(t) };
});

// ---------------------------------------------------------------------------------------------
// Report

const k = (n: number): string => `${(n / 1000).toFixed(0)}k`;
const x = (n: number): string => `${n.toFixed(2)}x`;
const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;

console.log(`# Codec benchmark: bep5/bencode.ts vs bencode ${'4.0.1'}`);
console.log(`Node ${process.version}, ${corpus.length} KRPC messages (${totalBytes} bytes total, ${(totalBytes / corpus.length).toFixed(0)} B mean), ` +
  `warm-up ${WARMUP_MS} ms per op, ${ROUNDS} rounds x ${ROUND_MS} ms, medians, ops/s = messages per second\n`);
console.log(row(['operation', 'ours', 'bencode 4.0.1', 'ours / bencode']));
console.log(row(['---', '---:', '---:', '---:']));
for (const op of ['decode', 'encode', 'encode+decode']) {
  const ours = med(`ours ${op}`);
  const theirs = med(`bencode ${op}`);
  console.log(row([op, `${k(ours)} ops/s`, `${k(theirs)} ops/s`, x(ours / theirs)]));
}
console.log('');
console.log(row(['message (decode)', 'bytes', 'ours', 'bencode 4.0.1', 'ours / bencode']));
console.log(row(['---', '---:', '---:', '---:', '---:']));
for (const m of perMessage) console.log(row([m.name, String(m.size), `${k(m.ours)} ops/s`, `${k(m.theirs)} ops/s`, x(m.ours / m.theirs)]));
console.log('');
const spread = (name: string): string => {
  const s = samples[name]!;
  return `${k(Math.min(...s))}..${k(Math.max(...s))}`;
};
console.log(`spread (min..max over rounds): ${Object.keys(ops).map((n) => `${n} ${spread(n)}`).join('; ')}`);
const decodeRatio = med('ours decode') / med('bencode decode');
console.log(`target "decode >= 2x bencode": ${decodeRatio >= 2 ? 'MET' : 'NOT MET'} (${x(decodeRatio)})`);
if (sink === 0.5) console.log(''); // keeps `sink` observable
process.exitCode = 0;
