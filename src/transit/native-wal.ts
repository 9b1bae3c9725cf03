/**
 * The native WAL backend: the C++ ring buffer, writer and sync threads (native/core/wal_writer.h)
 * behind the addon's openWal() and NativeProducer. This module turns the writer's
 * acknowledgements into settled promises; it holds no state those threads touch.
 */
import { resolve as resolvePath } from 'node:path';

import { TapioError } from '../errors.js';
import { loadNative, type NativeAddon, type NativeProducer, type NativeWalStats, type NativeWalWriter } from '../native/loader.js';
import {
  AckTurns,
  type AppendResult,
  type BatchLimits,
  type IndexSeed,
  type RecoveryReport,
  type WalBackend,
  type WalOpenOptions,
  type WalWriterStats,
} from './backend.js';
import { damageText, reasonError, reasonText } from './reasons.js';
import { batchInputError, checkWalOpenOptions } from './wal-input.js';
import { takeFaults } from './test-hooks.js';

/** The addon functions the native backend uses. */
export type NativeWalAddon = Pick<NativeAddon, 'openWal' | 'NativeProducer'>;

interface Deferred {
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

const NO_POINTS = new Float64Array(0);

/** Staged bytes that make the stage push at once instead of when the current task's microtasks run. */
const PUSH_NOW_BYTES = 1 << 20;
/**
 * A batch at least this large pushes at once (with whatever was staged before it): copying it
 * costs more than the crossing, and the writer thread can encode and write it while the next
 * one is staged. Smaller batches wait for the end of the task, so a burst of them forms one group.
 */
const BIG_BATCH_BYTES = 64 * 1024;

function tooLarge(): TapioError {
  return new TapioError(
    'ERR_RECORD_TOO_LARGE',
    'the batch does not fit: a record is larger than a segment holds, or the batch is larger than half the ring buffer; split it or raise transit.segment_size / ring_capacity',
  );
}

function closedError(): TapioError {
  return new TapioError('ERR_CLOSED', 'the transit WAL is closed (or closing); open the store again to append');
}

function asBytes(record: unknown, index: number): Uint8Array {
  if (record instanceof Uint8Array) return record;
  if (ArrayBuffer.isView(record)) return new Uint8Array(record.buffer, record.byteOffset, record.byteLength);
  throw new TapioError('ERR_INVALID_ARGUMENT', `record ${index} must be a Uint8Array`);
}

function grown<T extends Uint8Array | Uint32Array | Float64Array>(array: T, need: number, make: (n: number) => T): T {
  if (need <= array.length) return array;
  let n = array.length * 2;
  while (n < need) n *= 2;
  const next = make(n);
  next.set(array);
  return next;
}

/** One acknowledgement from the writer: the batch's ticket and its sequence numbers (first < 0: failed). */
interface Ack {
  ticket: number;
  first: number;
  last: number;
}

/**
 * Appends from one JavaScript thread to an open native WAL, by its writer id. The thread that
 * opened the WAL has one; a worker thread makes its own from the id it was handed.
 *
 * Appends are staged: an append copies its records into one buffer (so the caller may reuse
 * its arrays at once), and the batches staged during one task cross into native code together,
 * in one call, when the task's microtasks run (large batches and a full stage go at once). A
 * burst of small appends then costs one boundary crossing and one wake-up of the writer
 * thread, and becomes one group. Nothing waits for more appends: the push happens before the
 * event loop moves on.
 *
 * When the ring is full, the batch that found no room and every later append stay in the
 * stage, in call order, and each space event pushes from the first of them for as long as
 * they fit. So appends that wait for space enter the ring (and get their sequence numbers) in
 * call order, a large batch is not overtaken by smaller later ones, and tryAppend() returns
 * null while anything waits, as with the TypeScript twin.
 *
 * Acknowledgements settle one event per turn of the event loop: Node delivers the writer's events
 * one after another in one callback, running the microtasks of each in between, so a caller that
 * appends again as soon as it is acknowledged (a loop of inserts) kept the loop in that callback
 * while the writer kept up: 576 ms without a turn for 100 inserts of 1,000 findings. So a turn
 * settles the acknowledgements of one event, up to ACK_RECORDS_PER_TURN records, as the TypeScript
 * writer does (both through AckTurns); the rest are held and settled from setImmediate, in order.
 */
export class NativeAppender {
  readonly #producer: NativeProducer;
  readonly #limits: BatchLimits | undefined;
  readonly #pending = new Map<number, Deferred>();
  #ticket = 0;
  #failure: TapioError | null = null;
  #referenced = false;
  #idle: Array<() => void> = [];

