/**
 * The internal key-value interface under the metadata store. Two backends implement it with
 * the same semantics: lmdb (on disk) and a sorted in-memory map (`in_memory: true`).
 *
 * Semantics both backends keep:
 * - Keys are strings ordered by their UTF-8 bytes ({@link compareKeys}).
 * - Reads outside a transaction see the last committed state; a write becomes visible when the
 *   promise of its commit resolves, not before.
 * - Writes and transactions are queued and run in call order, and committed together in
 *   batches: everything queued while a batch runs goes into the next one. A batch holds at most
 *   {@link MAX_BATCH_WRITES} writes and about {@link BATCH_BUDGET_MS} milliseconds of
 *   transaction callbacks (see {@link BatchSizer}), because both backends run a batch's
 *   callbacks one after another in one event-loop turn; more waits for the next batch. The
 *   promises resolve after their batch's commit (for lmdb: after fdatasync of the data pages and
 *   the synchronous write of the meta page).
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
  /**
   * Runs `fn(tx, a, b)` atomically; see the module comment. `fn` must be synchronous. `a` and `b`
   * are handed to `fn` as given, so that a caller making thousands of calls in one turn passes a
   * shared function instead of a closure per call: every call's state lives until its batch runs,
   * and what survives a young-generation collection is what that collection costs.
   */
  transaction<T, A = undefined, B = undefined>(fn: (tx: KvWriter, a: A, b: B) => T, a?: A, b?: B): Promise<T>;
  /** Waits for queued writes, then releases the store. */
  close(): Promise<void>;
}

/**
 * Rejects a promise through its resolve function. A queued write keeps only that function: the
 * reject function would be one more object per pending write, alive until its batch runs.
 */
export function rejectThrough(resolve: (value: unknown) => void, err: unknown): void {
  resolve(Promise.reject(err));
}

/** What a transaction's writer throws once its callback returned. */
export function transactionEnded(): TapioError {
  return new TapioError('ERR_INVALID_ARGUMENT', 'This transaction has ended: a transaction object can only be used inside its callback, synchronously.');
}

/**
 * The lifetime of a transaction's writer: `check()` refuses use once `end()` ran, so a writer
 * kept past its callback cannot touch the store.
 */
export function transactionScope(): { check(): void; end(): void } {
  let active = true;
  return {
    check: () => {
      if (!active) throw transactionEnded();
    },
    end: () => {
      active = false;
    },
  };
}

/** The most writes (puts, removals, transactions) one batch holds. */
export const MAX_BATCH_WRITES = 1024;
/** The main-thread time, in milliseconds, a batch's writes should take at most. */
export const BATCH_BUDGET_MS = 8;

/**
 * How many queued writes the next batch takes. Both backends run the transaction callbacks of a
 * batch one after another in one event-loop turn (lmdb-js does so while its writer thread holds
 * the write transaction), so an unbounded batch holds the event loop for as long as all of them
 * take: 1,000 concurrent API key creations did for 50-85 ms. The size follows the measured cost
 * per write of the batches before, so that a batch takes about BATCH_BUDGET_MS, between 1 and
 * MAX_BATCH_WRITES writes. Fewer writes per batch means more commits (more fdatasyncs), which is
 * why the bound is a time and not a small count.
 */
export class BatchSizer {
  /** Milliseconds per write, smoothed; starts pessimistic, so the first batches are small. */
  #perWriteMs = BATCH_BUDGET_MS / 64;

  /** The number of writes the next batch may take. */
  next(): number {
    return Math.max(1, Math.min(MAX_BATCH_WRITES, Math.floor(BATCH_BUDGET_MS / this.#perWriteMs)));
  }

  /** Records that a batch of `writes` writes took `ms` milliseconds of the main thread. */
  record(writes: number, ms: number): void {
    if (writes <= 0 || !(ms >= 0)) return;
    const sample = Math.max(ms / writes, 1e-4);
    this.#perWriteMs = this.#perWriteMs * 0.5 + sample * 0.5;
  }
}
