import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadNative, nativeStatus } from './native/loader.js';

/** What this process can do, and which implementation of each hot path it runs. */
export interface Capabilities {
  /** True when the native addon is loaded; false on the TypeScript path. */
  native: boolean;
  /** Why the TypeScript path runs, when it does. */
  nativeReason?: string;
  /** The SIMD level the vector kernels use, probed on this CPU at run time. */
  simd: 'avx512' | 'avx2' | 'neon' | 'scalar';
  /** Whether the WAL can write with O_DIRECT here (each store still probes its own file system at open). */
  directIo: boolean;
  /** How CRC32C is computed: CPU instructions, native tables, or the TypeScript twin. */
  crc32c: 'hardware' | 'table' | 'typescript';
  /** The tapio-storage package version. */
  version: string;
  platform: string;
  arch: string;
  node: string;
}

const packageVersion: string = (() => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
})();

/**
 * Reports which implementation of each hot path runs in this process.
 *
 * @example
 * ```ts
 * import { capabilities } from 'tapio-storage';
 * const caps = capabilities();
 * console.log(caps.native ? `native, ${caps.simd}` : `TypeScript path: ${caps.nativeReason}`);
 * ```
 */
export function capabilities(): Capabilities {
  const addon = loadNative();
  const base = { version: packageVersion, platform: process.platform, arch: process.arch, node: process.version };
  if (addon === null) {
    return { ...base, native: false, nativeReason: nativeStatus().reason ?? 'unknown', simd: 'scalar', directIo: false, crc32c: 'typescript' };
  }
  const f = addon.features();
  return { ...base, native: true, simd: f.simd, directIo: process.platform === 'linux', crc32c: f.crc32c };
}
