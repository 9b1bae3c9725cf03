/**
 * The files of one segment (docs/FORMAT.md, "Correlation segments"): a Parquet file (zstd,
 * statistics, row groups of ROW_GROUP_ROWS) and its embedding side file (aligned float32 rows and
 * their norms, for the similarity kernels). Encoding is synchronous WebAssembly work, so it only
 * runs in the segment worker (segment-worker.ts); reading a row group at a time is bounded.
 */
import { openAsBlob, readSync } from 'node:fs';
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
  else for (let r = 0; r < rows; r++) rowsArea.set(src.subarray(r * dim, (r + 1) * dim), r * floatStride);
  norms.set(embeddingNorms(src, dim, rows));
  return out;
}

/**
 * The norm of each of `rows` rows of `dim` values (row-major): the square root of the sum of
 * squares, summed in float64 in order, stored as float32. Segments keep these in their side file
 * and a query computes the same for rows still in memory, so a row scores the same wherever it is.
 */
export function embeddingNorms(values: Float32Array, dim: number, rows: number): Float32Array {
  const norms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += values[base + i]! * values[base + i]!;
    norms[r] = Math.sqrt(sum);
  }
  return norms;
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

  /**
   * Row group `group` (or all when null), only `columns` (all when null), as batch columns; with
   * `only`, per-row objects (ids, patterns, resource lists) are made for those rows alone.
   * `between` runs between the decode and the conversion (a query yields to the event loop there).
   */
  async read(
    group: number | null,
    columns: string[] | null,
    dim: number,
    types: readonly string[],
    only: Uint32Array | null = null,
    between: () => Promise<void> = () => Promise.resolve(),
  ): Promise<BatchColumns> {
    const ipc = await this.decode(group, columns);
    // The decode above was one synchronous stretch; the conversion below is another.
    await between();
    return arrowToColumns(arrow.tableFromIPC(ipc), dim, types, only, true);
  }

  /**
   * Row group `group` (or all when null), only `columns` (all when null), decoded into an Arrow
   * IPC stream: what a decoding worker hands back to the thread that builds the columns.
   */
  async decode(group: number | null, columns: string[] | null): Promise<Uint8Array> {
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
    return table.intoIPCStream();
  }

  /** Compressed bytes of the chunks of `columns` (top-level names) in row group `group`. */
  columnBytes(group: number, columns: readonly string[]): number {
    const meta = this.file.metadata();
    const rg = meta.rowGroup(group);
    let total = 0;
    try {
      const n = rg.numColumns();
      for (let c = 0; c < n; c++) {
        const chunk = rg.column(c);
        if (columns.includes(chunk.columnPath()[0]!)) total += chunk.compressedSize();
        chunk.free();
      }
    } finally {
      rg.free();
      meta.free();
    }
    return total;
  }

  close(): void {
    this.file.free();
  }
}

/** Runs of rows read by `EmbeddingReader.rowsAt` between two chances for the event loop. */
const READS_PER_STEP = 256;

