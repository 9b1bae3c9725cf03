/**
 * Writing segments (in the segment worker): rows in timestamp order, split by UTC day, each day a
 * Parquet file and its embedding side file, written, fdatasync'ed and their directory synced
 * before the job reports them, each under a temporary name until it is whole (inProgress()).
 * Names come from the caller (the manifest's counter), so a job that a crash interrupted leaves
 * only files the manifest does not name, which the next open removes.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

import { crc32c } from '../crc32c.js';
import { fsyncDir, writeFileAtomic } from '../fs/durable.js';
import { decodeBatch, gatherColumns, type BatchColumns } from './batch-columns.js';
import { ROW_GROUP_ROWS } from './limits.js';
import { groupMasks, type RowGroupFacts, type SegmentEntry } from './manifest.js';
import { buildNameFilter, nameKey } from './name-filter.js';
import { encodeEmbeddings, encodeParquet } from './segment-file.js';

/** What the worker is asked to do: write these batch records as level-`level` segments. */
export interface FlushJob {
  kind: 'flush';
  /** The store directory. */
  dir: string;
  dim: number;
  types: string[];
  level: number;
  /** The number of the first file; each day takes the next. */
  firstNumber: number;
  /** Batch records (docs/FORMAT.md); a flush's arrive as messages after the job starts. */
  batches: Uint8Array[];
}

export interface JobResult {
  entries: SegmentEntry[];
  /** Bytes written (Parquet and side files). */
  bytesWritten: number;
  /** The most a compaction worker held (workerMemory() in segment-merge.ts), bytes. */
  peakMemory?: number;
  /** A compaction's output was written with direct I/O. */
  directIo?: boolean;
}

export type JobReply = { ok: true; result: JobResult } | { ok: false; error: { message: string; code: string | null } };

const DAY_MS = 86_400_000;

/** The UTC day of epoch milliseconds `ms`, as YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The file names of segment `n` of level `level` on `day`, relative to the store directory. */
export function segmentNames(day: string, level: number, n: number): { file: string; embeddings: string } {
  const base = `segments/day=${day}/L${level}-${String(n).padStart(6, '0')}`;
  return { file: `${base}.parquet`, embeddings: `${base}.emb` };
}

export async function writeSegmentFiles(job: FlushJob): Promise<JobResult> {
  const parts = job.batches.map((b, i) => decodeBatch(b, job.dim, `batch ${i} of a flush`));
  job.batches.length = 0;
  // Only the timestamps are put together to find the order; each day's rows are then gathered
  // straight from the batches (one copy of the rows, not three).
  let rows = 0;
  for (const p of parts) rows += p.rows;
  const times = new Float64Array(rows);
  let at = 0;
  for (const p of parts) {
    times.set(p.timestamp, at);
    at += p.rows;
  }
  const order = orderOf(times);
  const sortedTimes = new Float64Array(rows);
  for (let i = 0; i < rows; i++) sortedTimes[i] = times[order[i]!]!;
  const entries: SegmentEntry[] = [];
  let bytesWritten = 0;
  let number = job.firstNumber;
  for (const [start, end] of dayRanges(sortedTimes)) {
    const cols = gatherColumns(parts, order.subarray(start, end), job.dim);
    const entry = await writeOneSegment(job.dir, cols, job.types, job.level, number++);
    bytesWritten += entry.bytes + entry.embeddingBytes;
    entries.push(entry);
  }
  return { entries, bytesWritten };
}

/** The order of `times` (ties keep their order). */
function orderOf(times: Float64Array): Uint32Array {
  const order = new Uint32Array(times.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  let sorted = true;
  for (let i = 1; i < times.length && sorted; i++) sorted = times[i]! >= times[i - 1]!;
  if (!sorted) order.sort((a, b) => times[a]! - times[b]! || a - b);
  return order;
}

/** [start, end) row ranges of sorted timestamps `ts`, one per UTC day. */
function* dayRanges(ts: Float64Array): Generator<[number, number]> {
  let start = 0;
  while (start < ts.length) {
    const dayEnd = (Math.floor(ts[start]! / DAY_MS) + 1) * DAY_MS;
    let end = start + 1;
    while (end < ts.length && ts[end]! < dayEnd) end++;
    yield [start, end];
    start = end;
  }
}

/** Writes one day's rows (sorted) as segment `n`, returning its manifest entry. */
export async function writeOneSegment(dir: string, cols: BatchColumns, types: readonly string[], level: number, n: number): Promise<SegmentEntry> {
  const day = utcDay(cols.timestamp[0]!);
  const names = segmentNames(day, level, n);
  const parquet = encodeParquet(cols, types);
  const embeddings = encodeEmbeddings(cols);
  await fsp.mkdir(dirname(join(dir, names.file)), { recursive: true, mode: 0o700 });
  // Each file goes in under its in-progress name and is renamed once whole and fdatasync'ed (the
  // day folder synced after each rename); then segments/, which may hold a new day folder.
  await writeFileAtomic(join(dir, names.file), parquet, { temp: inProgress(join(dir, names.file)) });
  await writeFileAtomic(join(dir, names.embeddings), embeddings, { temp: inProgress(join(dir, names.embeddings)) });
  await fsyncDir(join(dir, 'segments'));
  return {
    ...names,
    level,
    day,
    rows: cols.rows,
    bytes: parquet.length,
    embeddingBytes: embeddings.length,
    crc: crc32c(parquet),
    embeddingCrc: crc32c(embeddings),
    ...facts(cols),
  };
}

/**
 * The name a segment file has while it is written: no engine reading the folder (a glob of
 * `*.parquet`) meets it half-written. Only the manifest makes a file live; the next open removes
 * any file it does not name, these included.
 */
export function inProgress(path: string): string {
  return `${path}.tmp`;
}

/** Renames a file written under inProgress(path) into place (the caller fsyncs the directory). */
export async function publish(path: string): Promise<void> {
  await fsp.rename(inProgress(path), path);
}

/** The pruning facts of sorted rows `cols`. */
export function facts(cols: BatchColumns): Pick<SegmentEntry, 'minTs' | 'maxTs' | 'groups' | 'types' | 'severities' | 'resourceTypes' | 'names'> {
  const groups: RowGroupFacts[] = [];
  for (let start = 0; start < cols.rows; start += ROW_GROUP_ROWS) {
    const end = Math.min(cols.rows, start + ROW_GROUP_ROWS);
    groups.push([cols.timestamp[start]!, cols.timestamp[end - 1]!, end - start, ...groupMasks(cols.type, cols.severity, start, end)]);
  }
  const types = new Set<number>();
  let severities = 0;
  for (let i = 0; i < cols.rows; i++) {
    types.add(cols.type[i]!);
    severities |= 1 << cols.severity[i]!;
  }
  // Distinct names per type first (a name repeats on many rows), then one key per distinct name.
  const keys: string[] = [];
  for (const [type, column] of cols.resources) {
    const distinct = new Set<string>();
    for (const names of column) if (names !== null) for (const name of names) distinct.add(name);
    for (const name of distinct) keys.push(nameKey(type, name));
  }
  return {
    minTs: cols.timestamp[0]!,
    maxTs: cols.timestamp[cols.rows - 1]!,
    groups,
    types: [...types].sort((a, b) => a - b),
    severities,
    resourceTypes: [...cols.resources.keys()].sort(),
    names: Buffer.from(buildNameFilter(keys, keys.length)).toString('base64'),
  };
}
