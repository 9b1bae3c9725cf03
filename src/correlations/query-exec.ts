/**
 * How a query reads the store: prune segments by the manifest's facts (time range, types,
 * severities, resource columns and name filters), prune row groups by time, read the timestamp
 * and the selector's columns of each surviving row group, narrow a selection vector, and only
 * then read the other wanted columns (and the embedding side file) of row groups where rows
 * survived. Segments and the in-memory part are read alike, as "sources".
 */
import { join } from 'node:path';

import * as arrow from 'apache-arrow';

import type { ActiveBatch } from './active-part.js';
import { batchColumns } from './active-part.js';
import { emptyColumns, type BatchColumns } from './batch-columns.js';
import { arrowToColumns, resourceColumn, segmentColumns } from './arrow-columns.js';
import type { DecodePool } from './decode-pool.js';
import { segmentNumber, type SegmentEntry } from './manifest.js';
import { CACHED_COLUMNS, type SegmentCache } from './segment-cache.js';
import { EmbeddingReader, embeddingNorms, type SegmentReader } from './segment-file.js';
import type { Pace } from '../query/breathe.js';
import { allRows, timeSelection, type RowFilter } from '../query/predicate.js';
import type { SelectKernels } from '../query/select-kernels.js';

/** What a query touched and how long each stage took (`correlations.explain`). */
export interface QueryExplain {
  /** Segments in the manifest; pruned by their time range; pruned by their facts (types, severities, resource columns and names); scanned. */
  segments: { total: number; prunedByTime: number; prunedByFacts: number; scanned: number };
  /** Row groups of the segments scanned: pruned by time, pruned by their type and severity bits, read. */
  rowGroups: { total: number; prunedByTime: number; prunedByFacts: number; scanned: number };
  /** In-memory batches (the active part and a part being flushed): pruned by time, scanned. */
  memoryBatches: { total: number; prunedByTime: number; scanned: number };
  /** Rows read and tested, rows that passed the time range and selector, rows scored for similarity, rows returned. */
  rows: { scanned: number; matched: number; scored: number; returned: number };
  /** Compressed Parquet bytes of the column chunks read, plus embedding side-file bytes read. */
  bytesRead: number;
  /** Milliseconds: reading and filtering, similarity scoring, building the result, and the whole query. */
  ms: { scan: number; score: number; assemble: number; total: number };
}

export function emptyExplain(): QueryExplain {
  return {
    segments: { total: 0, prunedByTime: 0, prunedByFacts: 0, scanned: 0 },
    rowGroups: { total: 0, prunedByTime: 0, prunedByFacts: 0, scanned: 0 },
    memoryBatches: { total: 0, prunedByTime: 0, scanned: 0 },
    rows: { scanned: 0, matched: 0, scored: 0, returned: 0 },
    bytesRead: 0,
    ms: { scan: 0, score: 0, assemble: 0, total: 0 },
  };
}

/** A segment or an in-memory batch to read. */
export type Source =
  { kind: 'segment'; entry: SegmentEntry; minTs: number; maxTs: number } | { kind: 'memory'; batch: ActiveBatch; minTs: number; maxTs: number };

/** Rows of one row group (or one in-memory batch) and the selection of those that matched. */
export interface Chunk {
  cols: BatchColumns;
  sel: Uint32Array;
  source: Source;
  /** The row group (segments), and the segment row of its first row. */
  group: number;
  groupStart: number;
  /** Column names read so far (segments). */
  read: Set<string>;
  /** The segment's reader on this thread, when row groups are not decoded by the pool. */
  reader: SegmentReader | null;
}

/** What the store hands a query: a snapshot of its segments and memory, and how to read them. */
export interface StoreView {
  dir: string;
  /** Open readers and decoded columns kept between queries. */
  cache: SegmentCache;
  /**
   * A buffer the query reads each chunk's embedding rows into, used again for the next chunk
   * (`chunkVectors`: its rows are scored, and the few kept copied, before the next are read).
   */
  scratch: { buffer: ArrayBuffer | null };
  /** The threads that decode row groups, or null to decode on this thread. */
  pool: DecodePool | null;
  /** The selection kernels of the store's path (native or TypeScript). */
  kernels: SelectKernels;
  /** When this query lets the event loop run (one per query). */
  pace: Pace;
  dim: number;
  types: readonly string[];
  segments: readonly SegmentEntry[];
  memory: readonly ActiveBatch[];
}

