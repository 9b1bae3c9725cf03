import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/index.js';
import { TapioError } from '../../src/errors.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

/** Calls fn and returns the TapioError it throws. */
function thrown(fn: () => unknown): TapioError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TapioError);
    return error as TapioError;
  }
  throw new Error('expected a TapioError, nothing was thrown');
}

describe('parseSize', () => {
  test.each<[string | number, number]>([
    ['0', 0],
    ['4096', 4096],
    ['4096B', 4096],
    ['4096 B', 4096],
    ['1KB', 1000],
    ['1kB', 1000],
    ['64KiB', 64 * KiB],
    ['64KIB', 64 * KiB],
    ['64kiB', 64 * KiB],
    ['100MB', 100_000_000],
    ['512MB', 512_000_000],
    ['512 MB', 512_000_000],
    ['64MiB', 64 * MiB],
    ['1GB', 1_000_000_000],
    ['1GiB', GiB],
    ['1.5GB', 1_500_000_000],
    ['1.5GiB', 1.5 * GiB],
    ['0.5KiB', 512],
    ['1.1KB', 1100],
    ['2TB', 2_000_000_000_000],
    ['2TiB', 2 * TiB],
    ['007MB', 7_000_000],
    [0, 0],
    [4096, 4096],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])('accepts %j as %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test('returns +0 for -0', () => {
    expect(Object.is(parseSize(-0), 0)).toBe(true);
  });

  test.each<[unknown, string]>([
    ['12XB', 'units are B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)'],
    ['-1MB', 'sizes cannot be negative'],
    [-1, 'sizes cannot be negative'],
    ['', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['   ', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['MB', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['1  MB', 'put at most one space before the unit'],
    [' 1MB', 'remove the spaces around it'],
    ['1MB ', 'remove the spaces around it'],
    ['1.5', 'it is not a whole number of bytes'],
    ['1.0001KB', 'it is not a whole number of bytes'],
    ['0.3B', 'it is not a whole number of bytes'],
    [1.5, 'a number of bytes must be a whole number'],
    [Number.NaN, 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    [Number.POSITIVE_INFINITY, 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    [2 ** 53, 'it is larger than 2^53 - 1 bytes'],
    ['9007199254740992', 'it is larger than 2^53 - 1 bytes'],
    ['8192TiB', 'it is larger than 2^53 - 1 bytes'],
    ['512M', '"M" alone is ambiguous; write MB (powers of 1000) or MiB (powers of 1024)'],
    ['512k', '"k" alone is ambiguous; write KB (powers of 1000) or KiB (powers of 1024)'],
    ['1Gi', 'write GiB'],
    ['512Mb', 'a lowercase "b" means bits; write MB'],
    ['512mb', 'a lowercase "b" means bits; write MB'],
    ['1gib', 'a lowercase "b" means bits; write GiB'],
    ['8b', 'a lowercase "b" means bits; write B for bytes'],
    ['1PB', 'units are B, KB'],
    ['1e6', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['0x100', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['1,000', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['.5MB', 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    ['4096 ', 'remove the spaces around it'],
    [true, 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
    [null, 'expected a size such as 512MB, 1GiB or 4096 (bytes).'],
  ])('rejects %j', (input, hint) => {
    const error = thrown(() => parseSize(input as string));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toContain('Invalid size: got ');
    expect(error.message).toContain(hint);
  });

  test('quotes the value given', () => {
    expect(thrown(() => parseSize('12XB')).message).toBe(
      'Invalid size: got "12XB", expected a size such as 512MB, 1GiB or 4096 (bytes); ' +
        'units are B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024).',
    );
  });
});

describe('parseDuration', () => {
  test.each<[string, number]>([
    ['0ms', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 15 * 60_000],
    ['1h', 3_600_000],
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1h30m', 5_400_000],
    ['1w2d3h4m5s6ms', 7 * 86_400_000 + 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5000 + 6],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['1.25s', 1250],
    ['90m', 5_400_000],
  ])('accepts %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each<[unknown, string]>([
    ['30', 'a plain number is ambiguous; add a unit (ms, s, m, h, d or w), e.g. 30s'],
    ['1.5', 'a plain number is ambiguous; add a unit'],
    [30, 'a plain number is ambiguous; add a unit'],
    ['1x', 'units are ms, s, m, h, d and w'],
    ['1y', 'units are ms, s, m, h, d and w'],
    ['1H', 'units are lowercase (h, not H)'],
    ['1MS', 'units are lowercase (ms, not MS)'],
    ['30m1h', 'write each unit once, the largest first, e.g. 1h30m'],
    ['1h1h', 'write each unit once, the largest first, e.g. 1h30m'],
    ['1h 30m', 'write it without spaces, e.g. 1h30m'],
    ['1 h', 'write it without spaces, e.g. 1h30m'],
    [' 1h', 'remove the spaces around it'],
    ['-1h', 'durations cannot be negative'],
    ['0.5ms', 'it is not a whole number of milliseconds'],
    ['0.0001s', 'it is not a whole number of milliseconds'],
    ['999999999999w', 'it is too long'],
    ['', 'expected a duration such as 30s, 15m, 1h or 30d.'],
    ['h', 'expected a duration such as 30s, 15m, 1h or 30d.'],
    ['1h30', 'expected a duration such as 30s, 15m, 1h or 30d.'],
    [null, 'expected a duration such as 30s, 15m, 1h or 30d.'],
  ])('rejects %j', (input, hint) => {
    const error = thrown(() => parseDuration(input as string));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toContain('Invalid duration: got ');
    expect(error.message).toContain(hint);
  });

  test('says what was given and what was expected', () => {
    expect(thrown(() => parseDuration('1x')).message).toBe(
      'Invalid duration: got "1x", expected a duration such as 30s, 15m, 1h or 30d; units are ms, s, m, h, d and w.',
    );
  });
});

describe('formatSize', () => {
  test.each<[number, string]>([
    [0, '0B'],
    [1, '1B'],
    [4097, '4097B'],
    [1000, '1KB'],
    [1024, '1KiB'],
    [4096, '4KiB'],
    [64 * MiB, '64MiB'],
    [512_000_000, '512MB'],
    [1_000_000_000, '1GB'],
    [GiB, '1GiB'],
    [1_500_000_000, '1500MB'],
    [1_024_000, '1000KiB'],
    [3 * TiB, '3TiB'],
  ])('prints %d as %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  test.each([-1, 1.5, Number.NaN, 2 ** 53])('rejects %d', (bytes) => {
    expect(thrown(() => formatSize(bytes)).code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('parseSize(formatSize(n)) === n for every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (bytes) => parseSize(formatSize(bytes)) === bytes),
      { numRuns: 2000 },
    );
  });

  test('parseSize(formatSize(n)) === n for whole units', () => {
    const unit = fc.constantFrom(1, 1000, 1024, 1000 ** 2, 1024 ** 2, 1000 ** 3, 1024 ** 3, 1000 ** 4, 1024 ** 4);
    fc.assert(fc.property(fc.integer({ min: 0, max: 4096 }), unit, (count, size) => parseSize(formatSize(count * size)) === count * size));
  });
});

describe('formatDuration', () => {
  test.each<[number, string]>([
    [0, '0ms'],
    [500, '500ms'],
    [30_000, '30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [30 * 86_400_000, '30d'],
    [14 * 86_400_000, '2w'],
    [86_400_000 + 1, '1d1ms'],
  ])('prints %d as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test.each([-1, 0.5, Number.NaN])('rejects %d', (ms) => {
    expect(thrown(() => formatDuration(ms)).code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('parseDuration(formatDuration(n)) === n for every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (ms) => parseDuration(formatDuration(ms)) === ms),
      { numRuns: 2000 },
    );
  });

  test('parseDuration(formatDuration(n)) === n for sums of whole units', () => {
    const part = (max: number) => fc.integer({ min: 0, max });
    fc.assert(
      fc.property(part(5000), part(23), part(59), part(59), part(999), (d, h, m, s, ms) => {
        const total = (((d * 24 + h) * 60 + m) * 60 + s) * 1000 + ms;
        return parseDuration(formatDuration(total)) === total;
      }),
    );
  });
});
