/**
 * The in-memory backend of the metadata key-value interface (`in_memory: true`). It never
 * touches the file system and keeps the semantics the lmdb backend has (see kv.ts): keys in
 * UTF-8 byte order, writes queued and committed together after the current event turn in batches
 * bounded as lmdb's are (BatchSizer in kv.ts), promises resolved after the commit, transactions
 * run later inside the batch and rolled back whole when
 * their callback throws, and values copied in and out (structuredClone) so callers never share
 * objects with the store.
 */

import { TapioError } from '../errors.js';
import { BATCH_BUDGET_MS, BatchSizer, rejectThrough, transactionScope, type KvEntry, type KvStore, type KvWriter } from './kv.js';
import { compareKeys } from './keys.js';

const DELETED: unique symbol = Symbol('deleted');
type Slot = { value: unknown } | typeof DELETED;

type Op =
  | { kind: 'put'; key: string; value: unknown; resolve: (v: void) => void }
  | { kind: 'remove'; key: string; resolve: (v: boolean) => void }
  | {
      kind: 'txn';
      fn: (tx: KvWriter, a: unknown, b: unknown) => unknown;
      a: unknown;
      b: unknown;
      resolve: (result: unknown) => void;
    };

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** A sorted map: a sorted key array plus a Map of values. */
class SortedMap {
  readonly keys: string[] = [];
  readonly values = new Map<string, unknown>();

