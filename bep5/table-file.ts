import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NodeInfo } from './compact.js';
import { RoutingTableError } from './errors.js';
import { isHexId } from './node-id.js';

/**
 * The routing table on disk, so a restarted node rejoins without routers. Written atomically
 * (temporary file + rename) so a crash mid-write never leaves a torn file; read as untrusted
 * input: every saved entry is checked here (readTableJson, savedCandidates, which
 * RoutingTable.fromJSON uses) before it becomes a node to ping.
 */
export const TABLE_FILE_NAME = 'routing-table.json';

/** One table as saved (RoutingTable.toJSON): our ID and the nodes that were not bad, as hex and address. */
export interface RoutingTableJson {
  ownId: string;
  nodes: Array<{ id: string; host: string; port: number }>;
}

export interface TableFile {
  version: 1;
  id: string;
  savedAt: string;
  tables: { 4?: unknown; 6?: unknown };
}

export function tableFilePath(dataDir: string): string {
  return join(dataDir, TABLE_FILE_NAME);
}

export async function saveTableFile(path: string, content: TableFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(content) + '\n', { mode: 0o644 });
  await rename(tmp, path);
}

/** The file's content, or undefined when there is none or it is not even JSON of the right shape. */
export async function loadTableFile(path: string): Promise<TableFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (text.length > 16 * 1024 * 1024) return undefined; // no real table is this large
  try {
    const parsed = JSON.parse(text) as Partial<TableFile>;
    if (parsed?.version !== 1 || typeof parsed.id !== 'string' || typeof parsed.tables !== 'object' || parsed.tables === null) return undefined;
    return parsed as TableFile;
  } catch {
    return undefined;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * A saved table's own ID (`ownId` when given, else the saved one) and its untrusted node list.
 * Throws RoutingTableError ('bad-json') if `json` is not an object with a `nodes` array, or if
 * no valid own ID is available.
 */
export function readTableJson(json: unknown, ownId: Buffer | undefined): { ownId: Buffer; nodes: readonly unknown[] } {
  if (!isRecord(json)) throw new RoutingTableError('bad-json', 'expected an object');
  const nodes: unknown = json.nodes;
  if (!Array.isArray(nodes)) throw new RoutingTableError('bad-json', 'expected a "nodes" array');
  if (ownId === undefined) {
    const hex = json.ownId;
    if (typeof hex !== 'string' || !isHexId(hex)) throw new RoutingTableError('bad-json', 'no valid "ownId" (40 hex characters)');
    ownId = Buffer.from(hex, 'hex');
  }
  return { ownId, nodes };
}

/**
 * The saved nodes worth pinging, from the first `cap` entries: each an object with a 40-hex id
 * other than `ownId`, and a host and port the table would admit (`addressKey` gives the
 * address's key, or undefined); an ID or address already seen is skipped.
 */
export function savedCandidates(
  nodes: readonly unknown[],
  o: { ownId: Buffer; cap: number; addressKey: (host: unknown, port: unknown) => string | undefined },
): NodeInfo[] {
  const candidates: NodeInfo[] = [];
  const seenIds = new Set<string>();
  const seenAddresses = new Set<string>();
  const end = Math.min(nodes.length, o.cap);
  for (let i = 0; i < end; i++) {
    const item = nodes[i];
    if (!isRecord(item)) continue;
    const { id, host, port } = item;
    if (typeof id !== 'string' || !isHexId(id)) continue;
    const key = o.addressKey(host, port);
    if (key === undefined) continue;
    const idBytes = Buffer.from(id, 'hex');
    if (idBytes.equals(o.ownId)) continue;
    const idKey = idBytes.toString('hex');
    if (seenIds.has(idKey) || seenAddresses.has(key)) continue;
    seenIds.add(idKey);
    seenAddresses.add(key);
    candidates.push({ id: idBytes, host: host as string, port: port as number });
  }
  return candidates;
}
