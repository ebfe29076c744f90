/**
 * The worker thread of InfoDictionaryParser (info-dictionary-parser.ts): parses info dicts
 * too large to decode on the main thread without stalling it. One message in, one out.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MetadataInvalidError } from './errors.js';
import { type InfoParseOptions, parseInfoDictionary } from './info-dictionary.js';

export interface ParseRequest {
  id: number;
  info: Uint8Array;
  options: InfoParseOptions;
}

export type ParseReply = { id: number; summary: ReturnType<typeof parseInfoDictionary> } | { id: number; invalid: string } | { id: number; failure: string };

// Only in a thread InfoDictionaryParser started (its mark; the name is repeated here so this
// module imports nothing of the parser's).
const ours = typeof workerData === 'object' && workerData !== null && (workerData as Record<string, unknown>)['dhtscopeInfoParser'] === true;
if (ours) parentPort?.on('message', (request: ParseRequest) => {
  const info = Buffer.from(request.info.buffer, request.info.byteOffset, request.info.byteLength);
  let reply: ParseReply;
  try {
    reply = { id: request.id, summary: parseInfoDictionary(info, request.options) };
  } catch (err) {
    reply = err instanceof MetadataInvalidError ? { id: request.id, invalid: err.reason } : { id: request.id, failure: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
