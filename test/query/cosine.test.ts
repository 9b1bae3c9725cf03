// Exact cosine top k on both paths (src/query/similarity.ts picks one; src/query/cosine.ts is the
// TypeScript twin of native/core/cosine.h): scores close to a float64 brute force and equal, bit
// for bit, to the canonical order written out again here; the ranking with its boundary ties,
// threshold, k > rows, gather, zero vectors; the async form; bad arguments. Then the two paths
// against each other, bit for bit.
import { describe, expect, it } from 'vitest';

import { isTapioError } from '../../src/errors.js';
import { loadNative } from '../../src/native/loader.js';
import { queryNorm, type CosineTopKResult } from '../../src/query/cosine.js';
import { similarityKernel, type SimilarityKernel } from '../../src/query/similarity.js';
import { nativeMissingReason, paths } from '../paths.js';

const addon = loadNative();
const nativeKernel = addon === null ? null : similarityKernel('native');
const typescriptKernel = similarityKernel('typescript');
const skipNative = addon === null ? ` (skipped: ${nativeMissingReason() ?? 'the addon did not load'})` : '';

const DIMS = [1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 127, 128, 129, 255, 300];

/** A deterministic generator (xorshift32), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** The canonical dot product, as docs/SIMILARITY.md states it. */
function canonicalDot(q: Float32Array, v: Float32Array, offset: number): number {
  const acc = new Array<number>(16).fill(0);
  for (let i = 0; i < q.length; i++) acc[i % 16]! += q[i]! * v[offset + i]!;
  for (const w of [8, 4, 2, 1]) for (let j = 0; j < w; j++) acc[j] = acc[j]! + acc[j + w]!;
  return acc[0]!;
}

interface Store {
  dim: number;
  stride: number;
  rows: number;
  vectors: Float32Array;
  norms: Float32Array;
}

/** `rows` random rows (a quarter copies of earlier rows, some zero), with padding between rows. */
function makeStore(random: () => number, dim: number, stride: number, rows: number): Store {
  const vectors = new Float32Array(rows > 0 ? (rows - 1) * stride + dim : 0);
  const norms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * stride;
    if (r > 0 && random() < 0.25) {
      const from = Math.floor(random() * r) * stride;
      vectors.copyWithin(off, from, from + dim);
    } else if (random() > 0.05) {
      for (let i = 0; i < dim; i++) vectors[off + i] = random() < 0.06 ? 0 : (random() * 2 - 1) * 2 ** Math.floor(random() * 8 - 4);
    }
    for (let i = dim; i < stride && off + i < vectors.length; i++) vectors[off + i] = NaN; // padding is never read
    norms[r] = queryNorm(vectors.subarray(off, off + dim));
  }
  return { dim, stride, rows, vectors, norms };
}

function randomQuery(random: () => number, s: Store): Float32Array {
  if (s.rows > 0 && random() < 0.3) {
    const off = Math.floor(random() * s.rows) * s.stride;
    return s.vectors.slice(off, off + s.dim); // many exact ties
  }
  return Float32Array.from({ length: s.dim }, () => random() * 2 - 1);
}

/** The expected result: every score by the canonical order, sorted, cut after the k-th and its ties. */
function reference(q: Float32Array, qnorm: number, s: Store, select: Uint32Array | null, threshold: number, k: number): CosineTopKResult {
  const all: Array<[number, number]> = [];
  const rows = select ? Array.from(select) : Array.from({ length: s.rows }, (_, i) => i);
  for (const r of rows) {
    const qn = qnorm * s.norms[r]!;
    const raw = qn === 0 ? 0 : canonicalDot(q, s.vectors, r * s.stride) / qn;
    const score = raw > 1 ? 1 : raw < -1 ? -1 : raw;
    if (score >= threshold) all.push([score, r]);
  }
  all.sort((a, b) => (a[0] > b[0] ? -1 : a[0] < b[0] ? 1 : a[1] - b[1]));
  let keep = Math.min(k, all.length);
  while (keep > 0 && keep < all.length && all[keep]![0] === all[keep - 1]![0]) keep++;
  return { rows: Uint32Array.from(all.slice(0, keep), (e) => e[1]), scores: Float64Array.from(all.slice(0, keep), (e) => e[0]) };
}

