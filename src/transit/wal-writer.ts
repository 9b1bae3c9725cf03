/**
 * The TypeScript twin of the native WAL writer (native/core/wal_writer): appends go into a
 * ring buffer, one async writer loop drains it in groups, writes each group with one
 * positional write and makes it durable with one fdatasync, then resolves every append the
 * group covered. It writes the same bytes as the native writer in buffered mode.
 *
 * Buffered I/O only: O_DIRECT needs buffers aligned to the file system block (4096 bytes), and
 * JavaScript cannot promise the alignment of a Buffer's memory, so this path never uses it and
 * reports directIo: false. Durability never depended on O_DIRECT: fdatasync provides it.
 *
 * Segment files are preallocated with ftruncate, which leaves a sparse file: Node has no
 * fallocate, and writing 64 MiB of zeros per segment would cost a second or more on a slow disk
 * for no gain in what a reader sees (the bytes read back are zeros either way, and recovery
 * treats both alike). The price is that a full disk can surface as ENOSPC on a later group
 * write rather than at segment creation; that puts the writer in its failed state like any
 * other write error.
 *
 * Record writes and fdatasyncs go through a FileLayer (file-layer.ts): the system's, or for
 * tests a FaultyFileLayer that fails the Nth write or fdatasync and forgets what no fdatasync
 * covered, exactly as under the native writer; writes that create segment files do not go
 * through it, so a test can aim at "the third group" without knowing when segments roll.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';

import { TapioError } from '../errors.js';
import { FaultyFileLayer, posixFileLayer, type FileLayer } from './file-layer.js';
import { takeFaults } from './test-hooks.js';
import { ioError } from './wal-files.js';
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
import { encodeRecord, encodeSegmentHeader } from './codec.js';
import { SEGMENT_HEADER_SIZE, indexesRecord, maxPayload, recordFootprint } from './format.js';
import { reasonError } from './reasons.js';
import { RingBuffer } from './ring-buffer.js';
import { fsyncDir, segmentPath, writeCheckpoint } from './wal-dir.js';
import { recoverWal } from './wal-recovery.js';
import { batchInputError, checkWalOpenOptions } from './wal-input.js';

/**
 * The longest the writer encodes in one turn of the event loop, on which it runs: a group is
 * encoded in slices of this length, with a turn between them, then written whole (a 4 MiB group
 * encoded at once held the loop 6-11 ms).
 */
const GROUP_SLICE_MS = 1;
/** Records encoded between two looks at the clock. */
const CLOCK_EVERY_RECORDS = 256;
/**
 * Records of a ring entry begun by an earlier slice that one slice takes at most: the ring makes
 * views of only those, so a large entry costs each slice no more than its own share.
 */
const PARTIAL_WINDOW_RECORDS = 8192;

/** Upper bounds (microseconds) of the fdatasync latency histogram buckets. */
export const SYNC_LATENCY_BUCKETS_US: readonly number[] = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, Infinity];

/** What a worker thread needs to append into a TypeScript WAL (see attachProducer). */
export interface TsProducerHandle {
  kind: 'typescript';
  ring: SharedArrayBuffer;
  producerId: number;
  port: MessagePort;
  /** What a worker checks each batch against before it pushes it. */
  limits: BatchLimits;
}

