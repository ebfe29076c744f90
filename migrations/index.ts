import { SCHEMA_VERSION } from '../indexer/keys.js';
import { initial } from './001-initial.js';
import { peersZset } from './002-peers-zset.js';
import { metadata } from './003-metadata.js';
import { registryLastSeen } from './004-registry-last-seen.js';
import { shardedLayout } from './005-sharded-layout.js';
import { familiesAndScrapes } from './006-families-and-scrapes.js';
import { type Migration } from './types.js';

/**
 * Every migration, in order. To add one: create `NNN-name.ts` exporting a Migration with
 * version NNN, append it here, and raise SCHEMA_VERSION in indexer/keys.ts to NNN (the writer
 * and readers then speak the new schema). Numbers are contiguous from 1.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([initial, peersZset, metadata, registryLastSeen, shardedLayout, familiesAndScrapes]);

export function checkMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1} (contiguous from 1)`);
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(m.name)) throw new Error(`migration ${m.version} has a bad name ${JSON.stringify(m.name)}`);
  });
}

checkMigrations(MIGRATIONS);
if (MIGRATIONS.length !== SCHEMA_VERSION) {
  throw new Error(`the latest migration is ${MIGRATIONS.length} but indexer/keys.ts SCHEMA_VERSION is ${SCHEMA_VERSION}`);
}

export type { Migration, MigrationContext } from './types.js';
