/**
 * The merge kernel of compaction: given the remaining timestamps of k sorted inputs, the order in
 * which a k-way merge takes their rows, as pairs (input, offset in what was passed), until `want`
 * rows are taken or an input runs out (its next row group must be loaded before the merge can go
 * on). Equal timestamps go to the lower input first, so the merge is stable. The native kernel
 * (native/core/merge_order.cc) and this twin give the same pairs.
 */
import { loadNative } from '../native/loader.js';

export type MergeKernel = 'native' | 'typescript';

/** The TypeScript kernel. */
export function mergeOrderTs(inputs: readonly Float64Array[], want: number): Uint32Array {
  const k = inputs.length;
  if (k === 0) return new Uint32Array(0);
  const pos = new Uint32Array(k);
  const out: number[] = [];
  let taken = 0;
  outer: while (taken < want) {
    let best = -1;
    let bestTs = Infinity;
    for (let i = 0; i < k; i++) {
      const input = inputs[i]!;
      if (pos[i]! >= input.length) break outer; // an input ran out: load its next row group first
      const t = input[pos[i]!]!;
      if (best < 0 || t < bestTs) {
        best = i;
        bestTs = t;
      }
    }
    // Take the run of the chosen input that stays at or below every other input's head (ties go
    // to the lower input: rows of a higher input equal to a lower input's head wait).
    const input = inputs[best]!;
    let limit = Infinity;
    let limitInput = k; // the lowest input whose head is `limit`
    for (let i = 0; i < k; i++) {
      if (i === best) continue;
      const t = inputs[i]![pos[i]!]!;
      if (t < limit) {
        limit = t;
        limitInput = i;
      }
    }
    while (taken < want && pos[best]! < input.length) {
      const t = input[pos[best]!]!;
      if (t > limit || (t === limit && limitInput < best)) break;
      out.push(best, pos[best]!);
      pos[best]!++;
      taken++;
    }
  }
  return Uint32Array.from(out);
}

let nativeKernel: ((inputs: Float64Array[], want: number) => Uint32Array) | null | undefined;

/** The kernel of `kernel`'s path (the TypeScript one when the addon has none). */
export function mergeOrder(inputs: Float64Array[], want: number, kernel: MergeKernel): Uint32Array {
  if (kernel === 'native') {
    if (nativeKernel === undefined) nativeKernel = loadNative()?.mergeOrder ?? null;
    if (nativeKernel !== null) return nativeKernel(inputs, want);
  }
  return mergeOrderTs(inputs, want);
}
