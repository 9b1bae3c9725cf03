/**
 * Sizes (`512MB`, `64MiB`, `4096`) and durations (`500ms`, `1h30m`, `30d`) as they are written
 * in a configuration, parsed into whole bytes and whole milliseconds, and printed back.
 *
 * Sizes: a non-negative decimal number, then optionally one space, then optionally a unit.
 * - `B` is one byte; `KB`, `MB`, `GB`, `TB` are powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` are
 *   powers of 1024. No unit means bytes.
 * - The prefix letter and the `i` may be written in either case (`kB`, `KB`, `KIB`), but the
 *   final `B` must be a capital B, because a lowercase `b` means bits (`512Mb` and `512mb` are
 *   rejected). A prefix without `B` (`512M`, `1Gi`) is rejected: `M` means 10^6 to some tools
 *   and 2^20 to others.
 * - A fraction is allowed when the result is a whole number of bytes (`1.5GB`, `0.5KiB`);
 *   otherwise it is rejected, never rounded (`1.0001KB`, `1.5`).
 * - A plain JavaScript number is a number of bytes and must be a non-negative safe integer.
 *
 * Durations: one or more `<number><unit>` parts with no spaces, units `w` (7 days), `d`, `h`,
 * `m` (minutes), `s` and `ms`, lowercase only (`M` would be read as months elsewhere), each
 * unit at most once and the largest first (`1h30m`, not `30m1h`). A plain number is rejected:
 * its unit would be a guess.
 */
import { TapioError } from '../errors.js';

/** A parse that failed: `hint` says why, when there is more to say than the expected form. */
export type UnitParse = { ok: true; value: number } | { ok: false; hint: string | undefined };

/** The form a size takes, for messages. */
export const SIZE_EXPECTED = 'a size such as 512MB, 1GiB or 4096 (bytes)';
/** The form a duration takes, for messages. */
export const DURATION_EXPECTED = 'a duration such as 30s, 15m, 1h or 30d';

const SIZE_PREFIXES: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };
const SIZE_UNITS_HINT = 'units are B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)';
const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?( ?)([A-Za-z]*)$/;

const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['w', 7 * 24 * 60 * 60 * 1000],
  ['d', 24 * 60 * 60 * 1000],
  ['h', 60 * 60 * 1000],
  ['m', 60 * 1000],
  ['s', 1000],
  ['ms', 1],
];
const DURATION_UNITS_HINT = 'units are ms, s, m, h, d and w';
const DURATION_PART = /(\d+)(?:\.(\d+))?([A-Za-z]+)/y;

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * `(whole.fraction) * multiplier` as an exact integer, or undefined when it is not one or is
 * larger than Number.MAX_SAFE_INTEGER. BigInt keeps `1.1KB` exact where floats would not.
 */
function exactProduct(whole: string, fraction: string | undefined, multiplier: bigint): bigint | undefined {
  const scale = 10n ** BigInt(fraction?.length ?? 0);
  const numerator = (BigInt(whole) * scale + BigInt(fraction ?? '0')) * multiplier;
  if (numerator % scale !== 0n) return undefined;
  return numerator / scale;
}

/** Prints a value the way a message quotes it: strings in double quotes, the rest as JSON. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[...]' : '{...}';
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function sizeUnitMultiplier(unit: string): bigint | string {
  if (unit === '' || unit === 'B') return 1n;
  const match = /^([A-Za-z])([iI]?)([A-Za-z]?)$/.exec(unit);
  const prefix = match ? SIZE_PREFIXES[match[1]!.toUpperCase()] : undefined;
  if (match === null || prefix === undefined) {
    if (unit === 'b') return 'a lowercase "b" means bits; write B for bytes';
    return SIZE_UNITS_HINT;
  }
  const binary = match[2] !== '';
  const canonical = `${match[1]!.toUpperCase()}${binary ? 'i' : ''}B`;
  const suffix = match[3]!;
  if (suffix === 'b') return `a lowercase "b" means bits; write ${canonical}`;
  if (suffix === '') {
    return binary
      ? `write ${canonical}`
      : `"${match[1]}" alone is ambiguous; write ${match[1]!.toUpperCase()}B (powers of 1000) or ${match[1]!.toUpperCase()}iB (powers of 1024)`;
  }
  if (suffix !== 'B') return SIZE_UNITS_HINT;
  return (binary ? 1024n : 1000n) ** BigInt(prefix);
}

/**
 * Parses a size without throwing. Used by the configuration schema, which reports every bad
 * value at once; {@link parseSize} is the throwing form.
 */
