/**
 * Fetching torrent metadata (the info dict) from peers: BEP 3 handshake, BEP 10 extension
 * protocol, BEP 9 ut_metadata, SHA-1 verified, every peer-controlled quantity bounded
 * (constants.ts). Start with fetchMetadata (an infohash and its peers) or fetchFromPeer (one
 * peer); errors are MetadataErrors with stable codes (errors.ts).
 */
export { fetchMetadata, type FetchMetadataOptions, type FetchMetadataResult } from './fetch-metadata.js';
export { fetchFromPeer, tcpConnect, formatPeer, sharedInfoParser, type ConnectFn, type FetchFromPeerOptions, type PeerFetchResult } from './fetch-from-peer.js';
export { InfoDictionaryParser, type InfoDictionaryParserOptions, type InfoDictionaryParserStats } from './info-dictionary-parser.js';
export { ConnectionGate, sharedConnectionGate, type ConnectionGateOptions, type ReleaseConnection } from './connection-gate.js';
export { parseInfoDictionary, type InfoFile, type InfoSummary, type TorrentText } from './info-dictionary.js';
export { DEFAULT_LIMITS, resolveLimits, type MetadataLimits } from './limits.js';
export { displayText } from '../bep5/display-text.js';
export * from './errors.js';
