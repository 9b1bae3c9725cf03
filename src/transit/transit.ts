/**
 * The transit store: the public face of the write-ahead log. It validates input, hands batches
 * to the backend (native or the TypeScript twin), serves reads and subscriptions from the
 * segment files, and runs retention (retention.ts) and subscriptions (subscription.ts).
 */
import { EventEmitter } from 'node:events';

import type { TransitConfig } from '../config/index.js';
import { TapioError } from '../errors.js';
import type { AppendResult, ProducerHandle, RecoveryMode, RecoveryReport, WalBackend, WalOpenOptions, WalWriterStats } from './backend.js';
import { DEFAULT_MAX_GROUP_BYTES } from './limits.js';
import { toBatch, type TransitRecord, type TransitRecordInput } from './batch.js';
import { checkOptionKeys, describeArgument } from './call-options.js';
import { Retention } from './retention.js';
import {
  checkSubscribeArguments,
  SubscriptionImpl,
  type BatchHandler,
  type CheckpointStore,
  type RecordHandler,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHost,
  type SubscriptionStats,
} from './subscription.js';
import { WalReader, type WalRecord } from './wal-reader.js';
import { WalIndex } from './wal-index.js';
import { lockWalDir } from './wal-lock.js';

export type { TransitRecord, TransitRecordInput } from './batch.js';
export type { CheckpointStore, Subscription, SubscribeOptions, SubscriptionState, SubscriptionStats } from './subscription.js';

/** Statistics of the transit store (`transit.stats()`). */
export interface TransitStats extends WalWriterStats {
  path: 'native' | 'typescript';
  appends: number;
  meanGroupRecords: number;
  ringFill: number;
  /** The oldest retained record's sequence number; the next record's when none is retained. */
  oldestSeq: number;
  segmentsDeleted: number;
  subscribersBehindRetention: number;
  /** Why the last retention run failed (it is tried again at the next one), or null. */
  retentionError: string | null;
  /**
   * Each subscription started since the store opened (the newest of each name): its state, its
   * position and stored checkpoint, and the error that stopped it, if one did.
   */
  subscriptions: SubscriptionStats[];
  recovery: RecoveryReport;
}

/** Options of {@link Transit.read}. */
export interface ReadOptions {
  /** The first sequence number to read (default: the oldest retained). */
  fromSeq?: number;
  /** The most records to read (default: all up to the newest durable when read() was called). */
  limit?: number;
}

const READ_OPTION_KEYS = ['fromSeq', 'limit'] as const;

export interface TransitOpenOptions {
  recovery?: RecoveryMode;
  /** Most bytes one group (one write and one fdatasync) holds (default 4 MiB). */
  maxGroupBytes?: number;
  /** Force a path: 'native' or 'typescript' (default: native when the addon loads). */
  path?: 'native' | 'typescript';
  /**
   * For a log that is another store's WAL: segments are deleted once every record in them has a
   * sequence number at or below what this returns (records the owner has made durable
   * elsewhere), when applyRetention() is called, instead of by age on a timer.
   */
  covered?: () => number;
}

/** Opens the backend of the chosen path. Set by the transit index module. */
export type BackendFactory = (options: WalOpenOptions, path: 'native' | 'typescript' | undefined) => Promise<WalBackend>;

/**
 * The transit write-ahead log.
 *
 * @example
 * ```ts
 * const { firstSeq, lastSeq } = await storage.transit.append(['event 1', 'event 2']);
 * for await (const rec of storage.transit.read({ fromSeq: firstSeq })) console.log(rec.seq);
 * ```
 */
export class Transit extends EventEmitter {
  readonly dir: string;
  readonly #backend: WalBackend;
  readonly #config: TransitConfig;
  readonly #checkpoints: CheckpointStore;
  /** Where reads find segments and records (kept up to date by read(), retention and close()). */
  readonly #index: WalIndex;
  /** The newest subscription of each name, running or stopped (stopped ones stay for stats()). */
  readonly #subscriptions = new Map<string, SubscriptionImpl>();
  readonly #subscriptionHost: SubscriptionHost;
  /** The message of the last subscription failure reported as a process warning. */
  #subscriptionWarning: string | null = null;
  #appends = 0;
  #closed = false;
  /** Reads not yet ended, each with what ends it (close() ends them). */
  readonly #reads = new Map<AsyncGenerator<WalRecord[], void, undefined>, () => Promise<void>>();
  #oldestSeq: number;
  #behind = 0;
  readonly #retention: Retention;
  #waiters = new Set<() => void>();

