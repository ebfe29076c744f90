import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The routing table on disk, so a restarted node rejoins without routers. Written atomically
 * (temporary file + rename) so a crash mid-write never leaves a torn file; read as untrusted
 * input (RoutingTable.fromJSON validates every entry).
 */
export const TABLE_FILE_NAME = 'routing-table.json';

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
