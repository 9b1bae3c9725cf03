/**
 * The TypeScript twin of the native lock-free multi-producer single-consumer byte ring
 * (native/core/ring_buffer). It lives in a SharedArrayBuffer, so producers in several worker
 * threads and one consumer can share it: `RingBuffer.create(capacity)` in one thread, pass
 * `ring.buffer` to the others and `RingBuffer.attach(buffer)` there.
 *
 * Layout of the SharedArrayBuffer (all integers little-endian, as the platform is):
 *
 *   0    8  head: bytes ever reserved (i64, monotonic; CAS by producers)
 *   64   8  tail: bytes ever consumed (i64, monotonic; stored by the consumer only)
 *   128  4  data signal: bumped by producers after each commit (Atomics.notify target)
 *   132  4  space signal: bumped by the consumer after each release (Atomics.notify target)
 *   136  4  capacity in bytes
 *   140  4  layout magic (RING_MAGIC)
 *   256  capacity  data
 *
 * head and tail sit on separate cache lines so producers and the consumer do not contend for
 * one line. A position maps to the data offset `position & (capacity - 1)`.
 *
 * An entry (one pushed batch) starts at a multiple of 8 and never wraps:
 *
 *   0   4  committed length: the entry's bytes, header included; written last with
 *          Atomics.store, so a consumer that reads it non-zero sees the whole entry
 *   4   4  record count (PAD_COUNT marks padding up to the end of the data area)
 *   8   4  producer id
 *   12  4  reserved (0)
 *   16  8  ticket: the entry's position (head value where it starts)
 *   24     records, each: u32 length, payload, zero padding to a multiple of 8
 *
 * When an entry does not fit before the end of the data area, its producer reserves the rest
 * of the area as well and writes a PAD entry there (only its first 8 bytes are used, so even an
 * 8-byte remainder holds it). The consumer zeroes every byte it consumed before it advances
 * the tail, so a zero length word always means "not committed yet".
 *
 * Thread rules: push() may be called from any number of threads at once; drain() from one
 * thread only (the consumer). Memory ordering comes from the seq-cst Atomics operations on the
 * length word, head and tail.
 */

/** What push() did. */
export type PushResult = 'ok' | 'full' | 'too-large';

/** One committed entry as the consumer sees it. The record views are valid only inside the visit callback. */
export interface RingEntry {
  /** The entry's position in the ring (monotonic across wraps). */
  ticket: bigint;
  producerId: number;
  /** The records, as views into the ring: copy what must outlive the callback. */
  records: Uint8Array[];
  /** Bytes the entry takes in the ring, header included. */
  bytes: number;
}

/** The record count that marks a PAD entry. */
export const PAD_COUNT = 0xffffffff;
/** Bytes of an entry header. */
export const ENTRY_HEADER_SIZE = 24;
/**
 * The capacities accepted: positions are masked and the capacity kept in 32-bit integers. This
 * module imports nothing (worker threads load it alone), so these are the TypeScript source of
 * the ring limits; limits.ts lists them with the others, and a test holds them to limits.h.
 */
export const MIN_RING_CAPACITY = 4096;
export const MAX_RING_CAPACITY = 1 << 30;

const RING_MAGIC = 0x52_49_4e_47; // "RING"
const HEAD_I64 = 0; // byte 0
const TAIL_I64 = 8; // byte 64
const DATA_SIGNAL_I32 = 32; // byte 128
const SPACE_SIGNAL_I32 = 33; // byte 132
const CAPACITY_I32 = 34; // byte 136
const MAGIC_I32 = 35; // byte 140
const CONTROL_BYTES = 256;

/** Bytes a record of `length` payload bytes takes inside an entry. */
export function ringRecordFootprint(length: number): number {
  return (4 + length + 7) & ~7;
}

/** Bytes an entry holding `records` takes in the ring, header included. */
export function ringEntrySize(records: readonly Uint8Array[]): number {
  let n = ENTRY_HEADER_SIZE;
  for (const r of records) n += ringRecordFootprint(r.length);
  return n;
}

interface WaitAsyncResult {
  async: boolean;
  value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out';
}
type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * A lock-free MPSC byte ring on a SharedArrayBuffer.
 *
 * @example
 * ```ts
 * const ring = RingBuffer.create(1 << 20);
 * ring.push([new Uint8Array([1, 2, 3])], 7); // 'ok'
 * ring.drain((entry) => { console.log(entry.producerId, entry.records.length); return true; });
 * ```
 */