/** The sources of a query after pruning, with the counts in `explain`. */
export function planSources(view: StoreView, from: number, to: number, selector: RowFilter | null, explain: QueryExplain): Source[] {
  const out: Source[] = [];
  explain.segments.total = view.segments.length;
  for (const entry of view.segments) {
    if (entry.maxTs < from || entry.minTs >= to) {
      explain.segments.prunedByTime++;
      continue;
    }
    if (selector !== null && !selector.segmentMayMatch(entry)) {
      explain.segments.prunedByFacts++;
      continue;
    }
    out.push({ kind: 'segment', entry, minTs: entry.minTs, maxTs: entry.maxTs });
  }
  explain.memoryBatches.total = view.memory.length;
  for (const batch of view.memory) {
    if (batch.maxTs < from || batch.minTs >= to) {
      explain.memoryBatches.prunedByTime++;
      continue;
    }
    out.push({ kind: 'memory', batch, minTs: batch.minTs, maxTs: batch.maxTs });
  }
  return out;
}

/**
 * Sources in groups whose time ranges do not overlap one another, in time order (newest first
 * when `descending`): the rows of one group can be ordered without reading the next.
 * Within a group, segments come in the order they were made, then memory batches in insert order.
 */
export function timeClusters(sources: readonly Source[], descending: boolean): Source[][] {
  const sorted = [...sources].sort((a, b) => a.minTs - b.minTs || rank(a) - rank(b));
  const clusters: Source[][] = [];
  let end = -Infinity;
  for (const s of sorted) {
    if (clusters.length === 0 || s.minTs > end) {
      clusters.push([s]);
      end = s.maxTs;
    } else {
      clusters.at(-1)!.push(s);
      end = Math.max(end, s.maxTs);
    }
  }
  if (descending) clusters.reverse();
  // Within a cluster, segments in the order they were made, then memory batches in insert order:
  // rows with the same timestamp come in the order they were inserted.
  for (const c of clusters) c.sort((a, b) => order(a) - order(b));
  return clusters;
}

function order(s: Source): number {
  return s.kind === 'segment' ? segmentNumber(s.entry) : Number.MAX_SAFE_INTEGER;
}

function rank(s: Source): number {
  return s.kind === 'segment' ? s.entry.level : 1000;
}

/**
 * The chunks of `sources`: each row group meeting [from, to) of each segment, and each memory
 * batch, with the rows in range that the selector keeps. `columns` are read first (timestamp is
 * always among them); `read` more with {@link readMore}.
 */
export async function* scanChunks(
  view: StoreView,
  sources: readonly Source[],
  from: number,
  to: number,
  selector: RowFilter | null,
  columns: readonly string[],
  explain: QueryExplain,
): AsyncGenerator<Chunk> {
  for (const source of sources) {
    await view.pace.breathe();
    if (source.kind === 'memory') {
      explain.memoryBatches.scanned++;
      const cols = view.cache.batch(source.batch, () => batchColumns(source.batch, view.dim));
      explain.rows.scanned += cols.rows;
      const t0 = performance.now();
      let sel = timeSelection(cols, from, to, view.kernels);
      if (selector !== null) sel = selector.select(cols, sel);
      sel ??= allRows(cols.rows);
      explain.ms.scan += performance.now() - t0;
      explain.rows.matched += sel.length;
      if (sel.length > 0) yield { cols, sel, source, group: 0, groupStart: 0, read: new Set(['*']), reader: null };
      continue;
    }
    const entry = source.entry;
    explain.segments.scanned++;
    const t0 = performance.now();
    const lease = view.pool === null ? await view.cache.reader(view.dir, entry) : null;
    const reader = lease?.reader ?? null;
    explain.ms.scan += performance.now() - t0;
    try {
      const first = segmentColumns(['timestamp', ...columns], entry);
      let groupStart = 0;
      for (const [g, facts] of entry.groups.entries()) {
        const [gMin, gMax, gRows] = facts;
        const start = groupStart;
        groupStart += gRows;
        explain.rowGroups.total++;
        if (gMax < from || gMin >= to) {
          explain.rowGroups.prunedByTime++;
          continue;
        }
        if (selector !== null && !selector.groupMayMatch(facts)) {
          explain.rowGroups.prunedByFacts++;
          continue;
        }
        explain.rowGroups.scanned++;
        await view.pace.breathe();
        const t1 = performance.now();
        // Timestamps and fixed-width columns first; resource lists only for the rows they leave.
        const fixed = first.filter((c) => !c.startsWith('resources.'));
        const lists = first.filter((c) => c.startsWith('resources.'));
        const cols = await readColumns(view, entry, reader, g, gRows, fixed, null, explain);
        await view.pace.breathe();
        explain.rows.scanned += cols.rows;
        let sel = timeSelection(cols, from, to, view.kernels);
        if (selector !== null) sel = selector.select(cols, sel, lists.length > 0 ? 'fixed' : 'all');
        if (lists.length > 0 && (sel === null || sel.length > 0)) {
          const only = sel !== null && sel.length * 2 < cols.rows ? sel : null;
          const more = await readColumns(view, entry, reader, g, gRows, lists, only, explain);
          for (const [type, column] of more.resources) cols.resources.set(type, column);
          await view.pace.breathe();
          if (selector !== null) sel = selector.select(cols, sel, 'lists');
        }
        sel ??= allRows(cols.rows);
        explain.ms.scan += performance.now() - t1;
        explain.rows.matched += sel.length;
        if (sel.length > 0) yield { cols, sel, source, group: g, groupStart: start, read: new Set(first), reader };
      }
    } finally {
      lease?.release();
    }
  }
}

