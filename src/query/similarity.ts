/**
 * The exact cosine top-k kernel of this process: the native one (native/core/cosine.h, one
 * SIMD kernel per instruction set) when the addon loads, else its TypeScript twin
 * (./cosine.ts). Both give the same rows and the same float64 bits for every score, so nothing
 * that uses a kernel needs to know which one it got.
 */
import { loadNative } from '../native/loader.js';
import { cosineTopK, cosineTopKAsync, type CosineTopKArgs, type CosineTopKResult } from './cosine.js';

/** The instruction set a kernel's dot products run on ('scalar' for the TypeScript twin). */
export type SimilaritySimd = 'avx512' | 'avx2' | 'neon' | 'scalar';

/** Exact cosine top k over float32 rows read in place (see ./cosine.ts for the contract). */
export interface SimilarityKernel {
  readonly path: 'native' | 'typescript';
  readonly simd: SimilaritySimd;
  /**
   * The top k rows by score (ties at the k-th included), best first; on the caller's thread, so
   * for small blocks of rows. Throws ERR_INVALID_ARGUMENT for bad arguments.
   */
  topK(...args: CosineTopKArgs): CosineTopKResult;
  /**
   * topK without holding the event loop: on the libuv pool (native) or in pieces between
   * setImmediate turns (TypeScript). The arrays must not change, be transferred or detached until
   * the promise settles. Rejects with ERR_INVALID_ARGUMENT for bad arguments.
   */
  topKAsync(...args: CosineTopKArgs): Promise<CosineTopKResult>;
}

const typescriptKernel: SimilarityKernel = {
  path: 'typescript',
  simd: 'scalar',
  topK: cosineTopK,
  topKAsync: cosineTopKAsync,
};

let nativeKernel: SimilarityKernel | null | undefined;

function loadNativeKernel(): SimilarityKernel | null {
  const addon = loadNative();
  if (addon === null) return null;
  return {
    path: 'native',
    simd: addon.features().simd,
    topK: (...args) => addon.cosineTopK(...args),
    // async: a synchronous argument error becomes a rejection, as on the TypeScript path.
    topKAsync: async (...args) => addon.cosineTopKAsync(...args),
  };
}

/**
 * The similarity kernel: native when the addon loads, else the TypeScript twin. `path`
 * 'typescript' asks for the twin; 'native' (or nothing) for the addon's kernel when there is one.
 *
 * @example
 * ```ts
 * import { queryNorm } from './cosine.js';
 * const kernel = similarityKernel();
 * const query = new Float32Array(128).fill(0.5);
 * const { rows, scores } = await kernel.topKAsync(query, queryNorm(query), vectors, 128, norms, norms.length, null, -Infinity, 10);
 * ```
 */
export function similarityKernel(path?: 'native' | 'typescript'): SimilarityKernel {
  if (path === 'typescript') return typescriptKernel;
  if (nativeKernel === undefined) nativeKernel = loadNativeKernel();
  return nativeKernel ?? typescriptKernel;
}
