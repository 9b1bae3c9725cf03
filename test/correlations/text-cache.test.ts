// Queries keep the decoded text and list columns (ids, resource lists, patterns) of the row groups
// they read, in Arrow's buffers, and build later answers from them: the same answers as a fresh
// decode, no bytes read again, records that stay the caller's, and nothing kept of a retired
// segment (SegmentCache.forget, called when a segment is retired).
import * as arrow from 'apache-arrow';
import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage, type CorrelationQuery } from '../../src/index.js';
import { DecodePool, defaultDecodeThreads } from '../../src/correlations/decode-pool.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { SegmentCache, TEXT_CACHE_BYTES } from '../../src/correlations/segment-cache.js';
import { newDataDir, paths } from './helpers.js';

const DIM = 8;
const DAY = 86_400_000;

afterEach(() => DecodePool.configure(defaultDecodeThreads()));

describe('the segment cache of text and list columns', () => {
  const table = () => new arrow.Table({ id: arrow.vectorFromArray(['a', 'b'], new arrow.Utf8()) });

  it('keeps tables by segment, row group and column, least recently used out first, within its budget', () => {
    const cache = new SegmentCache();
    const largest = TEXT_CACHE_BYTES / 16; // the largest one kept
    const t = Array.from({ length: 17 }, table);
    for (let i = 0; i < 16; i++) cache.keepText('a.parquet', i, 'id', t[i]!, largest);
    expect(cache.size.textBytes).toBe(TEXT_CACHE_BYTES);
    expect(cache.text('a.parquet', 0, 'id')).toBe(t[0]); // now the most recent
    cache.keepText('b.parquet', 0, 'resources.pods', t[16]!, largest);
    expect(cache.size.textBytes).toBe(TEXT_CACHE_BYTES);
    expect(cache.text('a.parquet', 1, 'id')).toBeUndefined(); // the least recent went
    expect(cache.text('a.parquet', 0, 'id')).toBe(t[0]);
    expect(cache.text('b.parquet', 0, 'resources.pods')).toBe(t[16]);
    expect(cache.text('b.parquet', 0, 'id')).toBeUndefined();
    // Too large for it, or a fixed-width column (kept by column() instead): not kept.
    cache.keepText('c.parquet', 0, 'id', table(), largest + 1);
    cache.keepText('c.parquet', 0, 'severity', table(), 10);
    expect(cache.text('c.parquet', 0, 'id')).toBeUndefined();
    expect(cache.text('c.parquet', 0, 'severity')).toBeUndefined();
    cache.forget('a.parquet');
    expect(cache.text('a.parquet', 0, 'id')).toBeUndefined();
    expect(cache.size.textBytes).toBe(largest);
    cache.clear();
    expect(cache.size.textBytes).toBe(0);
    expect(cache.text('b.parquet', 0, 'resources.pods')).toBeUndefined();
  });
});

// Each path with one of the two ways of decoding (threads, or the query's own thread): both
// ways on both paths would double the time for no other code.
const cases = paths.map((path, i) => [path, i % 2 === 0 ? 2 : 0] as const);

describe.each(cases)('queries over kept text columns on the %s path, %i decoding threads', (path, threads) => {
  it('answer as a fresh decode does, read no bytes again, and after a compaction read the new segment and answer the same', async () => {
    DecodePool.configure(threads);
    const dataDir = newDataDir();
    const config = { dataDir, storage: { correlations: { embedding_dim: DIM, compaction: { l0_size: '512MB' } } } };
    let s = await TapioStorage.open(config, { correlations: { path } });
    const start = Math.floor(Date.now() / DAY) * DAY - DAY;
    const gen = new FindingGenerator({ seed: 3, embeddingDim: DIM, start, ratePerSecond: 1 });
    // Three L0 segments of one day, two row groups each; each query below reads its own segment
    // first, so its first run decodes.
    const spans: Array<[number, number]> = [];
    let pod = '';
    for (let k = 0; k < 3; k++) {
      const findings = gen.next(17_000);
      const times = findings.map((f) => f.timestamp as number);
      spans.push([Math.min(...times), Math.max(...times) + 1]);
      if (k === 2) pod = findings.find((f) => (f.resources?.pods?.length ?? 0) > 0)!.resources!.pods![0]!;
      await s.correlations.insert(findings);
      await s.correlations.flush();
    }
    expect(s.correlations.segments().map((x) => x.groups.length)).toEqual([2, 2, 2]);
    const queries: Array<CorrelationQuery & { format?: 'records' }> = [
      { selector: 'severity>=2', from: spans[0]![0], to: spans[0]![1], fields: ['id', 'type', 'resources', 'pattern'] },
      { selector: `pods=${pod}`, from: spans[2]![0], to: spans[2]![1], fields: ['id', 'resources'] },
      { selector: 'type=attack,nodes', from: spans[1]![0], to: spans[1]![1], fields: ['id', 'pattern'], limit: 50 },
    ];
    const answers = [];
    for (const q of queries) {
      const first = await s.correlations.explain(q);
      const again = await s.correlations.explain(q);
      expect(first.explain.bytesRead, JSON.stringify(q)).toBeGreaterThan(0);
      expect(again.explain.bytesRead, JSON.stringify(q)).toBe(0);
      expect(again.records).toEqual(first.records);
      expect(first.records.length).toBeGreaterThan(0);
      answers.push(first.records);
    }
    // A store that has kept nothing yet (opened again) gives the same, in the other order.
    await s.close();
    s = await TapioStorage.open(config, { correlations: { path } });
    for (const [i, q] of [...queries.entries()].reverse()) expect(await s.correlations.query(q)).toEqual(answers[i]);
    // What a query returned is the caller's: changing it changes no later answer.
    const q = queries[0]!;
    const mine = await s.correlations.query(q);
    const expected = structuredClone(mine);
    mine[0]!.resources.pods?.push('not-stored');
    mine[0]!.pattern.fill(0xee);
    (mine[1] as { id: string }).id = 'changed';
    expect(await s.correlations.query(q)).toEqual(expected);
    // After a compaction the output is read (what was kept of the inputs is not used; the unit
    // test above shows forget() drops it); the answers stay.
    await s.correlations.compact({ all: true });
    expect(s.correlations.segments().length).toBe(1);
    const after = await s.correlations.explain(q);
    expect(after.explain.bytesRead).toBeGreaterThan(0);
    expect(after.records).toEqual(expected);
    await s.close();
  }, 120_000);
});