export class RingBuffer {
  /** The shared memory; hand it to another thread and call attach() there. */
  readonly buffer: SharedArrayBuffer;
  /** Data bytes (a power of two). */
  readonly capacity: number;
  private readonly mask: number;
  private readonly control64: BigInt64Array;
  private readonly control32: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Int32Array;
  private readonly data64: BigInt64Array;
  private lastTicket = -1n;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.control64 = new BigInt64Array(buffer, 0, CONTROL_BYTES / 8);
    this.control32 = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.capacity = this.control32[CAPACITY_I32]!;
    this.mask = this.capacity - 1;
    this.data = new Uint8Array(buffer, CONTROL_BYTES, this.capacity);
    this.words = new Int32Array(buffer, CONTROL_BYTES, this.capacity / 4);
    this.data64 = new BigInt64Array(buffer, CONTROL_BYTES, this.capacity / 8);
  }

  /** A new, empty ring of `capacity` data bytes (a power of two, 4 KiB..1 GiB). */
  static create(capacity: number): RingBuffer {
    if (!Number.isInteger(capacity) || capacity < MIN_RING_CAPACITY || capacity > MAX_RING_CAPACITY || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY} bytes, got ${String(capacity)}`);
    }
    const buffer = new SharedArrayBuffer(CONTROL_BYTES + capacity);
    const c32 = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    c32[CAPACITY_I32] = capacity;
    c32[MAGIC_I32] = RING_MAGIC;
    return new RingBuffer(buffer);
  }

  /** A handle on a ring another thread created. */
  static attach(buffer: SharedArrayBuffer): RingBuffer {
    const c32 = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    if (c32[MAGIC_I32] !== RING_MAGIC || buffer.byteLength !== CONTROL_BYTES + (c32[CAPACITY_I32] ?? 0)) {
      throw new RangeError('the SharedArrayBuffer does not hold a ring created by RingBuffer.create()');
    }
    return new RingBuffer(buffer);
  }

  /** Bytes reserved and not yet consumed (committed or not). */
  usedBytes(): number {
    return Number(Atomics.load(this.control64, HEAD_I64) - Atomics.load(this.control64, TAIL_I64));
  }

  /** The ticket of this handle's last successful push (-1n before the first). */
  get lastPushTicket(): bigint {
    return this.lastTicket;
  }

  /**
   * Copies `records` into the ring as one entry. Returns 'too-large' when the entry would take
   * more than half the capacity (it could never be guaranteed to fit), 'full' when there is no
   * room now. Never blocks.
   */
  push(records: readonly Uint8Array[], producerId = 0): PushResult {
    const size = ringEntrySize(records);
    if (size > this.capacity / 2) return 'too-large';
    const cap = BigInt(this.capacity);
    let head: bigint;
    let start: number;
    let padBytes: number;
    for (;;) {
      head = Atomics.load(this.control64, HEAD_I64);
      const tail = Atomics.load(this.control64, TAIL_I64);
      start = Number(head) & this.mask;
      const untilEnd = this.capacity - start;
      padBytes = size <= untilEnd ? 0 : untilEnd;
      const need = BigInt(padBytes + size);
      if (head - tail + need > cap) return 'full';
      if (Atomics.compareExchange(this.control64, HEAD_I64, head, head + need) === head) break;
    }
    let at = start;
    if (padBytes > 0) {
      this.words[(at >> 2) + 1] = PAD_COUNT | 0;
      Atomics.store(this.words, at >> 2, padBytes);
      at = 0;
    }
    const ticket = head + BigInt(padBytes);
    const w = at >> 2;
    this.words[w + 1] = records.length;
    this.words[w + 2] = producerId | 0;
    this.words[w + 3] = 0;
    this.data64[(at >> 3) + 2] = ticket;
    let p = at + ENTRY_HEADER_SIZE;
    for (const r of records) {
      this.words[p >> 2] = r.length;
      this.data.set(r, p + 4);
      p += ringRecordFootprint(r.length);
      // Padding bytes are already zero: the consumer zeroed them when it released the space.
    }
    Atomics.store(this.words, w, size);
    this.lastTicket = ticket;
    Atomics.add(this.control32, DATA_SIGNAL_I32, 1);
    Atomics.notify(this.control32, DATA_SIGNAL_I32);
    return 'ok';
  }

  /**
   * Consumer side: visits committed entries in ring order, starting at the tail. `visit`
   * returns true to consume the entry, false to stop before it (it stays for the next drain).
   * Stops at the first entry that is reserved but not committed yet. Consumed bytes are zeroed,
   * then the tail advances once for the whole call. Returns the number of entries consumed.
   * Only one thread may drain. `views(ticket, count)`, when given, names the records of an entry
   * the visitor wants, [from, to): only those are made into views, the others are left undefined
   * in `records` (a visitor that took an entry's first records on an earlier visit, which stopped
   * inside the entry, asks for the next stretch only).
   */
  drain(visit: (entry: RingEntry) => boolean, views?: (ticket: bigint, count: number) => [from: number, to: number]): number {
    const tailStart = Atomics.load(this.control64, TAIL_I64);
    let tail = tailStart;
    let consumed = 0;
    for (;;) {
      const at = Number(tail) & this.mask;
      const w = at >> 2;
      const length = Atomics.load(this.words, w);
      if (length === 0) break;
      if (this.words[w + 1] === (PAD_COUNT | 0)) {
        this.zero(at, length);
        tail += BigInt(length);
        continue;
      }
      const ticket = this.data64[(at >> 3) + 2]!;
      if (ticket !== tail) {
        throw new Error(`ring buffer entry at position ${tail} carries ticket ${ticket}: the ring is damaged`);
      }
      const count = this.words[w + 1]! >>> 0;
      const records: Uint8Array[] = new Array<Uint8Array>(count);
      const [from, to] = views === undefined ? [0, count] : views(ticket, count);
      let p = at + ENTRY_HEADER_SIZE;
      for (let i = 0; i < to; i++) {
        const len = this.words[p >> 2]! >>> 0;
        if (i >= from) records[i] = this.data.subarray(p + 4, p + 4 + len);
        p += ringRecordFootprint(len);
      }
      if (!visit({ ticket, producerId: this.words[w + 2]! >>> 0, records, bytes: length })) break;
      this.zero(at, length);
      tail += BigInt(length);
      consumed++;
    }
    if (tail !== tailStart) {
      Atomics.store(this.control64, TAIL_I64, tail);
      Atomics.add(this.control32, SPACE_SIGNAL_I32, 1);
      Atomics.notify(this.control32, SPACE_SIGNAL_I32);
    }
    return consumed;
  }

  /**
   * Zeroes [at, at + length) of the data area. Entries start at multiples of 8 and take
   * multiples of 8 bytes, so the 8-byte view does it; filling a Uint8Array view of shared
   * memory is several times slower (V8 stores byte by byte there).
   */
  private zero(at: number, length: number): void {
    this.data64.fill(0n, at >> 3, (at + length) >> 3);
  }

  /** True when a committed entry waits at the tail. */
  hasCommitted(): boolean {
    const at = Number(Atomics.load(this.control64, TAIL_I64)) & this.mask;
    return Atomics.load(this.words, at >> 2) !== 0;
  }

  /**
   * Resolves when a producer committed something after this call began, or after `timeoutMs`.
   * Uses Atomics.waitAsync, so it does not block the calling thread.
   */
  async waitForData(timeoutMs = Infinity): Promise<void> {
    await this.waitSignal(DATA_SIGNAL_I32, () => this.hasCommitted(), timeoutMs);
  }

  /** Resolves when the consumer released space after this call began, or after `timeoutMs`. */
  async waitForSpace(timeoutMs = Infinity): Promise<void> {
    await this.waitSignal(SPACE_SIGNAL_I32, () => this.usedBytes() === 0, timeoutMs);
  }

  /**
   * Blocks the calling thread until the consumer released space or `timeoutMs` passed. For
   * worker threads only: the main thread of Node must not block.
   */
  waitForSpaceSync(timeoutMs = Infinity): void {
    const seen = Atomics.load(this.control32, SPACE_SIGNAL_I32);
    if (this.usedBytes() === 0) return;
    Atomics.wait(this.control32, SPACE_SIGNAL_I32, seen, timeoutMs);
  }

  private async waitSignal(index: number, ready: () => boolean, timeoutMs: number): Promise<void> {
    const seen = Atomics.load(this.control32, index);
    if (ready()) return;
    if (waitAsync === undefined) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 1)));
      return;
    }
    const r = waitAsync(this.control32, index, seen, timeoutMs);
    if (r.async) await r.value;
  }
}
