/**
 * A batch of findings as columns: the one form that the WAL record, the active part, the segment
 * writer and compaction share. `encodeBatch`/`decodeBatch` are the WAL record's bytes
 * (docs/FORMAT.md, "Correlation batch record").
 */
import { TapioError } from '../errors.js';
import { BATCH_FLAG_SOURCE, BATCH_HEADER_SIZE, BATCH_MAGIC, BATCH_VERSION, CORRELATION_LIMITS } from './limits.js';
import { findingError, findingOk, type CorrelationInput, type CorrelationRecord, type FindingRules } from './record.js';

/** Findings as columns. Row i of every column is finding i. */
export interface BatchColumns {
  rows: number;
  dim: number;
  /** Epoch milliseconds. */
  timestamp: Float64Array;
  id: string[];
  /** Index into the store's finding_types. */
  type: Uint8Array;
  severity: Uint8Array;
  confidence: Float32Array;
  eventCount: Int32Array;
  timeWindow: Int32Array;
  pattern: Uint8Array[];
  /** Per resource type, per row: the names, or null where the finding had no such key. */
  resources: Map<string, Array<string[] | null>>;
  /** rows * dim values, row-major; empty when the columns were read without the embedding (a query that does not return it). */
  embedding: Float32Array;
}

const EMPTY = new Uint8Array(0);

/** A batch record made from checked findings, with the facts the active part keeps of it. */
export interface EncodedBatch {
  bytes: Uint8Array;
  rows: number;
  minTs: number;
  maxTs: number;
}

/**
 * Checks `findings` and returns their batch record (null for an empty array), in one pass over
 * the caller's objects: each finding is checked (the fast predicate; a refusal is described by
 * zod) and its values taken while it is still in the CPU's cache, rather than in a second pass
 * (findings made long before an insert are out of the cache by then). Throws ERR_VALIDATION
 * naming the first bad record or an id that appears twice, or ERR_INVALID_ARGUMENT for a value
 * that is not an array; nothing is kept of a refused batch. Numbers go into the record's typed
 * sections, ids and resources into one JSON text of the caller's own arrays and objects
 * (docs/FORMAT.md, "Correlation batch record").
 */
export function encodeFindings(call: string, findings: unknown, rules: FindingRules): EncodedBatch | null {
  if (!Array.isArray(findings)) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${call}: expected an array of findings, got ${findings === null ? 'null' : typeof findings}`);
  }
  const rows = findings.length;
  if (rows > CORRELATION_LIMITS.batchRows) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${call}: a batch holds at most ${CORRELATION_LIMITS.batchRows} findings, got ${rows}; split it`);
  }
  if (rows === 0) return null;
  // A finding's getter that inserts (or encodes) another batch calls this again before it
  // returns: that call gets writers and sections of its own, so the shared ones stay this call's.
  if (encoding) return encodeChecked(call, findings, rules, new PlainJson(), new PlainJson(), newScratch(rows, rules.embeddingDim));
  encoding = true;
  try {
    return encodeChecked(call, findings, rules, idsJson, resourcesJson, scratchFor(rows, rules.embeddingDim));
  } finally {
    encoding = false;
    idsJson.release();
    resourcesJson.release();
  }
}

