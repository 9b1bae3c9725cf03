/**
 * The correlation store: findings inserted through a WAL (transit's writer and format) into an
 * active part, flushed to Parquet segments partitioned by UTC day, listed by an atomically
 * replaced manifest. Flushes write in a worker thread (segment-jobs.ts); reads merge segments,
 * the part being flushed and the active part in timestamp order.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import type * as arrow from 'apache-arrow';
import { makeVector, Table as ArrowTable } from 'apache-arrow';

import type { CorrelationsConfig } from '../config/index.js';
import { TapioError } from '../errors.js';
import { ensureWritableDir, fsyncDir } from '../fs/durable.js';
import type { RecoveryMode } from '../transit/backend.js';
import { openWalBackend, Transit } from '../transit/index.js';
import { ActivePart, batchColumns } from './active-part.js';
import { arrowTableProblem, arrowToColumns, columnsToArrow, resourceColumn } from './arrow-columns.js';
import {
  batchFacts,
  emptyColumns,
  encodeBatch,
  encodeFindings,
  gatherColumns,
  gatherColumnsPaced,
  rowRecord,
  setBatchSource,
  timeRange,
  timestampOrder,
  type BatchColumns,
  type EncodedBatch,
} from './batch-columns.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION } from './limits.js';
import { readManifest, segmentNumber, writeManifest, type Manifest, type SegmentEntry } from './manifest.js';
import {
  columnProblem,
  CORRELATION_FIELDS,
  type ColumnProblem,
  type CorrelationField,
  type CorrelationInput,
  type CorrelationRecord,
  type FindingRules,
} from './record.js';
import { runSegmentJob } from './segment-jobs.js';
import { SegmentCache } from './segment-cache.js';
import { DecodePool } from './decode-pool.js';
import { chunkVectors, emptyExplain, planSources, readMore, scanChunks, timeClusters, type QueryExplain, type Source, type StoreView } from './query-exec.js';
import { Aggregator, compareKey, type AggregateRow } from '../query/aggregate.js';
import { Pace } from '../query/breathe.js';
import { FindBuilder } from '../query/builder.js';
import { queryNorm } from '../query/cosine.js';
import {
  checkAggregate,
  checkQuery,
  checkTopValues,
  type AggregateQuery,
  type CorrelationQuery,
  type QueryPlanInput,
  type TopValuesQuery,
} from '../query/options.js';
import { CompiledSelector, idFilter, selectorColumns } from '../query/predicate.js';
import { selectKernels } from '../query/select-kernels.js';
import type { Selector } from '../query/selector.js';
import { similarityKernel } from '../query/similarity.js';
import { lockDir } from '../fs/dir-lock.js';
import { TurnBudget } from '../metadata/turn-budget.js';

/** Options of the correlation store that are not configuration. */
export interface CorrelationsOpenOptions {
  /** Force the WAL's path: 'native' or 'typescript' (default: native when the addon loads). */
  path?: 'native' | 'typescript';
  /**
   * 'strict' (default): damage refuses the open with ERR_SEGMENT_CORRUPT (a segment file) or
   * ERR_WAL_CORRUPT (the WAL). 'salvage': a damaged segment is set aside (moved to damaged/, out
   * of the manifest) and the WAL salvaged as transit does; stats().salvaged lists what was lost.
   */
  recovery?: RecoveryMode;
  /** Create the store when its directory holds none (default true). */
  create?: boolean;
}

/**
 * Floats of a block scored on the caller's thread rather than off the loop (about 0.1 ms
 * natively, 1-2 ms for the TypeScript twin).
 */
const SYNC_SCORE_FLOATS = 1 << 20;

/** What `compact()` did. */
export interface CompactResult {
  /** Merges run. */
  compactions: number;
  segmentsBefore: number;
  segmentsAfter: number;
  ms: number;
}

/** A record a query returns: the fields asked for, and `score` when similarity was asked. */
export type QueryRecord = CorrelationRecord & { score?: number };

/** Options of `correlations.insert`. */
export interface InsertOptions {
  /**
   * The position in a source (for example the transit sequence number a correlator read up to)
   * the batch's findings came from. It is written in the batch's WAL record, so it is durable
   * exactly when the findings are; `correlations.sourceSeq` gives the highest durable one, where
   * a pipeline resumes after a crash. Each insert must give a higher one than the last; with
   * no findings the position alone is stored.
   */
  sourceSeq?: number;
}

/** A batch record without rows (one that carries a source position only). */
function emptyBatch(dim: number): EncodedBatch {
  return { bytes: encodeBatch(emptyColumns(0, dim)), rows: 0, minTs: Infinity, maxTs: -Infinity };
}

export type { CorrelationQuery };

/** Rows and bytes of one level's segments. */
export interface LevelStats {
  level: number;
  segments: number;
  rows: number;
  /** Parquet bytes. */
  bytes: number;
  embeddingBytes: number;
}

/** Statistics of the correlation store (`correlations.stats()`). */
export interface CorrelationStats {
  path: 'native' | 'typescript';
  walEnabled: boolean;
  /** Rows in the active part (and in a part being flushed). */
  activeRows: number;
  /** Segments that running queries hold (kept on disk until they end, even if compacted or expired). */
  heldSegments: number;
  /** Bytes counted against active_memory. */
  activeMemory: number;
  activeMemoryLimit: number;
  levels: LevelStats[];
  /** Rows in segments and in memory. */
  rows: number;
  inserts: number;
  flushes: number;
  compactions: number;
  /** Bytes of segment files written since the store opened (flushes and compactions). */
  bytesWritten: number;
  /** Why the last background flush failed (it is tried again), or null. */
  flushError: string | null;
  /** Why the last compaction (or retention run) failed, or null. */
  compactionError: string | null;
  /** What the last compaction did, or null before the first. */
  lastCompaction: CompactionReport | null;
  /** Segments dropped by retention since the store opened. */
  retentionDropped: number;
  /** Findings replayed from the WAL at open. */
  replayedRows: number;
  /** Files at open that the manifest did not name (left by a crash), removed. */
  removedFiles: string[];
  /** With recovery: 'salvage', the damaged segments the open set aside (moved to damaged/). */
  salvaged: string[];
}

/** One compaction: its inputs and output, its time and the worker's peak memory. */
export interface CompactionReport {
  /** The level written. */
  level: number;
  inputs: number;
  rows: number;
  inputBytes: number;
  outputBytes: number;
  ms: number;
  /** The most the compaction worker held while merging: its heap, its buffers and its WebAssembly memory, bytes. */
  peakMemory: number;
  /** The output was written with direct I/O (O_DIRECT: the native path, where the file system takes it). */
  directIo: boolean;
}

const DAY_MS = 86_400_000;
const EMPTY_CHECKPOINTS = { get: () => Promise.resolve(null), set: () => Promise.resolve() };
/** The correlation WAL's segment size and ring: one insert is one record of at most half the ring. */
const WAL_SEGMENT_SIZE = 64 * 1024 * 1024;
const WAL_RING = 64 * 1024 * 1024;

/**
 * The correlation store of a data directory (`storage.correlations`).
 *
 * @example
 * ```ts
 * await storage.correlations.insert([{ id: 'f1', timestamp: Date.now(), type: 'anomaly', severity: 3, confidence: 0.9,
 *   eventCount: 12, timeWindow: 60, resources: { pods: ['nginx-1'] }, embedding: new Float32Array(128) }]);
 * const recent = await storage.correlations.query({ from: Date.now() - 3_600_000 });
 * ```
 */
