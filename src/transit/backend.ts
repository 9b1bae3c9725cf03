/**
 * The interface both WAL implementations (native, TypeScript twin) provide to the transit
 * facade. Nothing above this file knows which one it got.
 */

import type { MessagePort } from 'node:worker_threads';

/** How the writer opens segment files. */
export type DirectIoMode = 'auto' | 'on' | 'off';
/** What to do with damage outside the torn tail of the newest segment. */
export type RecoveryMode = 'strict' | 'salvage';

export interface WalOpenOptions {
  /** The WAL directory (absolute); created when missing. */
  dir: string;
  /** Preallocated size of each segment file, bytes (multiple of 4096). */
  segmentSize: number;
  /** Ring buffer capacity, bytes (a power of two). */
  ringCapacity: number;
  directIo: DirectIoMode;
  recovery: RecoveryMode;
  /** The most bytes one group (one write + one fdatasync) may hold. */
  maxGroupBytes: number;
}

/** What the recovery scan at open found and did. */
export interface RecoveryReport {
  /** Segment files present after recovery. */
  segments: number;
  /** Sequence number of the oldest record kept (0 when the log is empty). */
  firstSeq: number;
  /** Sequence number of the newest whole record (0 when the log is empty). */
  lastSeq: number;
  /**
   * Bytes of segment files the open examined, each counted once: the used bytes of every header
   * it read (64, fewer for a shorter file) and each scanned segment's record area from byte 4096
   * to its end. Never more than the files hold; the same on both paths (bytes read twice, such
   * as the native path's whole 4 KiB header block or a second pass after damage, count once).
   */
  bytesScanned: number;
  /** Bytes cut from a torn tail of the newest segment (0 when it was clean). */
  tornBytes: number;
  /** Where the cut bytes were kept, when there were any. */
  brokenFile?: string;
  /** With recovery: 'salvage', each damaged stretch that was set aside. */
  salvaged: Array<{ segment: string; offset: number; bytes: number; reason: string }>;
  /**
   * Segments taken on CHECKPOINT's word: synced whole before the writer moved on, so only their
   * headers were checked; their records are checked when read (and by `wal verify`).
   */
  sealedSegments: number;
  /** Why CHECKPOINT was not used although it exists (every segment was scanned instead). */
  checkpointIgnored?: string;
  /**
   * Files recovery removed: a newest segment whose creation a crash interrupted before any
   * record was written (its non-zero header bytes, if any, are kept in `brokenFile`).
   */
  removedFiles: string[];
  /**
   * The stretches recorded in the WAL directory's SALVAGED file (docs/FORMAT.md): with salvage,
   * those it set aside now; otherwise those an earlier salvage set aside, for segments still
   * present, which this open accepted. `lostCount` sequence numbers from `lostFrom` have no
   * record because of each one (both 0 when none): reads and subscriptions skip them.
   */
  setAside: Array<{ segment: string; offset: number; bytes: number; lostFrom: number; lostCount: number }>;
  /** Why SALVAGED was not used although it exists: its stretches were then refused as damage. */
  setAsideIgnored?: string;
}

/** Counters of a running writer. */
export interface WalWriterStats {
  /** Durable records. */
  records: number;
  /** Their payload bytes (record headers and padding not counted). */
  bytes: number;
  groups: number;
  /** fdatasync latency histogram: counts per upper bound in microseconds. */
  syncLatencyUs: Array<{ le: number; count: number }>;
  ringUsedBytes: number;
  ringCapacity: number;
  directIo: boolean;
  /** O_DIRECT write alignment in bytes (the file system's block size), when direct I/O is on. */
  alignment: number;
  /** The newest durable sequence number. */
  durableSeq: number;
  /** Set once a write or fdatasync failed: the writer refuses every later append. */
  failed: string | null;
}

/** The result of an append: the sequence numbers its records got, once durable. */
export interface AppendResult {
  firstSeq: number;
  lastSeq: number;
}