/** encodeFindings' work, with the writers and sections it is given. */
function encodeChecked(call: string, findings: unknown[], rules: FindingRules, idsJson: PlainJson, resourcesJson: PlainJson, s: BatchColumns): EncodedBatch {
  const rows = findings.length;
  const dim = rules.embeddingDim;
  const types = rules.types;
  const ids = new Array<string>(rows);
  const resources = new Array<Record<string, readonly string[]> | null>(rows);
  idsJson.start('{"id":[');
  resourcesJson.start('],"resources":[');
  const patterns = new Array<Uint8Array | undefined>(rows);
  const seen = new Map<string, number>();
  let patternBytes = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (let i = 0; i < rows; i++) {
    const f: unknown = findings[i];
    if (!findingOk(f, rules)) throw findingError(call, findings, i, rules);
    const first = seen.get(f.id);
    if (first !== undefined) {
      throw new TapioError(
        'ERR_VALIDATION',
        `${call}: record ${i} was refused (id: ${JSON.stringify(f.id)} is also the id of record ${first}; ids are unique within a batch); nothing of the batch of ${rows} was stored.`,
        { details: { index: i, issues: [{ path: 'id', message: `the id of record ${first} too` }] } },
      );
    }
    seen.set(f.id, i);
    ids[i] = f.id;
    resources[i] = f.resources ?? null;
    if (idsJson.plain && resourcesJson.plain) {
      if (i > 0) {
        idsJson.byte(0x2c);
        resourcesJson.byte(0x2c);
      }
      idsJson.text(f.id);
      writeResources(resourcesJson, f.resources);
    }
    const t = f.timestamp instanceof Date ? f.timestamp.getTime() : f.timestamp;
    s.timestamp[i] = t;
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
    s.confidence[i] = f.confidence;
    s.eventCount[i] = f.eventCount;
    s.timeWindow[i] = f.timeWindow;
    s.severity[i] = f.severity;
    s.type[i] = types.indexOf(f.type);
    s.embedding.set(f.embedding, i * dim);
    const p = f.pattern;
    if (p !== undefined && p.length > 0) {
      patterns[i] = p;
      patternBytes += p.length;
    }
  }
  let json: string | null = null;
  let jsonBytes: number;
  if (idsJson.plain && resourcesJson.plain) {
    resourcesJson.text(']}', false);
    jsonBytes = idsJson.length + resourcesJson.length;
  } else {
    // A string to escape or a character beyond ASCII: JSON.stringify writes the text, of copies
    // of the checked values (so that a toJSON method on the caller's arrays or objects, which the
    // writer above never calls, is not called here either). It escapes control characters and
    // lone surrogates, so the text is well-formed and its UTF-8 length is exact before it is
    // written.
    json = JSON.stringify({ id: ids, resources: resources.map(plainResources) });
    jsonBytes = Buffer.byteLength(json, 'utf8');
  }
  const layout = batchLayout(rows, dim, patternBytes, jsonBytes);
  const out = new Uint8Array(layout.total);
  writeHeader(out, rows, dim, patternBytes, jsonBytes);
  writeSections(out, layout, s, rows, patterns);
  if (json !== null) encoder.encodeInto(json, out.subarray(layout.json));
  else {
    out.set(idsJson.bytes(), layout.json);
    out.set(resourcesJson.bytes(), layout.json + idsJson.length);
  }
  return { bytes: out, rows, minTs, maxTs };
}

/**
 * A checked finding's resources as a new plain object of new plain arrays, element by element
 * (slice() would make an instance of the caller's Array subclass, whose toJSON JSON.stringify
 * calls).
 */
function plainResources(resources: Record<string, readonly string[]> | null): Record<string, string[]> | null {
  if (resources === null) return null;
  const out: Record<string, string[]> = {};
  for (const key in resources) {
    const names = resources[key]!;
    const copy = new Array<string>(names.length);
    for (let j = 0; j < names.length; j++) copy[j] = names[j]!;
    out[key] = copy;
  }
  return out;
}

/** A JSON writer keeps its buffer between batches up to this size (a batch of 10,000 typical findings fits). */
const KEPT_JSON_BYTES = 2 << 20;

/**
 * JSON text written byte by byte while every string in it is plain: printable ASCII other than
 * '"' and '\\', which JSON.stringify writes as they are, so the bytes are JSON.stringify's (and
 * TextEncoder's), in less time than JSON.stringify of the same arrays and objects and without
 * the string it makes.
 * At the first string that is not plain, `plain` turns false and the writer stops: the caller
 * writes the text with JSON.stringify instead.
 */
class PlainJson {
  #buf = new Uint8Array(64 * 1024);
  #at = 0;
  plain = true;

  start(prefix: string): void {
    this.#at = 0;
    this.plain = true;
    this.text(prefix, false);
  }

