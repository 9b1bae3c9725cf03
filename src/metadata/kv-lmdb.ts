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
 * event turn into one transaction, which keeps throughput up under concurrent writers; this
 * backend hands queued writes to lmdb-js in batches, each one lmdb-js transaction callback that
 * runs them in call order, because lmdb-js runs the callbacks of one of its transactions in a
 * single event-loop turn. {@link BatchSizer} (see kv.ts) predicts how many writes fit in
 * BATCH_BUDGET_MS; the callback stops once that time is spent and leaves the rest queued.
 *
 * `strictAsyncOrder: true` runs queued transactions in call order relative to single puts (by
 * default lmdb-js runs them after), which is what the in-memory backend does too.
 */

import { open, type RootDatabase } from 'lmdb';
import { TapioError } from '../errors.js';
import { BATCH_BUDGET_MS, BatchSizer, rejectThrough, transactionEnded, type KvEntry, type KvStore, type KvWriter } from './kv.js';
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
    // data.mdb and lock.mdb hold key hashes: created 0600 rather than lmdb-js's 0664. lmdb-js
    // hands this option to mdb_env_open (its src/env.cpp reads it) though its typings and README
    // leave it out; test/privacy.test.ts checks that the files come out private.
    permissionsMode: 0o600,
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

const removeIn = (tx: KvWriter, key: string): boolean => tx.remove(key);

/** A write waiting for its batch. */
type QueuedWrite =
  | { kind: 'put'; key: string; value: unknown; resolve: (value: unknown) => void }
  | {
      kind: 'txn';
      fn: (tx: KvWriter, a: unknown, b: unknown) => unknown;
      a: unknown;
      b: unknown;
      resolve: (result: unknown) => void;
    };

class LmdbKv implements KvStore {
  readonly backend = 'lmdb' as const;
  readonly #db: RootDatabase<unknown, string>;
  // Writes not yet handed to lmdb-js, oldest first, from #head on.
  #queue: QueuedWrite[] = [];
  #head = 0;
  // A batch was handed to lmdb-js and not all of its transaction callbacks have run yet: writes
  // handed over now would join it and run in the same turn, so they wait for the next batch.
  #batchOpen = false;
  #submitScheduled = false;
  readonly #sizer = new BatchSizer();
  #drainWaiters: Array<() => void> = [];

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

