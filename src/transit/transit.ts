/**
 * The transit store: the public face of the write-ahead log. It validates input, hands batches
 * to the backend (native or the TypeScript twin), serves reads and subscriptions from the
 * segment files, and applies retention.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import type { TransitConfig } from '../config/index.js';
import { TapioError } from '../errors.js';
import type { AppendResult, RecoveryMode, RecoveryReport, WalBackend, WalOpenOptions, WalWriterStats } from './backend.js';
import { decodeSegmentHeader } from './codec.js';
import { maxPayload, parseSegmentFileName, SEGMENT_HEADER_SIZE } from './format.js';
import { ENTRY_HEADER_SIZE, ringRecordFootprint } from './ring-buffer.js';
import { toBatch, type TransitRecordInput } from './batch.js';
import type { ProducerHandle } from './producer.js';
import { readRecords } from './wal-reader.js';
import { fsyncDir } from './wal-dir.js';
import { lockWalDir } from './wal-lock.js';

export type { TransitRecordInput } from './batch.js';

/** A committed record. `data` is a copy the caller owns. */
export interface TransitRecord {
  seq: number;
  data: Uint8Array;
}

/** Statistics of the transit store (`transit.stats()`). */
export interface TransitStats extends WalWriterStats {
  path: 'native' | 'typescript';
  appends: number;
  meanGroupRecords: number;
  ringFill: number;
  oldestSeq: number;
  segmentsDeleted: number;
  subscribersBehindRetention: number;
  recovery: RecoveryReport;
}

/** Options of {@link Transit.subscribe}. */
export interface SubscribeOptions {
  /** Records handed to the handler before a checkpoint is stored (default 100). */
  batchSize?: number;
  /** Where to start when no checkpoint is stored yet: 'oldest' (default) or 'latest'. */
  start?: 'oldest' | 'latest';
}

/** A running subscription. */
export interface Subscription {
  readonly name: string;
  /** The sequence number of the last record whose handler resolved. */
  readonly position: number;
  /** Stops after the record in progress; resolves once the last checkpoint is stored. */
  close(): Promise<void>;
  /** Resolves when the subscription stops (after close(), or with the handler's error). */
  readonly done: Promise<void>;
}

/** The checkpoint store the transit needs (the metadata store's `checkpoints`). */
export interface CheckpointStore {
  get(name: string): Promise<{ seq: number } | null>;
  set(name: string, seq: number): Promise<unknown>;
}

export interface TransitOpenOptions {
  recovery?: RecoveryMode;
  /** Most bytes one group (one write and one fdatasync) holds (default 4 MiB). */
  maxGroupBytes?: number;
  faultInjection?: WalOpenOptions['faultInjection'];
  /** Force a path: 'native' or 'typescript' (default: native when the addon loads). */
  path?: 'native' | 'typescript';
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
  readonly #subscriptions = new Set<SubscriptionImpl>();
  #appends = 0;
  #closed = false;
  #oldestSeq: number;
  #segmentsDeleted = 0;
  #behind = 0;
  #retentionTimer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  readonly #unlock: () => Promise<void>;

