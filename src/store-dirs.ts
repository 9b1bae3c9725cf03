/**
 * The check that runs before a store is opened or created: every directory the configuration
 * names is examined, and any reason to refuse is found, before anything is created or changed.
 */
import type { TapioConfig } from './config/index.js';
import { enclosingStore, inspectDataDir } from './data-dir.js';
import { TapioError } from './errors.js';
import { DEFAULT_SECRET_FILE, inspectMetadataDir } from './metadata/data-dir.js';
import { ID_FILE_NAME } from './transit/format.js';
import { checkWalDir } from './transit/wal-dir.js';
import { join } from 'node:path';

/** A store of a data directory that a caller needs. */
export type StoreName = 'metadata' | 'transit';

export interface StoreCheckOptions {
  /** Create the store when there is none (default true); false: refuse with ERR_NO_STORE. */
  create?: boolean;
  /** Create the store in a non-empty directory that has no marker (default false). */
  force?: boolean;
  /** The stores to check (default both): with `create: false`, each must exist. */
  stores?: readonly StoreName[];
}

/** `path` as a shell word: bare when it needs no quoting, else in single quotes. */
export function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** The ERR_NO_STORE error for a data directory without a store. */
export function noStoreError(dataDir: string, why?: string): TapioError {
  return new TapioError(
    'ERR_NO_STORE',
    `no store at ${dataDir}${why === undefined ? '' : ` (${why})`}; run \`tapio-storage --data-dir ${shellWord(dataDir)} init\` to create one. Nothing was created or changed.`,
    { details: { path: dataDir } },
  );
}

function listed(entries: readonly string[]): string {
  return entries.slice(0, 5).join(', ') + (entries.length > 5 ? ` and ${entries.length - 5} more` : '');
}

/**
 * Examines the data directory and the directories of `options.stores` without creating or
 * changing anything, and throws when the store must not be opened or created there:
 *
 * - a data directory without the marker: ERR_NO_STORE with `create: false`; else ERR_DATA_DIR
 *   when it lies inside another store's data directory, or when it is not empty and
 *   `force` was not given;
 * - a marker that is damaged or of another format: ERR_FORMAT_VERSION;
 * - a metadata or WAL directory holding files of something else: ERR_FORMAT_VERSION (as the
 *   stores' own opens would refuse them, but before the marker or any other store is created);
 * - with `create: false`, a store whose files are missing: ERR_NO_STORE.
 *
 * Returns whether the data directory held a store already.
 */
export async function checkStoreDirs(config: TapioConfig, options: StoreCheckOptions = {}): Promise<{ existed: boolean }> {
  const create = options.create ?? true;
  const stores = options.stores ?? ['metadata', 'transit'];
  const { dataDir } = config;
  const state = await inspectDataDir(dataDir);
  if (state.marker === null) {
    if (!create) throw noStoreError(dataDir, state.exists ? `${dataDir} has no TAPIO_STORAGE marker` : 'the directory does not exist');
    const outer = await enclosingStore(dataDir);
    if (outer !== null) {
      throw new TapioError(
        'ERR_DATA_DIR',
        `${dataDir} is inside the data directory of the store at ${outer}, and a store is never created inside another (the outer one would no longer open). Point dataDir at a directory outside ${outer}. Nothing was created or changed.`,
        { details: { path: dataDir, enclosing: outer } },
      );
    }
    if (state.entries.length > 0 && options.force !== true) {
      throw new TapioError(
        'ERR_DATA_DIR',
        `${dataDir} is not empty (it holds ${listed(state.entries)}) and has no TAPIO_STORAGE marker, so it is not a tapio-storage data directory. Point dataDir at a new or empty directory; to create a store among these files anyway, run \`tapio-storage init --force\` (TapioStorage.open: { force: true }). Nothing was created or changed.`,
        { details: { path: dataDir, entries: state.entries } },
      );
    }
  }
  for (const store of stores) {
    if (store === 'metadata') {
      const meta = config.storage.metadata;
      if (meta.in_memory) continue;
      const found = await inspectMetadataDir(meta.path, [DEFAULT_SECRET_FILE]);
      if (!create && (found === null || !found.hadDataFile)) throw noStoreError(dataDir, `there is no metadata store at ${meta.path}`);
    } else {
      const walPath = config.storage.transit.wal_path;
      const identity = await checkWalDir(walPath);
      if (!create && identity === null) throw noStoreError(dataDir, `there is no transit WAL at ${walPath}: no ${join(walPath, ID_FILE_NAME)}`);
    }
  }
  return { existed: state.marker !== null };
}
