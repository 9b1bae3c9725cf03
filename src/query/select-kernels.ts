/**
 * Column kernels that build selection vectors (ascending row numbers of a batch that pass one
 * test): the TypeScript twin of native/core/select_kernels.h, and the choice between the two. The
 * query planner narrows a selection with them one column at a time (./predicate.ts). Both paths
 * return the same rows and throw the same ERR_INVALID_ARGUMENT messages, so nothing that uses a
 * kernel set needs to know which one it got.
 */
import { TapioError } from '../errors.js';
import { loadNative } from '../native/loader.js';

/** The three selection kernels of one path. */
export interface SelectKernels {
  readonly path: 'native' | 'typescript';
  /**
   * The rows i < rows with from <= ts[i] < to, ascending; null when every row passes (callers
   * then skip the selection vector). A NaN timestamp never passes; from and to may be infinite.
   */
  selectTimeRange(ts: Float64Array, rows: number, from: number, to: number): Uint32Array | null;
  /**
   * The rows of `sel` (every row of `codes` when null) whose lut[codes[row]] === want, ascending.
   * `lut` has 256 entries, each 0 or 1; `sel` holds ascending rows below codes.length.
   */
  selectByCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array;
  /**
   * The rows of `sel` (every row of `present` when null) whose present[row] === want, ascending
   * (an entry other than 0 and 1 matches neither).
   */
  selectByMask(present: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array;
}

const TIME_RANGE = 'selectTimeRange(ts: Float64Array, rows: number, from: number, to: number)';
const BY_CODE = 'selectByCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: 0 | 1)';
const BY_MASK = 'selectByMask(present: Uint8Array, sel: Uint32Array | null, want: 0 | 1)';

function fail(signature: string, what: string): never {
  throw new TapioError('ERR_INVALID_ARGUMENT', `${signature}: ${what}`);
}

function checkWant(signature: string, want: unknown): asserts want is 0 | 1 {
  if (want !== 0 && want !== 1) fail(signature, 'want must be 0 or 1');
}

/** Throws unless `sel` is null, undefined or a Uint32Array of ascending rows below `length`. */
function checkSel(signature: string, sel: unknown, length: number): asserts sel is Uint32Array | null | undefined {
  if (sel === null || sel === undefined) return;
  if (!(sel instanceof Uint32Array)) fail(signature, 'sel must be a Uint32Array or null');
  for (let i = 0; i < sel.length; i++) {
    if (sel[i]! >= length || (i > 0 && sel[i]! <= sel[i - 1]!)) {
      fail(signature, `sel must hold ascending row numbers below ${length}; sel[${i}] is ${sel[i]!}`);
    }
  }
}

/**
 * The TypeScript twin of SelectTimeRange (select_kernels.h).
 *
 * @example
 * ```ts
 * selectTimeRange(Float64Array.of(5, 10, 15), 3, 10, Infinity); // Uint32Array [1, 2]
 * selectTimeRange(Float64Array.of(5, 10, 15), 3, 0, 20); // null: every row passes
 * ```
 */
export function selectTimeRange(ts: Float64Array, rows: number, from: number, to: number): Uint32Array | null {
  if (!(ts instanceof Float64Array)) fail(TIME_RANGE, 'ts must be a Float64Array');
  if (typeof rows !== 'number' || !(rows >= 0 && rows <= ts.length) || Math.floor(rows) !== rows) {
    fail(TIME_RANGE, `rows must be a whole number from 0 to the length of ts, ${ts.length}`);
  }
  if (typeof from !== 'number' || Number.isNaN(from)) fail(TIME_RANGE, 'from must be a number (-Infinity for no lower bound), not NaN');
  if (typeof to !== 'number' || Number.isNaN(to)) fail(TIME_RANGE, 'to must be a number (Infinity for no upper bound), not NaN');
  // The leading rows that pass need no vector; most row groups lie wholly inside the range.
  let i = 0;
  while (i < rows && ts[i]! >= from && ts[i]! < to) i++;
  if (i === rows) return null;
  const out = new Uint32Array(rows);
  for (let r = 0; r < i; r++) out[r] = r;
  let n = i;
  for (i++; i < rows; i++) {
    const t = ts[i]!;
    if (t >= from && t < to) out[n++] = i;
  }
  return out.subarray(0, n);
}

/**
 * The TypeScript twin of SelectByCode (select_kernels.h).
 *
 * @example
 * ```ts
 * const lut = new Uint8Array(256);
 * lut[2] = 1; // code 2 passes
 * selectByCode(Uint8Array.of(2, 0, 2, 1), lut, null, 1); // Uint32Array [0, 2]
 * selectByCode(Uint8Array.of(2, 0, 2, 1), lut, Uint32Array.of(1, 2), 0); // Uint32Array [1]
 * ```
 */
export function selectByCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array {
  if (!(codes instanceof Uint8Array)) fail(BY_CODE, 'codes must be a Uint8Array');
  if (!(lut instanceof Uint8Array) || lut.length !== 256) fail(BY_CODE, 'lut must be a Uint8Array of 256 entries');
  for (let c = 0; c < 256; c++) if (lut[c]! > 1) fail(BY_CODE, `lut entries must be 0 or 1; lut[${c}] is ${lut[c]!}`);
  checkSel(BY_CODE, sel, codes.length);
  checkWant(BY_CODE, want);
  if (sel === null || sel === undefined) {
    const out = new Uint32Array(codes.length);
    let n = 0;
    for (let i = 0; i < codes.length; i++) if (lut[codes[i]!] === want) out[n++] = i;
    return out.subarray(0, n);
  }
  const out = new Uint32Array(sel.length);
  let n = 0;
  for (let j = 0; j < sel.length; j++) {
    const row = sel[j]!;
    if (lut[codes[row]!] === want) out[n++] = row;
  }
  return out.subarray(0, n);
}

/**
 * The TypeScript twin of SelectByMask (select_kernels.h).
 *
 * @example
 * ```ts
 * selectByMask(Uint8Array.of(1, 0, 1, 1), Uint32Array.of(0, 1, 3), 1); // Uint32Array [0, 3]
 * ```
 */
export function selectByMask(present: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array {
  if (!(present instanceof Uint8Array)) fail(BY_MASK, 'present must be a Uint8Array');
  checkSel(BY_MASK, sel, present.length);
  checkWant(BY_MASK, want);
  if (sel === null || sel === undefined) {
    const out = new Uint32Array(present.length);
    let n = 0;
    for (let i = 0; i < present.length; i++) if (present[i] === want) out[n++] = i;
    return out.subarray(0, n);
  }
  const out = new Uint32Array(sel.length);
  let n = 0;
  for (let j = 0; j < sel.length; j++) {
    const row = sel[j]!;
    if (present[row] === want) out[n++] = row;
  }
  return out.subarray(0, n);
}

const typescriptKernels: SelectKernels = { path: 'typescript', selectTimeRange, selectByCode, selectByMask };

let nativeKernels: SelectKernels | null | undefined;

function loadNativeKernels(): SelectKernels | null {
  const addon = loadNative();
  if (addon === null) return null;
  return {
    path: 'native',
    selectTimeRange: (ts, rows, from, to) => addon.selectTimeRange(ts, rows, from, to),
    selectByCode: (codes, lut, sel, want) => addon.selectByCode(codes, lut, sel, want),
    selectByMask: (present, sel, want) => addon.selectByMask(present, sel, want),
  };
}

/**
 * The selection kernels: native when the addon loads, else the TypeScript twin. `path`
 * 'typescript' asks for the twin; 'native' (or nothing) for the addon's kernels when there are.
 *
 * @example
 * ```ts
 * const kernels = selectKernels();
 * const inRange = kernels.selectTimeRange(cols.timestamp, cols.rows, from, to);
 * const errors = kernels.selectByCode(cols.severity, severityLut, inRange, 1);
 * ```
 */
export function selectKernels(path?: 'native' | 'typescript'): SelectKernels {
  if (path === 'typescript') return typescriptKernels;
  if (nativeKernels === undefined) nativeKernels = loadNativeKernels();
  return nativeKernels ?? typescriptKernels;
}
