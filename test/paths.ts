// Shared helpers so every suite for a native component runs against both paths, and the check
// that a test run covers both (vitest.config.ts runs requireBothPaths before any test file).
import { nativeSetting, nativeStatus } from '../src/native/loader.js';

/** Set to 1 to run the tests on the TypeScript path alone, on purpose (README, "Tests"). */
export const ALLOW_NO_NATIVE = 'TAPIO_TEST_ALLOW_NO_NATIVE';

/**
 * Whether ALLOW_NO_NATIVE asks for a TypeScript-only run: 1 or true (any case) yes; unset,
 * empty, 0 or false no. Throws for any other value, so a typo cannot turn the check off.
 */
export function typescriptOnlyAllowed(value: string | undefined = process.env[ALLOW_NO_NATIVE]): boolean {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '' || v === '0' || v === 'false') return false;
  throw new Error(`${ALLOW_NO_NATIVE} is ${JSON.stringify(value)}; it takes 1 or true (allow a run without the native addon), or 0 or false (the default).`);
}

/**
 * Why the native path will not run in this test run, or null when it will. A reason is also
 * returned when TAPIO_NATIVE=0 switched the addon off: the run would then test one path only.
 */
export function nativeMissingReason(): string | null {
  const status = nativeStatus();
  if (status.native) return null;
  if (nativeSetting() === 'typescript') return `TAPIO_NATIVE=${String(process.env.TAPIO_NATIVE)} switches the native addon off`;
  return status.reason ?? 'the loader gave no reason';
}

/**
 * The check a test run starts with: throws, with the loader's reason, when the native path will
 * not run, unless ALLOW_NO_NATIVE asks for a TypeScript-only run. Returns what the run covers.
 */
export function requireBothPaths(): string {
  const allowed = typescriptOnlyAllowed();
  const missing = nativeMissingReason();
  if (missing === null) return 'both paths: the native addon and its TypeScript twins';
  if (allowed) return `the TypeScript path only (${ALLOW_NO_NATIVE} is set; the native path cannot run: ${missing})`;
  throw new Error(
    [
      `The native path cannot run: ${missing}.`,
      'A passing test run must cover both the native addon and its TypeScript twins, so no test ran.',
      'Build the addon (`npm run build:native`; a failed build leaves its reason in build/native-build-error.txt) and run the tests again,',
      `or set ${ALLOW_NO_NATIVE}=1 to test the TypeScript path alone on purpose.`,
    ].join('\n'),
  );
}

/**
 * The [name, implementation] rows for describe.each: always the TypeScript twin, and the native
 * one when the addon is loaded (requireBothPaths makes sure it is, unless a TypeScript-only run
 * was asked for).
 */
export function paths<T>(native: T | null, typescript: T): Array<[string, T]> {
  const rows: Array<[string, T]> = [['typescript', typescript]];
  if (native !== null) rows.unshift(['native', native]);
  return rows;
}
