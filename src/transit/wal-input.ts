/**
 * Checks of what callers hand a WAL backend: its open options and each append's batch. Every
 * append, from the facade or a worker's producer, enters the WAL through a backend or an
 * appender, which checks its batch here, once; below them the native binding only does its
 * cheap checks of what JavaScript hands it, and the core asserts. Both backends apply the same
 * checks with the same messages, against the limits of limits.ts and format.ts.
 */
import { TapioError } from '../errors.js';
import type { BatchLimits, WalOpenOptions } from './backend.js';
import { MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SEGMENT_HEADER_SIZE, maxPayload } from './format.js';
import { MAX_GROUP_BYTES, MAX_RING_CAPACITY, MIN_GROUP_BYTES, MIN_RING_CAPACITY } from './limits.js';
import { ringEntrySize } from './ring-buffer.js';

export { MAX_GROUP_BYTES, MIN_GROUP_BYTES } from './limits.js';

/**
 * Returns `o` when every option is valid; else throws ERR_INVALID_ARGUMENT naming the field,
 * the expected value and the value given.
 *
 * @example
 * ```ts
 * checkWalOpenOptions({ dir, segmentSize: 64 << 20, ringCapacity: 64 << 20, directIo: 'auto', recovery: 'strict', maxGroupBytes: 4 << 20 });
 * ```
 */
export function checkWalOpenOptions(o: WalOpenOptions): WalOpenOptions {
  const bad = (field: string, expected: string, got: unknown): TapioError =>
    new TapioError('ERR_INVALID_ARGUMENT', `WAL open options: ${field} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { details: { field } });
  if (typeof o !== 'object' || o === null) throw bad('options', 'an object', o);
  if (typeof o.dir !== 'string' || o.dir.length === 0) throw bad('dir', 'a directory path', o.dir);
  const s = o.segmentSize;
  if (!Number.isInteger(s) || s < MIN_SEGMENT_SIZE || s > MAX_SEGMENT_SIZE || s % SEGMENT_HEADER_SIZE !== 0) {
    throw bad('segmentSize', `a multiple of ${SEGMENT_HEADER_SIZE} from ${MIN_SEGMENT_SIZE} to ${MAX_SEGMENT_SIZE} bytes`, s);
  }
  const r = o.ringCapacity;
  if (!Number.isInteger(r) || r < MIN_RING_CAPACITY || r > MAX_RING_CAPACITY || (r & (r - 1)) !== 0) {
    throw bad('ringCapacity', `a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY} bytes`, r);
  }
  const g = o.maxGroupBytes;
  if (!Number.isInteger(g) || g < MIN_GROUP_BYTES || g > MAX_GROUP_BYTES) {
    throw bad('maxGroupBytes', `an integer from ${MIN_GROUP_BYTES} to ${MAX_GROUP_BYTES} bytes`, g);
  }
  if (o.recovery !== 'strict' && o.recovery !== 'salvage') throw bad('recovery', "'strict' or 'salvage'", o.recovery);
  if (o.directIo !== 'auto' && o.directIo !== 'on' && o.directIo !== 'off') throw bad('directIo', "'auto', 'on' or 'off'", o.directIo);
  return o;
}

/**
 * The error an append of `records` must be refused with (ERR_INVALID_ARGUMENT for a value that
 * is not a non-empty array of Uint8Array, ERR_RECORD_TOO_LARGE for a record no segment holds
 * or a batch larger than half the ring), or null when the batch is fine.
 *
 * @example
 * ```ts
 * const refused = batchInputError(records, { segmentSize: 64 << 20, ringCapacity: 64 << 20 });
 * if (refused !== null) return Promise.reject(refused);
 * ```
 */
export function batchInputError(records: unknown, limits: BatchLimits): TapioError | null {
  if (!Array.isArray(records)) {
    return new TapioError('ERR_INVALID_ARGUMENT', `append(records): records must be an array of Uint8Array or Buffer, got ${describe(records)}`);
  }
  if (records.length === 0) return new TapioError('ERR_INVALID_ARGUMENT', 'append(records): the batch is empty; pass at least one record');
  const maxRecordBytes = maxPayload(limits.segmentSize);
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i];
    if (!(r instanceof Uint8Array)) {
      return new TapioError('ERR_INVALID_ARGUMENT', `append(records): records[${i}] must be a Uint8Array or Buffer, got ${describe(r)}`);
    }
    if (r.length > maxRecordBytes) {
      return new TapioError(
        'ERR_RECORD_TOO_LARGE',
        `append(records): records[${i}] is ${r.length} bytes, more than the ${maxRecordBytes} bytes a WAL segment of ${limits.segmentSize} bytes can hold; split the record or raise transit.segment_size`,
        { details: { index: i, bytes: r.length, max: maxRecordBytes } },
      );
    }
  }
  const entry = ringEntrySize(records as Uint8Array[]);
  if (entry > limits.ringCapacity / 2) {
    return new TapioError(
      'ERR_RECORD_TOO_LARGE',
      `append(records): the batch of ${records.length} records takes ${entry} bytes in the ring buffer, more than half of its ${limits.ringCapacity} bytes; split it into smaller appends or raise transit.ring_capacity`,
      { details: { bytes: entry, max: limits.ringCapacity / 2 } },
    );
  }
  return null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