  // The staged batches: record bytes back to back, their lengths, and (ticket, record count)
  // per batch, in append order. While the ring is full, what lies before the *Start marks was
  // pushed already and the rest waits for space.
  #bytes = new Uint8Array(64 * 1024);
  #byteStart = 0;
  #byteCount = 0;
  #lengths = new Uint32Array(1024);
  #lengthStart = 0;
  #lengthCount = 0;
  #batches = new Float64Array(256);
  #batchStart = 0;
  #batchCount = 0;
  #status = new Uint8Array(128);
  #pushScheduled = false;
  /** The first staged batch not yet pushed found no room in the ring; a space event pushes again. */
  #blocked = false;
  /** The writer's acknowledgements, settled a turn of the event loop at a time. */
  readonly #acks = new AckTurns<Ack>(
    (a) => (a.first < 0 || !this.#pending.has(a.ticket) ? 0 : a.last - a.first + 1),
    (a) => this.#settle(a),
    () => this.#updateRef(),
  );

  /**
   * With `limits` (the WAL's segment size and ring capacity), each batch is checked as the
   * TypeScript twin checks it (wal-input.ts) before it is staged; worker threads get them from
   * their producer handle. Without them only the writer's own limits apply (it refuses a batch
   * too large, with a less precise message).
   */
  constructor(addon: NativeWalAddon, writerId: number, limits?: BatchLimits) {
    this.#producer = new addon.NativeProducer(writerId, (acks, failure, space) => this.#onEvents(acks, failure, space));
    this.#limits = limits;
  }