/** An open embedding side file, read a run of rows at a time. */
export class EmbeddingReader {
  private constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
    readonly header: { dim: number; stride: number; rows: number; normsAt: number },
  ) {}

  /** Opens `path` and checks its header against the segment's `dim` and `rows`. */
  static async open(path: string, dim: number, rows: number): Promise<EmbeddingReader> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, 'r');
    } catch (err) {
      throw new TapioError('ERR_SEGMENT_IO', `could not open the embedding file ${path}: ${(err as Error).message}`, { cause: err, details: { file: path } });
    }
    const head = new Uint8Array(EMBEDDING_HEADER_SIZE);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const header = decodeEmbeddingHeader(head.subarray(0, bytesRead));
    const problem =
      typeof header === 'string'
        ? header
        : header.dim !== dim ||
            header.rows !== rows ||
            header.stride !== embeddingStride(dim) ||
            header.normsAt !== EMBEDDING_HEADER_SIZE + rows * header.stride
          ? `its header says ${header.rows} rows of ${header.dim} values, the segment has ${rows} of ${dim}`
          : null;
    if (problem !== null) {
      await handle.close();
      throw new TapioError('ERR_SEGMENT_CORRUPT', `the embedding file ${path} is damaged: ${problem}; \`tapio-storage findings verify\` checks it`, {
        details: { file: path },
      });
    }
    return new EmbeddingReader(path, handle, header as Exclude<typeof header, string>);
  }

  /** Rows [start, start + count): the vectors (`stride` floats apart), their norms, and the bytes read. */
  async rows(
    start: number,
    count: number,
    into: ArrayBuffer | null = null,
  ): Promise<{ vectors: Float32Array; stride: number; norms: Float32Array; bytes: number; buffer: ArrayBuffer }> {
    const { stride, normsAt } = this.header;
    // Into the caller's buffer when it is large enough: a scan of every row group reads the same
    // few megabytes again and again, and a new buffer each time keeps the garbage collector busy.
    const need = count * stride + count * 4;
    const buffer = into !== null && into.byteLength >= need ? into : new ArrayBuffer(need);
    const vectors = new Uint8Array(buffer, 0, count * stride);
    const norms = new Uint8Array(buffer, count * stride, count * 4);
    await this.#readExactly(vectors, EMBEDDING_HEADER_SIZE + start * stride);
    await this.#readExactly(norms, normsAt + start * 4);
    return {
      vectors: new Float32Array(buffer, 0, (count * stride) / 4),
      stride: stride / 4,
      norms: new Float32Array(buffer, count * stride, count),
      bytes: vectors.length + norms.length,
      buffer,
    };
  }

  /**
   * The rows `which` (ascending, relative to `start`) packed one after another, `stride` floats
   * apart, with their norms: for a sparse selection, runs of nearby rows are read with positioned
   * reads (a few microseconds each from the page cache) instead of the whole range. The reads are
   * synchronous (an asynchronous read costs far more than a few microseconds); `between` runs
   * every READS_PER_STEP runs, where a query lets the event loop in.
   */
  async rowsAt(
    start: number,
    which: Uint32Array,
    between: () => Promise<void> = () => Promise.resolve(),
  ): Promise<{ vectors: Float32Array; stride: number; norms: Float32Array; bytes: number }> {
    const { stride, normsAt } = this.header;
    const n = which.length;
    const vectors = new Uint8Array(n * stride);
    const norms = new Float32Array(n);
    let bytes = 0;
    let runs = 0;
    for (let a = 0; a < n;) {
      if (++runs % READS_PER_STEP === 0) await between();
      // A run: rows close enough that reading the gap costs less than another read.
      let b = a + 1;
      while (b < n && which[b]! - which[b - 1]! <= 4) b++;
      const first = start + which[a]!;
      const span = which[b - 1]! - which[a]! + 1;
      const buf = span === b - a ? vectors.subarray(a * stride, b * stride) : new Uint8Array(span * stride);
      this.#readSyncExactly(buf, EMBEDDING_HEADER_SIZE + first * stride);
      const normRun = new Uint8Array(span * 4);
      this.#readSyncExactly(normRun, normsAt + first * 4);
      const runNorms = new Float32Array(normRun.buffer);
      for (let j = a; j < b; j++) {
        const off = which[j]! - which[a]!;
        if (buf.buffer !== vectors.buffer) vectors.set(buf.subarray(off * stride, (off + 1) * stride), j * stride);
        norms[j] = runNorms[off]!;
      }
      bytes += buf.length + normRun.length;
      a = b;
    }
    return { vectors: new Float32Array(vectors.buffer), stride: stride / 4, norms, bytes };
  }

  #endsEarly(at: number): TapioError {
    return new TapioError('ERR_SEGMENT_CORRUPT', `the embedding file ${this.path} ends early (at byte ${at}); \`tapio-storage findings verify\` checks it`, {
      details: { file: this.path },
    });
  }

  #readSyncExactly(into: Uint8Array, position: number): void {
    let at = 0;
    while (at < into.length) {
      const n = readSync(this.handle.fd, into, at, into.length - at, position + at);
      if (n === 0) {
        throw this.#endsEarly(position + at);
      }
      at += n;
    }
  }

  async #readExactly(into: Uint8Array, position: number): Promise<void> {
    let at = 0;
    while (at < into.length) {
      const { bytesRead } = await this.handle.read(into, at, into.length - at, position + at);
      if (bytesRead === 0) {
        throw this.#endsEarly(position + at);
      }
      at += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
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
