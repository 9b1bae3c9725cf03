/**
 * Chooses between the native addon and the TypeScript twins. The addon is used when it loads;
 * `TAPIO_NATIVE=0` forces the TypeScript path. When the addon cannot be used, one warning says
 * why, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TapioError } from '../errors.js';

/** The functions the addon exports (see native/binding/). */
export interface NativeAddon {
  init(errorClass: typeof TapioError): void;
  features(): {
    simd: 'avx512' | 'avx2' | 'neon' | 'scalar';
    crc32c: 'hardware' | 'table';
    sse42: boolean;
    pclmul: boolean;
    avx2: boolean;
    avx512: boolean;
    neon: boolean;
  };
  crc32c(bytes: ArrayBufferView | ArrayBuffer, initial?: number): number;
  /** CRC32C of bytes[offset, offset + length), from 0. */
  crc32cRange(bytes: Uint8Array, offset: number, length: number): number;
  noop(): void;
  abiVersion: number;
}

/** Which path runs, and why. */
export interface NativeStatus {
  native: boolean;
  /** Why the TypeScript path runs; undefined when the addon is in use. */
  reason: string | undefined;
}

const EXPECTED_ABI = 4;
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(packageRoot, 'build', 'Release', 'tapio_native.node');
const buildErrorPath = join(packageRoot, 'build', 'native-build-error.txt');

let loaded: { addon: NativeAddon | null; reason: string | undefined } | undefined;
let warned = false;

function tryLoad(): { addon: NativeAddon | null; reason: string | undefined } {
  if (process.env.TAPIO_NATIVE === '0') {
    return { addon: null, reason: 'TAPIO_NATIVE=0 is set' };
  }
  if (!existsSync(addonPath)) {
    let why = 'the native addon was not built';
    if (existsSync(buildErrorPath)) {
      const text = readFileSync(buildErrorPath, 'utf8').trim().split('\n');
      why += `: ${text[0] ?? ''}`;
      const firstError = text.find((line) => /error/i.test(line) && line !== text[0]);
      if (firstError) why += ` (${firstError.trim()})`;
    } else {
      why += ' (run `npm run build:native` to build it)';
    }
    return { addon: null, reason: why };
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(addonPath) as NativeAddon;
    if (addon.abiVersion !== EXPECTED_ABI) {
      return {
        addon: null,
        reason: `the native addon is stale (ABI ${addon.abiVersion}, expected ${EXPECTED_ABI}); run \`npm run build:native\``,
      };
    }
    addon.init(TapioError);
    return { addon, reason: undefined };
  } catch (err) {
    return { addon: null, reason: `the native addon failed to load: ${(err as Error).message}` };
  }
}

/**
 * The addon, or null when the TypeScript path runs. The first call that finds no addon (other
 * than through TAPIO_NATIVE=0) warns once, saying why.
 */
export function loadNative(): NativeAddon | null {
  if (loaded === undefined) loaded = tryLoad();
  if (loaded.addon === null && !warned && process.env.TAPIO_NATIVE !== '0') {
    warned = true;
    process.emitWarning(`tapio-storage runs on its TypeScript path: ${loaded.reason}.`, {
      code: 'TAPIO_NATIVE_UNAVAILABLE',
    });
  }
  return loaded.addon;
}

/** Whether the native path runs, and if not, why. */
export function nativeStatus(): NativeStatus {
  const addon = loadNative();
  return { native: addon !== null, reason: loaded?.reason };
}
