/**
 * Exact cosine similarity top k: the TypeScript twin of native/core/cosine.h (docs/SIMILARITY.md).
 * Both paths compute every score to the same float64 bits: the dot product is one fixed order of
 * sixteen float64 accumulators (products of two float32 values are exact in float64, so the
 * native FMA kernels and this plain loop round the same way), and the score is
 * `dot / (qnorm * norm)` as written, 0 when that denominator is 0.
 *
 * The result ranks rows by score descending, then row index ascending, keeps scores >= threshold,
 * and holds the best k plus every row that ties the k-th score (the boundary ties), so a caller
 * that breaks ties by another key can still pick its own top k.
 */
import { TapioError } from '../errors.js';

/** Rows and their scores, best first: at most k entries plus the rows tied with the k-th. */
export interface CosineTopKResult {
  rows: Uint32Array;
  scores: Float64Array;
}

/**
 * The arguments of every cosine top-k call (native, twin, kernel interface): the query and its
 * norm; vectors `strideFloats` apart with their norms; how many rows; the rows to score (ascending)
 * or null for all; the lowest score kept; how many to keep.
 */
export type CosineTopKArgs = [
  query: Float32Array,
  qnorm: number,
  vectors: Float32Array,
  strideFloats: number,
  norms: Float32Array,
  rows: number,
  select: Uint32Array | null,
  threshold: number,
  k: number,
];

/** The accumulators of the canonical dot product. */
const LANES = 16;
/** The async scan yields to the event loop after this many rows, or sooner when {@link YIELD_MS} passed. */
const YIELD_ROWS = 8192;
const YIELD_MS = 5;
/** Rows between two looks at the clock in the async scan. */
const CLOCK_ROWS = 256;

const SIGNATURE =
  '(query: Float32Array, qnorm: number, vectors: Float32Array, strideFloats: number, norms: Float32Array, rows: number, select: Uint32Array | null, threshold: number, k: number)';

function fail(name: string, what: string): never {
  throw new TapioError('ERR_INVALID_ARGUMENT', `${name}${SIGNATURE}: ${what}`);
}

function wholeIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && v >= min && v <= max && Math.floor(v) === v;
}

/**
 * The checks the native binding makes (cosine_binding.cc), with its messages: throws
 * ERR_INVALID_ARGUMENT for a wrong type, a length that does not cover `rows` rows, a select entry
 * that is not ascending or not below `rows`, a NaN threshold or a k below 1.
 */
export function checkCosineArgs(
  name: string,
  query: unknown,
  qnorm: unknown,
  vectors: unknown,
  strideFloats: unknown,
  norms: unknown,
  rows: unknown,
  select: unknown,
  threshold: unknown,
  k: unknown,
): void {
  if (!(query instanceof Float32Array) || query.length === 0) fail(name, 'query must be a non-empty Float32Array');
  if (typeof qnorm !== 'number' || !Number.isFinite(qnorm) || qnorm < 0) fail(name, 'qnorm must be a finite number >= 0');
  if (!(vectors instanceof Float32Array)) fail(name, 'vectors must be a Float32Array');
  const dim = query.length;
  if (!wholeIn(strideFloats, dim, 0xffffffff)) fail(name, `strideFloats must be a whole number from the query's length ${dim} to 4294967295`);
  if (!(norms instanceof Float32Array)) fail(name, 'norms must be a Float32Array');
  if (!wholeIn(rows, 0, 0xffffffff)) fail(name, 'rows must be a whole number 0..4294967295');
  if (rows > 0 && (rows - 1) * strideFloats + dim > vectors.length) {
    fail(name, `vectors holds ${vectors.length} floats; (rows - 1) * strideFloats + query length needs more`);
  }
  if (norms.length < rows) fail(name, `norms holds ${norms.length} floats, fewer than rows`);
  if (select !== null && select !== undefined) {
    if (!(select instanceof Uint32Array)) fail(name, 'select must be a Uint32Array or null');
    for (let i = 0; i < select.length; i++) {
      if (select[i]! >= rows || (i > 0 && select[i]! <= select[i - 1]!)) {
        fail(name, `select must hold ascending row indices below rows; select[${i}] is ${select[i]!}`);
      }
    }
  }
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) fail(name, 'threshold must be a number (-Infinity keeps every score), not NaN');
  if (!wholeIn(k, 1, Number.MAX_SAFE_INTEGER)) fail(name, 'k must be a whole number >= 1');
}