  put(key: string, value: unknown): Promise<void> {
    // Nothing waits here: straight to lmdb-js, which encodes the value now (a put joins lmdb-js's
    // pending commit and runs no callback, so it cannot lengthen a batch's turn).
    if (this.#head === this.#queue.length) {
      return new Promise<void>((resolve) => this.#putNow({ kind: 'put', key, value, resolve: resolve as (value: unknown) => void }));
    }
    // Behind waiting transactions, in call order. Copied now, so that later changes to the
    // caller's object do not reach the store, as with a put handed over at once; copied through
    // the store's own MessagePack encoder, so a value is accepted or refused the same either way.
    let copy: unknown;
    try {
      const { encoder } = this.#db as RootDatabase<unknown, string> & { encoder: { encode(v: unknown): Uint8Array; decode(b: Uint8Array): unknown } }; // lmdb-js's MessagePack encoder (typed only among its options)
      copy = encoder.decode(encoder.encode(value));
    } catch (err) {
      return Promise.reject(ioError(`write of ${key}`, err));
    }
    return new Promise<void>((resolve) => this.#enqueue({ kind: 'put', key, value: copy, resolve: resolve as (value: unknown) => void }));
  }

  async remove(key: string): Promise<boolean> {
    // lmdb-js resolves a plain remove with true whether or not the key existed, so the
    // existence check runs inside the write transaction.
    return this.transaction(removeIn, key);
  }

  transaction<T, A = undefined, B = undefined>(fn: (tx: KvWriter, a: A, b: B) => T, a?: A, b?: B): Promise<T> {
    // Only the resolve function is kept (see rejectThrough).
    return new Promise<T>((resolve) =>
      this.#enqueue({ kind: 'txn', fn: fn as (tx: KvWriter, a: unknown, b: unknown) => unknown, a, b, resolve: resolve as (result: unknown) => void }),
    );
  }

  async close(): Promise<void> {
    // Everything queued here goes to lmdb-js first; its close waits for what it was handed.
    if (this.#pending()) await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    try {
      await this.#db.close();
    } catch (err) {
      throw ioError('close', err);
    }
  }

  #pending(): boolean {
    return this.#head < this.#queue.length || this.#batchOpen || this.#submitScheduled;
  }

  #enqueue(write: QueuedWrite): void {
    this.#queue.push(write);
    // Writes made in the rest of this turn go into the same batch, as lmdb-js would group them.
    if (!this.#batchOpen && !this.#submitScheduled) {
      this.#submitScheduled = true;
      queueMicrotask(() => this.#submit());
    }
  }

  /**
   * Hands the next batch of queued writes to lmdb-js as one transaction callback that runs them
   * in call order: each transaction callback in a child transaction of its own (lmdb-js runs a
   * child transaction synchronously inside a write transaction, so a callback that throws rolls
   * back alone), each queued put as a put. lmdb-js then commits them together; their promises
   * settle after that commit. One callback per batch instead of one lmdb-js transaction per
   * write: lmdb-js keeps a promise and its bookkeeping per transaction, which a batch of a
   * thousand held until its commit.
   */
  #submit(): void {
    this.#submitScheduled = false;
    if (this.#batchOpen) return;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    const first = this.#head;
    const end = Math.min(this.#queue.length, first + this.#sizer.next());
    if (end === first) {
      this.#afterBatch();
      return;
    }
    // The batch's writes stay in the queue until its callback runs them; then those it ran leave.
    this.#batchOpen = true;
    const started = performance.now();
    let batch: QueuedWrite[] = [];
    // What each write returned (a put: nothing) or threw, and which of them threw.
    const outcomes: unknown[] = [];
    const threw = new Uint8Array(end - first);
    let ranMs = -1;
    let submitMs = 0;
    let finished = false;
    const take = (upTo: number): void => {
      batch = this.#queue.slice(first, upTo);
      for (let i = first; i < upTo; i++) this.#queue[i] = undefined as unknown as QueuedWrite;
      this.#head = upTo;
    };
    // Once the callback ran (lmdb-js runs it, then commits on its own thread), or the transaction
    // settled without it (lmdb-js failed first), the next batch may be handed over: from the next
    // turn, so that it does not join this one.
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#sizer.record(batch.length, submitMs + Math.max(0, ranMs));
      this.#batchOpen = false;
      setImmediate(() => this.#afterBatch());
    };
    const run = (): void => {
      const start = performance.now();
      // The sizer predicts how many writes take BATCH_BUDGET_MS; this bounds it: once the turn
      // has taken that long, the writes not yet run stay queued, first in line for the next batch.
      let i = first;
      while (i < end && (i === first || performance.now() - start < BATCH_BUDGET_MS)) {
        const write = this.#queue[i] as QueuedWrite;
        try {
          outcomes.push(write.kind === 'put' ? this.#putInBatch(write) : this.#runInChild(write));
        } catch (err) {
          outcomes.push(err);
          threw[i - first] = 1;
        }
        i++;
      }
      take(i);
      ranMs = performance.now() - start;
      finish();
    };
    const submitted = this.#db.transaction(run).then(
      () => {
        if (ranMs < 0) take(end);
        for (let i = 0; i < batch.length; i++) {
          const write = batch[i] as QueuedWrite;
          if (ranMs < 0) rejectThrough(write.resolve, ioError('commit', new Error('the transaction ended before its writes ran')));
          else if (threw[i] === 1) rejectThrough(write.resolve, outcomes[i]);
          else write.resolve(outcomes[i]);
        }
      },
      (err: unknown) => {
        if (ranMs < 0) take(end);
        // Nothing of the batch was stored: a write that threw rejects with its own error.
        for (let i = 0; i < batch.length; i++) rejectThrough((batch[i] as QueuedWrite).resolve, threw[i] === 1 ? outcomes[i] : ioError('commit', err));
      },
    );
    submitMs = performance.now() - started;
    void submitted.finally(finish);
  }

  /** A queued put, inside the batch's write transaction. */
  #putInBatch(write: Extract<QueuedWrite, { kind: 'put' }>): undefined {
    try {
      this.#db.putSync(write.key, write.value);
    } catch (err) {
      throw ioError(`write of ${write.key}`, err);
    }
    return undefined;
  }

  /** A queued transaction, inside the batch's write transaction: in a child transaction of its own. */
  #runInChild(write: Extract<QueuedWrite, { kind: 'txn' }>): unknown {
    const writer = new LmdbWriter(this, this.#db);
    let thrown: { error: unknown } | undefined;
    try {
      // Inside a write transaction lmdb-js runs a child transaction at once and returns what its
      // callback returned (its type says a promise: that is the case outside one).
      return this.#db.childTransaction(() => {
        try {
          const result = write.fn(writer, write.a, write.b);
          if (isThenable(result)) {
            Promise.resolve(result).catch(() => undefined);
            throw new TapioError('ERR_INVALID_ARGUMENT', 'A metadata transaction callback must be synchronous; it returned a promise. Nothing was written.');
          }
          return result;
        } catch (error) {
          thrown = { error };
          throw error;
        } finally {
          writer.end();
        }
      }) as unknown;
    } catch (err) {
      if (thrown !== undefined && err === thrown.error) throw err;
      throw ioError('commit', err);
    }
  }

  /** Starts the next batch, or tells close() that nothing is left. */
  #afterBatch(): void {
    if (this.#batchOpen || this.#submitScheduled) return;
    if (this.#head < this.#queue.length) {
      this.#submitScheduled = true;
      queueMicrotask(() => this.#submit());
      return;
    }
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  #putNow(write: Extract<QueuedWrite, { kind: 'put' }>): void {
    let done: Promise<unknown>;
    try {
      done = this.#db.put(write.key, write.value);
    } catch (err) {
      rejectThrough(write.resolve, ioError(`write of ${write.key}`, err));
      return;
    }
    done.then(
      () => write.resolve(undefined),
      (err: unknown) => rejectThrough(write.resolve, ioError(`write of ${write.key}`, err)),
    );
  }
}

