/**
 * Subscriptions of the transit store: a named consumer that is handed every committed record, in
 * order and at least once, with its position kept in the metadata store (`checkpoints:{name}`).
 *
 * A subscription keeps one read of the WAL open for as long as records are there to read (a read
 * ends at the newest record durable when it began; the next one begins where it ended, at once
 * when more records are durable by then, else after the next append). Records go to the handler
 * in batches; after each batch the checkpoint is stored. The write of that checkpoint overlaps
 * the reading of the next batch, but the handler sees the next batch only once the checkpoint is
 * durable: after a crash, the records delivered again are those of one batch at most (the one the
 * handler was working on, or the one whose checkpoint was being written).
 */
import { TapioError } from '../errors.js';
import { checkOptionKeys, describeArgument } from './call-options.js';
import type { TransitRecord } from './batch.js';

/** Options of `transit.subscribe` and `transit.subscribeBatches`. */
export interface SubscribeOptions {
  /**
   * The most records in one batch (default 10,000): the checkpoint is stored after each batch, and
   * a crash delivers one batch again at most. A batch holds fewer when fewer records are durable,
   * and it is cut short once its payloads reach 4 MiB (one record at least).
   */
  batchSize?: number;
  /** Where to start when no checkpoint is stored yet: 'oldest' (default) or 'latest'. */
  start?: 'oldest' | 'latest';
}

/** What a subscription is doing: handing out records, stopped by close(), or stopped by a failure. */
export type SubscriptionState = 'running' | 'closed' | 'failed';

/** A running subscription. */
export interface Subscription {
  readonly name: string;
  /** The sequence number of the last record the handler finished (0 before the first). */
  readonly position: number;
  /** 'running', 'closed' (after close()) or 'failed' (see {@link Subscription.error}). */
  readonly state: SubscriptionState;
  /** The error that stopped the subscription, or null. */
  readonly error: Error | null;
  /**
   * Stops after the record in progress (after the batch in progress, for a batch handler) and
   * resolves once the last checkpoint is stored. Never rejects: a failure is in `done`.
   */
  close(): Promise<void>;
  /**
   * Resolves once the subscription stopped after close() and stored its last checkpoint. Rejects
   * with the error that stopped it otherwise: a handler that threw or rejected
   * (ERR_SUBSCRIBER_HANDLER, with the handler's error as `cause`), a checkpoint past the end of
   * the WAL (ERR_CHECKPOINT_AHEAD), a read or a checkpoint write that failed. The same error goes
   * to the transit's `error` listeners (or a process warning when there are none) and to
   * `transit.stats().subscriptions`.
   */
  readonly done: Promise<void>;
}

/** One subscription in `transit.stats().subscriptions`. */
export interface SubscriptionStats {
  name: string;
  /** 'record' for `subscribe`, 'batch' for `subscribeBatches`. */
  handler: 'record' | 'batch';
  state: SubscriptionState;
  /** The last record the handler finished. */
  position: number;
  /** The last checkpoint stored (what a restart resumes after). */
  checkpoint: number;
  /** Records handed to the handler since the subscription started. */
  delivered: number;
  /** Batches whose checkpoint was stored since the subscription started. */
  batches: number;
  /** The message of the error that stopped the subscription, or null. */
  error: string | null;
}

/** The checkpoint store the transit needs (the metadata store's `checkpoints`). */
export interface CheckpointStore {
  get(name: string): Promise<{ seq: number } | null>;
  set(name: string, seq: number): Promise<unknown>;
}

/**
 * What a subscription needs of its transit. The transit builds one from its private state; it is
 * not part of the package's API.
 */
export interface SubscriptionHost {
  /** The newest durable sequence number. */
  lastSeq(): number;
  /** The oldest retained sequence number (the next one's when none is retained). */
  oldestSeq(): number;
  /**
   * A read of the durable records from `fromSeq` on, in arrays of records (what transit.read
   * hands out one by one).
   */
  readBatches(fromSeq: number): AsyncIterator<TransitRecord[]>;
  /** Calls `wake` once after the next append (or close); returns a function that cancels it. */
  wakeOnAppend(wake: () => void): () => void;
  /** Resolves once no retention run is in progress. */
  retentionSettled(): Promise<void>;
  /** Retention deleted records from `from` on that the subscription had not seen. */
  noteBehind(name: string, from: number, oldest: number): void;
  /** The subscription stopped with `err`: report it. */
  failed(err: TapioError): void;
}

export type RecordHandler = (record: TransitRecord) => unknown;
export type BatchHandler = (records: TransitRecord[]) => unknown;

/**
 * The default number of records in a batch. A checkpoint costs an lmdb commit (an fdatasync, 1 to
 * 10 ms): batches of 10,000 keep that below a millisecond per 1,000 records.
 */