  private constructor(config: TransitConfig, backend: WalBackend, checkpoints: CheckpointStore, unlock: () => Promise<void>) {
    super();
    this.#unlock = unlock;
    this.dir = config.wal_path;
    this.#config = config;
    this.#backend = backend;
    this.#checkpoints = checkpoints;
    this.#oldestSeq = backend.recovery.firstSeq;
    const every = Math.max(1000, Math.min(60_000, Math.floor(config.retention / 4)));
    this.#retentionTimer = setInterval(() => {
      this.applyRetention().catch((err: unknown) => this.emit('error', err));
    }, every);
    this.#retentionTimer.unref();
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
        maxGroupBytes: options.maxGroupBytes ?? 4 * 1024 * 1024,
        ...(options.faultInjection ? { faultInjection: options.faultInjection } : {}),
      },
        options.path,
      );
    } catch (err) {
      await unlock();
      throw err;
    }
    const transit = new Transit(config, backend, checkpoints, unlock);
    await transit.applyRetention();
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

  #prepare(records: readonly TransitRecordInput[], what: string): Uint8Array[] {
    if (this.#closed) throw new TapioError('ERR_CLOSED', `transit.${what}() after close(); open the storage again`);
    const batch = toBatch(records, `transit.${what}`);
    const maxRecord = maxPayload(this.#config.segment_size);
    let ringBytes = ENTRY_HEADER_SIZE;
    for (let i = 0; i < batch.length; i++) {
      const n = batch[i]!.length;
      if (n > maxRecord) {
        throw new TapioError('ERR_RECORD_TOO_LARGE', `transit.${what}(records): record ${i} is ${n} bytes, more than the ${maxRecord} bytes a segment of ${this.#config.segment_size} bytes holds; split it or raise transit.segment_size`, {
          details: { index: i, bytes: n, max: maxRecord },
        });
      }
      ringBytes += ringRecordFootprint(n);
    }
    if (ringBytes > this.#config.ring_capacity / 2) {
      throw new TapioError('ERR_RECORD_TOO_LARGE', `transit.${what}(records): the batch takes ${ringBytes} bytes in the ring buffer, more than half of its ${this.#config.ring_capacity} bytes; split it into smaller appends or raise transit.ring_capacity`, {
        details: { bytes: ringBytes, max: this.#config.ring_capacity / 2 },
      });
    }
    return batch;
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
    return this.#backend.stats().durableSeq;
  }

  /** The oldest retained sequence number (0 when the log is empty). */
  get oldestSeq(): number {
    return this.#oldestSeq;
  }

  /**
   * Reads committed records in sequence order, starting at `fromSeq` (default: the oldest
   * retained), up to the newest durable record at the time each segment is reached.
   */
  read(options: { fromSeq?: number; limit?: number } = {}): AsyncIterableIterator<TransitRecord> {
    const from = this.#checkFromSeq(options.fromSeq, 'read');
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit > 0)) throw new TapioError('ERR_INVALID_ARGUMENT', `transit.read({ limit }): limit must be a positive number, got ${String(options.limit)}`);
    const toSeq = this.lastSeq;
    const dir = this.dir;
    async function* iterate(): AsyncGenerator<TransitRecord> {
      let n = 0;
      if (from > toSeq) return;
      for await (const rec of readRecords(dir, { fromSeq: from, toSeq })) {
        yield rec;
        if (++n >= limit) return;
      }
    }
    return iterate();
  }

  #checkFromSeq(fromSeq: number | undefined, what: string): number {
    if (fromSeq === undefined) return Math.max(1, this.#oldestSeq);
    if (typeof fromSeq !== 'number' || !Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${what}({ fromSeq }): fromSeq must be a whole number >= 1, got ${String(fromSeq)}`);
    }
    const last = this.lastSeq;
    if (fromSeq > last + 1) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.${what}({ fromSeq: ${fromSeq} }) is in the future: the newest record is ${last}; pass at most ${last + 1}`);
    }
    if (this.#oldestSeq > 0 && fromSeq < this.#oldestSeq) {
      throw new TapioError('ERR_WAL_RETENTION', `transit.${what}({ fromSeq: ${fromSeq} }): records before ${this.#oldestSeq} were deleted by retention (${this.#config.retention} ms); start at ${this.#oldestSeq}`, {
        details: { fromSeq, oldestSeq: this.#oldestSeq },
      });
    }
    return fromSeq;
  }

  /** Resolves after the next append is durable (or after close). */
  waitForAppend(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wakeReaders(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Delivers every committed record, in sequence order and at least once, to `handler`, and
   * keeps the position in the metadata store under `checkpoints:{name}` after the handler
   * resolves, so a subscription of the same name resumes there after a restart. When retention
   * deleted records the subscriber had not seen, it emits `behind` ({ name, from, oldest }) on
   * the transit and counts it in stats, then resumes at the oldest retained record.
   */
  subscribe(name: string, handler: (record: TransitRecord) => unknown, options: SubscribeOptions = {}): Subscription {
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.subscribe(name): name must be 1-128 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
    }
    if (typeof handler !== 'function') throw new TapioError('ERR_INVALID_ARGUMENT', 'transit.subscribe(name, handler): handler must be a function');
    const batchSize = options.batchSize ?? 100;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `transit.subscribe: batchSize must be a whole number >= 1, got ${String(options.batchSize)}`);
    }
    for (const s of this.#subscriptions) {
      if (s.name === name) throw new TapioError('ERR_ALREADY_EXISTS', `a subscription named ${JSON.stringify(name)} is already running; close it first`);
    }
    const sub = new SubscriptionImpl(this, name, handler, batchSize, options.start ?? 'oldest', this.#checkpoints);
    this.#subscriptions.add(sub);
    const forget = (): void => {
      this.#subscriptions.delete(sub);
    };
    sub.done.then(forget, forget);
    return sub;
  }

  /** @internal Called by a subscription that found its position deleted by retention. */
  noteBehind(name: string, from: number, oldest: number): void {
    this.#behind++;
    this.emit('behind', { name, from, oldest });
  }

  /**
   * Deletes whole segments whose last write is older than `transit.retention`; never the
   * newest segment. Returns how many were deleted.
   */
  async applyRetention(now = Date.now()): Promise<number> {
    if (this.#closed) return 0;
    const names = (await fsp.readdir(this.dir)).filter((n) => parseSegmentFileName(n) !== null).sort();
    if (names.length <= 1) return 0;
    let deleted = 0;
    for (const name of names.slice(0, -1)) {
      const file = join(this.dir, name);
      const st = await fsp.stat(file);
      if (st.mtimeMs >= now - this.#config.retention) break;
      await fsp.unlink(file);
      deleted++;
    }
    if (deleted > 0) {
      await fsyncDir(this.dir);
      this.#segmentsDeleted += deleted;
      const first = names[deleted]!;
      this.#oldestSeq = await firstSeqOf(join(this.dir, first));
      this.emit('retention', { deleted, oldestSeq: this.#oldestSeq });
    }
    return deleted;
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
      segmentsDeleted: this.#segmentsDeleted,
      subscribersBehindRetention: this.#behind,
      recovery: this.#backend.recovery,
    };
  }

  /** Stops subscriptions, waits for every accepted append to be durable, then stops the writer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#retentionTimer);
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    this.#wakeReaders();
    try {
      await this.#backend.close();
    } finally {
      await this.#unlock();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }
}

async function firstSeqOf(file: string): Promise<number> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
    await handle.read(buf, 0, SEGMENT_HEADER_SIZE, 0);
    const decoded = decodeSegmentHeader(buf);
    if (!decoded.ok) throw new TapioError('ERR_WAL_CORRUPT', `${file}: bad segment header after retention`);
    return decoded.header.firstSeq;
  } finally {
    await handle.close();
  }
}

class SubscriptionImpl implements Subscription {
  readonly name: string;
  readonly done: Promise<void>;
  #position = 0;
  #stopping = false;
  readonly #transit: Transit;

  constructor(
    transit: Transit,
    name: string,
    handler: (record: TransitRecord) => unknown,
    batchSize: number,
    start: 'oldest' | 'latest',
    checkpoints: CheckpointStore,
  ) {
    this.name = name;
    this.#transit = transit;
    this.done = this.#run(handler, batchSize, start, checkpoints);
  }

  get position(): number {
    return this.#position;
  }

  async #run(handler: (record: TransitRecord) => unknown, batchSize: number, start: 'oldest' | 'latest', checkpoints: CheckpointStore): Promise<void> {
    const t = this.#transit;
    const saved = await checkpoints.get(this.name);
    this.#position = saved ? saved.seq : start === 'latest' ? t.lastSeq : Math.max(0, t.oldestSeq - 1);
    let stored = this.#position;
    while (!this.#stopping) {
      const last = t.lastSeq;
      if (this.#position >= last) {
        if (stored !== this.#position) {
          await checkpoints.set(this.name, this.#position);
          stored = this.#position;
        }
        await Promise.race([t.waitForAppend(), this.#stopSignal]);
        continue;
      }
      let from = this.#position + 1;
      if (t.oldestSeq > from) {
        t.noteBehind(this.name, from, t.oldestSeq);
        from = t.oldestSeq;
      }
      let n = 0;
      for await (const rec of t.read({ fromSeq: from, limit: batchSize })) {
        await handler(rec);
        this.#position = rec.seq;
        if (++n >= batchSize || this.#stopping) break;
      }
      if (this.#position !== stored) {
        await checkpoints.set(this.name, this.#position);
        stored = this.#position;
      }
    }
  }

  #resolveStop: (() => void) | undefined;
  readonly #stopSignal = new Promise<void>((resolve) => {
    this.#resolveStop = resolve;
  });

  async close(): Promise<void> {
    this.#stopping = true;
    this.#resolveStop?.();
    await this.done.catch(() => undefined);
  }
}