export interface WalBackend {
  readonly kind: 'native' | 'typescript';
  readonly recovery: RecoveryReport;
  /** What reads need to find records at open: the segments and the entries recovery found (wal-index.ts). */
  readonly indexSeed: IndexSeed;
  /**
   * The index entries the writer made since the last call, as triples (segment, sequence number,
   * byte offset), oldest first; a segment's creation is the triple of its first record's place.
   * Entries may run ahead of the durable records.
   */
  takeIndexPoints(): ArrayLike<number>;
  /**
   * Appends a batch; resolves once an fdatasync covering it returned. Waits (without dropping
   * anything) while the ring is full. Rejects with ERR_WAL_IO once the writer failed.
   */
  append(records: Uint8Array[]): Promise<AppendResult>;
  /** Like append, but returns null at once instead of waiting when the ring is full. */
  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null;
  stats(): WalWriterStats;
  /**
   * stats().durableSeq without building the rest of the counters: what every read and
   * subscription batch asks first, so it must cost next to nothing.
   */
  lastDurableSeq(): number;
  /** A handle worker threads use to append into the same ring (see producer.ts). */
  producerHandle(): ProducerHandle;
  /** Waits for every accepted append to be durable (or failed), then stops the writer. */
  close(): Promise<void>;
}

/** The sizes an append batch is checked against. */
export interface BatchLimits {
  segmentSize: number;
  ringCapacity: number;
}

/**
 * A value to post to a worker thread (with `transferList(handle)` as the transfer list). `limits`
 * (the WAL's segment size and ring capacity) let the worker refuse a batch as the store would.
 */
export type ProducerHandle =
  | { kind: 'native'; writerId: number; limits: BatchLimits }
  | { kind: 'typescript'; ring: SharedArrayBuffer; producerId: number; port: MessagePort; limits: BatchLimits };

/** A segment as recovery found it. */
export interface IndexSegmentSeed {
  number: number;
  firstSeq: number;
  /** Recovery scanned its records, so the seed's entries for it are complete. */
  scanned: boolean;
}

/** What a backend hands the index at open. */
export interface IndexSeed {
  /** 32 lowercase hex digits (WAL_ID's store id). */
  storeId: string;
  /** The segments whose header is usable, by number. */
  segments: IndexSegmentSeed[];
  /** Entries of the scanned segments: triples (segment, sequence number, byte offset). */
  points: ArrayLike<number>;
}

/**
 * Appends acknowledged in one turn of the event loop, counted in records, on both paths. A caller
 * usually goes on to its next append at once, whose copy into the ring runs then: four
 * acknowledgements of 10,000 records each ran four such copies (1.5 ms each) in one turn. The
 * first append of a turn is always acknowledged, the others once the ones before add up to fewer
 * records than this; the rest wait for the next turns.
 */
export const ACK_RECORDS_PER_TURN = 8192;

/**
 * Settles acknowledgements a turn of the event loop at a time, for both paths' appends: the
 * first batch handed over in a turn is settled at once, up to ACK_RECORDS_PER_TURN records (the
 * first always); whatever else arrives in that turn, or is left over, waits for setImmediate and
 * is settled there the same way, in order.
 */
export class AckTurns<T> {
  readonly #records: (ack: T) => number;
  readonly #settle: (ack: T) => void;
  readonly #afterLaterTurn: () => void;
  #held: T[] = [];
  #at = 0;
  /** A setImmediate is pending: acknowledgements handed over now wait for it. */
  #turnOpen = false;
  #idle: Array<() => void> = [];

  /**
   * `records(ack)`: what an acknowledgement counts against the turn's budget; `settle(ack)`
   * resolves or rejects its append; `afterLaterTurn` runs after a later turn settled some.
   */
  constructor(records: (ack: T) => number, settle: (ack: T) => void, afterLaterTurn: () => void = () => undefined) {
    this.#records = records;
    this.#settle = settle;
    this.#afterLaterTurn = afterLaterTurn;
  }

  /** Hands acknowledgements over, in order. */
  add(acks: Iterable<T>): void {
    const before = this.#held.length;
    for (const a of acks) this.#held.push(a);
    if (this.#held.length > before && !this.#turnOpen) this.#turn();
  }

  /** Resolves once every acknowledgement handed over is settled. */
  settled(): Promise<void> {
    if (this.#at === this.#held.length) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #turn(): void {
    this.#turnOpen = true;
    setImmediate(() => {
      this.#turnOpen = false;
      if (this.#at < this.#held.length) {
        this.#turn();
        this.#afterLaterTurn();
      }
    });
    let records = 0;
    const start = this.#at;
    while (this.#at < this.#held.length && (this.#at === start || records < ACK_RECORDS_PER_TURN)) {
      const ack = this.#held[this.#at++]!;
      records += this.#records(ack);
      this.#settle(ack);
    }
    if (this.#at === this.#held.length) {
      this.#held = [];
      this.#at = 0;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