/**
 * The canonical dot product of cosine.h: acc[i % 16] += q[i] * row[i], then the accumulators
 * summed pairwise (w = 8, 4, 2, 1). `q` is the query already widened to float64.
 */
function dot(q: Float64Array, vectors: Float32Array, offset: number, dim: number, acc: Float64Array): number {
  acc.fill(0);
  for (let i = 0; i < dim; i++) acc[i & (LANES - 1)]! += q[i]! * vectors[offset + i]!;
  for (let w = LANES / 2; w >= 1; w /= 2) {
    for (let j = 0; j < w; j++) acc[j] = acc[j]! + acc[j + w]!;
  }
  return acc[0]!;
}

/**
 * The best k (score, row) pairs seen so far in a binary heap whose root ranks last, and the
 * other rows that scored exactly the root's score (the boundary ties); the native Ranking in
 * cosine.cc, entry for entry.
 */
class Ranking {
  readonly #k: number;
  readonly #threshold: number;
  #bound: number;
  readonly #scores: Float64Array;
  readonly #rows: Uint32Array;
  #size = 0;
  #tieScores: number[] = [];
  #tieRows: number[] = [];

  constructor(k: number, threshold: number, capacity: number) {
    this.#k = k;
    this.#threshold = threshold;
    this.#bound = threshold;
    const n = Math.min(k, capacity);
    this.#scores = new Float64Array(n);
    this.#rows = new Uint32Array(n);
  }

  /** Whether entry i ranks after entry j (lower score, or equal score and higher row). */
  #after(i: number, j: number): boolean {
    const a = this.#scores[i]!;
    const b = this.#scores[j]!;
    return a < b || (a === b && this.#rows[i]! > this.#rows[j]!);
  }

