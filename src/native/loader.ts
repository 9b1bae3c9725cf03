/**
 * Chooses between the native addon and the TypeScript twins. The addon is used when it loads;
 * `TAPIO_NATIVE=0` (or `false`) forces the TypeScript path; `1` or `true`, or no value, leaves the
 * choice to the loader. Any other value is refused with ERR_CONFIG, at the first use of either
 * path, as an unknown configuration value is. When the addon cannot be used, one warning says
 * why, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TapioError } from '../errors.js';
import { reasonError } from '../transit/reasons.js';

declare const fileLockHandle: unique symbol;
/** A lock taken by {@link NativeAddon.lockFile}: opaque, released by unlockFile. */
export type NativeFileLockHandle = { readonly [fileLockHandle]: true };

/** The functions the addon exports (see native/binding/). */
export interface NativeAddon {
  /** Hands over the class the binding's own errors are built from, and what builds the TapioError of a core status. */
  init(errorClass: typeof TapioError, reasonError: (reason: string, details: Record<string, string | number | boolean>) => TapioError): void;
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
  /** flock(LOCK_EX | LOCK_NB) of `path`, then writes `contents` into it; null when another process holds it (file_lock_binding.cc). */
  lockFile(path: string, contents: string): NativeFileLockHandle | null;
  unlockFile(handle: NativeFileLockHandle): void;
  abiVersion: number;
}

/** Which path runs, and why. */
export interface NativeStatus {
  native: boolean;
  /** Why the TypeScript path runs; undefined when the addon is in use. */
  reason: string | undefined;
}

const EXPECTED_ABI = 6;
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(packageRoot, 'build', 'Release', 'tapio_native.node');
const buildErrorPath = join(packageRoot, 'build', 'native-build-error.txt');

let loaded: { addon: NativeAddon | null; reason: string | undefined } | undefined;
let warned = false;

/**
 * What TAPIO_NATIVE asks for: 'typescript' for 0 or false, 'auto' for 1, true, unset or empty
 * (any case, surrounding spaces ignored). Throws ERR_CONFIG for anything else.
 */
export function nativeSetting(value: string | undefined = process.env.TAPIO_NATIVE): 'typescript' | 'auto' {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '0' || v === 'false') return 'typescript';
  if (v === '' || v === '1' || v === 'true') return 'auto';
  throw new TapioError(
    'ERR_CONFIG',
    `TAPIO_NATIVE is ${JSON.stringify(value)}; it takes 0 or false (run on the TypeScript path), or 1 or true (use the native addon when it loads, as when it is not set). Set one of these, or unset it.`,
    { details: { problems: [{ path: 'TAPIO_NATIVE', message: `got ${JSON.stringify(value)}, expected 0, 1, false or true` }] } },
  );
}

function tryLoad(): { addon: NativeAddon | null; reason: string | undefined } {
  if (nativeSetting() === 'typescript') {
    return { addon: null, reason: `TAPIO_NATIVE=${String(process.env.TAPIO_NATIVE)} is set` };
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
    addon.init(TapioError, reasonError);
    return { addon, reason: undefined };
  } catch (err) {
    return { addon: null, reason: `the native addon failed to load: ${(err as Error).message}` };
  }
}

/**
 * The addon, or null when the TypeScript path runs. The first call that finds no addon (other
 * than through TAPIO_NATIVE=0) warns once, saying why. Throws ERR_CONFIG when TAPIO_NATIVE holds
 * a value it does not take (see nativeSetting); nothing is loaded then.
 */
export function loadNative(): NativeAddon | null {
  if (loaded === undefined) loaded = tryLoad();
  if (loaded.addon === null && !warned && nativeSetting() !== 'typescript') {
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
