/**
 * Reads the records of one segment file in large chunks. Shared by the recovery scan, verify
 * and the reader, so all three apply the same rules to the same bytes.
 *
 * The scanner is a small state machine driven by its caller: step() decodes the next record
 * from the chunk in memory without awaiting anything, and answers 'need' when it must read
 * more; the caller then awaits fill() and steps again. That keeps the per-record cost free of
 * promises while the file is read 4 MiB at a time.
 */
import type { FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import { crc32c } from '../crc32c.js';
import {
  checksumProblem,
  decodeRecordHeader,
  isZeroRecordHeader,
  partialHeaderProblem,
  readU32,
  readU64,
  recordChecksum,
  recordHeaderProblem,
} from './codec.js';
import { RECORD_ALIGN, RECORD_HEADER_SIZE, RECORD_OFF_LENGTH, recordFootprint } from './format.js';
import type { ByteSource } from './direct-read.js';
import type { Reasoned } from './reasons.js';

/** Bytes read from a segment file at a time. */
export const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

/** One step of a scan. Offsets are byte offsets in the segment file. */
export type ScanStep =
  | { kind: 'record'; offset: number; seq: number; length: number; next: number }
  | { kind: 'end'; offset: number; zeroHeader: boolean }
  | { kind: 'bad'; offset: number; problem: Reasoned }
  | { kind: 'need' };

const NEED: ScanStep = { kind: 'need' };
const ZERO_BLOCK = new Uint8Array(4096);

export interface SegmentScannerOptions {
  /** Keep the payload of records larger than a chunk in memory (the reader); else only check them. */
  wantPayload?: boolean;
  chunkBytes?: number;
  /**
   * The first read takes this many bytes, each next one twice as many up to chunkBytes: a short
   * read near an index entry reads little, a long one soon reads whole chunks.
   */
  firstChunkBytes?: number;
  /**
   * Where the bytes the caller wants end (default: the limit): reads stop there unless a record
   * reaches further.
   */
  wantedEnd?: number;
  /**
   * Read the next chunk while the caller works on this one, once reads take whole chunks (never
   * past wantedEnd). For callers that want the rest of what they read.
   */
  readAhead?: boolean;
  /**
   * Buffers to read into, shared by the scanners a caller makes one after another: a scanner
   * takes what it needs from here and puts its buffers back at close().
   */
  buffers?: Buffer[];
  /**
   * Reads the records' bytes from here instead of the file handle (direct reads; direct-read.ts)
   * when a read takes at least DIRECT_READ_MIN_BYTES.
   */
  source?: ByteSource | null;
  /** Counts the reads made and the bytes read (and of them, read direct) here too, as they are made. */
  counters?: ReadTally | null;
}

/** Reads made, bytes read, and of them the bytes read with direct I/O. */
export interface ReadTally {
  reads: number;
  bytesRead: number;
  directBytesRead: number;
}

/**
 * Reads shorter than this go through the file handle even when a direct source is given: a short
 * read (a page of records) is often read again, which the page cache then serves at memory
 * speed, and filling the cache for it costs little. Long reads (scans, subscription batches) go
 * direct, where the page cache would cost the most CPU and rarely be used again.
 */
export const DIRECT_READ_MIN_BYTES = 512 * 1024;

/** Bytes before a read-ahead chunk kept free for the part of a record cut by the chunk's start. */
const READ_AHEAD_SLACK = 64 * 1024;
/** Buffers kept in a `buffers` pool at most. */
const MAX_POOLED = 3;

/** A chunk read ahead: the bytes at `start` land at READ_AHEAD_SLACK in `buf`. */
interface ReadAhead {
  start: number;
  size: number;
  buf: Buffer;
  done: Promise<void>;
  error: unknown;
}

/**
 * Scans the records of one segment file between `start` and `limit` (the end of the segment:
 * the smaller of the file length and the segment size in its header).
 */
export class SegmentScanner {
  /** Offset of the next record to decode. */
  pos: number;
  /** Bytes read from the file so far. */
  bytesRead = 0;
  /** Of them, the bytes read from the direct source. */
  directBytesRead = 0;
  private win: Buffer;
  private winStart = 0;
  private winLen = 0;
  /** Bytes the next read takes (grows from firstChunkBytes to maxChunk). */
  private chunk: number;
  private readonly maxChunk: number;
  private readonly wantPayload: boolean;
  private needPos = 0;
  private needBytes = 0;
  private needLarge = false;
  /** The verdict on a record larger than a chunk, computed by fill(). */
  private large: { pos: number; crcOk: boolean; stored: number; actual: number; payload: Uint8Array | null } | null = null;
  private lastPayload: Uint8Array | null = null;
  private readonly wantedEnd: number;
  private readonly readAhead: boolean;
  private readonly buffers: Buffer[] | null;
  private readonly source: ByteSource | null;
  private readonly counters: ReadTally | null;
  private ahead: ReadAhead | null = null;
  /** The buffer the last read-ahead left unused, for the next one. */
  private spare: Buffer | null = null;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly limit: number,
    start: number,
    options: SegmentScannerOptions = {},
  ) {
    this.pos = start;
    this.maxChunk = options.chunkBytes ?? SCAN_CHUNK_BYTES;
    this.chunk = Math.min(options.firstChunkBytes ?? this.maxChunk, this.maxChunk);
    this.wantPayload = options.wantPayload ?? false;
    this.win = Buffer.allocUnsafeSlow(0);
    this.wantedEnd = Math.min(options.wantedEnd ?? limit, limit);
    this.readAhead = options.readAhead ?? false;
    this.buffers = options.buffers ?? null;
    this.source = options.source ?? null;
    this.counters = options.counters ?? null;
  }

  /**
   * Waits for a read ahead still under way, and gives the buffers back to `buffers`. Call it
   * before the file is closed; the scanner is not used afterwards.
   */
  async close(): Promise<void> {
    const ahead = this.ahead;
    await this.dropAhead();
    const pool = this.buffers;
    if (pool === null) return;
    for (const b of [this.win, this.spare, ahead?.buf]) {
      if (b === undefined || b === null || b.length === 0 || pool.length >= MAX_POOLED) continue;
      pool.push(b.byteOffset === 0 && b.length === b.buffer.byteLength ? b : Buffer.from(b.buffer, 0, b.buffer.byteLength));
    }
    this.win = Buffer.allocUnsafeSlow(0);
    this.spare = null;
  }

  /** Waits for a read ahead under way and forgets it. */
  private async dropAhead(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null) await ahead.done;
  }

  /** A buffer of at least `size` bytes: one from `buffers`, else a new one. */
  private allocate(size: number): Buffer {
    const pool = this.buffers;
    if (pool !== null) {
      const i = pool.findIndex((b) => b.length >= size);
      if (i >= 0) return pool.splice(i, 1)[0]!;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /**
   * Starts the first read now, from the scan's position, without waiting for it: the caller is
   * still busy with the segment before this one. Only for a scanner made with readAhead, whose
   * reads take whole chunks, before its first step; the read stops at wantedEnd.
   */
  prefetch(): void {
    if (this.winLen === 0) this.aheadFrom(this.pos);
  }

  /** True once every read up to wantedEnd has been started (the last may still be under way). */
  get readsStarted(): boolean {
    const ahead = this.ahead;
    return (ahead !== null ? ahead.start + ahead.size : this.winStart + this.winLen) >= this.wantedEnd;
  }

  /** The next read takes `bytes` (within 4 KiB and the largest chunk); later ones grow from there. */
  nextChunk(bytes: number): void {
    this.chunk = Math.max(4096, Math.min(bytes, this.maxChunk));
  }

  /** Moves the scan to `offset` (a multiple of RECORD_ALIGN). */
  seek(offset: number): void {
    this.pos = offset;
  }

  /** Forgets the bytes read so far, so the next step reads the file again (it may have grown). */
  async forget(): Promise<void> {
    await this.dropAhead();
    this.winStart = 0;
    this.winLen = 0;
    this.large = null;
  }

  /** True when the file holds only zeros in [offset, offset + length), read afresh. */
  async zerosAt(offset: number, length: number): Promise<boolean> {
    return lastNonZeroIn(await this.readRange(offset, Math.min(length, this.limit - offset))) < 0;
  }

  /**
   * Decodes the record at `pos`. On 'record' the scan moves past it and payload() gives its
   * bytes. 'end' means a zero header, or fewer than a header's bytes left and all zero; 'bad'
   * that the bytes at `offset` are not a whole record (the scan stays there). Sequence order is
   * the caller's business.
   */
  step(): ScanStep {
    const pos = this.pos;
    if (pos + RECORD_HEADER_SIZE > this.limit) {
      // Fewer than a header's bytes left: the end when they are zeros, else a cut header.
      const left = Math.max(this.limit - pos, 0);
      if (left === 0) return { kind: 'end', offset: pos, zeroHeader: false };
      if (!this.has(pos, left)) return this.need(pos, left, false);
      if (lastNonZeroIn(this.win.subarray(pos - this.winStart, pos - this.winStart + left)) < 0) {
        return { kind: 'end', offset: pos, zeroHeader: false };
      }
      return { kind: 'bad', offset: pos, problem: partialHeaderProblem(left) };
    }
    if (!this.has(pos, RECORD_HEADER_SIZE)) return this.need(pos, RECORD_HEADER_SIZE, false);
    const off = pos - this.winStart;
    const win = this.win;
    if (isZeroRecordHeader(win, off)) return { kind: 'end', offset: pos, zeroHeader: true };
    const h = decodeRecordHeader(win, off);
    const problem = recordHeaderProblem(h, pos, this.limit);
    if (problem !== null) return { kind: 'bad', offset: pos, problem };
    const total = RECORD_HEADER_SIZE + h.length;
    if (this.has(pos, total)) {
      const actual = recordChecksum(win, off, h.length);
      if (actual !== h.crc) return { kind: 'bad', offset: pos, problem: checksumProblem(h.crc, actual) };
      this.lastPayload = win.subarray(off + RECORD_HEADER_SIZE, off + total);
    } else if (total <= this.chunk) {
      return this.need(pos, total, false);
    } else {
      const large = this.large;
      if (large === null || large.pos !== pos) return this.need(pos, total, true);
      this.large = null;
      if (!large.crcOk) return { kind: 'bad', offset: pos, problem: checksumProblem(large.stored, large.actual) };
      this.lastPayload = large.payload;
    }
    const next = pos + recordFootprint(h.length);
    this.pos = next;
    return { kind: 'record', offset: pos, seq: h.seq, length: h.length, next };
  }

  /**
   * The payload of the record the last step() returned: a view valid until the next step() or
   * fill(). Null for a record larger than a chunk when the scanner was made without wantPayload.
   */
  payload(): Uint8Array | null {
    return this.lastPayload;
  }

  /** Reads what the last 'need' asked for. */
  async fill(): Promise<void> {
    if (!this.needLarge) {
      await this.load(this.needPos, this.needBytes);
      return;
    }
    const pos = this.needPos;
    const total = this.needBytes;
    let stored: number;
    let actual: number;
    let payload: Uint8Array | null = null;
    if (this.wantPayload) {
      const whole = Buffer.allocUnsafeSlow(total);
      await this.readExactly(whole, pos);
      stored = readU32(whole, 0);
      actual = crc32c(whole.subarray(RECORD_OFF_LENGTH));
      payload = whole.subarray(RECORD_HEADER_SIZE);
    } else {
      await this.load(pos, RECORD_HEADER_SIZE);
      stored = readU32(this.win, pos - this.winStart);
      actual = await this.crcOfRange(pos + RECORD_OFF_LENGTH, total - RECORD_OFF_LENGTH);
    }
    this.large = { pos, crcOk: stored === actual, stored, actual, payload };
  }

  /**
   * The offset of the last non-zero byte in [from, limit), or -1 when every byte there is zero.
   */
  async lastNonZero(from: number): Promise<number> {
    let last = -1;
    let p = from;
    while (p < this.limit) {
      await this.load(p, Math.min(this.chunk, this.limit - p));
      const n = Math.min(this.winLen, this.limit - p);
      const at = lastNonZeroIn(this.win.subarray(p - this.winStart, p - this.winStart + n));
      if (at >= 0) last = p + at;
      p += n;
    }
    return last;
  }

  /**
   * The first offset at or after `from` (stepping by RECORD_ALIGN) where a whole record with a
   * valid checksum and a sequence number above `afterSeq` lies, or null when there is none
   * before the end of the segment. This is the test that tells a torn tail (nothing valid
   * follows the damage) from damage in the middle of the log.
   */
  async findValidAfter(from: number, afterSeq: number): Promise<number | null> {
    let p = from + ((RECORD_ALIGN - (from % RECORD_ALIGN)) % RECORD_ALIGN);
    const limit = this.limit;
    while (p + RECORD_HEADER_SIZE <= limit) {
      if (!this.has(p, RECORD_HEADER_SIZE)) await this.load(p, RECORD_HEADER_SIZE);
      const off = p - this.winStart;
      const win = this.win;
      // Skip zero blocks fast: no header that lies wholly in one can be a record.
      if (off + ZERO_BLOCK.length <= this.winLen && isZeroBlock(win, off)) {
        p += ZERO_BLOCK.length - RECORD_ALIGN;
        continue;
      }
      const seq = readU64(win, off + 8);
      if (seq > afterSeq) {
        const length = readU32(win, off + RECORD_OFF_LENGTH);
        if (length <= limit - p - RECORD_HEADER_SIZE) {
          const stored = readU32(win, off);
          const total = RECORD_HEADER_SIZE + length;
          let actual: number;
          if (this.has(p, total)) {
            actual = recordChecksum(win, off, length);
          } else if (total <= this.chunk) {
            await this.load(p, total);
            actual = recordChecksum(this.win, 0, length);
          } else {
            actual = await this.crcOfRange(p + RECORD_OFF_LENGTH, total - RECORD_OFF_LENGTH);
          }
          if (actual === stored) return p;
        }
      }
      p += RECORD_ALIGN;
    }
    return null;
  }

  /** Copies [offset, offset + length) of the file into a new buffer. */
  async readRange(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafeSlow(length);
    await this.readExactly(out, offset);
    return out;
  }

  private need(pos: number, bytes: number, large: boolean): ScanStep {
    this.needPos = pos;
    this.needBytes = bytes;
    this.needLarge = large;
    return NEED;
  }

  private has(pos: number, n: number): boolean {
    return pos >= this.winStart && pos + n <= this.winStart + this.winLen;
  }

  /** Makes [pos, pos + n) present, reading a whole chunk from `pos` (less near the limit). */
  private async load(pos: number, n: number): Promise<void> {
    if (this.has(pos, n)) return;
    if (this.ahead !== null && (await this.takeAhead(pos, n))) {
      this.startAhead();
      return;
    }
    // Up to wantedEnd reads stop there; past it (a hint that fell short) they take whole chunks.
    const want = pos < this.wantedEnd ? Math.min(this.chunk, this.wantedEnd - pos) : this.chunk;
    const size = Math.min(Math.max(want, n), this.limit - pos);
    if (this.win.length < size) this.win = this.allocate(Math.max(size, Math.min(this.chunk, this.limit)));
    this.winStart = pos;
    this.winLen = 0;
    await this.readExactly(this.win.subarray(0, size), pos);
    this.winLen = size;
    if (this.chunk < this.maxChunk) this.chunk = Math.min(this.chunk * 2, this.maxChunk);
    else this.startAhead();
  }

  /**
   * Reads the chunk after the window into a second buffer without waiting for it, when reads take
   * whole chunks and there is more to read before readAheadEnd.
   */
  private startAhead(): void {
    this.aheadFrom(this.winStart + this.winLen);
  }

  /** Reads the chunk at `start` into a second buffer without waiting for it (see startAhead). */
  private aheadFrom(start: number): void {
    if (!this.readAhead || this.ahead !== null || this.chunk < this.maxChunk || start >= this.wantedEnd) return;
    const size = Math.min(this.maxChunk, this.wantedEnd - start);
    let buf = this.spare;
    this.spare = null;
    if (buf === null || buf.length < READ_AHEAD_SLACK + size) buf = this.allocate(READ_AHEAD_SLACK + this.maxChunk);
    const ahead: ReadAhead = { start, size, buf, done: Promise.resolve(), error: null };
    ahead.done = this.readExactly(buf.subarray(READ_AHEAD_SLACK, READ_AHEAD_SLACK + size), start).catch((err: unknown) => {
      ahead.error = err;
    });
    this.ahead = ahead;
  }

  /**
   * Makes the chunk read ahead the window when [pos, pos + n) lies in the window's tail and that
   * chunk: the tail (part of a record) is copied in front of it. False when it does not fit.
   */
  private async takeAhead(pos: number, n: number): Promise<boolean> {
    const ahead = this.ahead!;
    const tail = ahead.start - pos;
    const fits = pos >= this.winStart && tail >= 0 && tail <= READ_AHEAD_SLACK && pos + n <= ahead.start + ahead.size;
    if (!fits) {
      // Not where the scan went (a seek): drop it.
      await this.dropAhead();
      return false;
    }
    this.ahead = null;
    await ahead.done;
    if (ahead.error !== null) throw ahead.error;
    const buf = ahead.buf;
    if (tail > 0) this.win.copy(buf, READ_AHEAD_SLACK - tail, pos - this.winStart, ahead.start - this.winStart);
    // The old window's memory is the next read-ahead's; its payload views are no longer in use.
    const old = this.win;
    this.spare = old.byteOffset === 0 && old.length === old.buffer.byteLength ? old : Buffer.from(old.buffer, 0, old.buffer.byteLength);
    this.win = buf.subarray(READ_AHEAD_SLACK - tail, READ_AHEAD_SLACK + ahead.size);
    this.winStart = pos;
    this.winLen = tail + ahead.size;
    return true;
  }

  private async crcOfRange(offset: number, length: number): Promise<number> {
    let crc = 0;
    let p = offset;
    const end = offset + length;
    while (p < end) {
      const n = Math.min(this.chunk, end - p);
      await this.load(p, n);
      crc = crc32c(this.win.subarray(p - this.winStart, p - this.winStart + n), crc);
      p += n;
    }
    return crc;
  }

  private async readExactly(into: Uint8Array, position: number): Promise<void> {
    let done = 0;
    const direct = this.source !== null && into.length >= DIRECT_READ_MIN_BYTES ? this.source : null;
    const counters = this.counters;
    if (counters !== null) counters.reads++;
    while (done < into.length) {
      let bytesRead: number;
      try {
        bytesRead =
          direct !== null
            ? await direct.read(into.subarray(done), position + done)
            : (await this.fh.read(into, done, into.length - done, position + done)).bytesRead;
      } catch (err) {
        // A direct read's failure is a TapioError: a failed system call names its errno, and is
        // worded as a failed read of the handle is; any other (no memory for its buffer) stands.
        const errno = err instanceof TapioError ? err.details?.['errno'] : undefined;
        if (err instanceof TapioError && typeof errno !== 'string') throw err;
        const code = typeof errno === 'string' ? errno : ((err as NodeJS.ErrnoException).code ?? 'unknown error');
        throw new TapioError('ERR_WAL_IO', `reading ${this.path} at byte offset ${position + done} failed (${code}): ${(err as Error).message}`, {
          cause: err,
          details: { file: this.path, operation: 'read', code },
        });
      }
      if (bytesRead === 0) {
        throw new TapioError('ERR_WAL_IO', `${this.path} ended at byte offset ${position + done} while it was being read (it was truncated meanwhile)`, {
          details: { file: this.path, operation: 'read', code: 'EOF' },
        });
      }
      done += bytesRead;
      this.bytesRead += bytesRead;
      // Direct unless the source fell back to the page cache (its direct open was refused).
      const wasDirect = direct !== null && direct.direct;
      if (wasDirect) this.directBytesRead += bytesRead;
      if (counters !== null) {
        counters.bytesRead += bytesRead;
        if (wasDirect) counters.directBytesRead += bytesRead;
      }
    }
  }
}

/** The index of the last non-zero byte of `bytes`, or -1. Compares 4 KiB blocks with memcmp first. */
export function lastNonZeroIn(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_BLOCK.length);
    const block = bytes.subarray(start, end);
    if (!Buffer.from(block.buffer, block.byteOffset, block.byteLength).equals(ZERO_BLOCK.subarray(0, block.length))) {
      for (let i = end - 1; i >= start; i--) if (bytes[i] !== 0) return i;
    }
    end = start;
  }
  return -1;
}

function isZeroBlock(win: Buffer, off: number): boolean {
  return win.compare(ZERO_BLOCK, 0, ZERO_BLOCK.length, off, off + ZERO_BLOCK.length) === 0;
}