/**
 * The writer a transaction callback gets: reads see the transaction's own writes (lmdb-js runs
 * the callback inside the write transaction). An object with methods rather than closures, since
 * a batch's writers live until its commit.
 */
class LmdbWriter implements KvWriter {
  readonly #kv: LmdbKv;
  readonly #db: RootDatabase<unknown, string>;
  #active = true;

  constructor(kv: LmdbKv, db: RootDatabase<unknown, string>) {
    this.#kv = kv;
    this.#db = db;
  }

  end(): void {
    this.#active = false;
  }

  get(key: string): unknown {
    if (!this.#active) throw transactionEnded();
    return this.#kv.get(key);
  }

  range(prefix: string, after: string | undefined, limit: number): KvEntry[] {
    if (!this.#active) throw transactionEnded();
    return this.#kv.range(prefix, after, limit);
  }

  put(key: string, value: unknown): void {
    if (!this.#active) throw transactionEnded();
    try {
      this.#db.putSync(key, value);
    } catch (err) {
      throw ioError(`write of ${key}`, err);
    }
  }

  remove(key: string): boolean {
    if (!this.#active) throw transactionEnded();
    try {
      return this.#db.removeSync(key);
    } catch (err) {
      throw ioError(`removal of ${key}`, err);
    }
  }
}
