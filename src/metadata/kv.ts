/**
 * The internal key-value interface under the metadata store. Two backends implement it with
 * the same semantics: lmdb (on disk) and a sorted in-memory map (`in_memory: true`).
 *
 * Semantics both backends keep:
 * - Keys are strings ordered by their UTF-8 bytes ({@link compareKeys}).
 * - Reads outside a transaction see the last committed state; a write becomes visible when the
 *   promise of its commit resolves, not before.
 * - Writes and transactions are queued and run in call order; everything queued in one event
 *   turn is committed together, and the promises resolve after the commit (for lmdb: after
 *   fdatasync of the data pages and the synchronous write of the meta page).
 * - `transaction(fn)` runs `fn` later, inside the batch, with a writer that reads its own
 *   writes. If `fn` throws, none of its writes are kept and the promise rejects with what it
 *   threw; other work in the same batch is unaffected.
 * - Values come back as fresh copies: mutating a returned value never changes the store.
 */
import { TapioError } from '../errors.js';

export interface KvEntry {
  key: string;
  value: unknown;
}

/** Synchronous reads. */
export interface KvReader {
  /** The value at `key`, or undefined. */
  get(key: string): unknown;
  /**
   * Up to `limit` entries whose keys start with `prefix`, in key order, starting strictly after
   * `after` when it is given.
   */
  range(prefix: string, after: string | undefined, limit: number): KvEntry[];
}

/** Reads and writes inside a transaction. */
export interface KvWriter extends KvReader {
  put(key: string, value: unknown): void;
  /** True when the key existed. */
  remove(key: string): boolean;
}

export interface KvStore extends KvReader {
  readonly backend: 'lmdb' | 'memory';
  /** The smallest key stored, or undefined when the store is empty. */
  firstKey(): string | undefined;
  /** Resolves once the put is committed (and durable, for lmdb). */
  put(key: string, value: unknown): Promise<void>;
  /** Resolves once the removal is committed; true when the key existed. */
  remove(key: string): Promise<boolean>;
  /** Runs `fn` atomically; see the module comment. `fn` must be synchronous. */
  transaction<T>(fn: (tx: KvWriter) => T): Promise<T>;
  /** Waits for queued writes, then releases the store. */
  close(): Promise<void>;
}

/**
 * The lifetime of a transaction's writer: `check()` refuses use once `end()` ran, so a writer
 * kept past its callback cannot touch the store. Both backends use it.
 */
export function transactionScope(): { check(): void; end(): void } {
  let active = true;
  return {
    check: () => {
      if (!active) throw new TapioError('ERR_INVALID_ARGUMENT', 'This transaction has ended: a transaction object can only be used inside its callback, synchronously.');
    },
    end: () => {
      active = false;
    },
  };
}
