// Shared read-only arrays behind a query's columns: the identity selection vector and the zeros
// of fixed-width columns a read did not make.
import { describe, expect, it } from 'vitest';

import { emptyColumns } from '../../src/correlations/batch-columns.js';
import { allRows } from '../../src/query/predicate.js';

describe('allRows', () => {
  it('is 0..n-1 for every n, before and after a larger n grew the shared array, without a new array each time', () => {
    expect([...allRows(0)]).toEqual([]);
    expect([...allRows(5)]).toEqual([0, 1, 2, 3, 4]);
    const big = allRows(70_000);
    expect(big.length).toBe(70_000);
    expect(big.every((v, i) => v === i)).toBe(true);
    expect([...allRows(3)]).toEqual([0, 1, 2]);
    expect(allRows(100).buffer).toBe(allRows(16_384).buffer);
  });
});

describe('emptyColumns with the fixed-width columns named', () => {
  it('makes the named ones and gives zeros, of the right length, for the others', () => {
    const cols = emptyColumns(1000, 4, false, false, false, (c) => c === 'timestamp' || c === 'severity');
    const other = emptyColumns(1000, 4, false, false, false, () => false);
    expect(cols.timestamp.buffer).not.toBe(other.timestamp.buffer);
    expect(cols.severity.buffer).not.toBe(other.severity.buffer);
    for (const c of [cols, other]) {
      for (const column of [c.timestamp, c.type, c.severity, c.confidence, c.eventCount, c.timeWindow]) {
        expect(column.length).toBe(1000);
        expect(column.every((v) => v === 0)).toBe(true);
      }
    }
    // The columns not named share one buffer of zeros rather than each having their own.
    expect(cols.confidence.buffer).toBe(other.eventCount.buffer);
    expect(cols.type.buffer).toBe(other.timestamp.buffer);
    // Without names, every column is its own.
    const own = emptyColumns(10, 4);
    expect(
      new Set([own.timestamp.buffer, own.type.buffer, own.severity.buffer, own.confidence.buffer, own.eventCount.buffer, own.timeWindow.buffer]).size,
    ).toBe(6);
  });
});