export class Correlations extends EventEmitter {
  readonly dir: string;
  readonly #config: CorrelationsConfig;
  readonly #wal: Transit;
  readonly #unlock: () => Promise<void>;
  #manifest: Manifest;
  readonly #rules: FindingRules;
  #active = new ActivePart();
  /** The part a flush is writing (readable until the manifest names its segments). */
  #frozen: ActivePart | null = null;
  #flushing: Promise<void> | null = null;
  #flushError: string | null = null;
  /** Segments a running query holds: not deleted until released. */
  readonly #held = new Map<string, number>();
  #closed = false;
  #inserts = 0;
  #flushes = 0;
  #bytesWritten = 0;
  #replayedRows = 0;
  #removedFiles: string[] = [];
  #nextNumber: number;
  /** The highest durable source position, and the highest one an insert has taken (durable or not). */
  #sourceSeq = 0;
  #sourceClaimed = 0;
  #manifestChain: Promise<void> = Promise.resolve();
  #compacting: Promise<void> | null = null;
  #compactionError: string | null = null;
  #lastCompaction: CompactionReport | null = null;
  /** Segments out of the manifest that a query still holds: deleted when it ends. */
  readonly #retired = new Map<string, SegmentEntry>();
  /** Open segment readers and decoded columns that queries share (segment-cache.ts). */
  readonly #segmentCache = new SegmentCache();
  #retentionDropped = 0;
  #salvaged: string[] = [];
  /** Inserts under way (appending to the WAL). */
  readonly #pending = new Set<Promise<unknown>>();
  #retentionTimer: NodeJS.Timeout | undefined;
  #closing = false;

  private constructor(config: CorrelationsConfig, wal: Transit, manifest: Manifest, unlock: () => Promise<void>) {
    super();
    this.dir = config.path;
    this.#config = config;
    this.#wal = wal;
    this.#manifest = manifest;
    this.#unlock = unlock;
    this.#rules = { embeddingDim: config.embedding_dim, types: config.finding_types };
    this.#nextNumber = manifest.nextSegment;
    this.#sourceSeq = manifest.sourceSeq ?? 0;
    this.#sourceClaimed = this.#sourceSeq;
  }

  /** Opens the store at `config.path`: the manifest, files it does not name removed, the WAL replayed. */
  static async open(config: CorrelationsConfig, options: CorrelationsOpenOptions = {}): Promise<Correlations> {
    const dir = config.path;
    if (options.create ?? true) {
      await ensureWritableDir(dir, 'correlations');
      await ensureWritableDir(join(dir, 'segments'), 'correlation segments');
      await ensureWritableDir(join(dir, 'wal'), 'correlation WAL');
    }
    const lock = await lockDir(dir, { fileName: 'LOCK', what: 'correlation store directory' });
    const unlock = () => lock.release();
    let wal: Transit | null = null;
    try {
      let manifest = await readManifest(dir);
      if (manifest === null) {
        if (options.create === false) throw new TapioError('ERR_NO_STORE', `no correlation store at ${dir} (it has no MANIFEST)`, { details: { path: dir } });
        manifest = newManifest(config);
        await writeManifest(dir, manifest);
      }
      manifest = await checkManifest(dir, manifest, config);
      const checked = await checkSegmentFiles(dir, manifest, options.recovery === 'salvage');
      manifest = checked.manifest;
      const removed = await removeUnlisted(dir, manifest);
      const opened = manifest;
      let store: Correlations | null = null;
      wal = await Transit.open(
        { wal_path: join(dir, 'wal'), retention: Number.MAX_SAFE_INTEGER, direct_io: 'auto', ring_capacity: WAL_RING, segment_size: WAL_SEGMENT_SIZE },
        EMPTY_CHECKPOINTS,
        openWalBackend,
        // WAL segments go once the manifest (the one the store holds now) covers their records.
        {
          covered: () => (store === null ? opened.walSeq : store.#manifest.walSeq),
          ...(options.path === undefined ? {} : { path: options.path }),
          ...(options.recovery === undefined ? {} : { recovery: options.recovery }),
        },
      );
      if (wal.lastSeq < manifest.walSeq) {
        // The WAL ends before what the manifest covers: it was replaced, emptied or restored from
        // an older copy. Whatever it holds is in segments already. New inserts are numbered after
        // its end, at or below the old walSeq, so a replay would skip them: the manifest is made
        // to cover exactly what the WAL holds, and a crash replays every insert made from now on.
        process.emitWarning(
          `tapio-storage correlations at ${dir}: the correlation WAL ends at record ${wal.lastSeq} but the MANIFEST covers records up to ${manifest.walSeq} (a WAL restored from an older copy or replaced); the manifest now covers the WAL's end, and nothing stored is lost`,
          { code: 'TAPIO_CORRELATIONS_WAL_BEHIND' },
        );
        manifest = { ...manifest, walSeq: wal.lastSeq, walExtra: [] };
        await writeManifest(dir, manifest);
      }
      const created = new Correlations(config, wal, manifest, unlock);
      store = created;
      created.#removedFiles = removed;
      created.#salvaged = checked.salvaged;
      await created.#replay();
      await created.applyRetention();
      const every = Math.max(1000, Math.min(3_600_000, Math.floor(config.retention / 4)));
      created.#retentionTimer = setInterval(() => {
        created.applyRetention().catch((err: unknown) => created.#compactionFailed(err));
      }, every);
      created.#retentionTimer.unref();
      created.#scheduleCompaction();
      // Queries of segments decode in the pool's threads: start them now rather than in the first query.
      if (created.#manifest.segments.length > 0) DecodePool.shared().warm();
      if (!config.wal_enabled) {
        process.emitWarning(
          `tapio-storage correlations at ${dir}: wal_enabled is false, so an insert resolves before its findings are on disk and findings inserted since the last flush are lost if the process dies`,
          { code: 'TAPIO_CORRELATIONS_WAL_OFF' },
        );
      }
      return created;
    } catch (err) {
      if (wal !== null) await wal.close().catch(() => undefined);
      await unlock();
      throw err;
    }
  }

  /** Which WAL writer runs: 'native' or 'typescript'. */
  get path(): 'native' | 'typescript' {
    return this.#wal.path;
  }

  async #replay(): Promise<void> {
    const m = this.#manifest;
    const extra = new Set(m.walExtra);
    const from = Math.max(m.walSeq + 1, this.#wal.oldestSeq);
    if (from > this.#wal.lastSeq) return;
    for await (const rec of this.#wal.read({ fromSeq: from })) {
      if (extra.has(rec.seq)) continue;
      // The reader hands out each record's own bytes (a small one shares a slab with the records
      // read beside it, which the part keeps too), so the part keeps them without a copy.
      const bytes = rec.data;
      const facts = batchFacts(bytes, this.#config.embedding_dim, `record ${rec.seq} of the correlation WAL ${join(this.dir, 'wal')}`);
      this.#active.add({ bytes, seq: rec.seq, ...facts });
      this.#replayedRows += facts.rows;
      if (facts.source > this.#sourceSeq) this.#sourceSeq = facts.source;
    }
  }

  /**
   * Inserts a batch of findings: checked whole (a bad record or a repeated id refuses the batch
   * with ERR_VALIDATION and stores nothing), appended to the WAL as one record, and resolved once
   * that record is durable; readable at once. Resolves with the number of findings stored.
   */
  insert(findings: readonly CorrelationInput[], options: InsertOptions = {}): Promise<{ inserted: number }> {
    return this.#track('insert', async () => {
      const before = this.#sourceClaimed;
      const source = this.#checkSource(options);
      try {
        // The check and the encoding are synchronous (about 3 ms per 1,000 findings): a burst of
        // inserts is spread over event-loop turns rather than run back to back in one.
        const batch = await this.#encoder.run(findings);
        if (source === 0) return batch === null ? { inserted: 0 } : await this.#insertRecord(batch, 0);
        // A position goes in even without findings: the source's progress is durable all the same.
        return await this.#insertRecord(batch ?? emptyBatch(this.#config.embedding_dim), source);
      } catch (err) {
        // A refused batch gives its position back, so the caller can fix it and insert again.
        if (source > 0 && this.#sourceClaimed === source) this.#sourceClaimed = Math.max(before, this.#sourceSeq);
        throw err;
      }
    });
  }

  /**
   * The highest source position (insert's `sourceSeq`) among the durable batches: where a
   * pipeline that feeds this store from a source resumes after a restart (0 when none was given).
   */
  get sourceSeq(): number {
    return this.#sourceSeq;
  }

  /** Checks insert's options; returns the source position (0 for none) and claims it. */
  #checkSource(options: InsertOptions): number {
    if (options === null || typeof options !== 'object')
      throw new TapioError('ERR_INVALID_ARGUMENT', 'correlations.insert(findings, options): options must be an object');
    for (const k of Object.keys(options)) {
      if (k !== 'sourceSeq')
        throw new TapioError(
          'ERR_INVALID_ARGUMENT',
          `correlations.insert(findings, options): unknown option ${JSON.stringify(k)}; the one option is sourceSeq`,
        );
    }
    const seq = options.sourceSeq;
    if (seq === undefined) return 0;
    if (!Number.isSafeInteger(seq) || seq < 1) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `correlations.insert: sourceSeq must be a whole number >= 1, got ${String(seq)}`);
    }
    if (seq <= this.#sourceClaimed) {
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        `correlations.insert: sourceSeq ${seq} is not past ${this.#sourceClaimed}, the position given before; the batch from that position was stored already (resume from correlations.sourceSeq + 1)`,
        { details: { sourceSeq: this.#sourceClaimed } },
      );
    }
    this.#sourceClaimed = seq;
    return seq;
  }

  /**
   * Runs an insert that close() waits for: one called before close() is in its final flush when
   * it resolves; one called after is refused with ERR_CLOSED.
   */
  #track(call: string, run: () => Promise<{ inserted: number }>): Promise<{ inserted: number }> {
    if (this.#closing || this.#closed) return Promise.reject(new TapioError('ERR_CLOSED', `correlations.${call}() after close(); open the storage again`));
    const pending = run();
    this.#pending.add(pending);
    const done = () => this.#pending.delete(pending);
    pending.then(done, done);
    return pending;
  }

  // One batch of 1,000 findings takes about 3 ms to check and encode: with a budget of 1 ms a turn
  // runs one such batch (or several small ones), not two or more back to back.
  readonly #encoder = new TurnBudget<readonly CorrelationInput[], EncodedBatch | null>(
    (findings) => {
      return encodeFindings('correlations.insert', findings, this.#rules);
    },
    { budgetMs: 1 },
  );

  /**
   * The bulk path: inserts the rows of an Arrow table (or record batch) that has the segment's
   * columns (docs/FORMAT.md): `timestamp` (timestamp[ms] or float64/int64 milliseconds), `id`,
   * `type` (utf8 or dictionary), `severity`, `confidence`, `eventCount`, `timeWindow`, optional
   * `pattern` (binary) and `resources.<type>` (list of utf8), and `embedding` as a fixed-size list
   * of `embedding_dim` float32. Numbers may come in any int, float32 or float64 column: each value must be
   * whole where asked and in range before it is narrowed; a null is refused in every column but
   * `pattern` (empty) and the resource lists (the type absent). Checked column by column, with the
   * same rules and errors as insert(); no object is made per row. All or nothing, durable when it
   * resolves.
   *
   * @example
   * ```ts
   * const table = await storage.correlations.query({ from, format: 'arrow' });
   * await other.correlations.insertArrow(table);
   * ```
   */
  insertArrow(table: arrow.Table | arrow.RecordBatch): Promise<{ inserted: number }> {
    return this.#track('insertArrow', () => this.#insertArrow(table));
  }

  async #insertArrow(table: arrow.Table | arrow.RecordBatch): Promise<{ inserted: number }> {
    // Checked and encoded in the turns insert() uses for its batches, one such batch a turn.
    const batch = await this.#arrowEncoder.run(table);
    return batch === null ? { inserted: 0 } : this.#insertRecord(batch);
  }

