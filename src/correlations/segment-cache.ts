/**
 * What queries keep of live segments between one another: open Parquet readers (an open parses
 * the footer, a few milliseconds a file), the decoded fixed-width columns of row groups
 * (timestamp, type, severity, confidence, eventCount, timeWindow: 22 bytes a row), which the
 * filter step reads first in every query, and the decoded text and list columns (ids, resource
 * lists, patterns) of the row groups queries read, in Arrow's compact form (bytes
 * and offsets; dictionary codes for resource names), which a query would otherwise decode again
 * (the most of a 1-hour query's time). Segments never change once written, so an entry stays
 * right until its segment is retired; each part is bounded and evicts the least recently used.
 */
import { join } from 'node:path';

import type * as arrow from 'apache-arrow';

import type { ActiveBatch } from './active-part.js';
import type { BatchColumns } from './batch-columns.js';
import type { SegmentEntry } from './manifest.js';
import { SegmentReader } from './segment-file.js';

/** Columns kept decoded: fixed width, small, read by filters and aggregations. */
export const CACHED_COLUMNS = new Set(['timestamp', 'type', 'severity', 'confidence', 'eventCount', 'timeWindow']);
/** Bytes of decoded columns kept (about 3M rows of all six). */
export const COLUMN_CACHE_BYTES = 64 * 1024 * 1024;
/** Bytes of decoded text and list columns kept (their Arrow buffers: about 1 MB per row group for all of them). */
export const TEXT_CACHE_BYTES = 64 * 1024 * 1024;
/** Parquet readers kept open. */
export const OPEN_READERS = 32;
/**
 * Bytes of decoded in-memory batches kept (counted as twice their record, what their columns,
 * ids and resource objects take): queries that reach the active part decode it once, not each.
 */
export const BATCH_CACHE_BYTES = 64 * 1024 * 1024;

type Column = Float64Array | Uint8Array | Float32Array | Int32Array;

interface ReaderSlot {
  reader: SegmentReader;
  users: number;
  /** Retired or evicted while in use: closed when the last user lets go. */
  closing: boolean;
}

export class SegmentCache {
  readonly #readers = new Map<string, ReaderSlot>();
  readonly #batches = new Map<ActiveBatch, { cols: BatchColumns; bytes: number }>();
  #batchBytes = 0;
  readonly #columns = new Map<string, Column>();
  #columnBytes = 0;
  readonly #texts = new Map<string, { table: arrow.Table; bytes: number }>();
  #textBytes = 0;