  readonly #unlock: () => Promise<void>;

  private constructor(config: TransitConfig, backend: WalBackend, checkpoints: CheckpointStore, unlock: () => Promise<void>, options: TransitOpenOptions) {
    super();
    this.#unlock = unlock;
    this.dir = config.wal_path;
    this.#config = config;
    this.#backend = backend;
    this.#checkpoints = checkpoints;
    this.#subscriptionHost = {
      lastSeq: () => this.lastSeq,
      oldestSeq: () => this.#oldestSeq,
      readBatches: (fromSeq) => {
        if (this.#closed) throw new TapioError('ERR_CLOSED', 'a subscription read after close(); open the storage again');
        return this.#readBatches(this.#checkFromSeq(fromSeq, 'subscribe'), Number.POSITIVE_INFINITY) ?? emptyBatches();
      },
      wakeOnAppend: (wake) => {
        this.#waiters.add(wake);
        return () => this.#waiters.delete(wake);
      },
      retentionSettled: () => this.#retention.settled(),
      noteBehind: (name, from, oldest) => {
        this.#behind++;
        this.emit('behind', { name, from, oldest });
      },
      failed: (err) => this.#subscriptionFailed(err),
    };
    // The native writer's O_DIRECT segments are read the same way: the page cache has none of them.
    const writer = backend.stats();
    this.#index = new WalIndex(this.dir, backend.indexSeed, backend.kind === 'native' && writer.directIo ? writer.alignment : 0);
    // With no record on disk (a new log, or one whose newest segment is still empty after
    // retention took the others), the oldest record is the next one to be written.
    this.#oldestSeq = backend.recovery.firstSeq > 0 ? backend.recovery.firstSeq : writer.durableSeq + 1;
    this.#retention = new Retention(
      this.dir,
      options.covered === undefined ? { kind: 'age', ms: config.retention } : { kind: 'covered', covered: options.covered },
      {
        index: this.#index,
        backend,
        oldestSeq: (seq) => {
          this.#oldestSeq = seq;
        },
        announce: (deleted) => this.emit('retention', { deleted, oldestSeq: this.#oldestSeq }),
        // Listeners of 'error' get the error; without one it is reported once per message as a
        // process warning rather than thrown (an unhandled 'error' event would end the process).
        report: (err, repeated) => {
          if (this.listenerCount('error') > 0) this.emit('error', err);
          else if (!repeated)
            process.emitWarning(`tapio-storage transit retention failed: ${err instanceof Error ? err.message : String(err)}`, {
              code: err instanceof TapioError ? err.code : 'ERR_WAL_IO',
            });
        },
      },
    );
  }

  /** Opens (recovering) the WAL directory of `config`. */
  static async open(config: TransitConfig, checkpoints: CheckpointStore, factory: BackendFactory, options: TransitOpenOptions = {}): Promise<Transit> {
    const unlock = await lockWalDir(config.wal_path);
    let backend: WalBackend;
    try {
      backend = await factory(
        {
          dir: config.wal_path,
          segmentSize: config.segment_size,
          ringCapacity: config.ring_capacity,
          directIo: config.direct_io,
          recovery: options.recovery ?? 'strict',
          maxGroupBytes: options.maxGroupBytes ?? DEFAULT_MAX_GROUP_BYTES,
        },
        options.path,
      );
    } catch (err) {
      await unlock();
      throw err;
    }
    const transit = new Transit(config, backend, checkpoints, unlock, options);
    // A failing run does not keep the store from opening: it is reported as the timer's are.
    await transit.applyRetention().catch((err: unknown) => transit.#retention.failed(err));
    transit.#retention.start(() => transit.applyRetention());
    return transit;
  }

  /** Which implementation writes: 'native' or 'typescript'. */
  get path(): 'native' | 'typescript' {
    return this.#backend.kind;
  }

  /** What recovery found and did when the store was opened. */
  get recovery(): RecoveryReport {
    return this.#backend.recovery;
  }

  /**
   * Appends a batch of records. Resolves with the sequence numbers they got once an fdatasync
   * covering them returned; waits while the ring buffer is full (nothing is dropped).
   */
  async append(records: readonly TransitRecordInput[]): Promise<AppendResult> {
    const batch = this.#prepare(records, 'append');
    const result = await this.#backend.append(batch);
    this.#appends++;
    this.#wakeReaders();
    return result;
  }

  /**
   * Like {@link append}, but returns false at once, appending nothing, when the ring buffer is
   * full; otherwise the promise of the append.
   */
  tryAppend(records: readonly TransitRecordInput[]): Promise<AppendResult> | false {
    const batch = this.#prepare(records, 'tryAppend');
    const pending = this.#backend.tryAppend(batch);
    if (pending === null) return false;
    return pending.then((r) => {
      this.#appends++;
      this.#wakeReaders();
      return r;
    });
  }

  /**
   * The batch as bytes (strings as UTF-8, views as the bytes they hold). The backend checks it
   * against the WAL's limits (batchInputError in wal-input.ts), once, as it does for a worker's
   * producer.
   */
  #prepare(records: readonly TransitRecordInput[], what: string): Uint8Array[] {
    if (this.#closed) throw new TapioError('ERR_CLOSED', `transit.${what}() after close(); open the storage again`);
    return toBatch(records, `transit.${what}`);
  }

  /**
   * A handle for a worker thread to append into this WAL: post it to the worker (with
   * `transferList(handle)` as the transfer list) and call `attachProducer(handle)` there.
   */
  producerHandle(): ProducerHandle {
    if (this.#closed) throw new TapioError('ERR_CLOSED', 'transit.producerHandle() after close()');
    return this.#backend.producerHandle();
  }

  /** The newest durable sequence number (0 when nothing was written). */
  get lastSeq(): number {
    return this.#backend.lastDurableSeq();
  }

  /**
   * The sequence number of the oldest retained record; when no record is retained (a new log),
   * that of the next record to be appended.
   */
  get oldestSeq(): number {
    return this.#oldestSeq;
  }

  /**
   * Reads committed records in sequence order, starting at `fromSeq` (default: the oldest
   * retained), up to the newest record that was durable when read() was called, and at most
   * `limit` of them.
   */
  read(options: ReadOptions = {}): AsyncIterableIterator<TransitRecord> {
    if (this.#closed) throw new TapioError('ERR_CLOSED', 'transit.read() after close(); open the storage again');
    checkOptionKeys(options, READ_OPTION_KEYS, 'transit.read(options)');
    const from = this.#checkFromSeq(options.fromSeq, 'read');
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (limit !== Number.POSITIVE_INFINITY && !(typeof limit === 'number' && Number.isSafeInteger(limit) && limit > 0)) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.read({ limit }): limit must be a whole number >= 1, got ${describeArgument(options.limit)}`);
    }
    return records(this.#readBatches(from, limit), limit);
  }

  /**
   * The durable records from `from` on (at most `limit`) in arrays, as the reader hands them out;
   * null when there is none.
   */
  #readBatches(from: number, limit: number): AsyncGenerator<WalRecord[], void, undefined> | null {
    const toSeq = this.lastSeq;
    if (from > toSeq) return null;
    // Entries the writer made up to now cover every durable record (they run ahead of it).
    this.#index.absorb(this.#backend.takeIndexPoints());
    const reader = new WalReader(this.dir, {
      fromSeq: from,
      toSeq,
      exactStart: true,
      locator: this.#index,
      ...(limit !== Number.POSITIVE_INFINITY ? { limit } : {}),
    });
    return this.#tracked(reader.batches(), toSeq, limit);
  }

  /**
   * `batches`, known to the store until it ends, so that close() can end it: a read its caller
   * left unfinished (next() called, then dropped) would hold segment files open until the
   * garbage collector closed them. After close() ended it, its next step throws ERR_CLOSED, unless
   * it had handed out every record it was to read (up to `toSeq`, or `limit` of them): then it ends.
   */
  #tracked(batches: AsyncGenerator<WalRecord[], void, undefined>, toSeq: number, limit: number): AsyncGenerator<WalRecord[], void, undefined> {
    const reads = this.#reads;
    let closedByStore = false;
    let lastSeq = 0;
    let delivered = 0;
    const tracked: AsyncGenerator<WalRecord[], void, undefined> = {
      async next() {
        if (closedByStore) {
          if (lastSeq >= toSeq || delivered >= limit) return { value: undefined, done: true };
          throw new TapioError('ERR_CLOSED', 'transit read: the storage was closed while it was being read; open the storage again and resume');
        }
        let r: IteratorResult<WalRecord[], void>;
        try {
          r = await batches.next();
        } catch (err) {
          reads.delete(tracked);
          throw err;
        }
        if (r.done === true) reads.delete(tracked);
        else if (r.value.length > 0) {
          lastSeq = r.value[r.value.length - 1]!.seq;
          delivered += r.value.length;
        }
        return r;
      },
      async return(value) {
        // Known to the store until it has ended, so that a close() meanwhile waits for it.
        try {
          return await batches.return(value);
        } finally {
          reads.delete(tracked);
        }
      },
      async throw(err: unknown) {
        try {
          return await batches.throw(err);
        } finally {
          reads.delete(tracked);
        }
      },
      [Symbol.asyncIterator]() {
        return tracked;
      },
    };
    reads.set(tracked, () => {
      closedByStore = true;
      return batches.return(undefined).then(() => undefined);
    });
    return tracked;
  }

  #checkFromSeq(fromSeq: number | undefined, what: string): number {
    if (fromSeq === undefined) return Math.max(1, this.#oldestSeq);
    if (typeof fromSeq !== 'number' || !Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${what}({ fromSeq }): fromSeq must be a whole number >= 1, got ${describeArgument(fromSeq)}`);
    }
    const last = this.lastSeq;
    if (fromSeq > last + 1) {
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        `transit.${what}({ fromSeq: ${fromSeq} }) is in the future: the newest record is ${last}; pass at most ${last + 1}`,
      );
    }
    if (this.#oldestSeq > 0 && fromSeq < this.#oldestSeq) {
      throw new TapioError(
        'ERR_WAL_RETENTION',
        `transit.${what}({ fromSeq: ${fromSeq} }): records before ${this.#oldestSeq} were deleted by retention (${this.#config.retention} ms); start at ${this.#oldestSeq}`,
        {
          details: { fromSeq, oldestSeq: this.#oldestSeq },
        },
      );
    }
    return fromSeq;
  }

  /** Resolves after the next append is durable (or after close). */
  waitForAppend(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  #wakeReaders(): void {
    // Index entries of what was just written: sealed segments get their index file soon after.
    this.#index.absorb(this.#backend.takeIndexPoints());
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  /**
   * Delivers every committed record, in sequence order and at least once, to `handler`, one
   * record at a time, in batches of up to `batchSize` records (default 10,000). After each batch
   * the position is stored in the metadata store under `checkpoints:{name}`, and the handler sees
   * the next batch only once that checkpoint is durable: a subscription of the same name resumes
   * after it, and after a crash at most one batch is delivered again. A handler that returns a
   * promise is awaited before the next record; a synchronous one is not.
   *
   * When retention deleted records the subscriber had not seen, it emits `behind`
   * ({ name, from, oldest }) on the transit and counts it in stats, then resumes at the oldest
   * retained record. When the handler throws (or a read or a checkpoint write fails), the
   * subscription stops: `done` rejects, the error goes to the transit's `error` listeners (a
   * process warning when there are none) and to `stats().subscriptions`.
   *
   * @example
   * ```ts
   * const sub = storage.transit.subscribe('indexer', async ({ seq, data }) => {
   *   await index(seq, data);
   * });
   * storage.transit.on('error', (err) => console.error(err.message));
   * // later
   * await sub.close();
   * ```
   */
  subscribe(name: string, handler: (record: TransitRecord) => unknown, options: SubscribeOptions = {}): Subscription {
    return this.#subscribe('subscribe', name, handler, false, options);
  }

  /**
   * Like {@link subscribe}, but the handler takes each batch as an array of up to `batchSize`
   * records (default 10,000; fewer when fewer are durable, or when their payloads reach 4 MiB).
   * The checkpoint is stored after each batch the handler finished (its promise resolved).
   *
   * @example
   * ```ts
   * const sub = storage.transit.subscribeBatches('correlator', async (records) => {
   *   await correlate(records); // records[0].seq ... records.at(-1).seq, in order
   * }, { batchSize: 5000 });
   * ```
   */
  subscribeBatches(name: string, handler: (records: TransitRecord[]) => unknown, options: SubscribeOptions = {}): Subscription {
    return this.#subscribe('subscribeBatches', name, handler, true, options);
  }

  #subscribe(call: string, name: string, handler: RecordHandler | BatchHandler, batchMode: boolean, options: SubscribeOptions): Subscription {
    if (this.#closed) throw new TapioError('ERR_CLOSED', `transit.${call}() after close(); open the storage again`);
    const checked = checkSubscribeArguments(call, name, handler, options);
    if (this.#subscriptions.get(name)?.state === 'running') {
      throw new TapioError('ERR_ALREADY_EXISTS', `a subscription named ${JSON.stringify(name)} is already running; close it first`);
    }
    const sub = new SubscriptionImpl(this.#subscriptionHost, this.#checkpoints, name, handler, batchMode, checked);
    this.#subscriptions.set(name, sub);
    return sub;
  }

  /**
   * A subscription stopped with `err`. Listeners of 'error' get it; without one it is reported
   * as a process warning (once while the same message repeats) rather than thrown (an unhandled
   * 'error' event would end the process).
   */
  #subscriptionFailed(err: TapioError): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err);
      return;
    }
    if (this.#subscriptionWarning === err.message) return;
    this.#subscriptionWarning = err.message;
    process.emitWarning(`tapio-storage transit ${err.message}`, { code: err.code });
  }

  /**
   * Deletes whole segments whose last write is older than `transit.retention`; never the two
   * newest. Returns how many were deleted. Runs one at a time: a call made while another runs
   * waits for it and then runs.
   */
  applyRetention(now = Date.now()): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    return this.#retention.run(now);
  }

  /** Counters: records, bytes, groups, mean group size, fdatasync latency, ring fill, direct I/O. */
  stats(): TransitStats {
    const s = this.#backend.stats();
    return {
      ...s,
      path: this.#backend.kind,
      appends: this.#appends,
      meanGroupRecords: s.groups === 0 ? 0 : s.records / s.groups,
      ringFill: s.ringCapacity === 0 ? 0 : s.ringUsedBytes / s.ringCapacity,
      oldestSeq: this.#oldestSeq,
      segmentsDeleted: this.#retention.segmentsDeleted,
      subscribersBehindRetention: this.#behind,
      retentionError: this.#retention.error,
      subscriptions: [...this.#subscriptions.values()].map((sub) => sub.stats()),
      recovery: this.#backend.recovery,
    };
  }

  /** Stops subscriptions, waits for every accepted append to be durable, then stops the writer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#retention.stop();
    // Subscriptions stop first (they would read from a closed store), then a retention run under
    // way finishes before the lock is released.
    const subscriptions = [...this.#subscriptions.values()].map((s) => s.close());
    await this.#retention.settled();
    await Promise.all(subscriptions);
    this.#wakeReaders();
    try {
      this.#index.absorb(this.#backend.takeIndexPoints());
      await this.#backend.close();
      this.#index.absorb(this.#backend.takeIndexPoints());
    } finally {
      // Even after a failed writer: reads left unfinished are ended and the segment files reads
      // kept open are closed.
      await Promise.all([...this.#reads.values()].map((end) => end().catch(() => undefined)));
      this.#reads.clear();
      await this.#index.close();
      await this.#unlock();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** A read with nothing in it. */
async function* emptyBatches(): AsyncGenerator<WalRecord[], void, undefined> {}

/**
 * The records of `batches` one by one, at most `limit` of them. Built on arrays of records
 * rather than an async generator per record: handing out a record already in memory costs one
 * resolved promise. The reader gives the event loop its turns between arrays.
 */
function records(batches: AsyncGenerator<WalRecord[], void, undefined> | null, limit: number): AsyncIterableIterator<TransitRecord> {
  const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
  let buf: WalRecord[] = [];
  let at = 0;
  let left = limit;
  let finished = batches === null;
  /** A refill under way: a next() called meanwhile waits for it. */
  let refilling: Promise<IteratorResult<TransitRecord>> | null = null;
  const finish = async (): Promise<IteratorResult<TransitRecord>> => {
    if (!finished) {
      finished = true;
      buf = [];
      await batches!.return(undefined);
    }
    return DONE;
  };
  const refill = async (): Promise<IteratorResult<TransitRecord>> => {
    if (finished || left <= 0) return finish();
    let r: IteratorResult<WalRecord[], void>;
    try {
      r = await batches!.next();
    } catch (err) {
      finished = true;
      throw err;
    }
    if (r.done === true) {
      finished = true;
      return DONE;
    }
    buf = r.value;
    at = 0;
    left--;
    return { value: buf[at++]!, done: false };
  };
  const it: AsyncIterableIterator<TransitRecord> = {
    next(): Promise<IteratorResult<TransitRecord>> {
      if (refilling !== null) return refilling.then(() => it.next());
      if (at < buf.length && left > 0) {
        left--;
        return Promise.resolve({ value: buf[at++]!, done: false });
      }
      const p = refill();
      refilling = p;
      const clear = (): void => {
        if (refilling === p) refilling = null;
      };
      p.then(clear, clear);
      return p;
    },
    return(): Promise<IteratorResult<TransitRecord>> {
      return finish();
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
