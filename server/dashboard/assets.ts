import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DashboardAssetError } from './errors.js';

/** One file the dashboard serves, held in memory. */
export interface Asset {
  body: Buffer;
  contentType: string;
  /** Strong validator: a hash of the bytes. */
  etag: string;
}

/** The types served; a file in public/ with any other extension is not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const PAGE_FILE = 'index.html';

/** The chart library, served from its installed package (no CDN): served name → file in the package. */
const VENDOR_FILES: Readonly<Record<string, string>> = {
  'vendor/uPlot.esm.js': 'dist/uPlot.esm.js',
  'vendor/uPlot.min.css': 'dist/uPlot.min.css',
};

/**
 * The page and every static file of the dashboard, read once at start-up (about 200 KB). Requests
 * are answered by name from this fixed table, never by joining a request path onto a directory,
 * so no URL can reach any other file.
 */
export class DashboardAssets {
  private constructor(
    /** The page served at `/`. */
    readonly page: Asset,
    private readonly byName: ReadonlyMap<string, Asset>,
  ) {}

  static async load(): Promise<DashboardAssets> {
    const files = new Map<string, string>();
    for (const entry of await readdir(PUBLIC_DIR, { withFileTypes: true }).catch((err: unknown) => fail(PUBLIC_DIR, err))) {
      if (entry.isFile() && entry.name !== PAGE_FILE && CONTENT_TYPES[extname(entry.name)] !== undefined) files.set(entry.name, join(PUBLIC_DIR, entry.name));
    }
    const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
    for (const [name, file] of Object.entries(VENDOR_FILES)) files.set(name, join(uplotDir, file));

    const byName = new Map<string, Asset>();
    await Promise.all([...files].map(async ([name, path]) => byName.set(name, await readAsset(path))));
    return new DashboardAssets(await readAsset(join(PUBLIC_DIR, PAGE_FILE)), byName);
  }

  /** The asset served as `/dashboard/<name>`, or undefined. */
  get(name: string): Asset | undefined {
    return this.byName.get(name);
  }
}

async function readAsset(path: string): Promise<Asset> {
  const body = await readFile(path).catch((err: unknown) => fail(path, err));
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType: CONTENT_TYPES[extname(path)]!, etag };
}

function fail(path: string, err: unknown): never {
  throw new DashboardAssetError(path, err);
}