  /** Index of the first key >= key (or > key when `strict`). */
  lowerBound(key: string, strict: boolean): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.keys[mid] as string, key);
      if (c < 0 || (strict && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  set(key: string, value: unknown): void {
    if (!this.values.has(key)) this.keys.splice(this.lowerBound(key, false), 0, key);
    this.values.set(key, value);
  }

  delete(key: string): boolean {
    if (!this.values.delete(key)) return false;
    this.keys.splice(this.lowerBound(key, false), 1);
    return true;
  }
}

export function openMemoryKv(): KvStore {
  return new MemoryKv();
}

class MemoryKv implements KvStore {
  readonly backend = 'memory' as const;
  #data = new SortedMap();
  #queue: Op[] = [];
  #head = 0;
  #scheduled: Promise<void> | null = null;
  readonly #sizer = new BatchSizer();

  get(key: string): unknown {
    const value = this.#data.values.get(key);
    return value === undefined ? undefined : structuredClone(value);
  }

  range(prefix: string, after: string | undefined, limit: number): KvEntry[] {
    return this.#rangeOver(undefined, prefix, after, limit);
  }

  firstKey(): string | undefined {
    return this.#data.keys[0];
  }

  put(key: string, value: unknown): Promise<void> {
    let copy: unknown;
    try {
      copy = structuredClone(value);
    } catch (err) {
      // As the lmdb backend reports a value it cannot encode: a rejected promise, not a throw.
      return Promise.reject(new TapioError('ERR_METADATA_IO', `Metadata store write of ${key} failed: ${(err as Error).message}`, { cause: err }));
    }
    return new Promise((resolve) => this.#enqueue({ kind: 'put', key, value: copy, resolve }));
  }

  remove(key: string): Promise<boolean> {
    return new Promise((resolve) => this.#enqueue({ kind: 'remove', key, resolve }));
  }

  transaction<T, A = undefined, B = undefined>(fn: (tx: KvWriter, a: A, b: B) => T, a?: A, b?: B): Promise<T> {
    // Only the resolve function is kept (see rejectThrough).
    return new Promise<T>((resolve) =>
      this.#enqueue({ kind: 'txn', fn: fn as (tx: KvWriter, a: unknown, b: unknown) => unknown, a, b, resolve: resolve as (result: unknown) => void }),
    );
  }

  /** Runs a queued transaction inside its batch; returns what settles its promise. */
  #runTransaction(op: Extract<Op, { kind: 'txn' }>): () => void {
    const overlay = new Map<string, Slot>();
    const scope = transactionScope();
    const ensureActive = scope.check;
    const writer: KvWriter = {
      get: (key) => {
        ensureActive();
        const slot = overlay.get(key);
        if (slot === undefined) return this.get(key);
        return slot === DELETED ? undefined : structuredClone(slot.value);
      },
      range: (prefix, after, limit) => {
        ensureActive();
        return this.#rangeOver(overlay, prefix, after, limit);
      },
      put: (key, value) => {
        ensureActive();
        overlay.set(key, { value: structuredClone(value) });
      },
      remove: (key) => {
        ensureActive();
        const slot = overlay.get(key);
        const existed = slot === undefined ? this.#data.values.has(key) : slot !== DELETED;
        overlay.set(key, DELETED);
        return existed;
      },
    };
    // Like every op here, the transaction settles only after the whole batch is applied.
    let result: unknown;
    try {
      result = op.fn(writer, op.a, op.b);
      if (isThenable(result)) {
        Promise.resolve(result).catch(() => undefined);
        throw new TapioError('ERR_INVALID_ARGUMENT', 'A metadata transaction callback must be synchronous; it returned a promise. Nothing was written.');
      }
    } catch (error) {
      return () => rejectThrough(op.resolve, error);
    } finally {
      scope.end();
    }
    for (const [key, slot] of overlay) {
      if (slot === DELETED) this.#data.delete(key);
      else this.#data.set(key, slot.value);
    }
    return () => op.resolve(result);
  }

  async close(): Promise<void> {
    while (this.#scheduled !== null) await this.#scheduled;
    this.#data = new SortedMap();
  }

  #enqueue(op: Op): void {
    this.#queue.push(op);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled === null) {
      // Like lmdb-js, everything queued in this event turn is committed together afterwards,
      // up to the batch's bound; the rest goes in the batches of the following turns.
      this.#scheduled = new Promise((done) =>
        setImmediate(() => {
          this.#scheduled = null;
          this.#flush();
          done();
        }),
      );
    }
  }

  #flush(): void {
    const started = performance.now();
    const first = this.#head;
    const end = Math.min(this.#queue.length, first + this.#sizer.next());
    const settled: Array<() => void> = [];
    // As in the lmdb backend, the sizer predicts how many ops take BATCH_BUDGET_MS; this bounds
    // it: once the batch has taken that long, the ops not yet run stay queued, first in line.
    let i = first;
    while (i < end && (i === first || performance.now() - started < BATCH_BUDGET_MS)) {
      const op = this.#queue[i] as Op;
      this.#queue[i] = undefined as unknown as Op;
      i++;
      if (op.kind === 'put') {
        this.#data.set(op.key, op.value);
        settled.push(() => op.resolve());
      } else if (op.kind === 'remove') {
        const existed = this.#data.delete(op.key);
        settled.push(() => op.resolve(existed));
      } else {
        settled.push(this.#runTransaction(op));
      }
    }
    this.#head = i;
    if (this.#head >= this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#sizer.record(i - first, performance.now() - started);
    if (this.#head < this.#queue.length) this.#schedule();
    for (const settle of settled) settle();
  }

  /** Range over the committed data, seen through a transaction's overlay when one is given. */
  #rangeOver(overlay: Map<string, Slot> | undefined, prefix: string, after: string | undefined, limit: number): KvEntry[] {
    if (after !== undefined && compareKeys(after, prefix) < 0) after = undefined; // a start before the prefix is the prefix
    const out: KvEntry[] = [];
    const keys = this.#data.keys;
    let i = after === undefined ? this.#data.lowerBound(prefix, false) : this.#data.lowerBound(after, true);
    let pending: string[] = [];
    if (overlay !== undefined) {
      for (const key of overlay.keys()) {
        if (key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0) && !this.#data.values.has(key)) pending.push(key);
      }
      pending = pending.sort(compareKeys);
    }
    let j = 0;
    while (out.length < limit) {
      const base = i < keys.length && (keys[i] as string).startsWith(prefix) ? (keys[i] as string) : undefined;
      const added = j < pending.length ? pending[j] : undefined;
      let key: string;
      if (base === undefined && added === undefined) break;
      if (added === undefined || (base !== undefined && compareKeys(base, added) < 0)) {
        key = base as string;
        i++;
      } else {
        key = added;
        j++;
      }
      const slot = overlay?.get(key);
      if (slot === DELETED) continue;
      const value = slot === undefined ? this.#data.values.get(key) : slot.value;
      out.push({ key, value: structuredClone(value) });
    }
    return out;
  }
}
