/**
 * The metadata fetcher against hostile peers: real TCP servers on 127.x.y.z, each breaking one
 * rule. Every one must end in its own error code (not in a later, more general limit such as
 * the total timeout), return nothing, and see its connection closed by us; fetchMetadata then
 * moves on to the next peer.
 */
import { Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { DEFAULT_MAX_METADATA_SIZE } from '../bep9/constants.js';
import { ConnectionGate } from '../bep9/connection-gate.js';
import {
  MetadataError,
  MetadataFetchError,
  MetadataHashMismatchError,
  PeerTimeoutError,
  type MetadataErrorCode,
} from '../bep9/errors.js';
import { fetchFromPeer, type FetchFromPeerOptions } from '../bep9/fetch-from-peer.js';
import { fetchMetadata } from '../bep9/fetch-metadata.js';
import { type MetadataLimits } from '../bep9/limits.js';
import {
  PEER_UT_METADATA_ID,
  ScriptedPeer,
  makeInfoDict,
  serveMetadata,
  sha1,
  within,
  type PeerConnection,
  type PeerScript,
} from '../testkit/metadata-peer.js';
import { loopbackHost } from './helpers/udp.js';

/** Limits for tests: every time limit generous enough for a loaded CI box, yet far below the defaults. */
const LIMITS: Partial<MetadataLimits> = { connectTimeoutMs: 3_000, handshakeTimeoutMs: 5_000, totalTimeoutMs: 15_000 };

/** The metadata the honest peers serve: 900 files, so several 16 KiB pieces (asserted below). */
const INFO = makeInfoDict('honest', 900);
const INFOHASH = sha1(INFO);
/** Valid metadata of another torrent, same size class. */
const OTHER_INFO = makeInfoDict('other!', 900);

test('the served info dict spans several metadata pieces', (t) => {
  t.true(INFO.length > 2 * 16_384, `${INFO.length} bytes`);
});

async function startPeer(t: ExecutionContext, script: PeerScript): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.start(loopbackHost(), script);
  t.teardown(() => peer.close());
  return peer;
}

/** Fetches from one scripted peer and checks it fails with `code`, returns nothing, and gets disconnected. */
async function expectFailure(
  t: ExecutionContext,
  script: PeerScript,
  code: MetadataErrorCode,
  options: FetchFromPeerOptions = {},
): Promise<MetadataError> {
  const peer = await startPeer(t, script);
  const err = await t.throwsAsync(fetchFromPeer(INFOHASH, peer.address, { limits: LIMITS, ...options }));
  t.true(err instanceof MetadataError, `not a MetadataError: ${String(err)}`);
  t.is((err as MetadataError).code, code, err?.message);
  const conn = peer.connections[0];
  if (conn !== undefined) await within(conn.closed, 'the fetcher closing the connection');
  return err as MetadataError;
}

/** Handshake and extended handshake as a seeder would, with `dict` merged into the extended one. */
function handshakes(conn: PeerConnection, dict: Record<string, unknown> = {}): void {
  conn.sendHandshake(INFOHASH);
  conn.sendExtendedHandshake({ m: { ut_metadata: PEER_UT_METADATA_ID }, metadata_size: INFO.length, ...dict });
}

test('an honest scripted peer: verified metadata, and the client sends only what it should', async (t) => {
  const peer = await startPeer(t, serveMetadata(INFO));
  const result = await fetchFromPeer(INFOHASH, peer.address, { limits: LIMITS });
  t.true(result.info.equals(INFO));
  t.is(result.peer, `${peer.address.host}:${peer.address.port}`);
  t.is(result.client, 'scripted');
  t.is(result.parsed.name.display, 'honest');
  t.is(result.parsed.fileCount, 900);
  t.is(result.parsed.files.length, 100);

  const conn = peer.connections[0] as PeerConnection;
  await within(conn.closed, 'close after success');
  const hs = await conn.handshake;
  t.is(hs.subarray(1, 20).toString('latin1'), 'BitTorrent protocol');
  t.deepEqual([...hs.subarray(20, 28)], [0, 0, 0, 0, 0, 0x10, 0, 0], 'only the extension protocol bit');
  t.true(hs.subarray(28, 48).equals(INFOHASH));
  t.is(hs.subarray(48, 56).toString('latin1'), '-DS0001-');
  const ids = new Set(conn.received.map((m) => m.id));
  t.deepEqual([...ids], [20], 'only extended messages: no interested, no request, no bitfield');
  const extHandshake = conn.received.find((m) => m.payload[0] === 0);
  t.is(extHandshake?.payload.subarray(1).toString('latin1'), 'd1:md11:ut_metadatai1eee');
  const requests = conn.received.filter((m) => m.payload[0] === PEER_UT_METADATA_ID);
  t.is(requests.length, Math.ceil(INFO.length / 16_384), 'each piece requested once');
});