  /** Appends; while the ring is full, waits behind earlier appends that wait. */
  append(records: Uint8Array[]): Promise<AppendResult> {
    const refused = this.#refusal(records);
    if (refused !== null) return Promise.reject(refused);
    let result: Promise<AppendResult>;
    const before = this.#byteCount;
    try {
      result = this.#stage(records);
    } catch (err) {
      return Promise.reject(err);
    }
    // Behind a blocked push the batch waits its turn in the stage: the next space event pushes it.
    if (this.#blocked) return result;
    if (this.#byteCount >= PUSH_NOW_BYTES || this.#byteCount - before >= BIG_BATCH_BYTES) {
      this.#push();
    } else if (!this.#pushScheduled) {
      this.#pushScheduled = true;
      queueMicrotask(() => this.#push());
    }
    return result;
  }

  /** Appends, or returns null at once when the ring is full or appends wait for space. */
  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    const refused = this.#refusal(records);
    if (refused !== null) return Promise.reject(refused);
    if (!this.#blocked && this.#batchCount > 0) this.#push(); // earlier appends go first
    if (this.#blocked) return null;
    let result: Promise<AppendResult>;
    try {
      result = this.#stage(records);
    } catch (err) {
      return Promise.reject(err);
    }
    const ticket = this.#ticket;
    this.#push();
    if (this.#blocked) {
      // Only this batch was staged: take it back.
      this.#pending.delete(ticket);
      this.#byteCount = this.#lengthCount = this.#batchCount = 0;
      this.#blocked = false;
      this.#updateRef();
      return null;
    }
    return result;
  }

  /** The error an append must be refused with, or null; in the twin's order. */
  #refusal(records: Uint8Array[]): TapioError | null {
    if (this.#failure !== null) return this.#failure;
    return this.#limits === undefined ? null : batchInputError(records, this.#limits);
  }

  /** Copies a batch into the stage and registers its promise. */
  #stage(records: Uint8Array[]): Promise<AppendResult> {
    let bytes = 0;
    for (let i = 0; i < records.length; i++) bytes += asBytes(records[i], i).byteLength;
    if (bytes > 0xffffffff) throw tooLarge();
    this.#bytes = grown(this.#bytes, this.#byteCount + bytes, (n) => new Uint8Array(n));
    this.#lengths = grown(this.#lengths, this.#lengthCount + records.length, (n) => new Uint32Array(n));
    this.#batches = grown(this.#batches, 2 * this.#batchCount + 2, (n) => new Float64Array(n));
    const stage = this.#bytes;
    const lengths = this.#lengths;
    let at = this.#byteCount;
    let l = this.#lengthCount;
    for (let i = 0; i < records.length; i++) {
      const r = asBytes(records[i], i);
      stage.set(r, at);
      at += r.byteLength;
      lengths[l++] = r.byteLength;
    }
    const ticket = ++this.#ticket;
    this.#batches[2 * this.#batchCount] = ticket;
    this.#batches[2 * this.#batchCount + 1] = records.length;
    this.#batchCount++;
    this.#byteCount = at;
    this.#lengthCount = l;
    const result = new Promise<AppendResult>((resolve, reject) => {
      this.#pending.set(ticket, { resolve, reject });
    });
    this.#updateRef();
    return result;
  }

  /** Hands the staged batches to the writer in order, as many as the ring takes now. */
  #push(): void {
    this.#pushScheduled = false;
    const from = this.#batchStart;
    const count = this.#batchCount - from;
    if (count === 0) return;
    this.#status = grown(this.#status, count, (n) => new Uint8Array(n));
    let done: number;
    try {
      done =
        from === 0
          ? this.#producer.pushBatches(this.#bytes, this.#lengths, this.#batches, count, this.#status)
          : this.#producer.pushBatches(
              this.#bytes.subarray(this.#byteStart),
              this.#lengths.subarray(this.#lengthStart),
              this.#batches.subarray(2 * from),
              count,
              this.#status,
            );
    } catch (err) {
      this.#dropStaged(err as Error);
      return;
    }
    let records = 0;
    for (let b = 0; b < done; b++) {
      const at = 2 * (from + b);
      records += this.#batches[at + 1]!;
      const status = this.#status[b];
      if (status === 0) continue;
      const ticket = this.#batches[at]!;
      const d = this.#pending.get(ticket);
      this.#pending.delete(ticket);
      d?.reject(status === 2 ? tooLarge() : (this.#failure ?? new TapioError('ERR_CLOSED', 'the transit WAL is closed')));
    }
    if (done === count) {
      this.#byteStart = this.#byteCount = this.#lengthStart = this.#lengthCount = this.#batchStart = this.#batchCount = 0;
      this.#blocked = false;
    } else {
      // The rest waits for a space event. What was pushed stays in front of it until it is at
      // least as large as the rest (counting all three arrays' bytes): moving the rest to the
      // front then costs no more than staging what was pushed did, however long the ring stays full.
      let bytes = 0;
      for (let i = this.#lengthStart, end = i + records; i < end; i++) bytes += this.#lengths[i]!;
      this.#byteStart += bytes;
      this.#lengthStart += records;
      this.#batchStart += done;
      this.#blocked = true;
      const front = this.#byteStart + 4 * this.#lengthStart + 16 * this.#batchStart;
      if (2 * front >= this.#byteCount + 4 * this.#lengthCount + 16 * this.#batchCount) {
        this.#bytes.copyWithin(0, this.#byteStart, this.#byteCount);
        this.#lengths.copyWithin(0, this.#lengthStart, this.#lengthCount);
        this.#batches.copyWithin(0, 2 * this.#batchStart, 2 * this.#batchCount);
        this.#byteCount -= this.#byteStart;
        this.#lengthCount -= this.#lengthStart;
        this.#batchCount -= this.#batchStart;
        this.#byteStart = this.#lengthStart = this.#batchStart = 0;
      }
    }
    this.#updateRef();
  }

  /** Rejects the staged batches not yet pushed (waiting ones included) and empties the stage. */
  #dropStaged(err: Error): void {
    for (let b = this.#batchStart; b < this.#batchCount; b++) {
      const ticket = this.#batches[2 * b]!;
      const d = this.#pending.get(ticket);
      this.#pending.delete(ticket);
      d?.reject(err);
    }
    this.#byteStart = this.#byteCount = this.#lengthStart = this.#lengthCount = this.#batchStart = this.#batchCount = 0;
    this.#blocked = false;
    this.#updateRef();
  }

  #onEvents(acks: Float64Array, failure: TapioError | undefined, space: boolean): void {
    if (failure !== undefined && this.#failure === null) this.#failure = failure;
    const triples: Ack[] = [];
    for (let i = 0; i + 2 < acks.length; i += 3) triples.push({ ticket: acks[i]!, first: acks[i + 1]!, last: acks[i + 2]! });
    this.#acks.add(triples);
    if (this.#failure) {
      // The failed writer takes nothing more: what is staged, appends waiting for space
      // included, fails now.
      if (this.#batchCount > this.#batchStart) this.#dropStaged(this.#failure);
    } else if (space && this.#blocked) {
      this.#push();
    }
    this.#updateRef();
  }

  /** Settles the append an acknowledgement names (rejects it when the writer failed). */
  #settle(ack: Ack): void {
    const d = this.#pending.get(ack.ticket);
    if (!d) return;
    this.#pending.delete(ack.ticket);
    if (ack.first < 0) d.reject(this.#failure ?? new TapioError('ERR_WAL_IO', 'the transit WAL failed'));
    else d.resolve({ firstSeq: ack.first, lastSeq: ack.last });
  }

  // While anything waits on the writer (for its acknowledgement or for ring space), keep the
  // event loop alive so the promises settle.
  #updateRef(): void {
    const busy = this.#pending.size > 0;
    if (busy && !this.#referenced) this.#producer.ref();
    if (!busy && this.#referenced) this.#producer.unref();
    this.#referenced = busy;
    if (!busy) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Resolves when no append of this thread is pending (waiting for space or for the writer). */
  settled(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Detaches from the writer; later appends are refused. */
  detach(): void {
    if (this.#batchCount > this.#batchStart) this.#dropStaged(new TapioError('ERR_CLOSED', 'the transit WAL is closed'));
    this.#producer.detach();
  }
}

/** The native backend of the transit store. */
export class NativeWal implements WalBackend {
  readonly kind = 'native' as const;
  readonly recovery: RecoveryReport;
  readonly indexSeed: IndexSeed;
  readonly #writer: NativeWalWriter;
  readonly #appender: NativeAppender;
  readonly #limits: BatchLimits;
  #closing: Promise<void> | undefined;
  #final: NativeWalStats | undefined;

  private constructor(writer: NativeWalWriter, appender: NativeAppender, limits: BatchLimits) {
    this.#writer = writer;
    this.#appender = appender;
    this.#limits = limits;
    const r = writer.recovery;
    this.recovery = {
      segments: r.segments,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      bytesScanned: r.bytesScanned,
      tornBytes: r.tornBytes,
      ...(r.brokenFile ? { brokenFile: r.brokenFile } : {}),
      salvaged: r.salvaged.map(({ segment, offset, bytes, damage }) => ({ segment, offset, bytes, reason: damageText(damage.details, damage.reason) })),
      sealedSegments: r.sealedSegments,
      ...(r.checkpointIgnored !== undefined ? { checkpointIgnored: reasonText(r.checkpointIgnored.reason, r.checkpointIgnored.details) } : {}),
      removedFiles: r.removedFiles,
      setAside: r.setAside,
      ...(r.setAsideIgnored !== undefined ? { setAsideIgnored: reasonText(r.setAsideIgnored.reason, r.setAsideIgnored.details) } : {}),
    };
    const segments = [];
    for (let i = 0; i + 2 < r.segmentList.length; i += 3) {
      segments.push({ number: r.segmentList[i]!, firstSeq: r.segmentList[i + 1]!, scanned: r.segmentList[i + 2] === 1 });
    }
    this.indexSeed = { storeId: r.storeId, segments, points: r.indexPoints };
  }

  takeIndexPoints(): Float64Array {
    return this.#writer.takeIndexPoints() ?? NO_POINTS;
  }

  /**
   * Checks the options as the twin does, recovers the directory (off the event loop) and starts
   * the writer's threads.
   */
  static async open(options: WalOpenOptions): Promise<NativeWal> {
    const opts = { ...options, dir: resolvePath(checkWalOpenOptions(options).dir) };
    const addon = loadNative();
    if (!addon) throw new TapioError('ERR_NATIVE', 'the native addon is not loaded; use the TypeScript path');
    // A fault-injection test may have planned a layer under this writer (test-hooks.ts).
    const faults = takeFaults(opts.dir);
    const writer = await addon.openWal(faults !== undefined ? { ...opts, faultInjection: faults } : opts);
    const limits = { segmentSize: opts.segmentSize, ringCapacity: opts.ringCapacity };
    return new NativeWal(writer, new NativeAppender(addon, writer.id, limits), limits);
  }

  /** The id worker threads use to attach their own producers. */
  get writerId(): number {
    return this.#writer.id;
  }

  producerHandle(): { kind: 'native'; writerId: number; limits: BatchLimits } {
    if (this.#closing) throw new TapioError('ERR_CLOSED', 'the transit WAL is closed; open the store again');
    return { kind: 'native', writerId: this.#writer.id, limits: { ...this.#limits } };
  }

  append(records: Uint8Array[]): Promise<AppendResult> {
    // As in the twin: once close() began, nothing more is taken (close waits for what was).
    if (this.#closing) return Promise.reject(closedError());
    return this.#appender.append(records);
  }

  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    if (this.#closing) return Promise.reject(closedError());
    return this.#appender.tryAppend(records);
  }

  lastDurableSeq(): number {
    return this.#final?.durableSeq ?? this.#writer.durableSeq();
  }

  stats(): WalWriterStats {
    // After close, the counters close() resolved with (as the twin, which keeps its own).
    const s = this.#final ?? this.#writer.stats();
    return {
      records: s.records,
      bytes: s.bytes,
      groups: s.groups,
      syncLatencyUs: s.syncLatencyUs,
      ringUsedBytes: s.ringUsedBytes,
      ringCapacity: s.ringCapacity,
      directIo: s.directIo,
      alignment: s.alignment,
      durableSeq: s.durableSeq,
      failed: s.failed === null ? null : reasonError(s.failed.reason, s.failed.details).message,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#appender.settled();
      // The handle refuses stats() from the moment close() is called: keep the counts meanwhile.
      this.#final = this.#writer.stats();
      this.#final = await this.#writer.close();
      this.#appender.detach();
    })();
    return this.#closing;
  }
}