export const DEFAULT_BATCH_SIZE = 10_000;
/** A batch is cut short once its payloads add up to this many bytes. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** How often a waiting subscription looks for records appended by worker threads. */
const POLL_MS = 20;
/** The most time a subscription runs without letting other tasks of the event loop in. */
const YIELD_EVERY_MS = 4;
/** Records read or handled between two looks at the clock. */
const CLOCK_EVERY = 256;
/**
 * A per-record handler gets the records of a batch as they are read, this many at most at a time,
 * rather than once the whole batch is gathered: records that are handed over and dropped at once
 * die young, where a gathered batch of 10,000 outlives several young-generation collections and
 * makes each of them copy it (4-6 ms each, the subscription's loop p99). The checkpoint is still
 * stored once per batch.
 */
const RECORD_CHUNK = 512;

const OPTION_KEYS = ['batchSize', 'start'] as const;

/** The checked options of a subscription. */
export interface CheckedSubscribeOptions {
  batchSize: number;
  start: 'oldest' | 'latest';
}

/**
 * Checks the arguments of `transit.<call>(name, handler, options)`; throws ERR_INVALID_ARGUMENT
 * naming what is wrong.
 */
export function checkSubscribeArguments(call: string, name: unknown, handler: unknown, options: unknown): CheckedSubscribeOptions {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) {
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `transit.${call}(name): name must be 1-128 letters, digits, '.', '_' or '-', got ${typeof name === 'string' ? JSON.stringify(name) : describeArgument(name)}`,
    );
  }
  if (typeof handler !== 'function') {
    throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${call}(name, handler): handler must be a function, got ${describeArgument(handler)}`);
  }
  checkOptionKeys(options, OPTION_KEYS, `transit.${call}(name, handler, options)`);
  const o = options as SubscribeOptions;
  const start = o.start ?? 'oldest';
  if (start !== 'oldest' && start !== 'latest') {
    throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${call}({ start }): start must be 'oldest' or 'latest', got ${describeArgument(o.start)}`);
  }
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${call}({ batchSize }): batchSize must be a whole number >= 1, got ${describeArgument(o.batchSize)}`);
  }
  return { batchSize, start };
}

/** A subscription: runs from construction until close() or a failure. */
export class SubscriptionImpl implements Subscription {
  readonly name: string;
  readonly done: Promise<void>;
  readonly #host: SubscriptionHost;
  readonly #checkpoints: CheckpointStore;
  readonly #handler: RecordHandler | BatchHandler;
  readonly #batchMode: boolean;
  readonly #batchSize: number;
  #position = 0;
  #stored = 0;
  #delivered = 0;
  #batches = 0;
  #state: SubscriptionState = 'running';
  #error: Error | null = null;
  #stopping = false;
  /** Ends the current wait for appends, if any. */
  #wake: (() => void) | null = null;
  /** The read in progress, or null between reads. */
  #reader: AsyncIterator<TransitRecord[]> | null = null;
  /** Records read but not yet put in a batch (the rest of an array that overran the last one). */
  #readAhead: TransitRecord[] = [];
  /** When the subscription last let other tasks of the event loop in. */
  #turn = 0;
  /** Records read or handled since the clock was last looked at. */
  #sinceClock = 0;

  constructor(
    host: SubscriptionHost,
    checkpoints: CheckpointStore,
    name: string,
    handler: RecordHandler | BatchHandler,
    batchMode: boolean,
    options: CheckedSubscribeOptions,
  ) {
    this.name = name;
    this.#host = host;
    this.#checkpoints = checkpoints;
    this.#handler = handler;
    this.#batchMode = batchMode;
    this.#batchSize = options.batchSize;
    this.done = this.#run(options.start).then(
      () => {
        this.#state = 'closed';
      },
      (err: unknown) => {
        const error = this.#asReported(err);
        this.#state = 'failed';
        this.#error = error;
        this.#host.failed(error);
        throw error;
      },
    );
    // `done` is the caller's to await; a failure is reported through the host either way, so an
    // unawaited `done` is not an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get position(): number {
    return this.#position;
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  get error(): Error | null {
    return this.#error;
  }

  stats(): SubscriptionStats {
    return {
      name: this.name,
      handler: this.#batchMode ? 'batch' : 'record',
      state: this.#state,
      position: this.#position,
      checkpoint: this.#stored,
      delivered: this.#delivered,
      batches: this.#batches,
      error: this.#error === null ? null : this.#error.message,
    };
  }

  async close(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.done.catch(() => undefined);
  }

  async #run(start: 'oldest' | 'latest'): Promise<void> {
    const host = this.#host;
    const saved = await this.#checkpoints.get(this.name);
    const last = host.lastSeq();
    if (saved && saved.seq > last) {
      // Only durable records are delivered, so the WAL this checkpoint was stored against is gone.
      throw new TapioError(
        'ERR_CHECKPOINT_AHEAD',
        `subscription ${JSON.stringify(this.name)}: its checkpoint is at sequence ${saved.seq}, but the transit WAL ends at ${last}; the WAL was replaced or restored from an older copy. Delete the checkpoint (metadata.checkpoints.delete(${JSON.stringify(this.name)})) to start again from the oldest record, or subscribe under another name`,
        { details: { name: this.name, checkpoint: saved.seq, lastSeq: last } },
      );
    }
    this.#position = saved ? saved.seq : start === 'latest' ? last : Math.max(0, host.oldestSeq() - 1);
    this.#stored = this.#position;
    // A new name's starting point is kept at once, so a restart before the first record resumes
    // there (with 'latest', records appended in between are not skipped).
    if (!saved) await this.#checkpoints.set(this.name, this.#position);

    let pending: Promise<void> | null = null; // the checkpoint being stored
    let storeError: unknown = null;
    const store = (seq: number): Promise<void> =>
      this.#checkpoints.set(this.name, seq).then(
        () => {
          this.#stored = seq;
          this.#batches++;
        },
        (err: unknown) => {
          storeError ??= err;
        },
      );
    const settle = async (): Promise<void> => {
      if (pending !== null) {
        await pending;
        pending = null;
      }
      if (storeError !== null) throw storeError;
    };

    this.#turn = performance.now();
    // A per-record handler's batch is delivered a chunk at a time: what of it was delivered so far.
    let inBatch = 0;
    let inBatchBytes = 0;
    try {
      while (!this.#stopping) {
        const want = this.#batchMode ? this.#batchSize : Math.min(this.#batchSize - inBatch, RECORD_CHUNK);
        const maxBytes = MAX_BATCH_BYTES - inBatchBytes;
        const batch = await this.#nextBatch(want, maxBytes);
        if (batch === null) {
          if (inBatch > 0) {
            // A per-record handler's batch ends where what is durable ends: store its checkpoint.
            inBatch = 0;
            inBatchBytes = 0;
            if (this.#position !== this.#stored) pending = store(this.#position);
            continue;
          }
          // Nothing more is durable: finish the checkpoint, look again, then wait for an append.
          if (pending !== null) {
            await settle();
            continue;
          }
          await this.#waitForAppend();
          continue;
        }
        if (batch.length === 0) continue;
        // The previous batch's checkpoint is durable before the handler sees the next batch.
        if (inBatch === 0) await settle();
        if (this.#stopping) break;
        await this.#deliver(batch);
        inBatch += batch.length;
        for (const r of batch) inBatchBytes += r.data.length;
        // The batch is whole at batchSize records or MAX_BATCH_BYTES, or where what is durable
        // ends (a chunk shorter than asked for); a batch handler's always is.
        if (this.#batchMode || inBatch >= this.#batchSize || inBatchBytes >= MAX_BATCH_BYTES || batch.length < want) {
          inBatch = 0;
          inBatchBytes = 0;
          if (this.#position !== this.#stored) pending = store(this.#position);
        }
        const turn = this.#yieldNowAndThen(CLOCK_EVERY);
        if (turn !== undefined) await turn;
      }
      await settle();
      if (this.#position !== this.#stored) await store(this.#position);
      if (storeError !== null) throw storeError;
    } catch (err) {
      // What the handler finished is kept (best effort: the error that stopped us is reported).
      await pending;
      if (storeError === null && this.#position > this.#stored) await store(this.#position);
      throw err;
    } finally {
      await this.#endRead();
    }
  }

  /**
   * The next batch, or chunk of one: up to `want` records (fewer at the end of what is durable,
   * or once their payloads reach `maxBytes`). An empty array when retention overtook the
   * subscription (it moved on); null when there is nothing to read.
   */
  async #nextBatch(want: number, maxBytes: number): Promise<TransitRecord[] | null> {
    const host = this.#host;
    const batch: TransitRecord[] = [];
    let bytes = 0;
    let next = this.#position + 1;
    /** Moves records from `from` into the batch until it is full; returns how many it took. */
    const take = (from: TransitRecord[]): number => {
      let i = 0;
      while (i < from.length && batch.length < want && bytes < maxBytes) {
        const rec = from[i++]!;
        batch.push(rec);
        bytes += rec.data.length;
      }
      if (i > 0) next = from[i - 1]!.seq + 1;
      return i;
    };
    if (this.#readAhead.length > 0) {
      const held = this.#readAhead;
      this.#readAhead = [];
      const n = take(held);
      if (n < held.length) this.#readAhead = held.slice(n);
    }
    while (batch.length < want && bytes < maxBytes && !this.#stopping) {
      if (this.#reader === null) {
        if (next > host.lastSeq()) break;
        const oldest = host.oldestSeq();
        if (oldest > next) {
          if (batch.length > 0) break; // deliver what was read first
          // Retention deleted records this subscriber had not seen: say so, then go on from the
          // oldest retained one.
          host.noteBehind(this.name, next, oldest);
          this.#position = oldest - 1;
          return [];
        }
        this.#reader = host.readBatches(next);
      }
      let r: IteratorResult<TransitRecord[]>;
      try {
        r = await this.#reader.next();
      } catch (err) {
        this.#reader = null;
        // Retention deleted the segment being read: once the run is done, the check above tells.
        if (!(err instanceof TapioError && err.code === 'ERR_WAL_RETENTION')) throw err;
        await host.retentionSettled();
        if (host.oldestSeq() <= next) throw err;
        continue;
      }
      if (r.done === true) {
        this.#reader = null;
        continue;
      }
      const got = r.value;
      const n = take(got);
      if (n < got.length) this.#readAhead = got.slice(n);
      const turn = this.#yieldNowAndThen(got.length);
      if (turn !== undefined) await turn;
    }
    return batch.length === 0 && !this.#stopping ? null : batch;
  }

  async #deliver(batch: TransitRecord[]): Promise<void> {
    if (this.#batchMode) {
      const first = batch[0]!.seq;
      const last = batch[batch.length - 1]!.seq;
      this.#delivered += batch.length;
      try {
        await (this.#handler as BatchHandler)(batch);
      } catch (err) {
        throw this.#handlerFailed(err, `records ${first} to ${last}`, { firstSeq: first, lastSeq: last });
      }
      this.#position = last;
      return;
    }
    const handler = this.#handler as RecordHandler;
    for (const rec of batch) {
      this.#delivered++;
      try {
        const result = handler(rec);
        // Only a promise is awaited: a synchronous handler costs no turn of the microtask queue.
        if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') await result;
      } catch (err) {
        throw this.#handlerFailed(err, `record ${rec.seq}`, { seq: rec.seq });
      }
      this.#position = rec.seq;
      if (this.#stopping) return;
      const turn = this.#yieldNowAndThen(1);
      if (turn !== undefined) await turn;
    }
  }

  /**
   * Counts `n` records read or handled; now and then looks at the clock and, when the
   * subscription held the event loop for YIELD_EVERY_MS, lets other tasks in (records reach it
   * through microtasks only, which would otherwise hold the loop for a whole catch-up).
   */
  #yieldNowAndThen(n: number): Promise<void> | undefined {
    this.#sinceClock += n;
    if (this.#sinceClock < CLOCK_EVERY) return undefined;
    this.#sinceClock = 0;
    const now = performance.now();
    if (now - this.#turn < YIELD_EVERY_MS) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#turn = performance.now();
        resolve();
      }),
    );
  }

  #handlerFailed(err: unknown, what: string, details: Record<string, unknown>): TapioError {
    const message = err instanceof Error ? err.message : String(err);
    return new TapioError(
      'ERR_SUBSCRIBER_HANDLER',
      `subscription ${JSON.stringify(this.name)} stopped: its handler failed on ${what}: ${message}. The checkpoint stays at ${this.#position}; fix the handler and subscribe again under the same name to resume there`,
      { cause: err, details: { subscription: this.name, ...details, checkpoint: this.#position } },
    );
  }

  /** The error as reported: a handler's is already wrapped; others get the subscription's name. */
  #asReported(err: unknown): TapioError {
    if (err instanceof TapioError && err.code === 'ERR_SUBSCRIBER_HANDLER') return err;
    if (err instanceof TapioError) {
      return new TapioError(err.code, `subscription ${JSON.stringify(this.name)} stopped: ${err.message}`, {
        cause: err,
        details: { ...err.details, subscription: this.name },
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new TapioError('ERR_METADATA_IO', `subscription ${JSON.stringify(this.name)} stopped: ${message}`, {
      cause: err,
      details: { subscription: this.name },
    });
  }

  /** Waits for the next append of this thread, or POLL_MS for those of worker threads, or close(). */
  #waitForAppend(): Promise<void> {
    // Each wait cleans up after itself, so an idle subscription holds nothing.
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        cancel();
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      timer.unref(); // a waiting subscription does not keep the process alive
      const cancel = this.#host.wakeOnAppend(done);
      this.#wake = done;
    });
  }

  async #endRead(): Promise<void> {
    const reader = this.#reader;
    this.#reader = null;
    this.#readAhead = [];
    try {
      await reader?.return?.();
    } catch {
      // The read failed already; its error, if it matters, was thrown where it happened.
    }
  }
}
