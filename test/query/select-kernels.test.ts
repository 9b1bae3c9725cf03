// The selection kernels on both paths (src/query/select-kernels.ts picks one and is the TypeScript
// twin of native/core/select_kernels.h): the edge cases of each kernel, bad arguments refused with
// the same words, and a property: native, TypeScript and a plain reference give the same rows.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { isTapioError } from '../../src/errors.js';
import { loadNative } from '../../src/native/loader.js';
import { selectKernels, type SelectKernels } from '../../src/query/select-kernels.js';
import { nativeMissingReason, paths } from '../paths.js';

const addon = loadNative();
const nativeKernels = addon === null ? null : selectKernels('native');
const typescriptKernels = selectKernels('typescript');
const skipNative = addon === null ? ` (skipped: ${nativeMissingReason() ?? 'the addon did not load'})` : '';

const rows = (r: Uint32Array | null): number[] | null => (r === null ? null : Array.from(r));

function lutOf(...codes: number[]): Uint8Array {
  const lut = new Uint8Array(256);
  for (const c of codes) lut[c] = 1;
  return lut;
}

/** The message of the ERR_INVALID_ARGUMENT `fn` throws; fails the test when it throws anything else or nothing. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isTapioError(err) && err.code === 'ERR_INVALID_ARGUMENT').toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected ERR_INVALID_ARGUMENT, nothing was thrown');
}

describe.each(paths(nativeKernels, typescriptKernels))('selection kernels, %s path', (path, k: SelectKernels) => {
  it('is the path it says', () => {
    expect(k.path).toBe(path);
  });

  it('selectTimeRange: half-open range, null when every row passes, nothing for no row', () => {
    const ts = Float64Array.of(9, 10, 11, 19, 20, 21);
    expect(rows(k.selectTimeRange(ts, 6, 10, 20))).toEqual([1, 2, 3]);
    expect(k.selectTimeRange(ts, 6, 0, 100)).toBeNull();
    expect(rows(k.selectTimeRange(ts, 6, 30, 40))).toEqual([]);
    expect(rows(k.selectTimeRange(ts, 6, 20, 10))).toEqual([]);
    expect(rows(k.selectTimeRange(ts, 6, 21, 22))).toEqual([5]);
  });

  it('selectTimeRange: empty input and rows below the length of ts', () => {
    expect(k.selectTimeRange(new Float64Array(0), 0, 0, 1)).toBeNull();
    expect(k.selectTimeRange(Float64Array.of(1, 2, 50), 2, 0, 10)).toBeNull();
    expect(rows(k.selectTimeRange(Float64Array.of(1, 50, 2, 60), 3, 0, 10))).toEqual([0, 2]);
  });

  it('selectTimeRange: infinite bounds (to excludes +Infinity itself)', () => {
    const ts = Float64Array.of(-Infinity, -1e308, 0, 1e308, Infinity);
    expect(rows(k.selectTimeRange(ts, 5, -Infinity, Infinity))).toEqual([0, 1, 2, 3]);
    expect(k.selectTimeRange(ts, 4, -Infinity, Infinity)).toBeNull();
    expect(rows(k.selectTimeRange(ts, 5, 0, Infinity))).toEqual([2, 3]);
    expect(rows(k.selectTimeRange(ts, 5, -Infinity, 0))).toEqual([0, 1]);
  });

  it('selectTimeRange: a NaN timestamp is never selected', () => {
    expect(rows(k.selectTimeRange(Float64Array.of(NaN, 1, NaN, 2), 4, -Infinity, Infinity))).toEqual([1, 3]);
    expect(rows(k.selectTimeRange(Float64Array.of(NaN, NaN), 2, -Infinity, Infinity))).toEqual([]);
    expect(rows(k.selectTimeRange(Float64Array.of(1, 2, NaN), 3, 0, 10))).toEqual([0, 1]);
  });

  it('selectByCode: codes 0 and 255, want 1 and 0, sel null and given', () => {
    const codes = Uint8Array.of(0, 1, 254, 255, 128, 0);
    const lut = lutOf(0, 255);
    expect(rows(k.selectByCode(codes, lut, null, 1))).toEqual([0, 3, 5]);
    expect(rows(k.selectByCode(codes, lut, null, 0))).toEqual([1, 2, 4]);
    expect(rows(k.selectByCode(codes, lut, Uint32Array.of(1, 3, 4, 5), 1))).toEqual([3, 5]);
    expect(rows(k.selectByCode(codes, lut, Uint32Array.of(1, 3, 4, 5), 0))).toEqual([1, 4]);
  });

  it('selectByCode: empty, every row, no row', () => {
    expect(rows(k.selectByCode(new Uint8Array(0), lutOf(0), null, 1))).toEqual([]);
    expect(rows(k.selectByCode(Uint8Array.of(1, 2), lutOf(1, 2), new Uint32Array(0), 1))).toEqual([]);
    expect(rows(k.selectByCode(Uint8Array.of(3, 7, 3), new Uint8Array(256).fill(1), null, 1))).toEqual([0, 1, 2]);
    expect(rows(k.selectByCode(Uint8Array.of(3, 7, 3), new Uint8Array(256), null, 1))).toEqual([]);
  });

  it('selectByMask: sel null and given, empty, a flag other than 0 or 1 matches neither', () => {
    const present = Uint8Array.of(1, 0, 1, 1, 0);
    expect(rows(k.selectByMask(present, null, 1))).toEqual([0, 2, 3]);
    expect(rows(k.selectByMask(present, null, 0))).toEqual([1, 4]);
    expect(rows(k.selectByMask(present, Uint32Array.of(0, 1, 4), 1))).toEqual([0]);
    expect(rows(k.selectByMask(present, Uint32Array.of(0, 1, 4), 0))).toEqual([1, 4]);
    expect(rows(k.selectByMask(new Uint8Array(0), null, 0))).toEqual([]);
    expect(rows(k.selectByMask(present, new Uint32Array(0), 0))).toEqual([]);
    expect(rows(k.selectByMask(Uint8Array.of(2, 1, 0), null, 1))).toEqual([1]);
    expect(rows(k.selectByMask(Uint8Array.of(2, 1, 0), null, 0))).toEqual([2]);
  });

  it('refuses bad arguments with ERR_INVALID_ARGUMENT', () => {
    const bad = badCalls(k);
    for (const [what, call] of bad) expect(refusal(call), what).toMatch(/^select/);
  });
});

type Call = [string, () => unknown];

/** Calls with one bad argument each (types bent on purpose: a JavaScript caller can pass anything). */
function badCalls(k: SelectKernels): Call[] {
  const ts = Float64Array.of(1, 2, 3);
  const codes = Uint8Array.of(0, 1, 2);
  const lut = lutOf(1);
  const any = (v: unknown) => v as never;
  return [
    ['ts not a Float64Array', () => k.selectTimeRange(any([1, 2, 3]), 3, 0, 1)],
    ['rows above the length', () => k.selectTimeRange(ts, 4, 0, 1)],
    ['rows negative', () => k.selectTimeRange(ts, -1, 0, 1)],
    ['rows fractional', () => k.selectTimeRange(ts, 1.5, 0, 1)],
    ['from NaN', () => k.selectTimeRange(ts, 3, NaN, 1)],
    ['to not a number', () => k.selectTimeRange(ts, 3, 0, any('1'))],
    ['codes not a Uint8Array', () => k.selectByCode(any(Int8Array.of(0)), lut, null, 1)],
    ['lut of 255 entries', () => k.selectByCode(codes, new Uint8Array(255), null, 1)],
    ['lut of 257 entries', () => k.selectByCode(codes, new Uint8Array(257), null, 1)],
    ['lut entry 2', () => k.selectByCode(codes, lutOf(1).fill(2, 255), null, 1)],
    ['sel entry at the length', () => k.selectByCode(codes, lut, Uint32Array.of(0, 3), 1)],
    ['sel not ascending', () => k.selectByCode(codes, lut, Uint32Array.of(1, 1), 1)],
    ['sel not a Uint32Array', () => k.selectByCode(codes, lut, any(Int32Array.of(0)), 1)],
    ['want 2', () => k.selectByCode(codes, lut, null, any(2))],
    ['present not a Uint8Array', () => k.selectByMask(any([1]), null, 1)],
    ['mask sel entry beyond', () => k.selectByMask(codes, Uint32Array.of(7), 0)],
    ['mask want true', () => k.selectByMask(codes, null, any(true))],
  ];
}

