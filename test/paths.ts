// Shared helpers so every suite for a native component runs against both paths.
import { nativeSetting, nativeStatus } from '../src/native/loader.js';

/**
 * The [name, implementation] rows for describe.each: always the TypeScript twin, and the native
 * one when the addon is loaded (it is, unless TAPIO_NATIVE=0).
 */
export function paths<T>(native: T | null, typescript: T): Array<[string, T]> {
  const rows: Array<[string, T]> = [['typescript', typescript]];
  if (native !== null) rows.unshift(['native', native]);
  return rows;
}

/**
 * True when the addon is loaded. When it is not, returns the reason, so a test asserting `true`
 * fails loudly on a machine where the build broke, unless TAPIO_NATIVE=0 asked for the
 * TypeScript path on purpose.
 */
export function nativeAvailableOrSkipReason(): true | string {
  const status = nativeStatus();
  if (status.native) return true;
  if (nativeSetting() === 'typescript') return true;
  return status.reason ?? 'unknown';
}
