/**
 * The facade: one object that owns the three stores of a data directory.
 */
import { loadConfig, resolveConfig } from './config/index.js';
import type { TapioConfig, TapioConfigInput } from './config/index.js';
import { claimDataDir } from './data-dir.js';
import { TapioError } from './errors.js';
import { ensureWritableDir } from './fs/durable.js';
import { Correlations, type CorrelationsOpenOptions } from './correlations/index.js';
import { MetadataStore } from './metadata/index.js';
import { checkStoreDirs } from './store-dirs.js';
import { openWalBackend, Transit, type TransitOpenOptions } from './transit/index.js';

/** Options of {@link TapioStorage.open} that are not configuration. */
export interface OpenOptions {
  /** Resolve relative paths against this directory instead of the current one (or, for a file, the file's). */
  baseDir?: string;
  /**
   * Create the store when the data directory holds none (default true). With false, a
   * directory without a store is refused with ERR_NO_STORE and nothing is created.
   */
  create?: boolean;
  /**
   * Create the store in a directory that is not empty and has no TAPIO_STORAGE marker (default
   * false: such a directory is refused with ERR_DATA_DIR, as it holds something else).
   */
  force?: boolean;
  /** Transit options that are not configuration: recovery: 'salvage', a forced path, test hooks. */
  transit?: TransitOpenOptions;
  /** Correlation store options that are not configuration: a forced WAL path, the WAL's recovery. */
  correlations?: Omit<CorrelationsOpenOptions, 'create'>;
}

/**
 * An open tapio-storage data directory.
 *
 * @example
 * ```ts
 * import { TapioStorage } from 'tapio-storage';
 * const storage = await TapioStorage.open({ dataDir: './data' });
 * const user = await storage.metadata.users.create({ name: 'ops', roles: ['admin'] });
 * const { key } = await storage.metadata.apiKeys.create(user.id, { name: 'ci' });
 * console.log(await storage.metadata.apiKeys.verify(key)); // user.id
 * await storage.close();
 * ```
 */
export class TapioStorage {
  /** The resolved configuration (absolute paths, sizes in bytes, durations in milliseconds). */
  readonly config: TapioConfig;
  /** Users, API keys, resources and consumer checkpoints (lmdb). */
  readonly metadata: MetadataStore;
  /** The transit write-ahead log: append, read, subscribe. */
  readonly transit: Transit;
  /** The correlation store: insert, query, flush. */
  readonly correlations: Correlations;
  #closed = false;

  private constructor(config: TapioConfig, metadata: MetadataStore, transit: Transit, correlations: Correlations) {
    this.config = config;
    this.metadata = metadata;
    this.transit = transit;
    this.correlations = correlations;
  }

  /**
   * Opens (and on first use creates) a data directory. `config` is a configuration object
   * (`{ dataDir }` alone is enough) or the path of a YAML file. A bad configuration is refused
   * with ERR_CONFIG before anything is created. Every directory is examined before anything is
   * created: a non-empty directory without the TAPIO_STORAGE marker (unless `options.force`), a
   * directory inside another store's, or a store directory holding foreign files is refused,
   * untouched. With `options.create: false` nothing is ever created: a missing store is
   * ERR_NO_STORE.
   */
  static async open(config: TapioConfigInput | string = {}, options: OpenOptions = {}): Promise<TapioStorage> {
    for (const name of ['create', 'force'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'boolean') {
        throw new TapioError('ERR_INVALID_ARGUMENT', `TapioStorage.open: options.${name} must be true or false, got ${typeof options[name]}`);
      }
    }
    const create = options.create ?? true;
    const force = options.force ?? false;
    const resolved =
      typeof config === 'string'
        ? await loadConfig(config, options.baseDir === undefined ? {} : { baseDir: options.baseDir })
        : resolveConfig(config, options.baseDir === undefined ? {} : { baseDir: options.baseDir });
    // Everything is examined before anything is created, so a refusal leaves no trace.
    await checkStoreDirs(resolved, { create, force });
    const meta = resolved.storage.metadata;
    if (create) {
      await ensureWritableDir(resolved.dataDir, 'data');
      await claimDataDir(resolved.dataDir);
      if (!meta.in_memory) await ensureWritableDir(meta.path, 'metadata');
      await ensureWritableDir(resolved.storage.transit.wal_path, 'transit WAL');
    }
    const metadata = await MetadataStore.open(meta, { create });
    let transit: Transit;
    try {
      transit = await Transit.open(resolved.storage.transit, metadata.checkpoints, openWalBackend, options.transit);
    } catch (err) {
      await metadata.close();
      throw err;
    }
    let correlations: Correlations;
    try {
      // A store made before the correlation store existed gets one: the data directory is ours.
      const path = options.correlations?.path ?? options.transit?.path;
      correlations = await Correlations.open(resolved.storage.correlations, {
        ...options.correlations,
        ...(path === undefined ? {} : { path }),
        create: true,
      });
    } catch (err) {
      await transit.close().catch(() => undefined);
      await metadata.close();
      throw err;
    }
    return new TapioStorage(resolved, metadata, transit, correlations);
  }

  /** True once {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Waits for pending writes, then closes every store. Calling it twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.correlations.close();
    } finally {
      try {
        await this.transit.close();
      } finally {
        await this.metadata.close();
      }
    }
  }
}
