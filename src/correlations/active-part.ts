/**
 * The active part: the batches inserted since the last flush, as columns for reads and as their
 * WAL record bytes for the flush. A flush freezes the batches it writes (they stay readable until
 * the manifest names their segments) while new inserts go to a fresh part.
 */
import { encodeBatch, timeRange, type BatchColumns } from './batch-columns.js';

/** One inserted batch. */
export interface ActiveBatch {
  cols: BatchColumns;
  /** Its WAL record (owned: a flush transfers it to the segment worker). Null once transferred. */
  bytes: Uint8Array | null;
  /** Its WAL sequence number (0 when the WAL is off). */
  seq: number;
  minTs: number;
  maxTs: number;
  /** What the batch is counted as against active_memory. */
  memory: number;
}

/** Object and string overhead per row beyond the record bytes, counted against active_memory (an estimate). */
const ROW_OVERHEAD = 96;

export function activeBatch(cols: BatchColumns, bytes: Uint8Array, seq: number): ActiveBatch {
  const [minTs, maxTs] = timeRange(cols);
  // The columns hold about what the record holds, plus per-row object overhead.
  return { cols, bytes, seq, minTs, maxTs, memory: 2 * bytes.length + cols.rows * ROW_OVERHEAD };
}

export class ActivePart {
  batches: ActiveBatch[] = [];
  rows = 0;
  memory = 0;

  add(batch: ActiveBatch): void {
    this.batches.push(batch);
    this.rows += batch.cols.rows;
    this.memory += batch.memory;
  }

  /** The batches' record bytes, owned by the caller from now on (re-encoded where a failed flush took them). */
  takeRecords(): Uint8Array[] {
    return this.batches.map((b) => {
      const bytes = b.bytes ?? encodeBatch(b.cols);
      b.bytes = null;
      return bytes;
    });
  }
}