export function checkSize(input: unknown): UnitParse {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return { ok: true, value: input + 0 };
    if (input < 0) return { ok: false, hint: 'sizes cannot be negative' };
    if (!Number.isFinite(input)) return { ok: false, hint: undefined };
    if (Number.isInteger(input)) return { ok: false, hint: 'it is larger than 2^53 - 1 bytes' };
    return { ok: false, hint: 'a number of bytes must be a whole number' };
  }
  if (typeof input !== 'string') return { ok: false, hint: undefined };
  if (input.trim() === '') return { ok: false, hint: undefined };
  if (/^\s*-/.test(input)) return { ok: false, hint: 'sizes cannot be negative' };
  if (input !== input.trim()) return { ok: false, hint: 'remove the spaces around it' };
  const match = SIZE_PATTERN.exec(input);
  if (match === null) {
    if (/^\d+(?:\.\d+)?\s{2,}[A-Za-z]+$/.test(input)) return { ok: false, hint: 'put at most one space before the unit' };
    return { ok: false, hint: undefined };
  }
  const [, whole, fraction, space, unit] = match as unknown as [string, string, string | undefined, string, string];
  if (space !== '' && unit === '') return { ok: false, hint: undefined };
  const multiplier = sizeUnitMultiplier(unit);
  if (typeof multiplier === 'string') return { ok: false, hint: multiplier };
  const bytes = exactProduct(whole, fraction, multiplier);
  if (bytes === undefined) return { ok: false, hint: 'it is not a whole number of bytes' };
  if (bytes > MAX) return { ok: false, hint: 'it is larger than 2^53 - 1 bytes' };
  return { ok: true, value: Number(bytes) };
}

/**
 * Parses a duration into whole milliseconds without throwing. {@link parseDuration} is the
 * throwing form.
 */
export function checkDuration(input: unknown): UnitParse {
  const addUnit = 'a plain number is ambiguous; add a unit (ms, s, m, h, d or w), e.g. 30s';
  if (typeof input === 'number') return { ok: false, hint: addUnit };
  if (typeof input !== 'string' || input.trim() === '') return { ok: false, hint: undefined };
  if (/^\s*-/.test(input)) return { ok: false, hint: 'durations cannot be negative' };
  if (input !== input.trim()) return { ok: false, hint: 'remove the spaces around it' };
  if (/^\d+(?:\.\d+)?$/.test(input)) return { ok: false, hint: addUnit };
  if (/\s/.test(input)) return { ok: false, hint: 'write it without spaces, e.g. 1h30m' };
  let total = 0n;
  let position = 0;
  let lastUnit = -1;
  while (position < input.length) {
    DURATION_PART.lastIndex = position;
    const match = DURATION_PART.exec(input);
    if (match === null) return { ok: false, hint: undefined };
    const [, whole, fraction, unit] = match as unknown as [string, string, string | undefined, string];
    const index = DURATION_UNITS.findIndex(([name]) => name === unit);
    if (index < 0) {
      const lower = DURATION_UNITS.some(([name]) => name === unit.toLowerCase());
      return { ok: false, hint: lower ? `units are lowercase (${unit.toLowerCase()}, not ${unit})` : DURATION_UNITS_HINT };
    }
    if (index <= lastUnit) return { ok: false, hint: 'write each unit once, the largest first, e.g. 1h30m' };
    lastUnit = index;
    const millis = exactProduct(whole, fraction, BigInt(DURATION_UNITS[index]![1]));
    if (millis === undefined) return { ok: false, hint: 'it is not a whole number of milliseconds' };
    total += millis;
    position = DURATION_PART.lastIndex;
  }
  if (total > MAX) return { ok: false, hint: 'it is too long' };
  return { ok: true, value: Number(total) };
}

/** `expected` followed by the hint, when there is one. */
export function withHint(expected: string, hint: string | undefined): string {
  return hint === undefined ? expected : `${expected}; ${hint}`;
}