  #swap(i: number, j: number): void {
    const s = this.#scores[i]!;
    this.#scores[i] = this.#scores[j]!;
    this.#scores[j] = s;
    const r = this.#rows[i]!;
    this.#rows[i] = this.#rows[j]!;
    this.#rows[j] = r;
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#after(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.#size) return;
      const r = l + 1;
      const worst = r < this.#size && this.#after(r, l) ? r : l;
      if (!this.#after(worst, i)) return;
      this.#swap(i, worst);
      i = worst;
    }
  }

  offer(score: number, row: number): void {
    if (!(score >= this.#bound)) return; // also drops NaN
    if (this.#size < this.#k) {
      this.#scores[this.#size] = score;
      this.#rows[this.#size] = row;
      this.#siftUp(this.#size++);
      if (this.#size === this.#k) this.#bound = Math.max(this.#threshold, this.#scores[0]!);
      return;
    }
    const lastScore = this.#scores[0]!;
    const lastRow = this.#rows[0]!;
    if (score === lastScore && row > lastRow) {
      this.#tieScores.push(score);
      this.#tieRows.push(row);
      return;
    }
    this.#scores[0] = score;
    this.#rows[0] = row;
    this.#siftDown(0);
    if (this.#scores[0] === lastScore) {
      this.#tieScores.push(lastScore);
      this.#tieRows.push(lastRow);
    } else {
      this.#tieScores = [];
      this.#tieRows = [];
    }
    this.#bound = Math.max(this.#threshold, this.#scores[0]!);
  }

  result(): CosineTopKResult {
    const n = this.#size + this.#tieRows.length;
    const scores = new Float64Array(n);
    const rows = new Uint32Array(n);
    scores.set(this.#scores.subarray(0, this.#size));
    rows.set(this.#rows.subarray(0, this.#size));
    scores.set(this.#tieScores, this.#size);
    rows.set(this.#tieRows, this.#size);
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => {
      const sa = scores[a]!;
      const sb = scores[b]!;
      return sa > sb ? -1 : sa < sb ? 1 : rows[a]! - rows[b]!;
    });
    return { rows: Uint32Array.from(order, (i) => rows[i]!), scores: Float64Array.from(order, (i) => scores[i]!) };
  }
}

/** One call's state: the widened query, the rows and the ranking, scanned in pieces by scan(). */
class CosineScan {
  readonly count: number;
  readonly #q: Float64Array;
  readonly #acc = new Float64Array(LANES);
  readonly #ranking: Ranking;

  constructor(
    query: Float32Array,
    readonly qnorm: number,
    readonly vectors: Float32Array,
    readonly stride: number,
    readonly norms: Float32Array,
    rows: number,
    readonly select: Uint32Array | null,
    threshold: number,
    k: number,
  ) {
    this.#q = Float64Array.from(query); // widened once per call
    this.count = select ? select.length : rows;
    this.#ranking = new Ranking(k, threshold, this.count);
  }

  /** Scores entries [from, to) of the rows (or of select). */
  scan(from: number, to: number): void {
    const dim = this.#q.length;
    for (let n = from; n < to; n++) {
      const row = this.select ? this.select[n]! : n;
      const qn = this.qnorm * this.norms[row]!;
      let score = qn === 0 ? 0 : dot(this.#q, this.vectors, row * this.stride, dim, this.#acc) / qn;
      // Clamped to [-1, 1], as the native kernel does (float32 norms can take a score a rounding
      // step past 1); NaN stays NaN.
      if (score > 1) score = 1;
      if (score < -1) score = -1;
      this.#ranking.offer(score, row);
    }
  }

  result(): CosineTopKResult {
    return this.#ranking.result();
  }
}

/**
 * Scores `rows` rows (or only the rows listed in `select`) against `query` and returns the top k
 * with score >= `threshold`, plus the rows tied with the k-th, best first. Row r is
 * `vectors[r * strideFloats, r * strideFloats + query.length)`, its norm `norms[r]`; `qnorm` is
 * the query's norm (see {@link queryNorm}). Runs on the caller's thread: for small blocks; use
 * {@link cosineTopKAsync} for large scans.
 *
 * @example
 * ```ts
 * const vectors = new Float32Array([1, 0, 0, 1, 1, 1]); // three rows of 2
 * const norms = new Float32Array([1, 1, Math.SQRT2]);
 * const query = new Float32Array([1, 0]);
 * const { rows, scores } = cosineTopK(query, queryNorm(query), vectors, 2, norms, 3, null, -Infinity, 2);
 * // rows: [0, 2], scores: [1, 0.7071...]
 * ```
 */
export function cosineTopK(...args: CosineTopKArgs): CosineTopKResult {
  const [query, qnorm, vectors, strideFloats, norms, rows, select, threshold, k] = args;
  checkCosineArgs('cosineTopK', query, qnorm, vectors, strideFloats, norms, rows, select, threshold, k);
  const scan = new CosineScan(query, qnorm, vectors, strideFloats, norms, rows, select ?? null, threshold, k);
  scan.scan(0, scan.count);
  return scan.result();
}

/**
 * {@link cosineTopK} in pieces: it yields to the event loop (setImmediate) every 8,192 rows, or
 * sooner once 5 ms have passed, so a scan of a million rows never holds the loop for long. The
 * arrays must not change until the promise settles. Bad arguments reject with
 * ERR_INVALID_ARGUMENT.
 *
 * @example
 * ```ts
 * const { rows, scores } = await cosineTopKAsync(query, queryNorm(query), vectors, 128, norms, 1_000_000, null, 0.5, 10);
 * ```
 */
export async function cosineTopKAsync(...args: CosineTopKArgs): Promise<CosineTopKResult> {
  const [query, qnorm, vectors, strideFloats, norms, rows, select, threshold, k] = args;
  checkCosineArgs('cosineTopKAsync', query, qnorm, vectors, strideFloats, norms, rows, select, threshold, k);
  const scan = new CosineScan(query, qnorm, vectors, strideFloats, norms, rows, select ?? null, threshold, k);
  let since = performance.now();
  let sinceRows = 0;
  for (let from = 0; from < scan.count;) {
    const to = Math.min(scan.count, from + CLOCK_ROWS);
    scan.scan(from, to);
    sinceRows += to - from;
    from = to;
    if (from < scan.count && (sinceRows >= YIELD_ROWS || performance.now() - since >= YIELD_MS)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
      sinceRows = 0;
    }
  }
  return scan.result();
}

/**
 * The norm of `query` as the scores expect it: the square root of the canonical dot product of
 * the query with itself (the same bits as the native queryNorm).
 *
 * @example
 * ```ts
 * queryNorm(new Float32Array([3, 4])); // 5
 * ```
 */
export function queryNorm(query: Float32Array): number {
  if (!(query instanceof Float32Array)) throw new TapioError('ERR_INVALID_ARGUMENT', 'queryNorm(query): query must be a Float32Array');
  const q = Float64Array.from(query);
  return Math.sqrt(dot(q, query, 0, query.length, new Float64Array(LANES)));
}