/**
 * Columns `names` of row group `group`: the fixed-width ones the cache keeps come from it, the
 * rest are decoded (and the fixed-width ones among them kept for the next query).
 */
async function readColumns(
  view: StoreView,
  entry: SegmentEntry,
  reader: SegmentReader | null,
  group: number,
  rows: number,
  names: readonly string[],
  only: Uint32Array | null,
  explain: QueryExplain,
): Promise<BatchColumns> {
  const cached = new Map<string, ReturnType<SegmentCache['column']>>();
  const texts = new Map<string, arrow.Table>();
  for (const n of names) {
    if (CACHED_COLUMNS.has(n)) {
      const c = view.cache.column(entry.file, group, n);
      if (c !== undefined) cached.set(n, c);
    } else {
      const t = view.cache.text(entry.file, group, n);
      if (t !== undefined) texts.set(n, t);
    }
  }
  const decode = names.filter((n) => !cached.has(n) && !texts.has(n));
  let cols: BatchColumns;
  if (decode.length > 0 || texts.size > 0) {
    // Fixed-width columns decode together; each list or text column alone, with a chance for the
    // event loop between them: one call decoding them all was a stretch of 30-60 ms.
    const batches = [decode.filter((n) => CACHED_COLUMNS.has(n)), ...decode.filter((n) => !CACHED_COLUMNS.has(n)).map((n) => [n])].filter((b) => b.length > 0);
    cols = shellColumns(rows, view.dim);
    // With decoding threads, every part is asked for at once (the threads decode them side by
    // side) and built here in order as they come back.
    const path = join(view.dir, entry.file);
    const decoded = reader === null ? batches.map((names) => view.pool!.decode(path, group, names, view.pace)) : [];
    for (const d of decoded) d.catch(() => undefined);
    // Text and list columns kept from an earlier query: built from the kept Arrow buffers.
    const parts: Array<[readonly string[], () => Promise<BatchColumns>]> = [...texts].map(([n, table]) => [
      [n],
      () => Promise.resolve(arrowToColumns(table, view.dim, view.types, only, true)),
    ]);
    for (const [b, names] of batches.entries()) {
      parts.push([
        names,
        async () => {
          let ipc: Uint8Array;
          if (reader === null) {
            // A decoding thread does the WebAssembly part; this thread builds the columns.
            view.pace.pause();
            let out: { ipc: Uint8Array; bytes: number };
            try {
              out = await decoded[b]!;
            } finally {
              view.pace.resume();
            }
            ipc = out.ipc;
            explain.bytesRead += out.bytes;
          } else {
            ipc = await reader.decode(group, [...names]);
            explain.bytesRead += reader.columnBytes(group, names);
          }
          await view.pace.breathe();
          const table = arrow.tableFromIPC(ipc);
          const built = arrowToColumns(table, view.dim, view.types, only, true);
          // A text or list column is kept whole (its Arrow buffers), whatever rows this query
          // wants; only once it was read without error.
          if (names.length === 1 && !CACHED_COLUMNS.has(names[0]!)) view.cache.keepText(entry.file, group, names[0]!, table, ipc.byteLength);
          return built;
        },
      ]);
    }
    for (const [names, build] of parts) {
      await view.pace.breathe();
      const part = await build();
      for (const n of names) {
        if (n.startsWith('resources.')) {
          const column = part.resources.get(n.slice('resources.'.length));
          if (column !== undefined) cols.resources.set(n.slice('resources.'.length), column);
          continue;
        }
        const column = (part as unknown as Record<string, unknown>)[n];
        (cols as unknown as Record<string, unknown>)[n] = column;
        if (CACHED_COLUMNS.has(n)) view.cache.keep(entry.file, group, n, column as CachedColumn);
      }
    }
  } else cols = shellColumns(rows, view.dim);
  for (const [n, c] of cached) (cols as unknown as Record<string, unknown>)[n] = c;
  return cols;
}

type CachedColumn = Float64Array | Uint8Array | Float32Array | Int32Array;

/**
 * Columns of `rows` rows for readColumns to fill by assignment: each fixed-width column a view of
 * one shared buffer of zeros (see emptyColumns), replaced by the columns read. Like the cached
 * columns, these are only ever read: a query never writes a column.
 */
