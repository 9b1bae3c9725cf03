// Shared read-only arrays behind a query's columns: the identity selection vector and the zeros
// of fixed-width columns a read did not make; no store work writes into them.
import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { emptyColumns } from '../../src/correlations/batch-columns.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { allRows } from '../../src/query/predicate.js';
import { newDataDir, paths } from '../correlations/helpers.js';

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

describe.each(paths)('the shared arrays after a store’s work on the %s path', (path) => {
  it('still hold 0..n-1 and zeros after inserts, flushes, a compaction, queries, similarity and aggregates', async () => {
    const dataDir = newDataDir();
    const config = (l0: string) => ({ dataDir, storage: { correlations: { embedding_dim: 8, compaction: { l0_size: l0, l1_size: '2GB' } } } });
    const gen = new FindingGenerator({ seed: 3, embeddingDim: 8, ratePerSecond: 0.2 });
    let s = await TapioStorage.open(config('1GB'), { correlations: { path } });
    for (let b = 0; b < 3; b++) {
      await s.correlations.insert(gen.next(700));
      await s.correlations.flush();
    }
    await s.close();
    s = await TapioStorage.open(config('1KB'), { correlations: { path } });
    await s.correlations.compactionSettled();
    await s.correlations.insert(gen.next(300));
    const q = gen.next(1)[0]!.embedding as Float32Array;
    expect((await s.correlations.query({ fields: ['id'] })).length).toBe(2400);
    expect((await s.correlations.query({ selector: 'type=attack', fields: ['id', 'severity'] })).length).toBeGreaterThan(0);
    expect((await s.correlations.query({ similar: { embedding: q, k: 5 }, fields: ['id'] })).length).toBe(5);
    expect((await s.correlations.query({ similar: { embedding: q, threshold: 0.5 }, selector: 'severity>=2', fields: ['id'] })).length).toBeGreaterThan(0);
    await s.correlations.aggregate({ groupBy: ['type', 'severity'], measures: ['count', 'avg(confidence)'] });
    await s.correlations.topValues('resources.pods', 5);
    await s.close();
    const ids = allRows(70_000);
    expect(ids.every((v, i) => v === i)).toBe(true);
    const zero = emptyColumns(70_000, 8, false, false, false, () => false);
    for (const column of [zero.timestamp, zero.type, zero.confidence, zero.eventCount, zero.timeWindow]) expect(column.every((v) => v === 0)).toBe(true);
  }, 60_000);
});