test('wrong hash: valid metadata of another torrent', async (t) => {
  const err = await expectFailure(t, serveMetadata(OTHER_INFO, { infohash: INFOHASH }), 'ERR_METADATA_HASH_MISMATCH');
  t.true(err instanceof MetadataHashMismatchError);
  t.is((err as MetadataHashMismatchError).actual, sha1(OTHER_INFO).toString('hex'));
});

test('metadata_size 0', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { handshake: { metadata_size: 0 } }), 'ERR_METADATA_SIZE_INVALID');
});

test('negative and non-integer metadata_size', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { handshake: { metadata_size: -5 } }), 'ERR_METADATA_SIZE_INVALID');
  await expectFailure(t, serveMetadata(INFO, { handshake: { metadata_size: 'big' } }), 'ERR_METADATA_SIZE_INVALID');
});

test('metadata_size over the cap, and over a lower configured cap', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { handshake: { metadata_size: DEFAULT_MAX_METADATA_SIZE + 1 } }), 'ERR_METADATA_TOO_LARGE');
  await expectFailure(t, serveMetadata(INFO), 'ERR_METADATA_TOO_LARGE', { limits: { ...LIMITS, maxMetadataSize: 1000 } });
});

test('a piece larger than allowed', async (t) => {
  const script = serveMetadata(INFO, { answer: (conn, piece) => conn.sendData(piece, INFO.length, Buffer.alloc(20_000, 0x61)) });
  await expectFailure(t, script, 'ERR_METADATA_PIECE_INVALID');
});

test('a short piece, a piece never requested, and a total_size that contradicts metadata_size', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { answer: (conn, piece) => conn.sendData(piece, INFO.length, Buffer.alloc(100)) }), 'ERR_METADATA_PIECE_INVALID');
  await expectFailure(t, serveMetadata(INFO, { answer: (conn) => conn.sendData(7, INFO.length, Buffer.alloc(16_384)) }), 'ERR_METADATA_PIECE_INVALID');
  await expectFailure(
    t,
    serveMetadata(INFO, { answer: (conn, piece, info) => conn.sendData(piece, info.length + 1, info.subarray(piece * 16_384, (piece + 1) * 16_384)) }),
    'ERR_METADATA_PIECE_INVALID',
  );
});

test('a message length prefix of 4 GiB is refused on its 4 bytes', async (t) => {
  const script: PeerScript = async (conn) => {
    await conn.handshake;
    handshakes(conn);
    conn.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 20, 1, 2, 3]));
  };
  await expectFailure(t, script, 'ERR_PEER_MESSAGE_TOO_LARGE');
});

test('endless small messages hit the message count cap', async (t) => {
  const script: PeerScript = async (conn) => {
    await conn.handshake;
    handshakes(conn);
    const haves = Buffer.alloc(9 * 100);
    for (let i = 0; i < 100; i++) haves.set([0, 0, 0, 5, 4, 0, 0, 0, i], i * 9);
    const flood = (): void => {
      if (conn.socket.destroyed) return;
      conn.write(haves);
      conn.write(Buffer.alloc(400)); // 100 keep-alives
      setImmediate(flood);
    };
    flood();
  };
  await expectFailure(t, script, 'ERR_PEER_TOO_MANY_MESSAGES', { limits: { ...LIMITS, maxMessages: 300 } });
});

test('malformed bencode in the extended handshake', async (t) => {
  const script: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(INFOHASH);
    conn.sendExtendedHandshake(Buffer.from('d1:md11:ut_metadatai3ee13:metadata_sizei1', 'latin1'));
  };
  await expectFailure(t, script, 'ERR_PEER_PROTOCOL');
});

test('no ut_metadata in the extended handshake, no extension bit, no metadata_size', async (t) => {
  const noUt: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(INFOHASH);
    conn.sendExtendedHandshake({ m: { ut_pex: 1 }, metadata_size: INFO.length });
  };
  const noBit: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(INFOHASH, { extensions: false });
  };
  const noSize: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(INFOHASH);
    conn.sendExtendedHandshake({ m: { ut_metadata: 2 } });
  };
  for (const script of [noUt, noBit, noSize]) await expectFailure(t, script, 'ERR_PEER_NO_METADATA_EXTENSION');
});

test('a handshake for another infohash, and a piece message we never asked for', async (t) => {
  const otherHash: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(sha1(OTHER_INFO));
  };
  const block: PeerScript = async (conn) => {
    await conn.handshake;
    handshakes(conn);
    conn.sendMessage(7, Buffer.alloc(8 + 16));
  };
  await expectFailure(t, otherHash, 'ERR_PEER_PROTOCOL');
  await expectFailure(t, block, 'ERR_PEER_PROTOCOL');
});

