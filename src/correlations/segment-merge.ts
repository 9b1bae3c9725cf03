/**
 * Compaction's merge (in the segment worker): a streaming k-way merge by timestamp of segments of
 * one day into one segment of the next level. One cursor per input holds one row group at a
 * time; output row groups are encoded as parquet-wasm's stream writer pulls them and written as
 * they come, so memory is about (inputs + 1) row groups whatever the segments' sizes. The inputs'
 * embeddings are not decoded from their Parquet files: each output row group's vectors are read
 * from the inputs' side files (one contiguous range per input, since every cursor moves forward),
 * so the inputs' row groups in memory hold everything but the widest column. The inputs'
 * row groups are decoded by a decoding thread (decode-pool.ts), so the stream writer is the only
 * WebAssembly work in progress here: an earlier version that read the inputs beside the writer
 * on this thread's instance once stopped without an error in a test (the cause was not
 * established). Resource columns are matched by name: an input without a column gives null on its
 * rows, never a shifted value.
 */
import { promises as fsp } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { dirname, join } from 'node:path';

import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';

import { crc32c } from '../crc32c.js';
import { TapioError } from '../errors.js';
import { fsyncDir } from '../fs/durable.js';
import { createSequentialFile, directAlignment, type SequentialFile } from '../fs/sequential-file.js';
import { arrowToColumns, columnsToArrow, segmentColumns } from './arrow-columns.js';
import { gatherColumns, type BatchColumns } from './batch-columns.js';
import { DecodePool } from './decode-pool.js';
import { Pace } from '../query/breathe.js';
import { EMBEDDING_HEADER_SIZE, EMBEDDING_MAGIC, EMBEDDING_VERSION, ROW_GROUP_ROWS } from './limits.js';
import { groupMasks, type RowGroupFacts, type SegmentEntry } from './manifest.js';
import { buildNameFilter, nameKey } from './name-filter.js';
import { CORRELATION_FIELDS } from './record.js';
import { EmbeddingReader, embeddingStride, parquetProperties, SegmentReader } from './segment-file.js';
import { mergeOrder } from './merge-order.js';
import { inProgress, publish, segmentNames } from './segment-writer.js';

export interface CompactJob {
  kind: 'compact';
  dir: string;
  dim: number;
  types: string[];
  /** The segments to merge, all of one day, oldest first (ties go to the earlier input). */
  inputs: SegmentEntry[];
  level: number;
  number: number;
  /** 'native' to use the addon's merge kernel, else the TypeScript one. */
  kernel: 'native' | 'typescript';
}

/**
 * What this worker holds now: its JavaScript heap, and the memory outside it that it allocated,
 * which V8 counts as external: the buffers of typed arrays and the WebAssembly memory of the
 * Parquet writer (which only grows). The WebAssembly memory is in the external count already
 * (a WebAssembly.Memory of 100 MiB adds 100 MiB to it), so it is not added again.
 */
export function workerMemory(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + Math.max(h.external_memory, pw.wasmMemory().buffer.byteLength);
}

/** One input's position: its current row group and the next row in it. */
interface Cursor {
  path: string;
  groups: number;
  /** The columns decoded: all but the embedding. */
  columns: string[];
  /** The segment row each row group starts at, and last the segment's row count. */
  groupStarts: number[];
  /** The input's embedding side file. */
  embeddings: EmbeddingReader;
  /** This thread's reader, where no decoding thread can start. */
  reader: SegmentReader | null;
  group: number;
  cols: BatchColumns | null;
  /** The segment row of `cols`' first row. */
  colsStart: number;
  row: number;
}

/** Every field of a finding but its embedding. */
const FIELDS_BUT_EMBEDDING = CORRELATION_FIELDS.filter((f) => f !== 'embedding');

