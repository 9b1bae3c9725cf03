/**
 * The files of one segment (docs/FORMAT.md, "Correlation segments"): a Parquet file (zstd,
 * statistics, row groups of ROW_GROUP_ROWS) and its embedding side file (aligned float32 rows and
 * their norms, for the similarity kernels). Encoding is synchronous WebAssembly work, so it only
 * runs in the segment worker (segment-worker.ts); reading a row group at a time is bounded.
 */
import { openAsBlob } from 'node:fs';
import { promises as fsp } from 'node:fs';

import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';

import { TapioError } from '../errors.js';
import { arrowToColumns, columnsToArrow } from './arrow-columns.js';
import type { BatchColumns } from './batch-columns.js';
import { EMBEDDING_ALIGN, EMBEDDING_HEADER_SIZE, EMBEDDING_MAGIC, EMBEDDING_VERSION, ROW_GROUP_ROWS } from './limits.js';

/** Parquet bytes of `cols` (already in timestamp order). */
export function encodeParquet(cols: BatchColumns, types: readonly string[], resourceTypes?: readonly string[]): Uint8Array {
  const table = columnsToArrow(cols, types, resourceTypes);
  const ipc = arrow.tableToIPC(table, 'stream');
  const wasmTable = pw.Table.fromIPCStream(ipc);
  return pw.writeParquet(wasmTable, parquetProperties());
}

/** The writer settings of every segment (flushes and compactions write alike). */
export function parquetProperties(): pw.WriterProperties {
  return (
    new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression.ZSTD)
      .setStatisticsEnabled(pw.EnabledStatistics.Page)
      .setMaxRowGroupSize(ROW_GROUP_ROWS)
      // Top-level columns take per-column settings: timestamps are sorted (delta encoding), ids
      // are nearly all distinct (a dictionary only costs), confidences are floats.
      .setColumnDictionaryEnabled('timestamp', false)
      .setColumnEncoding('timestamp', pw.Encoding.DELTA_BINARY_PACKED)
      .setColumnDictionaryEnabled('id', false)
      .setColumnDictionaryEnabled('confidence', false)
      .setColumnEncoding('confidence', pw.Encoding.BYTE_STREAM_SPLIT)
      .build()
  );
}

/** Bytes per row of an embedding side file: dim float32 values, padded to EMBEDDING_ALIGN. */
export const embeddingStride = (dim: number) => Math.ceil((dim * 4) / EMBEDDING_ALIGN) * EMBEDDING_ALIGN;

/**
 * The embedding side file of `cols`: a 64-byte header (magic, version, dim, stride, rows, offset
 * of the norms), the rows at `stride` bytes each from byte 64, then one float32 norm per row.
 */
export function encodeEmbeddings(cols: BatchColumns): Uint8Array {
  const { rows, dim } = cols;
  const stride = embeddingStride(dim);
  const normsAt = EMBEDDING_HEADER_SIZE + rows * stride;
  const out = new Uint8Array(normsAt + rows * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, EMBEDDING_MAGIC, true);
  view.setUint32(4, EMBEDDING_VERSION, true);
  view.setUint32(8, dim, true);
  view.setUint32(12, stride, true);
  view.setFloat64(16, rows, true);
  view.setFloat64(24, normsAt, true);
  const norms = new Float32Array(out.buffer, normsAt, rows);
  const src = cols.embedding;
  const floatStride = stride / 4;
  const rowsArea = new Float32Array(out.buffer, EMBEDDING_HEADER_SIZE, rows * floatStride);
  // Rows packed without padding (dim a multiple of 16) go over in one copy.
  if (floatStride === dim) rowsArea.set(src);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let sum = 0;
    if (floatStride === dim) {
      for (let i = 0; i < dim; i++) sum += src[base + i]! * src[base + i]!;
    } else {
      const at = r * floatStride;
      for (let i = 0; i < dim; i++) {
        const x = src[base + i]!;
        rowsArea[at + i] = x;
        sum += x * x;
      }
    }
    norms[r] = Math.sqrt(sum);
  }
  return out;
}

/** The header of an embedding side file, or why it is not one. */
export function decodeEmbeddingHeader(bytes: Uint8Array): { dim: number; stride: number; rows: number; normsAt: number } | string {
  if (bytes.length < EMBEDDING_HEADER_SIZE) return `${bytes.length} bytes, shorter than the ${EMBEDDING_HEADER_SIZE}-byte header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== EMBEDDING_MAGIC) return 'wrong magic number';
  if (view.getUint32(4, true) !== EMBEDDING_VERSION) return `version ${view.getUint32(4, true)}; this reads version ${EMBEDDING_VERSION}`;
  return { dim: view.getUint32(8, true), stride: view.getUint32(12, true), rows: view.getFloat64(16, true), normsAt: view.getFloat64(24, true) };
}

/** Segment files opened and row groups read since the process started (tests check what a query touched). */
export const segmentReads = { opens: 0, rowGroups: 0 };

/** An open Parquet segment, read a row group at a time. */
export class SegmentReader {
  private constructor(
    readonly path: string,
    readonly file: pw.ParquetFile,
  ) {}

  static async open(path: string): Promise<SegmentReader> {
    let file: pw.ParquetFile;
    try {
      file = await pw.ParquetFile.fromFile(await openAsBlob(path));
    } catch (err) {
      if (err instanceof Error && (err as NodeJS.ErrnoException).code !== undefined) {
        throw new TapioError('ERR_SEGMENT_IO', `could not open the segment ${path}: ${err.message}`, { cause: err, details: { file: path } });
      }
      throw new TapioError('ERR_SEGMENT_CORRUPT', `the segment ${path} is not a Parquet file this version reads: ${String(err)}`, {
        cause: err,
        details: { file: path },
      });
    }
    segmentReads.opens++;
    return new SegmentReader(path, file);
  }

  get rowGroups(): number {
    return this.file.metadata().numRowGroups();
  }

  /** Row group `group` (or all when null), only `columns` (all when null), as batch columns. */
  async read(group: number | null, columns: string[] | null, dim: number, types: readonly string[]): Promise<BatchColumns> {
    let table: pw.Table;
    segmentReads.rowGroups++;
    try {
      table = await this.file.read({
        ...(group === null ? {} : { rowGroups: [group] }),
        ...(columns === null ? {} : { columns }),
        batchSize: ROW_GROUP_ROWS,
      });
    } catch (err) {
      throw new TapioError('ERR_SEGMENT_CORRUPT', `could not read the segment ${this.path}: ${String(err)}; \`tapio-storage findings verify\` checks it`, {
        cause: err,
        details: { file: this.path },
      });
    }
    const ipc = table.intoIPCStream();
    return arrowToColumns(arrow.tableFromIPC(ipc), dim, types);
  }

  close(): void {
    this.file.free();
  }
}

/** Reads a whole small file, turning a failure into ERR_SEGMENT_IO. */
export async function readWhole(path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    throw new TapioError('ERR_SEGMENT_IO', `could not read ${path}: ${(err as Error).message}`, { cause: err, details: { file: path } });
  }
}