/** Element by element with Object.is: the same float64 bits (up to NaN payloads, which never reach a result). */
function expectSameBits(got: CosineTopKResult, want: CosineTopKResult): void {
  expect(Array.from(got.rows)).toEqual(Array.from(want.rows));
  expect(got.scores.length).toBe(want.scores.length);
  const differ = Array.from(got.scores).flatMap((s, i) => (Object.is(s, want.scores[i]) ? [] : [`${i}: ${s} vs ${want.scores[i]}`]));
  expect(differ).toEqual([]);
}

function expectInvalidArgument(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(isTapioError(thrown, 'ERR_INVALID_ARGUMENT'), String(thrown)).toBe(true);
}

describe.each(paths(nativeKernel, typescriptKernel))('cosine top k on the %s path', (name, kernel: SimilarityKernel) => {
  it('reports its path', () => {
    expect(kernel.path).toBe(name);
    if (name === 'typescript') expect(kernel.simd).toBe('scalar');
    else expect(kernel.simd).toBe(addon!.features().simd);
  });

  it('scores every row as a float64 brute force does (1e-12 relative), and as the canonical order does bit for bit', () => {
    const random = rng(1);
    for (const dim of DIMS) {
      for (const pad of [0, 1, 5]) {
        const s = makeStore(random, dim, dim + pad, 60);
        const q = randomQuery(random, s);
        const qnorm = queryNorm(q);
        const got = kernel.topK(q, qnorm, s.vectors, s.stride, s.norms, s.rows, null, -Infinity, s.rows);
        expect(got.rows.length).toBe(s.rows);
        expectSameBits(got, reference(q, qnorm, s, null, -Infinity, s.rows));
        for (let i = 0; i < got.rows.length; i++) {
          const r = got.rows[i]!;
          let dot = 0;
          let magnitude = 0;
          for (let j = 0; j < dim; j++) {
            dot += q[j]! * s.vectors[r * s.stride + j]!;
            magnitude += Math.abs(q[j]! * s.vectors[r * s.stride + j]!);
          }
          const qn = qnorm * s.norms[r]!;
          const want = qn === 0 ? 0 : Math.min(1, Math.max(-1, dot / qn));
          const scale = qn === 0 ? 1 : Math.max(Math.abs(want), magnitude / qn);
          expect(Math.abs(got.scores[i]! - want), `dim ${dim} row ${r}`).toBeLessThanOrEqual(1e-12 * scale);
        }
      }
    }
  });

  it('keeps every score in [-1, 1]: a row against itself (its float32 norm can take the quotient a hair past 1) scores at most 1, which passes back as a threshold', () => {
    const random = rng(7);
    const dim = 128;
    let above = 0;
    for (let round = 0; round < 200; round++) {
      const v = Float32Array.from({ length: dim }, () => random() * 2 - 1);
      const norm = queryNorm(v);
      const rows = new Float32Array(2 * dim);
      rows.set(v);
      rows.set(
        v.map((x) => -x),
        dim,
      );
      const norms = Float32Array.of(norm, norm);
      // The quotient before the clamp: above 1 for some vectors (what the clamp is for), below for others.
      const raw = canonicalDot(v, v, 0) / (norm * norms[0]!);
      if (raw > 1) above++;
      const got = kernel.topK(v, norm, rows, dim, norms, 2, null, -Infinity, 2);
      expect(Array.from(got.rows)).toEqual([0, 1]);
      expect(Array.from(got.scores)).toEqual([Math.min(1, raw), Math.max(-1, -raw)]);
      // Its own score as the threshold keeps the row.
      expect(Array.from(kernel.topK(v, norm, rows, dim, norms, 2, null, got.scores[0]!, 2).rows)).toEqual([0]);
    }
    expect(above).toBeGreaterThan(0);
  });

  it('ranks by score, then row, and keeps a random k with its boundary ties, a threshold and a gather', () => {
    const random = rng(2);
    for (let round = 0; round < 80; round++) {
      const dim = DIMS[Math.floor(random() * DIMS.length)]!;
      const rows = 1 + Math.floor(random() * 300);
      const s = makeStore(random, dim, dim + (random() < 0.3 ? Math.floor(random() * 7) : 0), rows);
      const q = randomQuery(random, s);
      const qnorm = random() < 0.05 ? 0 : queryNorm(q);
      const k = 1 + Math.floor(random() * (rows + 10));
      const threshold = random() < 0.5 ? -Infinity : random() * 2 - 1;
      const select = random() < 0.5 ? null : Uint32Array.from(Array.from({ length: rows }, (_, i) => i).filter(() => random() < 0.3));
      const got = kernel.topK(q, qnorm, s.vectors, s.stride, s.norms, rows, select, threshold, k);
      expectSameBits(got, reference(q, qnorm, s, select, threshold, k));
    }
  });

  it('returns every row tied with the k-th score (duplicated vectors)', () => {
    // Rows 0..2 distinct, rows 3..9 one vector seven times; k = 5 cuts inside the copies.
    const dim = 4;
    const vectors = new Float32Array([1, 0, 0, 0, 0.9, 0.1, 0, 0, 0.8, 0.2, 0, 0, ...Array.from({ length: 7 }, () => [0.5, 0.5, 0.5, 0]).flat()]);
    const norms = Float32Array.from({ length: 10 }, (_, r) => queryNorm(vectors.subarray(r * dim, r * dim + dim)));
    const q = new Float32Array([1, 0, 0, 0]);
    const got = kernel.topK(q, 1, vectors, dim, norms, 10, null, -Infinity, 5);
    expect(Array.from(got.rows)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(got.scores[0]).toBe(1);
    expect(new Set(Array.from(got.scores.subarray(3))).size).toBe(1);
    expect(Array.from(kernel.topK(q, 1, vectors, dim, norms, 10, null, -Infinity, 3).rows)).toEqual([0, 1, 2]);
    // The copies alone, through a gather: k = 2 of seven equal scores gives all seven.
    const gathered = kernel.topK(q, 1, vectors, dim, norms, 10, Uint32Array.from([3, 4, 5, 6, 7, 8, 9]), -Infinity, 2);
    expect(Array.from(gathered.rows)).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('applies the threshold, scores zero vectors 0, and returns every row when k > rows', () => {
    const vectors = new Float32Array([1, 0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0]);
    const norms = new Float32Array([1, 0, 1, 1]);
    const q = new Float32Array([1, 0, 0]);
    const atZero = kernel.topK(q, 1, vectors, 3, norms, 4, null, 0, 10);
    expect(Array.from(atZero.rows)).toEqual([0, 1, 3]);
    expect(Array.from(atZero.scores)).toEqual([1, 0, 0]);
    const all = kernel.topK(q, 1, vectors, 3, norms, 4, null, -Infinity, 100);
    expect(Array.from(all.rows)).toEqual([0, 1, 3, 2]);
    expect(Array.from(all.scores)).toEqual([1, 0, 0, -1]);
    expect(kernel.topK(q, 1, vectors, 3, norms, 4, null, 1.5, 2).rows.length).toBe(0);
    const zeroQuery = kernel.topK(new Float32Array(3), 0, vectors, 3, norms, 4, null, -Infinity, 1);
    expect(Array.from(zeroQuery.rows)).toEqual([0, 1, 2, 3]); // every score 0: all tie
    expect(kernel.topK(q, 1, new Float32Array(0), 3, new Float32Array(0), 0, null, -Infinity, 1).rows.length).toBe(0);
    expect(kernel.topK(q, 1, vectors, 3, norms, 4, new Uint32Array(0), -Infinity, 1).rows.length).toBe(0);
  });

  it('gives the same result async as sync, without holding the event loop', async () => {
    const random = rng(3);
    const s = makeStore(random, 33, 40, 40_000);
    const q = randomQuery(random, s);
    const qnorm = queryNorm(q);
    for (const [select, k] of [
      [null, 10],
      [Uint32Array.from({ length: 20_000 }, (_, i) => i * 2), 3], // more rows than the twin scans between two yields
    ] as const) {
      let turns = 0;
      let stop = false;
      const tick = (): void => {
        turns++;
        if (!stop) setImmediate(tick);
      };
      setImmediate(tick);
      const got = await kernel.topKAsync(q, qnorm, s.vectors, s.stride, s.norms, s.rows, select, -Infinity, k);
      stop = true;
      expectSameBits(got, kernel.topK(q, qnorm, s.vectors, s.stride, s.norms, s.rows, select, -Infinity, k));
      expect(turns).toBeGreaterThan(0);
    }
  });

  it('refuses bad arguments with ERR_INVALID_ARGUMENT (topK throws, topKAsync rejects)', async () => {
    const q = new Float32Array([1, 2, 3]);
    const v = new Float32Array(12);
    const n = new Float32Array(4);
    type Args = Parameters<SimilarityKernel['topK']>;
    const good: Args = [q, 1, v, 3, n, 4, null, -Infinity, 2];
    const bad: Array<[string, Args]> = [
      ['empty query', [new Float32Array(0), 1, v, 3, n, 4, null, -Infinity, 2]],
      ['query not a Float32Array', [new Float64Array(3) as unknown as Float32Array, 1, v, 3, n, 4, null, -Infinity, 2]],
      ['negative qnorm', [q, -1, v, 3, n, 4, null, -Infinity, 2]],
      ['NaN qnorm', [q, NaN, v, 3, n, 4, null, -Infinity, 2]],
      ['vectors not a Float32Array', [q, 1, new Uint8Array(48) as unknown as Float32Array, 3, n, 4, null, -Infinity, 2]],
      ['stride below dim', [q, 1, v, 2, n, 4, null, -Infinity, 2]],
      ['fractional stride', [q, 1, v, 3.5, n, 4, null, -Infinity, 2]],
      ['vectors too short', [q, 1, v, 4, n, 4, null, -Infinity, 2]],
      ['norms too short', [q, 1, v, 3, new Float32Array(3), 4, null, -Infinity, 2]],
      ['negative rows', [q, 1, v, 3, n, -1, null, -Infinity, 2]],
      ['select out of range', [q, 1, v, 3, n, 4, new Uint32Array([0, 4]), -Infinity, 2]],
      ['select not ascending', [q, 1, v, 3, n, 4, new Uint32Array([2, 1]), -Infinity, 2]],
      ['select not a Uint32Array', [q, 1, v, 3, n, 4, new Int32Array([0]) as unknown as Uint32Array, -Infinity, 2]],
      ['NaN threshold', [q, 1, v, 3, n, 4, null, NaN, 2]],
      ['k = 0', [q, 1, v, 3, n, 4, null, -Infinity, 0]],
      ['fractional k', [q, 1, v, 3, n, 4, null, -Infinity, 1.5]],
      ['k not a number', [q, 1, v, 3, n, 4, null, -Infinity, '2' as unknown as number]],
    ];
    expect(kernel.topK(...good).rows.length).toBe(4); // all four zero rows tie at 0
    for (const [what, args] of bad) {
      expectInvalidArgument(() => kernel.topK(...args));
      const rejected = await kernel.topKAsync(...args).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isTapioError(rejected, 'ERR_INVALID_ARGUMENT'), what).toBe(true);
    }
  });
});

describe('cosine: the two paths agree bit for bit', () => {
  it.skipIf(addon === null)(`on random stores of awkward dims and strides, sync and async${skipNative}`, async () => {
    const random = rng(4);
    for (const dim of DIMS) {
      const s = makeStore(random, dim, dim + Math.floor(random() * 4), 500);
      const q = randomQuery(random, s);
      const qnorm = queryNorm(q);
      for (const k of [1, 10, 500]) {
        const want = typescriptKernel.topK(q, qnorm, s.vectors, s.stride, s.norms, s.rows, null, -Infinity, k);
        expectSameBits(nativeKernel!.topK(q, qnorm, s.vectors, s.stride, s.norms, s.rows, null, -Infinity, k), want);
        expectSameBits(await nativeKernel!.topKAsync(q, qnorm, s.vectors, s.stride, s.norms, s.rows, null, -Infinity, k), want);
      }
    }
  });

  it.skipIf(addon === null)(`queryNorm: the native one gives the TypeScript one's bits${skipNative}`, () => {
    const random = rng(5);
    for (const dim of [0, ...DIMS]) {
      const q = Float32Array.from({ length: dim }, () => (random() * 2 - 1) * 2 ** Math.floor(random() * 10 - 5));
      expect(Object.is(addon!.queryNorm(q), queryNorm(q)), `dim ${dim}`).toBe(true);
    }
    expect(queryNorm(new Float32Array([3, 4]))).toBe(5);
  });

  it.skipIf(addon === null)(`memoryScan reads every byte${skipNative}`, () => {
    const bytes = Uint8Array.from({ length: 4099 }, (_, i) => (i * 2654435761) >>> 24);
    const a = addon!.memoryScan(bytes);
    expect(addon!.memoryScan(bytes)).toBe(a);
    bytes[4000] = bytes[4000]! ^ 1;
    expect(addon!.memoryScan(bytes)).not.toBe(a);
    expect(typeof addon!.memoryScan(new Float32Array(8))).toBe('number');
  });
});
