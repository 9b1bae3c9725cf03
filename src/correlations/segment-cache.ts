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

/** Values by key within a budget of bytes, the least recently used out first. */
class ByteLru<K, V> {
  readonly #entries = new Map<K, { value: V; bytes: number }>();
  #bytes = 0;

  constructor(readonly budget: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** The value of `key`, now the most recently used; undefined when not kept. */
  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  /** Keeps `value` (taking `bytes`) under `key`, then lets the least recently used go past the budget. */
  set(key: K, value: V, bytes: number): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#bytes -= old.bytes;
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.budget) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }

  /** Drops the entries whose key `drop` says yes to. */
  deleteWhere(drop: (key: K) => boolean): void {
    for (const [k, e] of this.#entries) {
      if (drop(k)) {
        this.#entries.delete(k);
        this.#bytes -= e.bytes;
      }
    }
  }

  delete(key: K): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

export class SegmentCache {
  readonly #readers = new Map<string, ReaderSlot>();
  readonly #batches = new ByteLru<ActiveBatch, BatchColumns>(BATCH_CACHE_BYTES);
  readonly #columns = new ByteLru<string, Column>(COLUMN_CACHE_BYTES);
  readonly #texts = new ByteLru<string, arrow.Table>(TEXT_CACHE_BYTES);

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
    return this.#columns.get(`${file}\n${group}\n${name}`);
  }

  /** Keeps a decoded column (never changed afterwards by anyone: queries only read columns). */
  keep(file: string, group: number, name: string, column: Column): void {
    if (!CACHED_COLUMNS.has(name) || column.byteLength > COLUMN_CACHE_BYTES / 16) return;
    this.#columns.set(`${file}\n${group}\n${name}`, column, column.byteLength);
  }

  /** The decoded text or list column `name` of row group `group` (a one-column Arrow table), when kept. */
  text(file: string, group: number, name: string): arrow.Table | undefined {
    return this.#texts.get(`${file}\n${group}\n${name}`);
  }

  /**
   * Keeps a decoded text or list column: `table` (never changed by anyone: queries only read it)
   * holds `bytes` of buffers. One larger than a sixteenth of the budget is not kept.
   */
  keepText(file: string, group: number, name: string, table: arrow.Table, bytes: number): void {
    if (CACHED_COLUMNS.has(name) || bytes > TEXT_CACHE_BYTES / 16) return;
    this.#texts.set(`${file}\n${group}\n${name}`, table, bytes);
  }

  /** Drops what is kept of a segment (it was retired: compacted or expired). */
  forget(file: string): void {
    const slot = this.#readers.get(file);
    if (slot !== undefined) {
      this.#readers.delete(file);
      this.#close(slot);
    }
    const prefix = `${file}\n`;
    this.#columns.deleteWhere((k) => k.startsWith(prefix));
    this.#texts.deleteWhere((k) => k.startsWith(prefix));
  }

  /**
   * The decoded columns of an in-memory batch, from the cache or from `decode`. A batch never
   * changes, and what queries take from its columns they copy, so one decoding serves them all.
   */
  batch(batch: ActiveBatch, decode: () => BatchColumns): BatchColumns {
    const hit = this.#batches.get(batch);
    if (hit !== undefined) return hit;
    const cols = decode();
    const bytes = 2 * batch.bytes.length;
    if (bytes <= BATCH_CACHE_BYTES / 4) this.#batches.set(batch, cols, bytes);
    return cols;
  }

  /** Drops the decoded columns of batches that left memory (their part is in segments now). */
  forgetBatches(batches: Iterable<ActiveBatch>): void {
    for (const b of batches) this.#batches.delete(b);
  }

  /** Closes every reader (the store closes); readers in use close when released. */
  clear(): void {
    for (const slot of this.#readers.values()) this.#close(slot);
    this.#readers.clear();
    this.#columns.clear();
    this.#texts.clear();
    this.#batches.clear();
  }

  /** Open readers and bytes of kept columns (stats). */
  get size(): { readers: number; columnBytes: number; textBytes: number; batchBytes: number } {
    return { readers: this.#readers.size, columnBytes: this.#columns.bytes, textBytes: this.#texts.bytes, batchBytes: this.#batches.bytes };
  }
}