/** An append between its call and its settlement. */
interface PendingAppend {
  /** The records, until they are copied into the ring. */
  records: Uint8Array[] | null;
  count: number;
  /** The ring ticket of its entry, once pushed. */
  ticket: bigint;
  firstSeq: number;
  /** Records given a sequence number so far. */
  assigned: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** A first-in first-out queue with O(1) shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  drainAll(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

/** One group: the encoded bytes, and the appends it completes. */
interface Group {
  length: number;
  lastSeq: number;
  records: number;
  /** The records' payload bytes (what stats().bytes counts). */
  payload: number;
  completes: PendingAppend[];
  /** True when the next record does not fit in the current segment. */
  roll: boolean;
  /** When the group's encoding should stop (performance.now()), and whether it did. */
  deadline: number;
  cut: boolean;
  /** The group's length when this slice began: a slice places records before it looks at the time. */
  sliceStart: number;
}

/**
 * The TypeScript WAL backend.
 *
 * An append's records are copied into the ring when it enters the ring, which is at once
 * unless the ring is full; until its promise settles, do not modify them. Appends that wait
 * for ring space keep their call order, and tryAppend() never overtakes them.
 *
 * @example
 * ```ts
 * const wal = await TsWalWriter.open({ dir: '/var/lib/tapio/wal', segmentSize: 64 << 20, ringCapacity: 64 << 20,
 *   directIo: 'auto', recovery: 'strict', maxGroupBytes: 4 << 20 });
 * const { firstSeq, lastSeq } = await wal.append([Buffer.from('event')]);
 * await wal.close();
 * ```
 */
export class TsWalWriter implements WalBackend {
  readonly kind = 'typescript' as const;
  readonly recovery: RecoveryReport;
  readonly indexSeed: IndexSeed;

  private readonly dir: string;
  private readonly segmentSize: number;
  private readonly maxGroupBytes: number;
  private readonly ring: RingBuffer;
  private readonly storeIdBytes: Uint8Array;
  /** Where record writes and fdatasyncs go: the system, or a test's FaultyFileLayer. */
  private readonly io: FileLayer;

  private fh: FileHandle;
  private segNumber: number;
  /** The first sequence number of the current segment (for CHECKPOINT when it is sealed). */
  private segFirstSeq: number;
  private readonly storeId: string;
  private readonly writeCheckpoints: boolean;
  /** The CHECKPOINT writes handed over by rolls, one after another. */
  private checkpointWrites: Promise<void> = Promise.resolve();
  private segPath: string;
  private segCapacity: number;
  private writeOffset: number;
  private nextSeq: number;
  private durableSeq: number;

  private readonly inRing = new Fifo<PendingAppend>();
  private readonly waiting = new Fifo<PendingAppend>();
  /**
   * The ring entry whose records a slice began but did not finish (its time was up, or the segment
   * filled): it stays in the ring, and the next slice, in this segment or the next, goes on from
   * record `placed`.
   */
  private partial: { ticket: bigint; placed: number; pending: PendingAppend; remote: boolean } | null = null;
  /** Appends in the group being written. */
  private inFlight: PendingAppend[] = [];
  private groupBuf: Buffer;
  /** Index entries made since takeIndexPoints() last took them: (segment, seq, offset) triples. */
  private indexPoints: number[] = [];

  private running = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private failure: TapioError | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Durable appends, acknowledged a turn of the event loop at a time. */
  private readonly acks = new AckTurns<PendingAppend>(
    (p) => p.count,
    (p) => p.resolve({ firstSeq: p.firstSeq, lastSeq: p.firstSeq + p.count - 1 }),
  );

  /** Worker-thread producers: their id and the port their acknowledgements go to. */
  private readonly remotes = new Map<number, MessagePort>();
  private nextProducerId = 1;

  private statRecords = 0;
  private statBytes = 0;
  private statGroups = 0;
  private readonly syncHistogram = new Array<number>(SYNC_LATENCY_BUCKETS_US.length).fill(0);

  private constructor(
    options: WalOpenOptions,
    recovered: { report: RecoveryReport; storeId: string; storeIdBytes: Uint8Array; nextSeq: number; writeCheckpoints: boolean; indexSeed: IndexSeed },
    segment: OpenSegment,
    created: boolean,
    io: FileLayer,
  ) {
    this.dir = options.dir;
    this.segmentSize = options.segmentSize;
    this.maxGroupBytes = options.maxGroupBytes;
    this.ring = RingBuffer.create(options.ringCapacity);
    this.storeIdBytes = recovered.storeIdBytes;
    this.io = io;
    this.recovery = recovered.report;
    this.fh = segment.fh;
    this.segNumber = segment.number;
    this.segFirstSeq = segment.firstSeq;
    this.storeId = recovered.storeId;
    this.writeCheckpoints = recovered.writeCheckpoints;
    this.segPath = segment.path;
    this.segCapacity = segment.capacity;
    this.writeOffset = segment.writeOffset;
    this.nextSeq = recovered.nextSeq;
    this.durableSeq = recovered.nextSeq - 1;
    this.groupBuf = Buffer.allocUnsafeSlow(Math.min(options.maxGroupBytes, 4 << 20));
    this.indexSeed = recovered.indexSeed;
    if (created) this.indexPoints.push(segment.number, segment.firstSeq, SEGMENT_HEADER_SIZE);
  }

  /**
   * Runs recovery on `options.dir` (creating it when new), then opens the newest segment for
   * appending, or creates the first one.
   */
  static async open(options: WalOpenOptions): Promise<TsWalWriter> {
    const opts = { ...options, dir: resolvePath(checkWalOpenOptions(options).dir) };
    // A fault-injection test may have planned a layer under this writer (test-hooks.ts).
    const faults = takeFaults(opts.dir);
    const rec = await recoverWal(opts.dir, { recovery: opts.recovery });
    const last = rec.segments.at(-1);
    let segment: OpenSegment;
    const created = !(last !== undefined && last.appendable);
    if (!created && last !== undefined) {
      let fh: FileHandle;
      try {
        fh = await open(last.path, 'r+');
      } catch (err) {
        throw ioError(last.path, 'open', err);
      }
      try {
        // A segment cut short (a copy, a truncation) gets its preallocated length back, as on
        // the native path, so both leave the same bytes.
        if ((await fh.stat()).size < last.segmentSize) await fh.truncate(last.segmentSize);
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw ioError(last.path, 'ftruncate', err);
      }
      segment = { fh, number: last.number, path: last.path, capacity: last.segmentSize, writeOffset: last.endOffset, firstSeq: last.firstSeq };
    } else {
      segment = await createSegment(opts.dir, rec.lastSegment + 1, rec.nextSeq, opts.segmentSize, rec.storeIdBytes);
    }
    return new TsWalWriter(opts, rec, segment, created, faults !== undefined ? new FaultyFileLayer(faults) : posixFileLayer);
  }

  append(records: Uint8Array[]): Promise<AppendResult> {
    const refused = this.refusal(records);
    if (refused !== null) return Promise.reject(refused);
    return new Promise<AppendResult>((resolve, reject) => {
      const p: PendingAppend = { records, count: records.length, ticket: -1n, firstSeq: 0, assigned: 0, resolve, reject };
      if (this.waiting.length > 0 || !this.pushToRing(p)) this.waiting.push(p);
    });
  }

  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    const refused = this.refusal(records);
    if (refused !== null) return Promise.reject(refused);
    if (this.waiting.length > 0) return null;
    let pushed = false;
    const promise = new Promise<AppendResult>((resolve, reject) => {
      pushed = this.pushToRing({ records, count: records.length, ticket: -1n, firstSeq: 0, assigned: 0, resolve, reject });
    });
    return pushed ? promise : null;
  }

  /**
   * A handle a worker thread passes to attachProducer() to append into this WAL's ring. Post it
   * with its port in the transfer list: `worker.postMessage(handle, [handle.port])`.
   */
  producerHandle(): TsProducerHandle {
    if (this.closing) throw new TapioError('ERR_CLOSED', 'the transit WAL is closed; open the store again');
    const { port1, port2 } = new MessageChannel();
    const producerId = this.nextProducerId++;
    this.remotes.set(producerId, port1);
    port1.on('message', (m: unknown) => {
      if (m === 'kick') this.kick();
    });
    port1.unref();
    if (this.failure !== null) port1.postMessage({ failed: this.failure.message, details: this.failure.details });
    return { kind: 'typescript', ring: this.ring.buffer, producerId, port: port2, limits: { segmentSize: this.segmentSize, ringCapacity: this.ring.capacity } };
  }

  /** The newest sequence number an fdatasync covered (stats().durableSeq alone). */
  lastDurableSeq(): number {
    return this.durableSeq;
  }

  /**
   * Counters of the writer. `syncLatencyUs` counts each fdatasync once, in the first bucket
   * whose upper bound `le` (microseconds) is at least its latency (the counts are not
   * cumulative). `alignment` is 0: this path never uses O_DIRECT.
   */
  stats(): WalWriterStats {
    return {
      records: this.statRecords,
      bytes: this.statBytes,
      groups: this.statGroups,
      syncLatencyUs: SYNC_LATENCY_BUCKETS_US.map((le, i) => ({ le, count: this.syncHistogram[i]! })),
      ringUsedBytes: this.ring.usedBytes(),
      ringCapacity: this.ring.capacity,
      directIo: false,
      alignment: 0,
      durableSeq: this.durableSeq,
      failed: this.failure?.message ?? null,
    };
  }

  takeIndexPoints(): number[] {
    const points = this.indexPoints;
    this.indexPoints = [];
    return points;
  }

  close(): Promise<void> {
    this.closePromise ??= this.closeOnce();
    return this.closePromise;
  }

  private async closeOnce(): Promise<void> {
    this.closing = true;
    if (this.running || this.busy()) {
      this.kick();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.acks.settled();
    for (const port of this.remotes.values()) {
      port.postMessage({ closed: true });
      port.close();
    }
    this.remotes.clear();
    await this.checkpointWrites;
    try {
      await this.fh.close();
    } catch (err) {
      if (this.failure === null) throw walIoError(this.segPath, 'close', err);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Producer side.

  /** The error an append must be refused with, or null. */
  private refusal(records: unknown): TapioError | null {
    if (this.closing) return new TapioError('ERR_CLOSED', 'the transit WAL is closed (or closing); open the store again to append');
    if (this.failure !== null) return this.failedError();
    return batchInputError(records, { segmentSize: this.segmentSize, ringCapacity: this.ring.capacity });
  }

  /** Copies the append into the ring; false when the ring is full. */
  private pushToRing(p: PendingAppend): boolean {
    const r = this.ring.push(p.records!);
    if (r !== 'ok') return false;
    p.ticket = this.ring.lastPushTicket;
    p.records = null;
    this.inRing.push(p);
    this.kick();
    return true;
  }

  /** Moves waiting appends into the ring, in order, while they fit. */
  private admitWaiting(): void {
    for (let p = this.waiting.peek(); p !== undefined; p = this.waiting.peek()) {
      if (!this.pushToRing(p)) return;
      this.waiting.shift();
    }
  }

  // -------------------------------------------------------------------------------------------
  // The writer loop.

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // A microtask, not a timer: appends made in the same turn join the first group, and an
    // idle ring never makes anything wait.
    queueMicrotask(() => void this.run());
  }

  private busy(): boolean {
    // Entries of worker-thread producers are only in the ring.
    return this.inRing.length > 0 || this.waiting.length > 0 || (this.remotes.size > 0 && this.ring.hasCommitted());
  }

  private async run(): Promise<void> {
    try {
      while (this.failure === null) {
        const group = this.buildGroup();
        this.inFlight = group.completes;
        while (group.cut) {
          // Encoded for GROUP_SLICE_MS with more to take: the rest goes into the same group in
          // the next turns, so groups stay as large as before while no turn is long.
          await new Promise<void>((resolve) => setImmediate(resolve));
          group.cut = false;
          group.deadline = performance.now() + GROUP_SLICE_MS;
          group.sliceStart = group.length;
          this.fillGroup(group);
        }
        this.admitWaiting();
        if (group.length > 0) {
          await this.writeGroup(group);
          this.inFlight = [];
          this.durableSeq = group.lastSeq;
          this.statRecords += group.records;
          this.statBytes += group.payload;
          this.statGroups++;
          this.acks.add(group.completes);
          // The callers just acknowledged copy their next appends into the ring now; the next
          // group is encoded in a turn of its own.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (group.roll) {
          await this.roll();
          continue;
        }
        if (group.length === 0 && !this.ring.hasCommitted()) break;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.running = false;
      if (this.failure !== null || !this.busy()) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      } else if (this.busy()) {
        this.kick();
      }
    }
  }

  /**
   * Encodes the next group into groupBuf: ring entries in order (the rest of one begun before a
   * slice's end or a segment roll first), while they fit under maxGroupBytes and in the segment.
   */
  private buildGroup(): Group {
    const g: Group = {
      length: 0,
      lastSeq: this.nextSeq - 1,
      records: 0,
      payload: 0,
      completes: [],
      roll: false,
      deadline: performance.now() + GROUP_SLICE_MS,
      cut: false,
      sliceStart: 0,
    };
    this.fillGroup(g);
    return g;
  }

  /** Adds to `g` what buildGroup() describes, until its deadline. */
  private fillGroup(g: Group): void {
    this.ring.drain(
      (entry) => {
        if (g.roll || g.cut) return false;
        // Every slice places records of the first entry it meets (at least CLOCK_EVERY_RECORDS,
        // or all of it) before it looks at the time: making that entry's views can take the whole
        // slice, and stopping before placing anything would stop for good.
        if (g.length > g.sliceStart && performance.now() >= g.deadline) {
          g.cut = true;
          return false;
        }
        const remote = entry.producerId !== 0;
        const partial = this.partial !== null && this.partial.ticket === entry.ticket ? this.partial : null;
        const pending = partial?.pending ?? (remote ? this.remotePending(entry.producerId, entry.ticket, entry.records.length) : this.inRing.peek());
        if (pending === undefined || pending.ticket !== entry.ticket) {
          throw new TapioError('ERR_NATIVE', `internal error: ring entry ${entry.ticket} does not match the oldest pending append`);
        }
        const start = partial?.placed ?? 0;
        let bytes = 0;
        let largest = 0;
        // An entry begun by the group before was measured then (and starts this group).
        if (partial === null) {
          for (const r of entry.records) {
            bytes += recordFootprint(r.length);
            if (r.length > largest) largest = r.length;
          }
        }
        if (largest > maxPayload(this.segmentSize)) {
          // Producers check this before they push; a batch that got past them anyway is refused
          // here, since no segment could ever take it.
          if (!remote) this.inRing.shift();
          pending.reject(
            new TapioError(
              'ERR_RECORD_TOO_LARGE',
              `a record of ${largest} bytes is larger than the ${maxPayload(this.segmentSize)} bytes a segment of ${this.segmentSize} bytes holds; the batch was not written`,
            ),
          );
          return true;
        }
        if (g.length > 0 && g.length + bytes > this.maxGroupBytes) return false;
        if (this.writeOffset + g.length + recordFootprint(entry.records[start]!.length) > this.segCapacity) {
          g.roll = true;
          return false;
        }
        const end = partial === null ? entry.records.length : Math.min(entry.records.length, start + PARTIAL_WINDOW_RECORDS);
        const placed = this.place(g, pending, entry.records, start, end);
        if (placed === end && end < entry.records.length) g.cut = true; // the window's end: the next slice goes on
        if (placed < entry.records.length) {
          // The time is up, the window ended, or the segment is full (then it rolls): the entry
          // stays in the ring, its append first in line, and the next slice or segment goes on.
          this.partial = { ticket: entry.ticket, placed, pending, remote };
          if (!g.cut) g.roll = true;
          return false;
        }
        this.partial = null;
        if (!remote) this.inRing.shift();
        g.completes.push(pending);
        return true;
      },
      (ticket, count): [number, number] =>
        this.partial !== null && this.partial.ticket === ticket
          ? [this.partial.placed, Math.min(count, this.partial.placed + PARTIAL_WINDOW_RECORDS)]
          : [0, count],
    );
  }

  /**
   * Encodes records[start, end) of `pending` into the group while they fit in the segment and the
   * group's time lasts (then sets g.cut); returns the index of the first record not placed.
   */
  private place(g: Group, pending: PendingAppend, records: Uint8Array[], start = 0, end = records.length): number {
    for (let i = start; i < end; i++) {
      if ((i - start) % CLOCK_EVERY_RECORDS === CLOCK_EVERY_RECORDS - 1 && performance.now() >= g.deadline) {
        g.cut = true;
        return i;
      }
      const rec = records[i]!;
      const size = recordFootprint(rec.length);
      if (this.writeOffset + g.length + size > this.segCapacity) return i;
      if (g.length + size > this.groupBuf.length) this.growGroupBuf(g.length + size);
      const seq = this.nextSeq++;
      if (pending.assigned === 0) pending.firstSeq = seq;
      pending.assigned++;
      const at = this.writeOffset + g.length;
      if (indexesRecord(at, size)) this.indexPoints.push(this.segNumber, seq, at);
      g.length = encodeRecord(this.groupBuf, g.length, seq, rec);
      g.lastSeq = seq;
      g.records++;
      g.payload += rec.length;
    }
    return end;
  }

  private growGroupBuf(atLeast: number): void {
    let size = this.groupBuf.length * 2;
    while (size < atLeast) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.groupBuf.copy(next);
    this.groupBuf = next;
  }

  /** The stand-in for an append made by a worker thread: it settles by posting to the worker. */
  private remotePending(producerId: number, ticket: bigint, count: number): PendingAppend {
    const port = this.remotes.get(producerId);
    return {
      records: null,
      count,
      ticket,
      firstSeq: 0,
      assigned: 0,
      resolve: (r) => port?.postMessage({ ticket, firstSeq: r.firstSeq, lastSeq: r.lastSeq }),
      reject: (e) =>
        port?.postMessage({
          ticket,
          error: (e as Error).message,
          code: e instanceof TapioError ? e.code : 'ERR_WAL_IO',
          details: e instanceof TapioError ? e.details : undefined,
        }),
    };
  }

  /** One write and one fdatasync. */
  private async writeGroup(g: Group): Promise<void> {
    const file = this.segPath;
    try {
      await this.io.write(this.fh, file, this.groupBuf.subarray(0, g.length), this.writeOffset);
    } catch (err) {
      throw walIoError(file, 'write', err);
    }
    try {
      const t0 = process.hrtime.bigint();
      await this.io.sync(this.fh, file);
      this.recordSyncLatency(Number(process.hrtime.bigint() - t0) / 1000);
    } catch (err) {
      throw walIoError(file, 'fdatasync', err);
    }
    this.writeOffset += g.length;
  }

  private recordSyncLatency(us: number): void {
    let i = 0;
    while (us > SYNC_LATENCY_BUCKETS_US[i]!) i++;
    this.syncHistogram[i]!++;
  }

  /** Closes the full segment and creates the next one. */
  private async roll(): Promise<void> {
    const next = await createSegment(this.dir, this.segNumber + 1, this.nextSeq, this.segmentSize, this.storeIdBytes);
    const old = this.fh;
    const oldPath = this.segPath;
    const sealed = { sealed: this.segNumber, firstSeq: this.segFirstSeq, lastSeq: next.firstSeq - 1 };
    this.fh = next.fh;
    this.segNumber = next.number;
    this.segFirstSeq = next.firstSeq;
    this.segPath = next.path;
    this.segCapacity = next.capacity;
    this.writeOffset = next.writeOffset;
    this.indexPoints.push(next.number, next.firstSeq, SEGMENT_HEADER_SIZE);
    try {
      await old.close();
    } catch (err) {
      throw walIoError(oldPath, 'close', err);
    }
    // The old segment is synced whole and the new one exists: the next open need not scan the
    // old. Written beside the next groups, in roll order; close() waits for it. Best effort: if it
    // fails, the CHECKPOINT before it stays valid (an open scans more).
    if (this.writeCheckpoints) {
      this.checkpointWrites = this.checkpointWrites.then(() => writeCheckpoint(this.dir, this.storeId, sealed)).catch(() => undefined);
    }
  }

  /** Enters the failed state: every pending and later append is refused with ERR_WAL_IO. */
  private fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = writerFailure(err);
    const remotePartial = this.partial?.remote === true ? [this.partial.pending] : [];
    const victims = [...this.inFlight, ...remotePartial, ...this.inRing.drainAll(), ...this.waiting.drainAll()];
    this.inFlight = [];
    this.partial = null;
    for (const p of victims) p.reject(this.failedError());
    for (const port of this.remotes.values()) port.postMessage({ failed: this.failure.message, details: this.failure.details });
  }

  private failedError(): TapioError {
    const f = this.failure!;
    return new TapioError('ERR_WAL_IO', f.message, { cause: f.cause ?? f, ...(f.details ? { details: f.details } : {}) });
  }
}

/** A segment open for appending. */
interface OpenSegment {
  fh: FileHandle;
  number: number;
  path: string;
  /** The segment size (where records must end). */
  capacity: number;
  writeOffset: number;
  /** The sequence number of its first record (from its header). */
  firstSeq: number;
}

/**
 * Creates segment `n`: O_EXCL create, ftruncate to its size (sparse, see the file comment),
 * header block, fdatasync, fsync of the directory.
 */
async function createSegment(dir: string, n: number, firstSeq: number, size: number, storeId: Uint8Array): Promise<OpenSegment> {
  const path = segmentPath(dir, n);
  let fh: FileHandle;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    throw ioError(path, 'create', err);
  }
  let step = 'ftruncate';
  try {
    await fh.truncate(size);
    step = 'write';
    const header = encodeSegmentHeader({ segment: n, firstSeq, storeId, createdMs: Date.now(), segmentSize: size });
    let done = 0;
    while (done < header.length) done += (await fh.write(header, done, header.length - done, done)).bytesWritten;
    step = 'fdatasync';
    await fh.datasync();
    step = 'fsync';
    await fsyncDir(dir);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw ioError(step === 'fsync' ? dir : path, step, err);
  }
  return { fh, number: n, path, capacity: size, writeOffset: SEGMENT_HEADER_SIZE, firstSeq };
}

/** A failure of a group's write or fdatasync: the writer's failed state, with the system call's facts. */
function walIoError(file: string, operation: string, err: unknown): TapioError {
  if (err instanceof TapioError) return err;
  return writerFailure(ioError(file, operation, err));
}

/**
 * The failed state for `err`, as the native writer reports its own (reason `writer-failed`,
 * with the failed system call's operation, file and errno name).
 */
function writerFailure(err: unknown): TapioError {
  if (!(err instanceof TapioError) || err.code !== 'ERR_WAL_IO') {
    return new TapioError('ERR_WAL_IO', `the transit WAL writer stopped: ${(err as Error).message}`, { cause: err });
  }
  const d = err.details;
  if (d === undefined || typeof d.operation !== 'string' || typeof d.errno !== 'string') return err; // a failed state already
  return reasonError('writer-failed', { cause: 'io', operation: d.operation, file: String(d.file), errno: d.errno }, { cause: err.cause ?? err });
}