test('a slow drip (one byte per second) ends at the total time limit', async (t) => {
  const script = serveMetadata(INFO, {
    answer: (conn, piece) => {
      const header = Buffer.from(`d8:msg_typei1e5:piecei${piece}e10:total_sizei${INFO.length}ee`, 'latin1');
      const message = Buffer.concat([Buffer.from([0, 0, 64, 0, 20, PEER_UT_METADATA_ID]), header]);
      let i = 0;
      const drip = setInterval(() => {
        if (conn.socket.destroyed || i >= message.length) clearInterval(drip);
        else conn.write(message.subarray(i, ++i));
      }, 1000);
    },
  });
  const err = await expectFailure(t, script, 'ERR_PEER_TIMEOUT', { limits: { ...LIMITS, handshakeTimeoutMs: 1_000, totalTimeoutMs: 2_500 } });
  t.is((err as PeerTimeoutError).phase, 'total');
});

test('a peer that accepts but never answers the handshake', async (t) => {
  const err = await expectFailure(t, () => {}, 'ERR_PEER_TIMEOUT', { limits: { ...LIMITS, handshakeTimeoutMs: 300 } });
  t.is((err as PeerTimeoutError).phase, 'handshake');
});

test('a peer that sends its handshake but never the extended one', async (t) => {
  const script: PeerScript = async (conn) => {
    await conn.handshake;
    conn.sendHandshake(INFOHASH);
  };
  const err = await expectFailure(t, script, 'ERR_PEER_TIMEOUT', { limits: { ...LIMITS, handshakeTimeoutMs: 300 } });
  t.is((err as PeerTimeoutError).phase, 'handshake');
});

test('a connection that never completes hits the connect timeout (injected socket)', async (t) => {
  let socket: Socket | undefined;
  const connect = (): Socket => (socket = new Socket());
  const err = await t.throwsAsync(fetchFromPeer(INFOHASH, { host: '127.0.0.1', port: 9 }, { connect, limits: { ...LIMITS, connectTimeoutMs: 200 } }));
  t.is((err as MetadataError).code, 'ERR_PEER_TIMEOUT');
  t.is((err as PeerTimeoutError).phase, 'connect');
  t.true(socket?.destroyed);
});

test('a reject message for every piece', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { answer: (conn, piece) => conn.sendReject(piece) }), 'ERR_PEER_METADATA_REJECTED');
});

test('a peer that closes mid-transfer, and an address nobody listens on', async (t) => {
  await expectFailure(t, serveMetadata(INFO, { answer: (conn) => conn.socket.destroy() }), 'ERR_PEER_CLOSED');
  const gone = await ScriptedPeer.start(loopbackHost(), () => {});
  await gone.close();
  const err = await t.throwsAsync(fetchFromPeer(INFOHASH, gone.address, { limits: LIMITS }));
  t.is((err as MetadataError).code, 'ERR_PEER_CONNECT');
});

test('fetchMetadata moves past every hostile peer to the honest one, recording why each failed', async (t) => {
  const hostile: Array<[MetadataErrorCode, PeerScript]> = [
    ['ERR_METADATA_HASH_MISMATCH', serveMetadata(OTHER_INFO, { infohash: INFOHASH })],
    ['ERR_METADATA_SIZE_INVALID', serveMetadata(INFO, { handshake: { metadata_size: 0 } })],
    ['ERR_PEER_METADATA_REJECTED', serveMetadata(INFO, { answer: (conn, piece) => conn.sendReject(piece) })],
    ['ERR_PEER_TIMEOUT', () => {}],
  ];
  const peers = await Promise.all(hostile.map(([, script]) => startPeer(t, script)));
  const honest = await startPeer(t, serveMetadata(INFO));
  const result = await fetchMetadata(INFOHASH, [...peers.map((p) => p.address), honest.address], {
    allowPrivate: true,
    peersAtOnce: 1,
    gate: new ConnectionGate({ connectsPerSecond: 1000, connectBurst: 1000 }),
    limits: { ...LIMITS, handshakeTimeoutMs: 300 },
  });
  t.true(result.info.equals(INFO));
  t.is(result.peer, `${honest.address.host}:${honest.address.port}`);
  t.deepEqual(
    result.attempts.map((a) => a.code),
    [...hostile.map(([code]) => code), 'OK'],
  );
  for (const p of peers) await within((p.connections[0] as PeerConnection).closed, 'hostile connection closed');
});

test('fetchMetadata with only hostile peers throws one error that lists each failure', async (t) => {
  const peers = await Promise.all([
    startPeer(t, serveMetadata(INFO, { handshake: { metadata_size: DEFAULT_MAX_METADATA_SIZE + 1 } })),
    startPeer(t, serveMetadata(INFO, { answer: (conn, piece) => conn.sendData(piece, INFO.length, Buffer.alloc(20_000)) })),
  ]);
  const err = await t.throwsAsync(
    fetchMetadata(INFOHASH, peers.map((p) => p.address), { allowPrivate: true, gate: new ConnectionGate(), limits: LIMITS }),
  );
  t.true(err instanceof MetadataFetchError);
  const codes = (err as MetadataFetchError).attempts.map((a) => a.code).sort();
  t.deepEqual(codes, ['ERR_METADATA_PIECE_INVALID', 'ERR_METADATA_TOO_LARGE']);
  t.regex(err?.message ?? '', /ERR_METADATA_TOO_LARGE x1/);
});