  readonly #arrowEncoder = new TurnBudget<arrow.Table | arrow.RecordBatch, EncodedBatch | null>((table) => this.#encodeArrow(table), { budgetMs: 1 });

  /** The batch record of an Arrow table's rows, checked (null when it has none). */
  #encodeArrow(table: arrow.Table | arrow.RecordBatch): EncodedBatch | null {
    const call = 'correlations.insertArrow';
    const schema = (table as { schema?: arrow.Schema }).schema;
    if (schema === undefined || typeof (table as { numRows?: unknown }).numRows !== 'number') {
      throw new TapioError('ERR_INVALID_ARGUMENT', `${call}(table): expected an Arrow Table or RecordBatch (apache-arrow)`);
    }
    const dim = this.#config.embedding_dim;
    const emb = schema.fields.find((f) => f.name === 'embedding');
    if (emb !== undefined) {
      const t = emb.type as { listSize?: number; children?: Array<{ type: { typeId: number; precision?: number } }> };
      if (t.listSize !== dim || t.children?.[0]?.type.precision !== 1) {
        throw new TapioError(
          'ERR_VALIDATION',
          `${call}: the embedding column must be a fixed-size list of ${dim} float32 (storage.correlations.embedding_dim), got ${String(emb.type)}; nothing was stored`,
          {
            details: { field: 'embedding' },
          },
        );
      }
    }
    const whole = ('batches' in table ? table : new ArrowTable([table])) as arrow.Table;
    // The columns' types and whole numbers first (reading them narrows values), then the rest.
    const refuse = (problem: ColumnProblem): never => {
      const where = problem.index < 0 ? `column ${problem.field}` : `record ${problem.index} (${problem.field})`;
      throw new TapioError(
        'ERR_VALIDATION',
        `${call}: ${where} was refused: expected ${problem.expected}; nothing of the batch of ${whole.numRows} was stored.`,
        {
          details: { index: problem.index, issues: [{ path: problem.field, message: problem.expected }] },
        },
      );
    };
    const typed = arrowTableProblem(whole);
    if (typed !== null) refuse(typed);
    // Transient text: the strings are checked and encoded into the batch record, then dropped.
    const cols = arrowToColumns(whole, dim, this.#config.finding_types, null, false, true);
    const problem = columnProblem(cols, { rows: cols.rows, present: new Set(schema.fields.map((f) => f.name)) }, this.#rules);
    if (problem !== null) refuse(problem);
    if (cols.rows === 0) return null;
    const [minTs, maxTs] = timeRange(cols);
    return { bytes: encodeBatch(cols), rows: cols.rows, minTs, maxTs };
  }

  async #insertRecord(batch: EncodedBatch, source = 0): Promise<{ inserted: number }> {
    const { bytes } = batch;
    if (source > 0) setBatchSource(bytes, source);
    if (bytes.length > WAL_RING / 2 - 64) {
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        `correlations.insert: the batch of ${batch.rows} findings takes ${bytes.length} bytes, more than the ${WAL_RING / 2 - 64} one WAL record holds; insert it in smaller batches (about ${Math.max(1, Math.floor((batch.rows * (WAL_RING / 2 - 64)) / bytes.length))} findings each)`,
        { details: { bytes: bytes.length } },
      );
    }
    // Past twice the active memory (a flush running and a full part behind it), inserts wait.
    while (this.#flushing !== null && this.#active.memory >= this.#config.active_memory) await this.#flushing.catch(() => undefined);
    let seq = 0;
    if (this.#config.wal_enabled) seq = (await this.#wal.append([bytes])).lastSeq;
    this.#active.add({ bytes, rows: batch.rows, seq, minTs: batch.minTs, maxTs: batch.maxTs, source });
    if (source > this.#sourceSeq) this.#sourceSeq = source;
    this.#inserts++;
    if (this.#active.memory >= this.#config.active_memory && this.#flushing === null) {
      this.#startFlush().catch((err: unknown) => this.#flushFailed(err));
    }
    return { inserted: batch.rows };
  }

  /** Writes the active part as L0 segments; resolves once the manifest names them. */
  async flush(): Promise<{ rows: number; segments: number }> {
    this.#checkOpen('flush');
    return this.#flushNow();
  }

  async #flushNow(): Promise<{ rows: number; segments: number }> {
    while (this.#flushing !== null) await this.#flushing.catch(() => undefined);
    // A part of batches without rows (source positions alone) still goes, to trim the WAL.
    if (this.#active.batches.length === 0) return { rows: 0, segments: 0 };
    const rows = this.#active.rows;
    const before = this.#manifest.segments.length;
    await this.#startFlush();
    return { rows, segments: this.#manifest.segments.length - before };
  }

  #startFlush(): Promise<void> {
    const part = this.#active;
    this.#active = new ActivePart();
    this.#frozen = part;
    const run = this.#writePart(part).then(
      () => {
        this.#frozen = null;
        this.#flushing = null;
        this.#flushError = null;
      },
      (err: unknown) => {
        // Nothing is lost: a part the manifest does not name yet goes back in front of the
        // active part (one it names is in its segments; only a step after the swap failed).
        if (this.#frozen === part) {
          const back = new ActivePart();
          for (const b of part.batches) back.add(b);
          for (const b of this.#active.batches) back.add(b);
          this.#active = back;
          this.#frozen = null;
        }
        this.#flushing = null;
        throw err;
      },
    );
    this.#flushing = run;
    return run;
  }

  async #writePart(part: ActivePart): Promise<void> {
    const m = this.#manifest;
    const days = new Set<number>();
    // Each day a batch spans gets a number (a batch's days lie between its first and last).
    for (const b of part.batches) for (let d = Math.floor(b.minTs / DAY_MS); d <= Math.floor(b.maxTs / DAY_MS); d++) days.add(d);
    const withRows = part.batches.filter((b) => b.rows > 0);
    const firstNumber = this.#reserveNumbers(days.size);
    const result =
      withRows.length === 0
        ? { entries: [], bytesWritten: 0 }
        : await runSegmentJob({
            kind: 'flush',
            dir: this.dir,
            dim: m.embeddingDim,
            types: m.findingTypes,
            level: 0,
            firstNumber,
            batches: withRows.map((b) => b.bytes),
          });
    let source = 0;
    for (const b of part.batches) if (b.source > source) source = b.source;
    await this.#updateManifest(
      (current) => {
        // The WAL records now in segments: the covered prefix grows as far as it runs unbroken; a
        // record past a gap (an insert still on its way to the active part) is listed apart.
        const inSegments = new Set(current.walExtra);
        for (const b of part.batches) if (b.seq > 0) inSegments.add(b.seq);
        let walSeq = current.walSeq;
        while (inSegments.has(walSeq + 1)) walSeq++;
        return {
          ...current,
          walSeq,
          walExtra: [...inSegments].filter((x) => x > walSeq).sort((a, b) => a - b),
          ...(source > (current.sourceSeq ?? 0) ? { sourceSeq: source } : {}),
          nextSegment: Math.max(current.nextSegment, this.#nextNumber),
          segments: [...current.segments, ...result.entries],
        };
      },
      () => {
        if (this.#frozen === part) this.#frozen = null;
        this.#segmentCache.forgetBatches(part.batches);
      },
    );
    this.#flushes++;
    this.#bytesWritten += result.bytesWritten;
    this.emit('flush', { rows: part.rows, segments: result.entries.length });
    // WAL segments whose records are all in segments now go.
    await this.#wal.applyRetention().catch((err: unknown) => this.#flushFailed(err));
    this.#scheduleCompaction();
  }

  /** Numbers for `count` new segment files (flushes and compactions draw from one counter). */
  #reserveNumbers(count: number): number {
    const first = this.#nextNumber;
    this.#nextNumber += count;
    return first;
  }

  /** Replaces the manifest with `change(current)`, one change at a time. */
  #updateManifest(change: (current: Manifest) => Manifest, swapped?: () => void): Promise<Manifest> {
    const run = this.#manifestChain.then(async () => {
      const next = change(this.#manifest);
      // A change that changes nothing (a retention run that dropped nothing) writes nothing: the
      // manifest, with a name filter per segment, can run to megabytes.
      if (next === this.#manifest) return next;
      await writeManifest(this.dir, next);
      // In the same synchronous step as the swap (`swapped`): a read takes its snapshot of the
      // segments and of the parts in memory at once, so it never sees rows in both.
      this.#manifest = next;
      swapped?.();
      return next;
    });
    this.#manifestChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Starts a compaction when a day's L0 (or L1) segments reached l0_size (l1_size) and none runs. */
  #scheduleCompaction(): void {
    if (this.#compacting !== null || this.#closing) return;
    const job = this.#pickCompaction();
    if (job === null) return;
    this.#compacting = this.#compact(job.inputs, job.level).then(
      () => {
        this.#compacting = null;
        this.#compactionError = null;
        this.#scheduleCompaction();
      },
      (err: unknown) => {
        this.#compacting = null;
        this.#compactionFailed(err);
      },
    );
  }

  #pickCompaction(): { inputs: SegmentEntry[]; level: number } | null {
    const limits = [this.#config.compaction.l0_size, this.#config.compaction.l1_size];
    for (const level of [0, 1]) {
      const byDay = new Map<string, SegmentEntry[]>();
      for (const s of this.#manifest.segments) if (s.level === level) byDay.set(s.day, [...(byDay.get(s.day) ?? []), s]);
      for (const day of [...byDay.keys()].sort()) {
        const inputs = byDay.get(day)!;
        const bytes = inputs.reduce((n, s) => n + s.bytes + s.embeddingBytes, 0);
        if (bytes >= limits[level]! && inputs.length > 0)
          // In the order they were made: rows with the same timestamp keep their insertion order.
          return { inputs: inputs.sort((a, b) => segmentNumber(a) - segmentNumber(b)), level: level + 1 };
      }
    }
    return null;
  }

  /**
   * Merges `inputs` (one day's segments of one level) into one segment of `level` in a worker;
   * then the manifest names it instead of them, and they are deleted once no query holds them.
   */
  async #compact(inputs: SegmentEntry[], level: number): Promise<void> {
    const m = this.#manifest;
    const number = this.#reserveNumbers(1);
    const started = performance.now();
    const result = await runSegmentJob({
      kind: 'compact',
      dir: this.dir,
      dim: m.embeddingDim,
      types: m.findingTypes,
      inputs,
      level,
      number,
      kernel: this.#wal.path,
    });
    const output = result.entries[0]!;
    const inputFiles = new Set(inputs.map((s) => s.file));
    let applied = false;
    await this.#updateManifest((current) => {
      // Retention may have dropped the day meanwhile: then the output goes too.
      const still = current.segments.filter((s) => inputFiles.has(s.file));
      if (still.length !== inputs.length) return current;
      applied = true;
      return {
        ...current,
        nextSegment: Math.max(current.nextSegment, this.#nextNumber),
        compactions: current.compactions + 1,
        segments: [...current.segments.filter((s) => !inputFiles.has(s.file)), output],
      };
    });
    if (!applied) {
      await this.#retire([output]);
      return;
    }
    this.#bytesWritten += result.bytesWritten;
    this.#lastCompaction = {
      level,
      inputs: inputs.length,
      rows: output.rows,
      inputBytes: inputs.reduce((n, s) => n + s.bytes + s.embeddingBytes, 0),
      outputBytes: result.bytesWritten,
      ms: performance.now() - started,
      peakMemory: result.peakMemory ?? 0,
      directIo: result.directIo ?? false,
    };
    this.emit('compaction', this.#lastCompaction);
    await this.#retire(inputs);
  }

