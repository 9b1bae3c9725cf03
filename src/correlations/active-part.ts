/**
 * The active part: the batches inserted since the last flush, kept as their WAL records (the
 * bytes a flush sends to the segment worker; reads decode the batches their range meets). A flush
 * freezes the batches it writes (they stay readable until the manifest names their segments)
 * while new inserts go to a fresh part.
 */
import { decodeBatch, type BatchColumns } from './batch-columns.js';

/** One inserted batch. */
export interface ActiveBatch {
  /** Its batch record (docs/FORMAT.md). */
  bytes: Uint8Array;
  rows: number;
  /** Its WAL sequence number (0 when the WAL is off). */
  seq: number;
  minTs: number;
  maxTs: number;
  /** The source position it carries (insert's `sourceSeq`), or 0. */
  source: number;
}

/** Per batch beyond its bytes, counted against active_memory (the object and its facts). */
const BATCH_OVERHEAD = 256;

export class ActivePart {
  batches: ActiveBatch[] = [];
  rows = 0;
  memory = 0;

  add(batch: ActiveBatch): void {
    this.batches.push(batch);
    this.rows += batch.rows;
    this.memory += batch.bytes.length + BATCH_OVERHEAD;
  }
}

/** The columns of `batch` (decoded for each read that needs them). */
export function batchColumns(batch: ActiveBatch, dim: number): BatchColumns {
  return decodeBatch(batch.bytes, dim, `a batch of the active part (WAL record ${batch.seq})`);
}