export async function mergeSegments(job: CompactJob): Promise<{ entry: SegmentEntry; bytesWritten: number; peakMemory: number; directIo: boolean }> {
  const { dir, dim, types, inputs } = job;
  const day = inputs[0]!.day;
  const names = segmentNames(day, job.level, job.number);
  const resourceTypes = [...new Set(inputs.flatMap((s) => s.resourceTypes))].sort();
  const cursors: Cursor[] = [];
  let peakMemory = workerMemory();
  const pool = DecodePool.shared();
  const pace = new Pace();
  try {
    for (const s of inputs) {
      const path = join(dir, s.file);
      const groupStarts: number[] = [];
      let at = 0;
      for (const g of s.groups) {
        groupStarts.push(at);
        at += g[2];
      }
      groupStarts.push(at);
      const cursor: Cursor = {
        path,
        groups: s.groups.length,
        columns: segmentColumns(FIELDS_BUT_EMBEDDING, s),
        groupStarts,
        embeddings: await EmbeddingReader.open(join(dir, s.embeddings), dim, s.rows),
        reader: null,
        group: 0,
        cols: null,
        colsStart: 0,
        row: 0,
      };
      // In the list before anything else is opened for it: a failure closes what was.
      cursors.push(cursor);
      if (!pool.enabled) cursor.reader = await SegmentReader.open(path);
    }
  } catch (err) {
    await closeCursors(cursors);
    throw err;
  }
  const totalRows = inputs.reduce((n, s) => n + s.rows, 0);
  const stride = embeddingStride(dim);
  // Per output row: the cursor it comes from and its row in that input segment.
  const fromCursor = new Uint16Array(ROW_GROUP_ROWS);
  const fromRow = new Float64Array(ROW_GROUP_ROWS);
  // The output row group's vectors, and one input range of side-file rows at a time: reused.
  const outEmbedding = new Float32Array(ROW_GROUP_ROWS * dim);
  let sideRows: ArrayBuffer | null = null;
  // Written under temporary names, renamed once whole and durable: an engine reading the folder
  // (a glob of *.parquet) never meets a half-written file.
  // Written from the first byte to the last in large blocks, with direct I/O on the native path
  // where the folder takes it (sequential-file.ts): a merge's output is not read again soon, and
  // through the page cache it would push out what queries read.
  let parquetFile: SequentialFile | null = null;
  let embFile: SequentialFile;
  try {
    const dayDir = dirname(join(dir, names.file));
    await fsp.mkdir(dayDir, { recursive: true, mode: 0o700 });
    const alignment = directAlignment(dayDir, job.kernel);
    // A file of that name is left by a merge a crash broke off (open removes those too).
    await fsp.rm(inProgress(join(dir, names.file)), { force: true });
    await fsp.rm(inProgress(join(dir, names.embeddings)), { force: true });
    parquetFile = await createSequentialFile(inProgress(join(dir, names.file)), { path: job.kernel, alignment });
    embFile = await createSequentialFile(inProgress(join(dir, names.embeddings)), { path: job.kernel, alignment });
  } catch (err) {
    await parquetFile?.abort();
    await closeCursors(cursors);
    throw err;
  }
  const norms = new Float32Array(totalRows);
  const groups: RowGroupFacts[] = [];
  const typeSet = new Set<number>();
  let severities = 0;
  const keys = new Set<string>();
  let rowsOut = 0;
  let parquetBytes = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;
  // The checksums of the files, as their bytes are appended (no read back).
  let crc = 0;
  let embeddingCrc = 0;
  const appendEmbeddings = async (bytes: Uint8Array): Promise<void> => {
    embeddingCrc = crc32c(bytes, embeddingCrc);
    await embFile.append(bytes);
  };
  let embeddingBytes = 0;
  let directIo = false;
  let finished = false;
  try {
    // The side file's header first: its row count and where the norms start are known from the
    // inputs (a merge that writes another count fails below).
    const header = new Uint8Array(EMBEDDING_HEADER_SIZE);
    const view = new DataView(header.buffer);
    view.setUint32(0, EMBEDDING_MAGIC, true);
    view.setUint32(4, EMBEDDING_VERSION, true);
    view.setUint32(8, dim, true);
    view.setUint32(12, stride, true);
    view.setFloat64(16, totalRows, true);
    view.setFloat64(24, EMBEDDING_HEADER_SIZE + totalRows * stride, true);
    await appendEmbeddings(header);
    const fill = async (c: Cursor): Promise<boolean> => {
      while (c.cols === null || c.row >= c.cols.rows) {
        if (c.group >= c.groups) return false;
        const group = c.group++;
        if (c.reader !== null) c.cols = await c.reader.read(group, c.columns, dim, types);
        else {
          const { ipc } = await pool.decode(c.path, group, c.columns, pace);
          c.cols = arrowToColumns(arrow.tableFromIPC(ipc), dim, types, null, true, true);
        }
        c.colsStart = c.groupStarts[group]!;
        c.row = 0;
        // The side file's rows are found by these counts: the manifest's and the file's must agree.
        const rows = c.groupStarts[group + 1]! - c.colsStart;
        if (c.cols.rows !== rows) {
          throw new TapioError(
            'ERR_SEGMENT_CORRUPT',
            `row group ${group} of the segment ${c.path} holds ${c.cols.rows} rows where the manifest says ${rows}; \`tapio-storage findings verify\` checks it`,
            { details: { file: c.path } },
          );
        }
      }
      return true;
    };
    /** The next output row group (sorted), or null when every input is used up. */
    const nextGroup = async (): Promise<BatchColumns | null> => {
      const parts: BatchColumns[] = [];
      const starts = new Map<BatchColumns, number>();
      const picks: number[] = [];
      while (picks.length < ROW_GROUP_ROWS) {
        const live: Cursor[] = [];
        for (const c of cursors) if (await fill(c)) live.push(c);
        if (live.length === 0) break;
        // Take the run the merge kernel allows before some cursor must load its next row group.
        const want = ROW_GROUP_ROWS - picks.length;
        const run = mergeOrder(
          live.map((c) => c.cols!.timestamp.subarray(c.row)),
          want,
          job.kernel,
        );
        for (let k = 0; k < live.length; k++) {
          const c = live[k]!;
          if (!starts.has(c.cols!)) {
            let at = 0;
            for (const p of parts) at += p.rows;
            starts.set(c.cols!, at);
            parts.push(c.cols!);
          }
        }
        for (let i = 0; i < run.length; i += 2) {
          const c = live[run[i]!]!;
          fromCursor[picks.length] = cursors.indexOf(c);
          fromRow[picks.length] = c.colsStart + c.row + run[i + 1]!;
          picks.push(starts.get(c.cols!)! + c.row + run[i + 1]!);
        }
        // Advance each cursor by what the run took of it.
        const taken = new Array<number>(live.length).fill(0);
        for (let i = 0; i < run.length; i += 2) taken[run[i]!]!++;
        for (let k = 0; k < live.length; k++) live[k]!.row += taken[k]!;
      }
      if (picks.length === 0) return null;
      const out = gatherColumns(parts, picks, dim);
      out.embedding = await gatherEmbeddings(picks.length);
      peakMemory = Math.max(peakMemory, workerMemory());
      return out;
    };

    /**
     * The vectors of the output rows, from the inputs' side files: the rows an output group takes
     * from one input are consecutive there (its cursor only moves forward), so one read each.
     */
    const gatherEmbeddings = async (rows: number): Promise<Float32Array> => {
      const out = outEmbedding.subarray(0, rows * dim);
      for (let k = 0; k < cursors.length; k++) {
        let first = Infinity;
        let last = -1;
        for (let j = 0; j < rows; j++) {
          if (fromCursor[j] !== k) continue;
          if (fromRow[j]! < first) first = fromRow[j]!;
          if (fromRow[j]! > last) last = fromRow[j]!;
        }
        if (last < 0) continue;
        const got = await cursors[k]!.embeddings.rows(first, last - first + 1, sideRows);
        sideRows = got.buffer;
        for (let j = 0; j < rows; j++) {
          if (fromCursor[j] !== k) continue;
          const at = (fromRow[j]! - first) * got.stride;
          out.set(got.vectors.subarray(at, at + dim), j * dim);
        }
      }
      return out;
    };

    const embBlock = new Uint8Array(ROW_GROUP_ROWS * stride);
    const writeEmbeddings = async (cols: BatchColumns) => {
      const block = embBlock.subarray(0, cols.rows * stride);
      for (let r = 0; r < cols.rows; r++) {
        const row = cols.embedding.subarray(r * dim, (r + 1) * dim);
        block.set(new Uint8Array(row.buffer, row.byteOffset, dim * 4), r * stride);
        let sum = 0;
        for (let i = 0; i < dim; i++) sum += row[i]! * row[i]!;
        norms[rowsOut + r] = Math.sqrt(sum);
      }
      await appendEmbeddings(block);
    };

    const source = new ReadableStream<pw.RecordBatch>({
      pull: async (controller) => {
        const cols = await nextGroup();
        if (cols === null) {
          controller.close();
          return;
        }
        groups.push([cols.timestamp[0]!, cols.timestamp[cols.rows - 1]!, cols.rows, ...groupMasks(cols.type, cols.severity, 0, cols.rows)]);
        minTs = Math.min(minTs, cols.timestamp[0]!);
        maxTs = Math.max(maxTs, cols.timestamp[cols.rows - 1]!);
        for (let i = 0; i < cols.rows; i++) {
          typeSet.add(cols.type[i]!);
          severities |= 1 << cols.severity[i]!;
        }
        for (const [type, column] of cols.resources) for (const list of column) if (list !== null) for (const name of list) keys.add(nameKey(type, name));
        await writeEmbeddings(cols);
        rowsOut += cols.rows;
        // Every batch has the output's one schema (all its resource columns): the stream writer
        // takes no other.
        const table = pw.Table.fromIPCStream(arrow.tableToIPC(columnsToArrow(cols, types, resourceTypes), 'stream'));
        for (const batch of table.recordBatches()) controller.enqueue(batch);
      },
    });
    const output = await pw.transformParquetStream(source, parquetProperties());
    for await (const chunk of output as unknown as AsyncIterable<Uint8Array>) {
      crc = crc32c(chunk, crc);
      await parquetFile.append(chunk);
      parquetBytes += chunk.length;
      peakMemory = Math.max(peakMemory, workerMemory());
    }
    if (rowsOut !== totalRows) throw new Error(`the merge wrote ${rowsOut} rows of the ${totalRows} its inputs hold`);
    await appendEmbeddings(new Uint8Array(norms.buffer, 0, rowsOut * 4));
    const parquetDone = await parquetFile.finish();
    const embDone = await embFile.finish();
    embeddingBytes = embDone.bytes;
    directIo = parquetDone.direct && embDone.direct;
    finished = true;
  } finally {
    if (!finished) {
      await parquetFile.abort();
      await embFile.abort();
    }
    await closeCursors(cursors);
  }
  await publish(join(dir, names.file));
  await publish(join(dir, names.embeddings));
  await fsyncDir(dirname(join(dir, names.file)));
  const entry: SegmentEntry = {
    ...names,
    level: job.level,
    day,
    rows: rowsOut,
    bytes: parquetBytes,
    embeddingBytes,
    crc,
    embeddingCrc,
    minTs,
    maxTs,
    groups,
    types: [...typeSet].sort((a, b) => a - b),
    severities,
    resourceTypes,
    names: Buffer.from(buildNameFilter(keys, keys.size)).toString('base64'),
  };
  return { entry, bytesWritten: parquetBytes + embeddingBytes, peakMemory, directIo };
}

async function closeCursors(cursors: readonly Cursor[]): Promise<void> {
  for (const c of cursors) {
    c.reader?.close();
    await c.embeddings.close();
  }
}

/** The CRC32C of a whole file, read in 4 MiB pieces. */
export async function fileCrc(path: string): Promise<number> {
  const handle = await fsp.open(path, 'r');
  try {
    const buf = new Uint8Array(4 * 1024 * 1024);
    let crc = 0;
    let at = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, at);
      if (bytesRead === 0) return crc;
      crc = crc32c(buf.subarray(0, bytesRead), crc);
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
