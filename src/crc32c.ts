import { crc32cTs, crc32cTsRange } from './native/crc32c.js';
import { loadNative } from './native/loader.js';
import { TapioError } from './errors.js';

/** A CRC32C implementation: the CRC of `bytes` continuing from `initial` (0 for none). */
export type Crc32cFn = (bytes: Uint8Array, initial?: number) => number;

/** Both implementations, for tests and benchmarks; `native` is null on the TypeScript path. */
export function crc32cImplementations(): { native: Crc32cFn | null; typescript: Crc32cFn } {
  const addon = loadNative();
  return { native: addon ? addon.crc32c : null, typescript: crc32cTs };
}

let chosen: Crc32cFn | undefined;

/**
 * CRC32C (Castagnoli) of `bytes`, continuing from `initial`; hardware instructions on the
 * native path, slicing-by-8 tables on the TypeScript path, identical results.
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode('123456789')) === 0xe3069283; // true
 * ```
 */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  if (!(bytes instanceof Uint8Array)) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `crc32c(bytes): bytes must be a Uint8Array or Buffer, got ${describe(bytes)}`);
  }
  if (!Number.isInteger(initial) || initial < 0 || initial > 0xffffffff) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `crc32c(bytes, initial): initial must be an integer 0..0xffffffff, got ${String(initial)}`);
  }
  if (chosen === undefined) {
    const impl = crc32cImplementations();
    chosen = impl.native ?? impl.typescript;
  }
  return chosen(bytes, initial);
}

let chosenRange: ((bytes: Uint8Array, offset: number, length: number) => number) | undefined;

/**
 * CRC32C of `bytes[offset, offset + length)`, for hot loops over trusted buffers (the WAL reader
 * checks every record with it, the writer signs every record with it): no argument checks here,
 * and no subarray on either path.
 */
export function crc32cRange(bytes: Uint8Array, offset: number, length: number): number {
  if (chosenRange === undefined) {
    const addon = loadNative();
    chosenRange = addon ? addon.crc32cRange : crc32cTsRange;
  }
  return chosenRange(bytes, offset, length);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