function shellColumns(rows: number, dim: number): BatchColumns {
  return emptyColumns(rows, dim, false, false, false, () => false);
}

/**
 * Reads the `fields` of a chunk's row group that were not read yet (nothing for memory batches).
 * The embedding comes from the side file, and only for the selected rows: raw float32 rows cost
 * a copy where the Parquet column would cost a decode of the whole row group.
 */
export async function readMore(view: StoreView, chunk: Chunk, fields: Iterable<string>, explain: QueryExplain): Promise<void> {
  if (chunk.source.kind !== 'segment') return;
  const all = segmentColumns(fields, chunk.source.entry).filter((c) => !chunk.read.has(c));
  const want = all.filter((c) => c !== 'embedding');
  const cols = chunk.cols;
  if (want.length > 0) {
    await view.pace.breathe();
    const t0 = performance.now();
    // Per-row objects only for the rows that matched (the whole group when nearly all did).
    const only = chunk.sel.length * 2 < cols.rows ? chunk.sel : null;
    const more = await readColumns(view, chunk.source.entry, chunk.reader, chunk.group, cols.rows, want, only, explain);
    explain.ms.scan += performance.now() - t0;
    for (const c of want) {
      chunk.read.add(c);
      if (c.startsWith('resources.')) {
        const type = c.slice('resources.'.length);
        const column = more.resources.get(type);
        if (column !== undefined) cols.resources.set(type, column);
      } else (cols as unknown as Record<string, unknown>)[c] = (more as unknown as Record<string, unknown>)[c];
    }
  }
  if (all.includes('embedding')) {
    chunk.read.add('embedding');
    const sel = chunk.sel;
    if (sel.length === 0) return;
    const first = sel[0]!;
    const { vectors, stride } = await sideFileRows(view, chunk.source.entry, chunk.groupStart + first, sel[sel.length - 1]! - first + 1, explain);
    const dim = view.dim;
    const embedding = new Float32Array(cols.rows * dim);
    for (const i of sel) embedding.set(vectors.subarray((i - first) * stride, (i - first) * stride + dim), i * dim);
    cols.embedding = embedding;
  }
}

async function sideFileRows(
  view: StoreView,
  entry: SegmentEntry,
  start: number,
  count: number,
  explain: QueryExplain,
  reuse = false,
): Promise<{ vectors: Float32Array; stride: number; norms: Float32Array }> {
  const t0 = performance.now();
  const reader = await EmbeddingReader.open(join(view.dir, entry.embeddings), view.dim, entry.rows);
  try {
    const out = await reader.rows(start, count, reuse ? view.scratch.buffer : null);
    if (reuse) view.scratch.buffer = out.buffer;
    explain.bytesRead += out.bytes;
    return out;
  } finally {
    await reader.close();
    explain.ms.scan += performance.now() - t0;
  }
}

/**
 * A chunk's embedding rows and norms for scoring. Memory batches: their own rows, norms computed
 * as a segment's side file stores them. Segments: the side file's rows of the row group (in the
 * query's scratch buffer: valid until the next call), or, when few rows were selected, only those
 * rows packed together (`packed` maps them back to chunk rows).
 */
export async function chunkVectors(
  view: StoreView,
  chunk: Chunk,
  explain: QueryExplain,
): Promise<{ vectors: Float32Array; stride: number; norms: Float32Array; rows: number; select: Uint32Array | null; packed: Uint32Array | null }> {
  const rows = chunk.cols.rows;
  const sel = chunk.sel.length === rows ? null : chunk.sel;
  if (chunk.source.kind === 'memory') {
    const cols = chunk.cols;
    return { vectors: cols.embedding, stride: view.dim, norms: embeddingNorms(cols.embedding, view.dim, rows), rows, select: sel, packed: null };
  }
  const entry = chunk.source.entry;
  if (sel !== null && sel.length * 4 < rows) {
    const t0 = performance.now();
    const reader = await EmbeddingReader.open(join(view.dir, entry.embeddings), view.dim, entry.rows);
    try {
      const out = await reader.rowsAt(chunk.groupStart, sel, () => view.pace.breathe());
      explain.bytesRead += out.bytes;
      return { vectors: out.vectors, stride: out.stride, norms: out.norms, rows: sel.length, select: null, packed: sel };
    } finally {
      await reader.close();
      explain.ms.scan += performance.now() - t0;
    }
  }
  // The query's scratch buffer: these rows are scored (and the few kept copied) before the next chunk's are read.
  const out = await sideFileRows(view, entry, chunk.groupStart, rows, explain, true);
  return { vectors: out.vectors, stride: out.stride, norms: out.norms, rows, select: sel, packed: null };
}