/** A plain reference: the same tests written without any of the kernels' shortcuts. */
const reference = {
  timeRange(ts: Float64Array, n: number, from: number, to: number): number[] | null {
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (ts[i]! >= from && ts[i]! < to) out.push(i);
    return out.length === n ? null : out;
  },
  byCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: number): number[] {
    const from = sel === null ? Array.from(codes, (_, i) => i) : sel;
    return Array.from(from).filter((r) => lut[codes[r]!] === want);
  },
  byMask(present: Uint8Array, sel: Uint32Array | null, want: number): number[] {
    const from = sel === null ? Array.from(present, (_, i) => i) : sel;
    return Array.from(from).filter((r) => present[r] === want);
  },
};

/** Random columns of one length, a sorted subset of their rows (or null), and bounds. */
const columns = fc.integer({ min: 0, max: 400 }).chain((n) =>
  fc.record({
    ts: fc.array(fc.oneof(fc.integer({ min: -5, max: 60 }), fc.constantFrom(NaN, Infinity, -Infinity)), { minLength: n, maxLength: n }),
    rows: fc.integer({ min: 0, max: n }),
    codes: fc.uint8Array({ minLength: n, maxLength: n }),
    present: fc.uint8Array({ minLength: n, maxLength: n, max: 1 }),
    lut: fc.uint8Array({ minLength: 256, maxLength: 256, max: 1 }),
    sel: fc.option(fc.uniqueArray(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n }).map((a) => (n === 0 ? [] : a.sort((x, y) => x - y)))),
    from: fc.oneof(fc.integer({ min: -10, max: 70 }), fc.constantFrom(-Infinity, Infinity)),
    to: fc.oneof(fc.integer({ min: -10, max: 70 }), fc.constantFrom(-Infinity, Infinity)),
    want: fc.constantFrom(0 as const, 1 as const),
  }),
);

describe('the two paths and a reference agree', () => {
  it(`on random columns, selections and bounds${skipNative}`, () => {
    fc.assert(
      fc.property(columns, (c) => {
        const ts = Float64Array.from(c.ts);
        const sel = c.sel === null ? null : Uint32Array.from(c.sel);
        for (const k of [typescriptKernels, ...(nativeKernels === null ? [] : [nativeKernels])]) {
          expect(rows(k.selectTimeRange(ts, c.rows, c.from, c.to))).toEqual(reference.timeRange(ts, c.rows, c.from, c.to));
          expect(rows(k.selectByCode(c.codes, c.lut, sel, c.want))).toEqual(reference.byCode(c.codes, c.lut, sel, c.want));
          expect(rows(k.selectByMask(c.present, sel, c.want))).toEqual(reference.byMask(c.present, sel, c.want));
        }
      }),
      { numRuns: 300 },
    );
  });

  it.skipIf(nativeKernels === null)(`refuse each bad argument with the same message${skipNative}`, () => {
    const native = badCalls(nativeKernels!);
    const typescript = badCalls(typescriptKernels);
    for (let i = 0; i < native.length; i++) expect(refusal(native[i]![1]), native[i]![0]).toBe(refusal(typescript[i]![1]));
  });
});