  get length(): number {
    return this.#at;
  }

  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }

  /** Drops a buffer that grew past KEPT_JSON_BYTES, so one huge batch does not keep its size for good. */
  release(): void {
    if (this.#buf.length > KEPT_JSON_BYTES) this.#buf = new Uint8Array(64 * 1024);
  }

  byte(b: number): void {
    if (this.#at === this.#buf.length) this.#grow(1);
    this.#buf[this.#at++] = b;
  }

  /** `s` as a JSON string (quoted) or, with `quoted` false, as it is (for punctuation). */
  text(s: string, quoted = true): void {
    const n = s.length;
    if (this.#at + n + 2 > this.#buf.length) this.#grow(n + 2);
    const b = this.#buf;
    let at = this.#at;
    if (quoted) b[at++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || ((c === 0x22 || c === 0x5c) && quoted)) {
        this.plain = false;
        return;
      }
      b[at++] = c;
    }
    if (quoted) b[at++] = 0x22;
    this.#at = at;
  }

  #grow(need: number): void {
    let size = this.#buf.length * 2;
    while (size < this.#at + need) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.#at));
    this.#buf = bigger;
  }
}

/** A checked finding's resources as JSON.stringify writes them: null, or an object of lists of names. */
function writeResources(out: PlainJson, resources: Record<string, readonly string[]> | undefined): void {
  if (resources === undefined) {
    out.text('null', false);
    return;
  }
  out.byte(0x7b);
  let firstKey = true;
  for (const key in resources) {
    if (!firstKey) out.byte(0x2c);
    firstKey = false;
    out.text(key);
    out.byte(0x3a);
    out.byte(0x5b);
    const names = resources[key]!;
    for (let j = 0; j < names.length; j++) {
      if (j > 0) out.byte(0x2c);
      out.text(names[j]!);
    }
    out.byte(0x5d);
  }
  out.byte(0x7d);
}

// One batch is encoded at a time (the encoding is synchronous), so the writers are shared; a call
// made while one runs (from a finding's getter) makes its own.
const idsJson = new PlainJson();
const resourcesJson = new PlainJson();
let encoding = false;

/**
 * The fixed-width columns and the embedding of a batch being encoded (id, pattern and resources
 * unused): kept between batches of up to SCRATCH_ROWS rows; `rows` is how many they hold.
 */
const SCRATCH_ROWS = 10_000;
let scratch: BatchColumns | null = null;

/** Columns for `rows` rows of `dim` values: the kept ones when they are large enough, else new. */
function scratchFor(rows: number, dim: number): BatchColumns {
  if (scratch !== null && scratch.rows >= rows && scratch.dim === dim) return scratch;
  const made = newScratch(rows <= SCRATCH_ROWS ? Math.max(rows, 1000) : rows, dim);
  if (made.rows <= SCRATCH_ROWS) scratch = made;
  return made;
}

function newScratch(rows: number, dim: number): BatchColumns {
  return emptyColumns(rows, dim, true, false, false);
}

/** Checked findings as columns (through their batch record, so both forms agree). */
export function columnsFromFindings(call: string, findings: unknown, rules: FindingRules): BatchColumns {
  const batch = encodeFindings(call, findings, rules);
  return batch === null ? emptyColumns(0, rules.embeddingDim) : decodeBatch(batch.bytes, rules.embeddingDim, call);
}

/**
 * Columns of `rows` rows, zeroed; `withEmbedding` false leaves the embedding empty, and
 * `withRowObjects` false leaves `id` and `pattern` empty arrays (`withPattern` false only
 * `pattern`): columns read without them, as a query's filter step reads; readers of a row take ''
 * and no bytes there. Arrays of a row group's 16,384 entries are large objects for the JavaScript
 * heap, slow to allocate and collect, so they are made only for columns that are read. With
 * `numbers`, a fixed-width column it does not name is a view of one shared buffer of zeros rather
 * than a new array (a query's columns are only ever read; a row group's would be 360 KB to
 * allocate, zero and collect for columns the query does not use): such columns must never be
 * written.
 */
export function emptyColumns(
  rows: number,
  dim: number,
  withEmbedding = true,
  withRowObjects = true,
  withPattern = withRowObjects,
  numbers: ((column: string) => boolean) | null = null,
): BatchColumns {
  if (numbers !== null && zeros.byteLength < rows * 8) zeros = new ArrayBuffer(rows * 8);
  const made = (column: string) => numbers === null || numbers(column);
  return {
    rows,
    dim,
    timestamp: made('timestamp') ? new Float64Array(rows) : new Float64Array(zeros, 0, rows),
    id: withRowObjects ? new Array<string>(rows) : [],
    type: made('type') ? new Uint8Array(rows) : new Uint8Array(zeros, 0, rows),
    severity: made('severity') ? new Uint8Array(rows) : new Uint8Array(zeros, 0, rows),
    confidence: made('confidence') ? new Float32Array(rows) : new Float32Array(zeros, 0, rows),
    eventCount: made('eventCount') ? new Int32Array(rows) : new Int32Array(zeros, 0, rows),
    timeWindow: made('timeWindow') ? new Int32Array(rows) : new Int32Array(zeros, 0, rows),
    pattern: withPattern ? new Array<Uint8Array>(rows).fill(EMPTY) : [],
    resources: new Map(),
    embedding: new Float32Array(withEmbedding ? rows * dim : 0),
  };
}

/** The zeros behind the fixed-width columns emptyColumns does not make (never written). */
let zeros = new ArrayBuffer(0);

/** The smallest and largest timestamp of `cols` ([Infinity, -Infinity] when empty). */
export function timeRange(cols: BatchColumns): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  const ts = cols.timestamp;
  for (let i = 0; i < cols.rows; i++) {
    const t = ts[i]!;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  return [min, max];
}

/**
 * Rows `order[0]`, `order[1]`, ... of the concatenation of `parts` (all of one dim), as new
 * columns. Resource columns absent from a part are null on its rows: every value stays on its row.
 */
export function gatherColumns(parts: readonly BatchColumns[], order: ArrayLike<number> | null, dim: number): BatchColumns {
  const g = new Gather(parts, order, dim);
  g.copy(0, g.out.rows);
  return g.out;
}

/** Rows gathered at a time by {@link gatherColumnsPaced} between two calls of its `breathe`. */
export const GATHER_BLOCK_ROWS = 1024;

/**
 * {@link gatherColumns} a block of GATHER_BLOCK_ROWS rows at a time, awaiting `breathe()` after
 * each (a query's share of the event loop): thousands of rows with their resource lists take
 * milliseconds to copy.
 */
export async function gatherColumnsPaced(
  parts: readonly BatchColumns[],
  order: ArrayLike<number> | null,
  dim: number,
  breathe: () => Promise<void>,
): Promise<BatchColumns> {
  const g = new Gather(parts, order, dim);
  const rows = g.out.rows;
  for (let from = 0; from < rows; from += GATHER_BLOCK_ROWS) {
    g.copy(from, Math.min(rows, from + GATHER_BLOCK_ROWS));
    if (from + GATHER_BLOCK_ROWS < rows) await breathe();
  }
  return g.out;
}

/** The columns of a gather, and where each of their rows comes from, filled a range at a time. */
class Gather {
  readonly out: BatchColumns;
  readonly #parts: readonly BatchColumns[];
  readonly #dim: number;
  readonly #withEmbedding: boolean;
  /** Per row of the result: its part, and its row in that part. */
  readonly #part: Uint32Array;
  readonly #row: Uint32Array;
  /** The result's resource types, and per part its column of each (undefined: the part has none). */
  readonly #types: string[];
  readonly #sources: Array<Array<Array<string[] | null> | undefined>>;

  constructor(parts: readonly BatchColumns[], order: ArrayLike<number> | null, dim: number) {
    this.#parts = parts;
    this.#dim = dim;
    const starts: number[] = [];
    let total = 0;
    for (const p of parts) {
      starts.push(total);
      total += p.rows;
    }
    const rows = order === null ? total : order.length;
    // Parts read without their embedding give columns without one (a part of zero rows has none to give).
    this.#withEmbedding = parts.some((p) => p.rows > 0 && p.embedding.length > 0) || parts.every((p) => p.rows === 0);
    this.out = emptyColumns(rows, dim, this.#withEmbedding);
    const names = new Set<string>();
    for (const p of parts) for (const k of p.resources.keys()) names.add(k);
    this.#types = [...names].sort();
    for (const k of this.#types) this.out.resources.set(k, new Array<string[] | null>(rows).fill(null));
    this.#sources = parts.map((p) => this.#types.map((k) => p.resources.get(k)));
    this.#part = new Uint32Array(rows);
    this.#row = new Uint32Array(rows);
    let part = 0;
    for (let r = 0; r < rows; r++) {
      const g = order === null ? r : order[r]!;
      // Find the part of global row g (parts are few; a linear step from the last one is typical).
      if (g < starts[part]! || g >= starts[part]! + parts[part]!.rows) part = partOf(starts, g);
      this.#part[r] = part;
      this.#row[r] = g - starts[part]!;
    }
  }

  /** Copies rows [from, to) of the result from their parts. */
  copy(from: number, to: number): void {
    const out = this.out;
    const parts = this.#parts;
    const dim = this.#dim;
    for (let r = from; r < to; r++) {
      const p = parts[this.#part[r]!]!;
      const i = this.#row[r]!;
      out.timestamp[r] = p.timestamp[i]!;
      out.id[r] = p.id[i] ?? '';
      out.type[r] = p.type[i]!;
      out.severity[r] = p.severity[i]!;
      out.confidence[r] = p.confidence[i]!;
      out.eventCount[r] = p.eventCount[i]!;
      out.timeWindow[r] = p.timeWindow[i]!;
      out.pattern[r] = p.pattern[i] ?? EMPTY;
      if (this.#withEmbedding && p.embedding.length > 0) out.embedding.set(p.embedding.subarray(i * dim, (i + 1) * dim), r * dim);
    }
    // Resource columns one at a time (not a walk of each row's part's map).
    for (let t = 0; t < this.#types.length; t++) {
      const column = out.resources.get(this.#types[t]!)!;
      for (let r = from; r < to; r++) {
        const source = this.#sources[this.#part[r]!]![t];
        if (source !== undefined) column[r] = source[this.#row[r]!]!;
      }
    }
  }
}

function partOf(starts: readonly number[], g: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= g) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The order of rows by timestamp (ties keep their order): a permutation of 0..rows-1. */
export function timestampOrder(cols: BatchColumns): Uint32Array {
  const order = new Uint32Array(cols.rows);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const ts = cols.timestamp;
  let sorted = true;
  for (let i = 1; i < cols.rows; i++) {
    if (ts[i]! < ts[i - 1]!) {
      sorted = false;
      break;
    }
  }
  if (!sorted) order.sort((a, b) => ts[a]! - ts[b]! || a - b);
  return order;
}

/** Row `i` of `cols` as a record; `types` maps type codes to names. */
export function rowRecord(cols: BatchColumns, i: number, types: readonly string[]): CorrelationRecord {
  const resources: Record<string, string[]> = {};
  for (const [k, column] of cols.resources) {
    const names = column[i];
    if (names !== null && names !== undefined) resources[k] = names.slice();
  }
  return {
    id: cols.id[i] ?? '',
    timestamp: new Date(cols.timestamp[i]!),
    type: types[cols.type[i]!]!,
    severity: cols.severity[i]!,
    confidence: cols.confidence[i]!,
    eventCount: cols.eventCount[i]!,
    timeWindow: cols.timeWindow[i]!,
    resources,
    pattern: (cols.pattern[i] ?? EMPTY).slice(),
    embedding: cols.embedding.slice(i * cols.dim, (i + 1) * cols.dim),
  };
}

// ---------------------------------------------------------------------------------------------
// The WAL record of a batch.

const pad8 = (n: number) => (n + 7) & ~7;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes of one batch record (one WAL record per insert: a batch is durable whole or not at all). */
export function encodeBatch(cols: BatchColumns): Uint8Array {
  const rows = cols.rows;
  const res: Record<string, Array<string[] | null>> = {};
  for (const [k, v] of cols.resources) res[k] = v;
  const json = encoder.encode(JSON.stringify({ id: cols.id, resources: res }));
  let patternBytes = 0;
  for (const p of cols.pattern) patternBytes += p.length;
  const layout = batchLayout(rows, cols.dim, patternBytes, json.length);
  const out = new Uint8Array(layout.total);
  writeHeader(out, rows, cols.dim, patternBytes, json.length);
  writeSections(out, layout, cols, rows, cols.pattern);
  out.set(json, layout.json);
  return out;
}

/**
 * Writes the first `rows` rows of the fixed-width columns and the embedding of `cols`, and the
 * patterns (none where undefined), into their sections of `out`, a fresh record laid out as
 * `layout`: every section starts at a multiple of 8 of it, so a typed view fits.
 */
function writeSections(out: Uint8Array, layout: BatchLayout, cols: BatchColumns, rows: number, patterns: ArrayLike<Uint8Array | undefined>): void {
  const put = (at: number, a: ArrayBufferView, bytes: number) => out.set(new Uint8Array(a.buffer, a.byteOffset, bytes), at);
  put(layout.timestamp, cols.timestamp, rows * 8);
  put(layout.confidence, cols.confidence, rows * 4);
  put(layout.eventCount, cols.eventCount, rows * 4);
  put(layout.timeWindow, cols.timeWindow, rows * 4);
  put(layout.severity, cols.severity, rows);
  put(layout.type, cols.type, rows);
  put(layout.embedding, cols.embedding, rows * cols.dim * 4);
  const offsets = new Uint32Array(out.buffer, out.byteOffset + layout.patternOffsets, rows + 1);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    offsets[i] = at;
    const p = patterns[i];
    if (p !== undefined && p.length > 0) {
      out.set(p, layout.patternData + at);
      at += p.length;
    }
  }
  offsets[rows] = at;
}

function writeHeader(out: Uint8Array, rows: number, dim: number, patternBytes: number, jsonBytes: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, BATCH_MAGIC, true);
  view.setUint16(4, BATCH_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, dim, true);
  view.setUint32(16, patternBytes, true);
  view.setUint32(20, jsonBytes, true);
}

interface BatchLayout {
  timestamp: number;
  confidence: number;
  eventCount: number;
  timeWindow: number;
  severity: number;
  type: number;
  patternOffsets: number;
  patternData: number;
  embedding: number;
  json: number;
  total: number;
}

function batchLayout(rows: number, dim: number, patternBytes: number, jsonBytes: number): BatchLayout {
  let at = BATCH_HEADER_SIZE;
  const take = (bytes: number) => {
    const start = at;
    at = pad8(at + bytes);
    return start;
  };
  const timestamp = take(rows * 8);
  const confidence = take(rows * 4);
  const eventCount = take(rows * 4);
  const timeWindow = take(rows * 4);
  const severity = take(rows);
  const type = take(rows);
  const patternOffsets = take((rows + 1) * 4);
  const patternData = take(patternBytes);
  const embedding = take(rows * dim * 4);
  const json = at;
  return { timestamp, confidence, eventCount, timeWindow, severity, type, patternOffsets, patternData, embedding, json, total: json + jsonBytes };
}

/**
 * The header of a batch record checked against `dim` and the record's length, and its section
 * layout. Throws ERR_SEGMENT_CORRUPT naming `where` for bytes that are not such a record (the WAL's
 * CRC32C already vouched for them, so this is a record of another format or version).
 */
function checkedLayout(bytes: Uint8Array, dim: number, where: string): { rows: number; layout: BatchLayout; view: DataView; bad: (why: string) => TapioError } {
  const bad = (why: string) =>
    new TapioError('ERR_SEGMENT_CORRUPT', `${where} is not a correlation batch record this version reads: ${why}`, { details: { file: where } });
  if (bytes.length < BATCH_HEADER_SIZE) throw bad(`${bytes.length} bytes, shorter than the ${BATCH_HEADER_SIZE}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== BATCH_MAGIC) throw bad('wrong magic number');
  if (view.getUint16(4, true) !== BATCH_VERSION) throw bad(`version ${view.getUint16(4, true)}; this reads version ${BATCH_VERSION}`);
  const rows = view.getUint32(8, true);
  if (view.getUint32(12, true) !== dim) throw bad(`embeddings of ${view.getUint32(12, true)} values, the store's embedding_dim is ${dim}`);
  const layout = batchLayout(rows, dim, view.getUint32(16, true), view.getUint32(20, true));
  if (layout.total !== bytes.length) throw bad(`its sections need ${layout.total} bytes, the record holds ${bytes.length}`);
  return { rows, layout, view, bad };
}

/**
 * The rows and time range of a batch record, read from its header and timestamp section alone
 * (what the replay at open needs; the rest is decoded when a read needs it). Throws as
 * decodeBatch does for a record that is not one.
 */
export function batchFacts(bytes: Uint8Array, dim: number, where: string): { rows: number; minTs: number; maxTs: number; source: number } {
  const { rows, layout, view } = checkedLayout(bytes, dim, where);
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (let i = 0; i < rows; i++) {
    const t = view.getFloat64(layout.timestamp + i * 8, true);
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
  }
  return { rows, minTs, maxTs, source: batchSource(bytes) };
}

/**
 * Marks a batch record with the source position its findings came from (for example the transit
 * sequence number a correlator read up to): it becomes durable with the findings, in one WAL record.
 */
export function setBatchSource(bytes: Uint8Array, seq: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint16(6, view.getUint16(6, true) | BATCH_FLAG_SOURCE, true);
  view.setBigUint64(24, BigInt(seq), true);
}

/** The source position a batch record carries, or 0 when it carries none. */
export function batchSource(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if ((view.getUint16(6, true) & BATCH_FLAG_SOURCE) === 0) return 0;
  return Number(view.getBigUint64(24, true));
}

/**
 * The columns of a batch record. Throws ERR_SEGMENT_CORRUPT (naming `where`) when the bytes are
 * not a batch record of dimension `dim` (the WAL's CRC32C already vouched for them, so this is a
 * record of another format or version).
 */
export function decodeBatch(bytes: Uint8Array, dim: number, where: string): BatchColumns {
  const { rows, layout, bad } = checkedLayout(bytes, dim, where);
  const cols = emptyColumns(rows, dim);
  const take = (dst: ArrayBufferView, at: number) => new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(bytes.subarray(at, at + dst.byteLength));
  take(cols.timestamp, layout.timestamp);
  take(cols.confidence, layout.confidence);
  take(cols.eventCount, layout.eventCount);
  take(cols.timeWindow, layout.timeWindow);
  take(cols.severity, layout.severity);
  take(cols.type, layout.type);
  take(cols.embedding, layout.embedding);
  const offsets = new Uint32Array(rows + 1);
  take(offsets, layout.patternOffsets);
  const patterns = bytes.slice(layout.patternData, layout.patternData + offsets[rows]!);
  for (let i = 0; i < rows; i++) cols.pattern[i] = patterns.subarray(offsets[i]!, offsets[i + 1]!);
  // resources: per type, a list per row (encodeBatch), or per row, an object or null (encodeFindings).
  let parsed: { id: string[]; resources: Record<string, Array<string[] | null>> | Array<Record<string, string[]> | null> };
  try {
    parsed = JSON.parse(decoder.decode(bytes.subarray(layout.json))) as typeof parsed;
  } catch (err) {
    throw bad(`its text section does not parse (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed.id) || parsed.id.length !== rows) throw bad('its id list does not hold one id per row');
  cols.id = parsed.id;
  const res = parsed.resources;
  if (Array.isArray(res)) {
    if (res.length !== rows) throw bad('its resources list does not hold one entry per row');
    for (let i = 0; i < rows; i++) {
      const row = res[i];
      if (row === null || row === undefined) continue;
      for (const k in row) {
        let column = cols.resources.get(k);
        if (column === undefined) {
          column = new Array<string[] | null>(rows).fill(null);
          cols.resources.set(k, column);
        }
        column[i] = row[k]!;
      }
    }
    return cols;
  }
  for (const k of Object.keys(res ?? {})) {
    const column = res[k]!;
    if (!Array.isArray(column) || column.length !== rows) throw bad(`its resources.${k} list does not hold one entry per row`);
    cols.resources.set(k, column);
  }
  return cols;
}
