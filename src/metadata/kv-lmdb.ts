/**
 * The lmdb backend of the metadata key-value interface.
 *
 * Durability: lmdb-js enables `overlappingSync` by default on Linux and macOS. With it, a write
 * promise resolves once the transaction is committed and visible, and the flush to disk happens
 * afterwards (its completion is only reported through `db.flushed`); after an OS crash lmdb-js
 * rolls back to the last flushed transaction, so a resolved write can be lost. This backend
 * opens lmdb with `overlappingSync: false`: every commit then runs fdatasync on the data file
 * and writes the meta page through an O_DSYNC descriptor before the commit promise resolves, so
 * a resolved write survives power loss. Nothing that weakens that is set (no `noSync`,
 * `noMetaSync`, `useWritemap`, `mapAsync`). lmdb-js still groups every write queued in one
 * event turn into one transaction, which keeps throughput up under concurrent writers.
 *
 * `strictAsyncOrder: true` runs queued transactions in call order relative to single puts (by
 * default lmdb-js runs them after), which is what the in-memory backend does too.
 */

import { open, type RootDatabase } from 'lmdb';
import { TapioError } from '../errors.js';
import { transactionScope, type KvEntry, type KvStore, type KvWriter } from './kv.js';
import { compareKeys, prefixEnd } from './keys.js';

export interface LmdbKvOptions {
  /** The directory that holds data.mdb and lock.mdb; it must exist. */
  path: string;
  compression: boolean;
}

/** The lmdb options this store opens with; exported so benchmarks compare against the same settings. */
export function lmdbOpenOptions(options: LmdbKvOptions) {
  return {
    path: options.path,
    compression: options.compression,
    encoding: 'msgpack' as const,
    // Plain MessagePack maps: no per-value record definitions to decode, and no shared structure
    // table (lmdb-js writes that table inside whatever transaction is open, so an aborted child
    // transaction could leave values that refer to a structure that was never stored).
    encoder: { useRecords: false },
    overlappingSync: false,
    strictAsyncOrder: true,
    noSync: false,
    noMetaSync: false,
    useWritemap: false,
    cache: false,
  };
}

function ioError(what: string, err: unknown): TapioError {
  if (err instanceof TapioError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new TapioError('ERR_METADATA_IO', `Metadata store ${what} failed: ${reason}`, { cause: err });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Opens lmdb at an existing, checked directory. Throws ERR_METADATA_IO when lmdb refuses. */
export function openLmdbKv(options: LmdbKvOptions): KvStore {
  let db: RootDatabase<unknown, string>;
  try {
    db = open<unknown, string>(lmdbOpenOptions(options));
  } catch (err) {
    throw ioError(`open of ${options.path}`, err);
  }
  return new LmdbKv(db);
}

class LmdbKv implements KvStore {
  readonly backend = 'lmdb' as const;
  readonly #db: RootDatabase<unknown, string>;

  constructor(db: RootDatabase<unknown, string>) {
    this.#db = db;
  }

  get(key: string): unknown {
    try {
      return this.#db.get(key);
    } catch (err) {
      throw ioError(`read of ${key}`, err);
    }
  }

  range(prefix: string, after: string | undefined, limit: number): KvEntry[] {
    if (after !== undefined && compareKeys(after, prefix) < 0) after = undefined; // a start before the prefix is the prefix
    try {
      const out: KvEntry[] = [];
      const entries = this.#db.getRange({
        start: after ?? prefix,
        end: prefixEnd(prefix),
        exclusiveStart: after !== undefined,
        limit,
      });
      for (const { key, value } of entries) out.push({ key, value });
      return out;
    } catch (err) {
      throw ioError(`range read of ${prefix}`, err);
    }
  }

  firstKey(): string | undefined {
    try {
      for (const key of this.#db.getKeys({ limit: 1 })) return String(key);
      return undefined;
    } catch (err) {
      throw ioError('read', err);
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    try {
      await this.#db.put(key, value);
    } catch (err) {
      throw ioError(`write of ${key}`, err);
    }
  }

  async remove(key: string): Promise<boolean> {
    // lmdb-js resolves a plain remove with true whether or not the key existed, so the
    // existence check runs inside the write transaction.
    return this.transaction((tx) => tx.remove(key));
  }

  async transaction<T>(fn: (tx: KvWriter) => T): Promise<T> {
    const db = this.#db;
    let thrown: { error: unknown } | undefined;
    const scope = transactionScope();
    const ensureActive = scope.check;
    const writer: KvWriter = {
      get: (key) => {
        ensureActive();
        return this.get(key);
      },
      range: (prefix, after, limit) => {
        ensureActive();
        return this.range(prefix, after, limit);
      },
      put: (key, value) => {
        ensureActive();
        try {
          db.putSync(key, value);
        } catch (err) {
          throw ioError(`write of ${key}`, err);
        }
      },
      remove: (key) => {
        ensureActive();
        try {
          return db.removeSync(key);
        } catch (err) {
          throw ioError(`removal of ${key}`, err);
        }
      },
    };
    try {
      return await db.childTransaction(() => {
        try {
          const result = fn(writer);
          if (isThenable(result)) {
            Promise.resolve(result).catch(() => undefined);
            throw new TapioError('ERR_INVALID_ARGUMENT', 'A metadata transaction callback must be synchronous; it returned a promise. Nothing was written.');
          }
          return result;
        } catch (error) {
          thrown = { error };
          throw error;
        } finally {
          scope.end();
        }
      });
    } catch (err) {
      if (thrown !== undefined && err === thrown.error) throw err;
      throw ioError('commit', err);
    }
  }

  async close(): Promise<void> {
    try {
      await this.#db.close();
    } catch (err) {
      throw ioError('close', err);
    }
  }
}