  /** An open reader of the segment, to `release()` when done. */
  async reader(dir: string, entry: SegmentEntry): Promise<{ reader: SegmentReader; release: () => void }> {
    let slot = this.#readers.get(entry.file);
    if (slot === undefined || slot.closing) {
      const reader = await SegmentReader.open(join(dir, entry.file));
      // Another query may have opened it meanwhile: keep one.
      const other = this.#readers.get(entry.file);
      if (other !== undefined && !other.closing) {
        reader.close();
        slot = other;
      } else {
        slot = { reader, users: 0, closing: false };
        this.#readers.set(entry.file, slot);
        this.#evictReaders();
      }
    } else {
      // Most recently used last.
      this.#readers.delete(entry.file);
      this.#readers.set(entry.file, slot);
    }
    const held = slot;
    held.users++;
    let released = false;
    return {
      reader: held.reader,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.closing && held.users === 0) held.reader.close();
      },
    };
  }

  #evictReaders(): void {
    for (const [file, slot] of this.#readers) {
      if (this.#readers.size <= OPEN_READERS) break;
      this.#readers.delete(file);
      this.#close(slot);
    }
  }

  #close(slot: ReaderSlot): void {
    slot.closing = true;
    if (slot.users === 0) slot.reader.close();
  }

  /** The decoded column `name` of row group `group`, when kept. */
  column(file: string, group: number, name: string): Column | undefined {
    const key = `${file}\n${group}\n${name}`;
    const c = this.#columns.get(key);
    if (c !== undefined) {
      this.#columns.delete(key);
      this.#columns.set(key, c);
    }
    return c;
  }

  /** Keeps a decoded column (never changed afterwards by anyone: queries only read columns). */
  keep(file: string, group: number, name: string, column: Column): void {
    if (!CACHED_COLUMNS.has(name) || column.byteLength > COLUMN_CACHE_BYTES / 16) return;
    const key = `${file}\n${group}\n${name}`;
    const old = this.#columns.get(key);
    if (old !== undefined) this.#columnBytes -= old.byteLength;
    this.#columns.set(key, column);
    this.#columnBytes += column.byteLength;
    for (const [k, c] of this.#columns) {
      if (this.#columnBytes <= COLUMN_CACHE_BYTES) break;
      this.#columns.delete(k);
      this.#columnBytes -= c.byteLength;
    }
  }

  /** The decoded text or list column `name` of row group `group` (a one-column Arrow table), when kept. */
  text(file: string, group: number, name: string): arrow.Table | undefined {
    const key = `${file}\n${group}\n${name}`;
    const t = this.#texts.get(key);
    if (t !== undefined) {
      this.#texts.delete(key);
      this.#texts.set(key, t);
    }
    return t?.table;
  }

  /**
   * Keeps a decoded text or list column: `table` (never changed by anyone: queries only read it)
   * holds `bytes` of buffers. One larger than a sixteenth of the budget is not kept.
   */
  keepText(file: string, group: number, name: string, table: arrow.Table, bytes: number): void {
    if (CACHED_COLUMNS.has(name) || bytes > TEXT_CACHE_BYTES / 16) return;
    const key = `${file}\n${group}\n${name}`;
    const old = this.#texts.get(key);
    if (old !== undefined) this.#textBytes -= old.bytes;
    this.#texts.set(key, { table, bytes });
    this.#textBytes += bytes;
    for (const [k, t] of this.#texts) {
      if (this.#textBytes <= TEXT_CACHE_BYTES) break;
      this.#texts.delete(k);
      this.#textBytes -= t.bytes;
    }
  }

  /** Drops what is kept of a segment (it was retired: compacted or expired). */
  forget(file: string): void {
    const slot = this.#readers.get(file);
    if (slot !== undefined) {
      this.#readers.delete(file);
      this.#close(slot);
    }
    const prefix = `${file}\n`;
    for (const [k, c] of this.#columns) {
      if (k.startsWith(prefix)) {
        this.#columns.delete(k);
        this.#columnBytes -= c.byteLength;
      }
    }
    for (const [k, t] of this.#texts) {
      if (k.startsWith(prefix)) {
        this.#texts.delete(k);
        this.#textBytes -= t.bytes;
      }
    }
  }

  /**
   * The decoded columns of an in-memory batch, from the cache or from `decode`. A batch never
   * changes, and what queries take from its columns they copy, so one decoding serves them all.
   */
  batch(batch: ActiveBatch, decode: () => BatchColumns): BatchColumns {
    const hit = this.#batches.get(batch);
    if (hit !== undefined) {
      this.#batches.delete(batch);
      this.#batches.set(batch, hit);
      return hit.cols;
    }
    const cols = decode();
    const bytes = 2 * batch.bytes.length;
    if (bytes <= BATCH_CACHE_BYTES / 4) {
      this.#batches.set(batch, { cols, bytes });
      this.#batchBytes += bytes;
      for (const [k, v] of this.#batches) {
        if (this.#batchBytes <= BATCH_CACHE_BYTES) break;
        this.#batches.delete(k);
        this.#batchBytes -= v.bytes;
      }
    }
    return cols;
  }

  /** Drops the decoded columns of batches that left memory (their part is in segments now). */
  forgetBatches(batches: Iterable<ActiveBatch>): void {
    for (const b of batches) {
      const v = this.#batches.get(b);
      if (v === undefined) continue;
      this.#batches.delete(b);
      this.#batchBytes -= v.bytes;
    }
  }

  /** Closes every reader (the store closes); readers in use close when released. */
  clear(): void {
    for (const slot of this.#readers.values()) this.#close(slot);
    this.#readers.clear();
    this.#columns.clear();
    this.#columnBytes = 0;
    this.#texts.clear();
    this.#textBytes = 0;
    this.#batches.clear();
    this.#batchBytes = 0;
  }

  /** Open readers and bytes of kept columns (stats). */
  get size(): { readers: number; columnBytes: number; textBytes: number; batchBytes: number } {
    return { readers: this.#readers.size, columnBytes: this.#columnBytes, textBytes: this.#textBytes, batchBytes: this.#batchBytes };
  }
}