/**
 * Parses a size into a whole number of bytes. `KB`/`MB`/`GB`/`TB` are powers of 1000,
 * `KiB`/`MiB`/`GiB`/`TiB` powers of 1024; a number, or a string without a unit, is bytes.
 *
 * @throws TapioError `ERR_INVALID_ARGUMENT` when the text is not a size, is negative, or is
 *   not a whole number of bytes (nothing is rounded).
 * @example
 * ```ts
 * parseSize('512MB');  // 512000000
 * parseSize('64MiB');  // 67108864
 * parseSize('1.5GB');  // 1500000000
 * parseSize('4096');   // 4096
 * parseSize(4096);     // 4096
 * parseSize('512M');   // throws: "M" alone is ambiguous
 * ```
 */
export function parseSize(input: string | number): number {
  const result = checkSize(input);
  if (result.ok) return result.value;
  throw new TapioError('ERR_INVALID_ARGUMENT', `Invalid size: got ${describeValue(input)}, expected ${withHint(SIZE_EXPECTED, result.hint)}.`);
}

/**
 * Parses a duration into whole milliseconds. Units: `ms`, `s`, `m`, `h`, `d`, `w`, lowercase,
 * combinable largest first (`1h30m`). A number without a unit is rejected.
 *
 * @throws TapioError `ERR_INVALID_ARGUMENT` when the text is not a duration.
 * @example
 * ```ts
 * parseDuration('500ms'); // 500
 * parseDuration('1h30m'); // 5400000
 * parseDuration('30d');   // 2592000000
 * parseDuration('30');    // throws: add a unit
 * ```
 */
export function parseDuration(input: string): number {
  const result = checkDuration(input);
  if (result.ok) return result.value;
  throw new TapioError('ERR_INVALID_ARGUMENT', `Invalid duration: got ${describeValue(input)}, expected ${withHint(DURATION_EXPECTED, result.hint)}.`);
}

function requireCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${what} must be a non-negative safe integer, got ${describeValue(value)}.`);
  }
}

const FORMAT_SIZE_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TiB', 1024 ** 4],
  ['TB', 1000 ** 4],
  ['GiB', 1024 ** 3],
  ['GB', 1000 ** 3],
  ['MiB', 1024 ** 2],
  ['MB', 1000 ** 2],
  ['KiB', 1024],
  ['KB', 1000],
];

/**
 * Prints a number of bytes exactly, in the unit that gives the smallest whole number
 * (`67108864` → `64MiB`, `512000000` → `512MB`, `1500` → `1500B`). The result parses back to
 * the same number with {@link parseSize}.
 *
 * @example
 * ```ts
 * formatSize(67108864);  // '64MiB'
 * formatSize(100000000); // '100MB'
 * formatSize(4097);      // '4097B'
 * ```
 */
export function formatSize(bytes: number): string {
  requireCount(bytes, 'A size in bytes');
  let best = `${bytes}B`;
  let bestCount = bytes;
  for (const [unit, size] of FORMAT_SIZE_UNITS) {
    if (bytes > 0 && bytes % size === 0 && bytes / size < bestCount) {
      best = `${bytes / size}${unit}`;
      bestCount = bytes / size;
    }
  }
  return best;
}

/**
 * Prints milliseconds exactly as a duration, largest unit first (`5400000` → `1h30m`).
 * Whole weeks are printed as `w` only when the day count is a multiple of 7, so `30d` stays
 * `30d`. The result parses back to the same number with {@link parseDuration}.
 *
 * @example
 * ```ts
 * formatDuration(3600000);    // '1h'
 * formatDuration(5400000);    // '1h30m'
 * formatDuration(2592000000); // '30d'
 * formatDuration(1209600000); // '2w'
 * formatDuration(0);          // '0ms'
 * ```
 */
export function formatDuration(ms: number): string {
  requireCount(ms, 'A duration in milliseconds');
  if (ms === 0) return '0ms';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of DURATION_UNITS) {
    if (unit === 'w') continue;
    // `%` is exact on doubles, so this stays exact up to 2^53 where rest / size would not.
    const remainder = rest % size;
    const count = (rest - remainder) / size;
    rest = remainder;
    if (count === 0) continue;
    if (unit === 'd' && count % 7 === 0) parts.push(`${count / 7}w`);
    else parts.push(`${count}${unit}`);
  }
  return parts.join('');
}
