/**
 * The native WAL backend: the C++ ring buffer and writer thread (native/core/wal_writer.h)
 * behind the addon's openWal() and NativeProducer. This module turns the writer's
 * acknowledgements into settled promises; it holds no state the writer thread touches.
 */
import { TapioError } from '../errors.js';
import { loadNative } from '../native/loader.js';
import type { AppendResult, RecoveryReport, WalBackend, WalOpenOptions, WalWriterStats } from './backend.js';

/** The addon's producer class (one per JavaScript thread that appends). */
interface NativeProducerHandle {
  push(records: Uint8Array[], ticket: number): 0 | 1 | 2 | 3;
  ref(): void;
  unref(): void;
  detach(): void;
  readonly id: number;
}

interface NativeWalWriterHandle {
  readonly id: number;
  readonly recovery: RecoveryReport & { removedFiles: string[]; storeId: string };
  stats(): WalWriterStats & { segmentsCreated: number; directIoReason: string };
  close(): Promise<void>;
}

export interface NativeWalAddon {
  openWal(options: WalOpenOptions): Promise<NativeWalWriterHandle>;
  NativeProducer: new (writerId: number, onEvents: (acks: Float64Array, failure: string | undefined, space: boolean) => void) => NativeProducerHandle;
}

interface Deferred {
  resolve(result: AppendResult): void;
  reject(err: Error): void;
}

/**
 * Appends from one JavaScript thread to an open native WAL, by its writer id. The thread that
 * opened the WAL has one; a worker thread makes its own from the id it was handed.
 */
export class NativeAppender {
  readonly #producer: NativeProducerHandle;
  readonly #pending = new Map<number, Deferred>();
  #spaceWaiters: Array<() => void> = [];
  #ticket = 0;
  #failure: TapioError | null = null;
  #referenced = false;
  #idle: Array<() => void> = [];

  constructor(addon: NativeWalAddon, writerId: number) {
    this.#producer = new addon.NativeProducer(writerId, (acks, failure, space) => this.#onEvents(acks, failure, space));
  }

  /** Appends; waits while the ring is full. */
  async append(records: Uint8Array[]): Promise<AppendResult> {
    // Wait behind earlier waiters, so a large batch is not starved by a stream of small ones.
    if (this.#spaceWaiters.length > 0) await this.#waitForSpace();
    for (;;) {
      const pending = this.#tryPush(records);
      if (pending !== null) return pending;
      await this.#waitForSpace();
    }
  }

  /** Appends, or returns null at once when the ring is full. */
  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    return this.#tryPush(records);
  }

  #tryPush(records: Uint8Array[]): Promise<AppendResult> | null {
    if (this.#failure) return Promise.reject(this.#failure);
    const ticket = ++this.#ticket;
    const r = this.#producer.push(records, ticket);
    if (r === 1) return null;
    if (r === 2) {
      return Promise.reject(new TapioError('ERR_RECORD_TOO_LARGE', 'the batch does not fit: a record is larger than a segment holds, or the batch is larger than half the ring buffer; split it or raise transit.segment_size / ring_capacity'));
    }
    if (r === 3) return Promise.reject(this.#failure ?? new TapioError('ERR_CLOSED', 'the transit WAL is closed'));
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.set(ticket, { resolve, reject });
      this.#updateRef();
    });
  }

  #waitForSpace(): Promise<void> {
    return new Promise((resolve) => {
      this.#spaceWaiters.push(resolve);
      this.#updateRef();
    });
  }

  #onEvents(acks: Float64Array, failure: string | undefined, space: boolean): void {
    if (failure !== undefined && this.#failure === null) {
      this.#failure = new TapioError('ERR_WAL_IO', `the transit WAL failed and accepts no more appends: ${failure}. Close and reopen the store to recover the synced prefix.`);
    }
    for (let i = 0; i + 2 < acks.length; i += 3) {
      const ticket = acks[i]!;
      const d = this.#pending.get(ticket);
      if (!d) continue;
      this.#pending.delete(ticket);
      const first = acks[i + 1]!;
      if (first < 0) d.reject(this.#failure ?? new TapioError('ERR_WAL_IO', 'the transit WAL failed'));
      else d.resolve({ firstSeq: first, lastSeq: acks[i + 2]! });
    }
    if (space || this.#failure) {
      const waiters = this.#spaceWaiters;
      this.#spaceWaiters = [];
      for (const w of waiters) w();
    }
    this.#updateRef();
  }

  // While anything waits on the writer, keep the event loop alive so the promises settle.
  #updateRef(): void {
    const busy = this.#pending.size > 0 || this.#spaceWaiters.length > 0;
    if (busy && !this.#referenced) this.#producer.ref();
    if (!busy && this.#referenced) this.#producer.unref();
    this.#referenced = busy;
    if (!busy) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Resolves when no append of this thread is pending. */
  settled(): Promise<void> {
    if (this.#pending.size === 0 && this.#spaceWaiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Detaches from the writer; later appends are refused. */
  detach(): void {
    this.#producer.detach();
  }
}

/** The native backend of the transit store. */
export class NativeWal implements WalBackend {
  readonly kind = 'native' as const;
  readonly recovery: RecoveryReport;
  readonly #writer: NativeWalWriterHandle;
  readonly #appender: NativeAppender;
  #closing: Promise<void> | undefined;

  private constructor(writer: NativeWalWriterHandle, appender: NativeAppender) {
    this.#writer = writer;
    this.#appender = appender;
    const r = writer.recovery;
    this.recovery = {
      segments: r.segments,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      bytesScanned: r.bytesScanned,
      tornBytes: r.tornBytes,
      ...(r.brokenFile ? { brokenFile: r.brokenFile } : {}),
      salvaged: r.salvaged,
    };
  }

  /** Recovers the directory (off the event loop) and starts the writer thread. */
  static async open(options: WalOpenOptions): Promise<NativeWal> {
    const addon = loadNative() as unknown as NativeWalAddon | null;
    if (!addon) throw new TapioError('ERR_NATIVE', 'the native addon is not loaded; use the TypeScript path');
    const writer = await addon.openWal(options);
    return new NativeWal(writer, new NativeAppender(addon, writer.id));
  }

  /** The id worker threads use to attach their own producers. */
  get writerId(): number {
    return this.#writer.id;
  }

  append(records: Uint8Array[]): Promise<AppendResult> {
    return this.#appender.append(records);
  }

  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    return this.#appender.tryAppend(records);
  }

  stats(): WalWriterStats {
    const s = this.#writer.stats();
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
      failed: s.failed,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#appender.settled();
      await this.#writer.close();
      this.#appender.detach();
    })();
    return this.#closing;
  }
}