  /** Deletes segments' files now, or when the last query holding them ends. */
  async #retire(entries: readonly SegmentEntry[]): Promise<void> {
    const dirs = new Set<string>();
    for (const s of entries) {
      if ((this.#held.get(s.file) ?? 0) > 0) {
        this.#retired.set(s.file, s);
        continue;
      }
      this.#retired.delete(s.file);
      this.#segmentCache.forget(s.file);
      DecodePool.shared().forget(join(this.dir, s.file));
      await fsp.rm(join(this.dir, s.file), { force: true });
      await fsp.rm(join(this.dir, s.embeddings), { force: true });
      dirs.add(join(this.dir, 'segments', `day=${s.day}`));
    }
    for (const d of dirs) {
      const left = await fsp.readdir(d).catch(() => null);
      if (left !== null && left.length === 0) await fsp.rm(d, { recursive: true, force: true });
      else if (left !== null) await fsyncDir(d);
    }
    if (dirs.size > 0) await fsyncDir(join(this.dir, 'segments'));
  }

  /**
   * Drops every day partition that ended before now - retention: out of the manifest first, then
   * the files (once no query holds them). Runs at open and on a timer; resolves with the
   * segments dropped.
   */
  async applyRetention(now = Date.now()): Promise<number> {
    if (this.#closed) return 0;
    const cutoff = now - this.#config.retention;
    const dropped: SegmentEntry[] = [];
    await this.#updateManifest((current) => {
      const keep: SegmentEntry[] = [];
      for (const s of current.segments) (Date.parse(`${s.day}T00:00:00Z`) + DAY_MS <= cutoff ? dropped : keep).push(s);
      return dropped.length === 0 ? current : { ...current, segments: keep };
    });
    await this.#retire(dropped);
    if (dropped.length > 0) this.emit('retention', { segments: dropped.length, rows: dropped.reduce((n, s) => n + s.rows, 0) });
    this.#retentionDropped += dropped.length;
    return dropped.length;
  }

  #compactionFailed(err: unknown): void {
    this.#compactionError = this.#reportFailure('compaction', this.#compactionError, err);
  }

  #flushFailed(err: unknown): void {
    this.#flushError = this.#reportFailure('flush', this.#flushError, err);
  }

  /**
   * Reports a background failure: to the 'error' listeners, or else as a process warning when
   * its message differs from the last one (`last`) of the same kind. Returns the message.
   */
  #reportFailure(kind: 'flush' | 'compaction', last: string | null, err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else if (last !== message)
      process.emitWarning(`tapio-storage correlations ${kind} failed: ${message}`, { code: err instanceof TapioError ? err.code : 'ERR_SEGMENT_IO' });
    return message;
  }

  /**
   * Compacts now, in a worker as the store does on its own: with `all`, each day's L0 segments
   * (when there are two or more, or one beside L1 segments) are merged into one L1 segment and then
   * each day's L1 segments (two or more) into one L2 segment, whatever their size; without,
   * only what `l0_size` and `l1_size` call for. Waits for a compaction already running first.
   * `onProgress(done, total)` follows the merges (`total` grows as the policy finds more).
   *
   * @example
   * ```ts
   * const { compactions, segmentsBefore, segmentsAfter } = await storage.correlations.compact({ all: true });
   * ```
   */
  async compact(options: { all?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<CompactResult> {
    this.#checkOpen('compact');
    await this.compactionSettled();
    const segmentsBefore = this.#manifest.segments.length;
    const started = performance.now();
    let done = 0;
    const run = (async () => {
      for (;;) {
        this.#checkOpen('compact');
        const pending = options.all === true ? this.#allCompactions() : [];
        const job = options.all === true ? (pending[0] ?? null) : this.#pickCompaction();
        options.onProgress?.(done, done + (options.all === true ? pending.length : job === null ? 0 : 1));
        if (job === null) return;
        await this.#compact(job.inputs, job.level);
        done++;
      }
    })();
    this.#compacting = run;
    try {
      await run;
      this.#compactionError = null;
    } finally {
      if (this.#compacting === run) this.#compacting = null;
      // A flush during the run could not start the compaction it called for: look again.
      this.#scheduleCompaction();
    }
    return { compactions: done, segmentsBefore, segmentsAfter: this.#manifest.segments.length, ms: performance.now() - started };
  }

  /** Every merge `compact({ all: true })` has left: L0 first, day by day, then L1. */
  #allCompactions(): Array<{ inputs: SegmentEntry[]; level: number }> {
    const out: Array<{ inputs: SegmentEntry[]; level: number }> = [];
    for (const level of [0, 1]) {
      const byDay = new Map<string, SegmentEntry[]>();
      for (const s of this.#manifest.segments) if (s.level === level) byDay.set(s.day, [...(byDay.get(s.day) ?? []), s]);
      for (const day of [...byDay.keys()].sort()) {
        const inputs = byDay.get(day)!;
        // A lone L0 segment beside the day's L1 ones joins them (through L1, then the L1 merge).
        const above = level === 0 && this.#manifest.segments.some((s) => s.day === day && s.level === 1);
        if (inputs.length >= 2 || above) out.push({ inputs: inputs.sort((a, b) => segmentNumber(a) - segmentNumber(b)), level: level + 1 });
      }
      if (out.length > 0) return out;
    }
    return out;
  }

  /** Resolves once no compaction runs (one may start again after the next flush). */
  async compactionSettled(): Promise<void> {
    while (this.#compacting !== null) await this.#compacting;
  }

  /**
   * The findings with `from <= timestamp < to` that match the selector, oldest first (or ranked by
   * cosine similarity with `similar`), from the segments, a part being flushed and the active part
   * alike. Segments are pruned by the manifest's facts, row groups by time; the selector's columns
   * are read first and the other fields only of row groups where rows matched
   * (docs/QUERY.md).
   *
   * @example
   * ```ts
   * const onNode = await storage.correlations.query({ selector: 'nodes=node-1,severity>3', from: Date.now() - 3_600_000 });
   * const alike = await storage.correlations.query({ similar: { id: 'f-42', threshold: 0.8, k: 10 }, from: Date.now() - 86_400_000 });
   * console.log(alike.map((r) => `${r.id} ${r.score.toFixed(3)}`));
   * ```
   */
  async query(q: CorrelationQuery & { format: 'arrow' }): Promise<arrow.Table>;
  async query(q?: CorrelationQuery & { format?: 'records' }): Promise<QueryRecord[]>;
  async query(q: CorrelationQuery = {}): Promise<QueryRecord[] | arrow.Table> {
    this.#checkOpen('query');
    const plan = checkQuery('correlations.query', q, this.#manifest.embeddingDim);
    const explain = emptyExplain();
    // One share of the event loop for the whole query, its rows' assembly included.
    const pace = new Pace();
    const result = await this.#runQuery(plan, explain, pace);
    return this.#present(result, plan, explain, pace);
  }

  /**
   * Runs the query and reports what it touched: segments and row groups pruned and scanned, rows
   * scanned, matched and scored, bytes read and time per stage, beside the rows it returned.
   *
   * @example
   * ```ts
   * const { explain } = await storage.correlations.explain({ selector: 'type=attack', from: Date.now() - 3_600_000 });
   * console.log(explain.segments, explain.rowGroups, explain.rows);
   * ```
   */
  async explain(q: CorrelationQuery = {}): Promise<{ query: string; explain: QueryExplain; records: QueryRecord[] }> {
    this.#checkOpen('explain');
    const plan = checkQuery('correlations.explain', q, this.#manifest.embeddingDim);
    const explain = emptyExplain();
    const pace = new Pace();
    const result = await this.#runQuery(plan, explain, pace);
    const records = (await this.#present(result, { ...plan, format: 'records' }, explain, pace)) as QueryRecord[];
    return { query: describePlan(plan), explain, records };
  }

  /**
   * The records of a query one at a time, in its order, holding one group of time-overlapping
   * segments in memory at once rather than the whole result (not with `similar`, whose ranking
   * needs every candidate, nor `format: 'arrow'`).
   *
   * @example
   * ```ts
   * for await (const r of storage.correlations.stream({ selector: 'type=attack', from: 0 })) console.log(r.id);
   * ```
   */
  async *stream(q: CorrelationQuery = {}): AsyncGenerator<QueryRecord> {
    this.#checkOpen('stream');
    const plan = checkQuery('correlations.stream', q, this.#manifest.embeddingDim);
    if (plan.similar !== null)
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        'correlations.stream: similar ranks every candidate before the first result; use query() with a k or a limit',
      );
    if (plan.format !== 'records')
      throw new TapioError('ERR_INVALID_ARGUMENT', "correlations.stream: yields records; use query({ format: 'arrow' }) for a table");
    const explain = emptyExplain();
    for await (const part of this.#timeOrdered(plan, explain)) {
      for (let i = 0; i < part.rows; i++) yield this.#record(part, i, plan.fields, null);
    }
  }

  /**
   * A query built step by step; awaiting it runs it.
   *
   * @example
   * ```ts
   * const top = await storage.correlations.find().where('nodes=node-1').between(from, to).similar(vector, { threshold: 0.8, k: 5 }).limit(5);
   * ```
   */
  find(): FindBuilder<QueryRecord> {
    return new FindBuilder<QueryRecord>(this);
  }

  /**
   * Counts and measures per group of type, severity, resource names and time bucket, over the
   * findings a selector and time range pick. Groups come sorted by bucket, then by each key.
   *
   * @example
   * ```ts
   * const perSeverity = await storage.correlations.aggregate({ selector: 'type=attack', from: startOfDay, groupBy: ['severity'], measures: ['count', 'avg(confidence)'] });
   * // [{ severity: 3, count: 120, 'avg(confidence)': 0.81 }, ...]
   * ```
   */
  async aggregate(q: AggregateQuery = {}): Promise<AggregateRow[]> {
    this.#checkOpen('aggregate');
    const plan = checkAggregate('correlations.aggregate', q);
    const agg = new Aggregator(plan.groupBy, plan.bucket, plan.measures, this.#manifest.findingTypes);
    await this.#scanAll(plan.selector, plan.from, plan.to, agg.columns(), (cols, sel) => agg.add(cols, sel));
    return agg.rows();
  }

  /**
   * The `n` most frequent values of a field ('type', 'severity' or a resource type such as
   * 'resources.pods') among the findings picked, with how many findings hold each; ties by value.
   *
   * @example
   * ```ts
   * const pods = await storage.correlations.topValues('resources.pods', 5, { from: Date.now() - 86_400_000 });
   * // [{ value: 'nginx-1', count: 42 }, ...]
   * ```
   */
  async topValues(field: string, n = 10, q: TopValuesQuery = {}): Promise<Array<{ value: string | number; count: number }>> {
    this.#checkOpen('topValues');
    const plan = checkTopValues('correlations.topValues', field, n, q);
    const agg = new Aggregator([plan.key], null, [{ name: 'count', fn: 'count', field: null }], this.#manifest.findingTypes);
    await this.#scanAll(plan.selector, plan.from, plan.to, agg.columns(), (cols, sel) => agg.add(cols, sel));
    const rows = agg
      .rows()
      .filter((r) => r[plan.key] !== null)
      .map((r) => ({ value: r[plan.key] as string | number, count: r.count as number }));
    rows.sort((a, b) => b.count - a.count || compareKey(a.value, b.value));
    return rows.slice(0, plan.n);
  }

  /** A snapshot of what a query reads; `pace` is the query's share of the event loop. */
  #view(pace = new Pace()): StoreView {
    return {
      dir: this.dir,
      cache: this.#segmentCache,
      pool: DecodePool.shared().enabled ? DecodePool.shared() : null,
      scratch: { buffer: null },
      kernels: selectKernels(this.path),
      pace,
      dim: this.#manifest.embeddingDim,
      types: this.#manifest.findingTypes,
      segments: this.#manifest.segments,
      memory: [...(this.#frozen?.batches ?? []), ...this.#active.batches].filter((b) => b.rows > 0),
    };
  }

  /** Keeps the segments of `sources` from deletion while `run` reads them. */
  async #holding<T>(sources: readonly Source[], run: () => Promise<T>): Promise<T> {
    const segments = sources.flatMap((s) => (s.kind === 'segment' ? [s.entry] : []));
    this.#hold(segments);
    try {
      return await run();
    } finally {
      await this.#release(segments);
    }
  }

  #hold(segments: readonly SegmentEntry[]): void {
    for (const s of segments) this.#held.set(s.file, (this.#held.get(s.file) ?? 0) + 1);
  }

  /** Lets go of segments a query held; those retired meanwhile are deleted now. */
  async #release(segments: readonly SegmentEntry[]): Promise<void> {
    const free: SegmentEntry[] = [];
    for (const s of segments) {
      const n = this.#held.get(s.file)! - 1;
      if (n === 0) {
        this.#held.delete(s.file);
        const retired = this.#retired.get(s.file);
        if (retired !== undefined) free.push(retired);
      } else this.#held.set(s.file, n);
    }
    if (free.length > 0) await this.#retire(free);
  }

  /** Calls `each` with the matching rows of every chunk in range (aggregations). */
  async #scanAll(
    selector: Selector | null,
    from: number,
    to: number,
    columns: string[],
    each: (cols: BatchColumns, sel: Uint32Array) => void,
  ): Promise<QueryExplain> {
    const view = this.#view();
    const explain = emptyExplain();
    const filter = selector === null || selector.empty ? null : new CompiledSelector(selector, view.types, view.kernels);
    const sources = planSources(view, from, to, filter, explain);
    await this.#holding(sources, async () => {
      const first = filter === null ? [] : selectorColumns(selector);
      for await (const chunk of scanChunks(view, sources, from, to, filter, first, explain)) {
        await readMore(view, chunk, columns, explain);
        each(chunk.cols, chunk.sel);
      }
    });
    return explain;
  }

  /** The rows of a query without similarity, one group of time-overlapping sources at a time, in order. */
  async *#timeOrdered(plan: QueryPlanInput, explain: QueryExplain, pace = new Pace()): AsyncGenerator<BatchColumns> {
    const view = this.#view(pace);
    const dim = view.dim;
    const filter = plan.selector === null || plan.selector.empty ? null : new CompiledSelector(plan.selector, view.types, view.kernels);
    const sources = planSources(view, plan.from, plan.to, filter, explain);
    const output = outputColumns(plan.fields);
    const first = filter === null ? [] : selectorColumns(plan.selector);
    const segments = sources.flatMap((s) => (s.kind === 'segment' ? [s.entry] : []));
    this.#hold(segments);
    let left = plan.limit;
    try {
      for (const cluster of timeClusters(sources, plan.orderBy === '-timestamp')) {
        const chunks: Array<{ cols: BatchColumns; sel: Uint32Array }> = [];
        for await (const chunk of scanChunks(view, cluster, plan.from, plan.to, filter, first, explain)) {
          await readMore(view, chunk, output, explain);
          chunks.push({ cols: chunk.cols, sel: chunk.sel });
        }
        if (chunks.length === 0) continue;
        const t0 = performance.now();
        // Order the selected rows of the cluster by time (ties in scan order), cut at the limit, and
        // only then copy those rows out of their chunks.
        let total = 0;
        for (const c of chunks) total += c.sel.length;
        const ts = new Float64Array(total);
        const global = new Uint32Array(total);
        let at = 0;
        let base = 0;
        for (const c of chunks) {
          for (const i of c.sel) {
            ts[at] = c.cols.timestamp[i]!;
            global[at++] = base + i;
          }
          base += c.cols.rows;
        }
        const order = Uint32Array.from({ length: total }, (_, i) => i).sort((a, b) => ts[a]! - ts[b]! || a - b);
        if (plan.orderBy === '-timestamp') order.reverse();
        const cut = left < order.length ? order.subarray(0, left) : order;
        const picked = cut.map((j) => global[j]!);
        explain.ms.assemble += performance.now() - t0;
        const part = await this.#gather(
          chunks.map((c) => c.cols),
          picked,
          dim,
          explain,
          view.pace,
        );
        left -= part.rows;
        yield part;
        if (left <= 0) return;
      }
    } finally {
      // Also when the caller stops early: a generator's return runs this.
      await this.#release(segments);
    }
  }

  /** Runs a checked query: its rows (in its order, at most its limit) and their scores when ranked. */
  async #runQuery(plan: QueryPlanInput, explain: QueryExplain, pace: Pace): Promise<{ rows: BatchColumns; scores: Float64Array | null }> {
    const t0 = performance.now();
    try {
      if (plan.similar === null) {
        const parts: BatchColumns[] = [];
        for await (const part of this.#timeOrdered(plan, explain, pace)) parts.push(part);
        // One part (one group of time-overlapping sources) is the result as it is: its columns are
        // its own, gathered from the chunks. Several are joined a block at a time.
        if (parts.length === 1) return { rows: parts[0]!, scores: null };
        return { rows: await this.#gather(parts, null, this.#manifest.embeddingDim, explain, pace), scores: null };
      }
      return await this.#similar(plan, explain, pace);
    } finally {
      explain.ms.total = performance.now() - t0;
    }
  }

  /**
   * gatherColumnsPaced: thousands of rows copied a block at a time, with the loop's turns between;
   * the copying counted in explain.ms.assemble, the turns waited for not.
   */
  async #gather(parts: readonly BatchColumns[], order: ArrayLike<number> | null, dim: number, explain: QueryExplain, pace: Pace): Promise<BatchColumns> {
    let t = performance.now();
    const rows = await gatherColumnsPaced(parts, order, dim, async () => {
      explain.ms.assemble += performance.now() - t;
      await pace.breathe();
      t = performance.now();
    });
    explain.ms.assemble += performance.now() - t;
    return rows;
  }

  /** The embedding of the stored finding `id` (the newest one, should the id appear twice). */
  async #embeddingOf(id: string, pace: Pace): Promise<Float32Array> {
    const view = this.#view(pace);
    const explain = emptyExplain();
    const filter = idFilter(id);
    const sources = planSources(view, -Infinity, Infinity, filter, explain);
    let best: { ts: number; embedding: Float32Array } | null = null;
    await this.#holding(sources, async () => {
      for await (const chunk of scanChunks(view, sources, -Infinity, Infinity, filter, ['id'], explain)) {
        const v = await chunkVectors(view, chunk, explain);
        chunk.sel.forEach((i, j) => {
          const ts = chunk.cols.timestamp[i]!;
          const r = v.packed === null ? i : j;
          if (best === null || ts >= best.ts) best = { ts, embedding: v.vectors.slice(r * v.stride, r * v.stride + view.dim) };
        });
      }
    });
    if (best === null) {
      throw new TapioError('ERR_NOT_FOUND', `correlations.query({ similar: { id } }): no stored finding has the id ${JSON.stringify(id)}`, { details: { id } });
    }
    return (best as { embedding: Float32Array }).embedding;
  }

  /** Ranks the matching rows by cosine similarity: the true top k (ties by id) at or above the threshold. */
  async #similar(plan: QueryPlanInput, explain: QueryExplain, pace: Pace): Promise<{ rows: BatchColumns; scores: Float64Array }> {
    const similar = plan.similar!;
    const embedding = similar.embedding ?? (await this.#embeddingOf(similar.id!, pace));
    const view = this.#view(pace);
    const dim = view.dim;
    const kernel = similarityKernel(this.path);
    const qnorm = queryNorm(embedding);
    const filter = plan.selector === null || plan.selector.empty ? null : new CompiledSelector(plan.selector, view.types, view.kernels);
    const sources = planSources(view, plan.from, plan.to, filter, explain);
    // Ids break ties between equal scores: read with the other fields of the rows that made the cut.
    const output = [...new Set(['id', ...outputColumns(plan.fields)])].filter((c) => c !== 'embedding');
    const first = filter === null ? [] : selectorColumns(plan.selector);
    const k = Math.min(similar.k, plan.limit);
    let pool: Candidate[] = [];
    // The lowest score that can still make the top k: the threshold, and once the candidates are
    // cut to the best k, the k-th of them (a row below it has k better rows before it). Handed to the
    // kernel, it keeps the rows of later chunks that cannot make the cut from being kept, and
    // their ids from being read (a whole column chunk each): of 300 row groups scanned for a top
    // 10, a few dozen hold a row that beats the best so far. Rows tied with it are kept (ties go
    // by id).
    let floor = similar.threshold;
    await this.#holding(sources, async () => {
      for await (const chunk of scanChunks(view, sources, plan.from, plan.to, filter, first, explain)) {
        const v = await chunkVectors(view, chunk, explain);
        await view.pace.breathe();
        const t0 = performance.now();
        const args = [embedding, qnorm, v.vectors, v.stride, v.norms, v.rows, v.select, floor, Math.min(k, chunk.sel.length)] as const;
        // A small block is scored at once (a thousand rows take tens of microseconds): handing it
        // to the thread pool cost a turn of the loop per block, and with other queries waiting,
        // a wait for the queue each time (a similarity query over 20 in-memory batches beside a
        // stream of short queries took 584 ms instead of 10-25).
        const top = (v.select?.length ?? v.rows) * dim <= SYNC_SCORE_FLOATS ? kernel.topK(...args) : await kernel.topKAsync(...args);
        explain.ms.score += performance.now() - t0;
        explain.rows.scored += chunk.sel.length;
        // Packed rows: the kernel's row j is chunk row packed[j], and its vector is packed row j.
        const vectorRow = new Map<number, number>();
        if (v.packed !== null) {
          for (let j = 0; j < top.rows.length; j++) {
            const r = top.rows[j]!;
            vectorRow.set(v.packed[r]!, r);
            top.rows[j] = v.packed[r]!;
          }
        }
        if (top.rows.length === 0) continue;
        chunk.sel = Uint32Array.from(top.rows).sort();
        await readMore(view, chunk, output, explain);
        const part = gatherColumns([chunk.cols], top.rows, dim);
        if (plan.fields.includes('embedding')) {
          part.embedding = new Float32Array(part.rows * dim);
          for (let j = 0; j < top.rows.length; j++) {
            const r = vectorRow.get(top.rows[j]!) ?? top.rows[j]!;
            part.embedding.set(v.vectors.subarray(r * v.stride, r * v.stride + dim), j * dim);
          }
        }
        for (let j = 0; j < part.rows; j++) pool.push({ part, row: j, score: top.scores[j]!, id: part.id[j]! });
        if (pool.length >= 2 * k) {
          pool = bestOf(pool, k);
          floor = Math.max(floor, pool[k - 1]!.score);
        }
      }
    });
    const t0 = performance.now();
    pool = bestOf(pool, k);
    if (plan.orderBy !== 'score') {
      pool.sort((a, b) => a.part.timestamp[a.row]! - b.part.timestamp[b.row]! || byScoreThenId(a, b));
      if (plan.orderBy === '-timestamp') pool.reverse();
    }
    const parts = [...new Set(pool.map((c) => c.part))];
    const partIndex = new Map(parts.map((p, i) => [p, i]));
    const starts: number[] = [];
    let total = 0;
    for (const p of parts) {
      starts.push(total);
      total += p.rows;
    }
    const order = pool.map((c) => starts[partIndex.get(c.part)!]! + c.row);
    const rows = gatherColumns(parts, order, dim);
    explain.ms.assemble += performance.now() - t0;
    return { rows, scores: Float64Array.from(pool, (c) => c.score) };
  }

  /** A query's rows as records or an Arrow table of its fields (and `score`). */
  async #present(
    result: { rows: BatchColumns; scores: Float64Array | null },
    plan: QueryPlanInput,
    explain: QueryExplain,
    pace: Pace,
  ): Promise<QueryRecord[] | arrow.Table> {
    let t0 = performance.now();
    const { rows, scores } = result;
    explain.rows.returned = rows.rows;
    try {
      if (plan.format === 'arrow') {
        const table = columnsToArrow(rows, this.#manifest.findingTypes);
        const names = table.schema.fields.map((f) => f.name).filter((n) => n === 'timestamp' || wantedColumn(n, plan.fields));
        const selected = table.select(names);
        return scores === null ? selected : selected.assign(new ArrowTable({ score: makeVector(scores) }));
      }
      const out = new Array<QueryRecord>(rows.rows);
      for (let i = 0; i < rows.rows; i++) {
        // Thousands of records are a long stretch of object building: let the loop run between.
        if ((i & 1023) === 1023) {
          explain.ms.assemble += performance.now() - t0;
          await pace.breathe();
          t0 = performance.now();
        }
        out[i] = this.#record(rows, i, plan.fields, scores);
      }
      return out;
    } finally {
      explain.ms.assemble += performance.now() - t0;
    }
  }

  #record(cols: BatchColumns, i: number, fields: readonly CorrelationField[], scores: Float64Array | null): QueryRecord {
    const r = rowRecord(cols, i, this.#manifest.findingTypes);
    const out = (fields.length === CORRELATION_FIELDS.length ? r : project(r, fields)) as QueryRecord;
    if (scores !== null) out.score = scores[i]!;
    return out;
  }

  /** Rows and bytes per level, active memory, flushes, compactions and bytes written. */
  stats(): CorrelationStats {
    const levels = new Map<number, LevelStats>();
    for (const s of this.#manifest.segments) {
      const l = levels.get(s.level) ?? { level: s.level, segments: 0, rows: 0, bytes: 0, embeddingBytes: 0 };
      l.segments++;
      l.rows += s.rows;
      l.bytes += s.bytes;
      l.embeddingBytes += s.embeddingBytes;
      levels.set(s.level, l);
    }
    const memoryRows = this.#active.rows + (this.#frozen?.rows ?? 0);
    const list = [...levels.values()].sort((a, b) => a.level - b.level);
    return {
      path: this.#wal.path,
      walEnabled: this.#config.wal_enabled,
      activeRows: memoryRows,
      heldSegments: this.#held.size,
      activeMemory: this.#active.memory + (this.#frozen?.memory ?? 0),
      activeMemoryLimit: this.#config.active_memory,
      levels: list,
      rows: memoryRows + list.reduce((n, l) => n + l.rows, 0),
      inserts: this.#inserts,
      flushes: this.#flushes,
      compactions: this.#manifest.compactions,
      bytesWritten: this.#bytesWritten,
      flushError: this.#flushError,
      compactionError: this.#compactionError,
      lastCompaction: this.#lastCompaction,
      retentionDropped: this.#retentionDropped,
      replayedRows: this.#replayedRows,
      removedFiles: this.#removedFiles,
      salvaged: this.#salvaged,
    };
  }

  /** The live segments, as the manifest lists them. */
  segments(): readonly SegmentEntry[] {
    return this.#manifest.segments;
  }

  /** Flushes the active part, then closes the WAL and releases the directory. Calling it twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    clearInterval(this.#retentionTimer);
    try {
      await Promise.allSettled([...this.#pending]);
      await this.#flushNow();
      await this.compactionSettled();
      await this.#manifestChain;
    } finally {
      this.#closed = true;
      this.#segmentCache.clear();
      DecodePool.shared().forget(join(this.dir, 'segments'));
      try {
        await this.#wal.close();
      } finally {
        await this.#unlock();
      }
    }
  }

  #checkOpen(call: string): void {
    if (this.#closed) throw new TapioError('ERR_CLOSED', `correlations.${call}() after close(); open the storage again`);
  }
}

function newManifest(config: CorrelationsConfig): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    storeId: randomBytes(16).toString('hex'),
    embeddingDim: config.embedding_dim,
    findingTypes: [...config.finding_types],
    walSeq: 0,
    walExtra: [],
    nextSegment: 1,
    compactions: 0,
    segments: [],
  };
}

/** The manifest against the configuration: the same dimension, and types that only grew at the end. */
async function checkManifest(dir: string, m: Manifest, config: CorrelationsConfig): Promise<Manifest> {
  if (m.embeddingDim !== config.embedding_dim) {
    throw new TapioError(
      'ERR_CONFIG',
      `storage.correlations.embedding_dim is ${config.embedding_dim}, but the correlation store at ${dir} holds embeddings of ${m.embeddingDim} values; set it back to ${m.embeddingDim} (the dimension of a store cannot change)`,
      { details: { path: dir } },
    );
  }
  const types = config.finding_types;
  const prefix = m.findingTypes.every((t, i) => types[i] === t);
  if (!prefix) {
    throw new TapioError(
      'ERR_CONFIG',
      `storage.correlations.finding_types is [${types.join(', ')}], but the correlation store at ${dir} was written with [${m.findingTypes.join(', ')}]; keep those names in that order and add new ones at the end`,
      { details: { path: dir } },
    );
  }
  if (types.length > m.findingTypes.length) {
    const grown = { ...m, findingTypes: [...types] };
    await writeManifest(dir, grown);
    return grown;
  }
  return m;
}

/**
 * Every file the manifest names must be there, whole: a missing or cut file refuses the open
 * with ERR_SEGMENT_CORRUPT naming it; with `salvage`, its segment leaves the manifest instead and
 * its files are moved to `damaged/` (its findings are then missing from queries).
 */
async function checkSegmentFiles(dir: string, m: Manifest, salvage: boolean): Promise<{ manifest: Manifest; salvaged: string[] }> {
  const damaged: SegmentEntry[] = [];
  for (const s of m.segments) {
    for (const [name, size] of [
      [s.file, s.bytes],
      [s.embeddings, s.embeddingBytes],
    ] as const) {
      const path = join(dir, name);
      const stat = await fsp.stat(path).catch((err: NodeJS.ErrnoException) => err);
      if (stat instanceof Error || stat.size !== size) {
        if (salvage) {
          damaged.push(s);
          break;
        }
        throw new TapioError(
          'ERR_SEGMENT_CORRUPT',
          `the correlation segment file ${path} ${stat instanceof Error ? `cannot be read (${stat.code ?? stat.message})` : `holds ${stat.size} bytes, the manifest says ${size}`}; \`tapio-storage findings verify\` lists every damaged file, and opening with recovery: 'salvage' sets the segment aside`,
          { details: { file: path } },
        );
      }
    }
  }
  if (damaged.length === 0) return { manifest: m, salvaged: [] };
  const aside = join(dir, 'damaged');
  await fsp.mkdir(aside, { recursive: true, mode: 0o700 });
  for (const s of damaged) {
    for (const name of [s.file, s.embeddings]) {
      await fsp.rename(join(dir, name), join(aside, name.replace(/\//g, '_'))).catch(() => undefined);
    }
  }
  const files = new Set(damaged.map((s) => s.file));
  const next = { ...m, segments: m.segments.filter((s) => !files.has(s.file)) };
  await writeManifest(dir, next);
  return { manifest: next, salvaged: damaged.map((s) => s.file) };
}

/** Removes segment files and day directories the manifest does not name (left by a crash). */
async function removeUnlisted(dir: string, m: Manifest): Promise<string[]> {
  const listed = new Set<string>();
  for (const s of m.segments) {
    listed.add(s.file);
    listed.add(s.embeddings);
  }
  const removed: string[] = [];
  const root = join(dir, 'segments');
  let days: string[];
  try {
    days = await fsp.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw new TapioError('ERR_SEGMENT_IO', `could not list ${root}: ${(err as Error).message}`, { cause: err });
  }
  for (const day of days) {
    const dayDir = join(root, day);
    const names = await fsp.readdir(dayDir).catch(() => [] as string[]);
    let kept = 0;
    for (const name of names) {
      const rel = `segments/${day}/${name}`;
      if (listed.has(rel)) {
        kept++;
        continue;
      }
      await fsp.rm(join(dayDir, name), { force: true, recursive: true });
      removed.push(rel);
    }
    if (kept === 0) {
      await fsp.rm(dayDir, { force: true, recursive: true });
      removed.push(`segments/${day}`);
    } else if (names.length > kept) await fsyncDir(dayDir);
  }
  if (removed.length > 0) await fsyncDir(root);
  return removed;
}

function wantedColumn(name: string, fields: readonly CorrelationField[]): boolean {
  if (name.startsWith('resources.')) return fields.includes('resources');
  return (fields as readonly string[]).includes(name);
}

function project(r: CorrelationRecord, fields: readonly CorrelationField[]): CorrelationRecord {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = r[f];
  return out as unknown as CorrelationRecord;
}

/** Every segment column a field list reads. */
function outputColumns(fields: readonly CorrelationField[]): string[] {
  return fields.map((f) => f as string);
}

/** One candidate of a similarity query: a row of a gathered part and its score. */
interface Candidate {
  part: BatchColumns;
  row: number;
  score: number;
  id: string;
}

function byScoreThenId(a: Candidate, b: Candidate): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id === b.id ? 0 : Buffer.compare(Buffer.from(a.id), Buffer.from(b.id));
}

/** The best `k` of `pool` by score, ties by id. */
function bestOf(pool: Candidate[], k: number): Candidate[] {
  pool.sort(byScoreThenId);
  return pool.length > k ? pool.slice(0, k) : pool;
}

/** A one-line description of a checked query (explain's first line). */
function describePlan(plan: QueryPlanInput): string {
  const parts: string[] = [];
  if (plan.selector !== null) parts.push(`selector ${plan.selector.toString() || '(all)'}`);
  if (plan.from !== -Infinity || plan.to !== Infinity) {
    parts.push(
      `time [${plan.from === -Infinity ? '-inf' : new Date(plan.from).toISOString()}, ${plan.to === Infinity ? '+inf' : new Date(plan.to).toISOString()})`,
    );
  }
  if (plan.similar !== null) {
    const s = plan.similar;
    parts.push(
      `similar to ${s.id === null ? 'a vector' : `finding ${JSON.stringify(s.id)}`}${s.threshold > -Infinity ? ` score >= ${s.threshold}` : ''}${Number.isFinite(s.k) ? ` top ${s.k}` : ''}`,
    );
  }
  parts.push(`order by ${plan.orderBy}`);
  if (Number.isFinite(plan.limit)) parts.push(`limit ${plan.limit}`);
  return parts.join(', ');
}
