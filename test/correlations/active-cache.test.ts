// Queries that reach the active part reuse its decoded batches (the segment cache keeps them):
// repeated queries, similarity and aggregation over the same part give what the first gave, new
// inserts are seen at once, and a flush drops what the cache kept of the part. A retention run that
// drops nothing leaves the manifest file as it is.
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { SegmentCache } from '../../src/correlations/segment-cache.js';
import { asRecord, byTime, newDataDir, paths } from './helpers.js';

const DIM = 16;

describe.each(paths)('the active part under repeated queries on the %s path', (path) => {
  it('answers from reused batches exactly as from fresh ones, and forgets them at a flush', async () => {
    const dataDir = newDataDir();
    const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    try {
      const gen = new FindingGenerator({ seed: 5, embeddingDim: DIM });
      const first = gen.next(500);
      await s.correlations.insert(first);
      const q = { selector: 'severity>=2', fields: ['id', 'severity', 'resources'] as const };
      const a = await s.correlations.query({ ...q, fields: [...q.fields] });
      const b = await s.correlations.query({ ...q, fields: [...q.fields] });
      expect(b).toEqual(a);
      const sim1 = await s.correlations.query({ similar: { id: first[7]!.id, k: 5 } });
      const sim2 = await s.correlations.query({ similar: { id: first[7]!.id, k: 5 } });
      expect(sim2).toEqual(sim1);
      // A record taken from a query is the caller's: changing it changes no later answer.
      const all = await s.correlations.query();
      all[0]!.embedding[0] = 42;
      all[0]!.resources.pods?.push('not-stored');
      expect(await s.correlations.query()).toEqual(byTime(first.map(asRecord)));
      const second = gen.next(300);
      await s.correlations.insert(second);
      expect((await s.correlations.query({ fields: ['id'] })).map((r) => r.id)).toEqual(byTime([...first, ...second].map(asRecord)).map((r) => r.id));
      await s.correlations.flush();
      expect(await s.correlations.query()).toEqual(byTime([...first, ...second].map(asRecord)));
    } finally {
      await s.close();
    }
  });

  it('keeps at most its budget of decoded batches, least recently used out first', () => {
    const cache = new SegmentCache();
    const batch = (n: number) => ({ bytes: new Uint8Array(n), rows: 0, seq: 0, minTs: 0, maxTs: 0, source: 0 });
    const decoded = { rows: 0 } as never;
    let decodes = 0;
    const decode = () => {
      decodes++;
      return decoded;
    };
    const big = Array.from({ length: 6 }, () => batch(4 * 1024 * 1024)); // 8 MiB each as counted
    for (const b of big) cache.batch(b, decode);
    expect(cache.size.batchBytes).toBe(48 * 1024 * 1024);
    cache.batch(big[0]!, decode); // a hit: most recent now
    expect(decodes).toBe(6);
    for (const b of Array.from({ length: 3 }, () => batch(4 * 1024 * 1024))) cache.batch(b, decode);
    expect(cache.size.batchBytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    cache.batch(big[0]!, decode);
    expect(decodes).toBe(9); // big[0] stayed; big[1] was the first out
    cache.batch(big[1]!, decode);
    expect(decodes).toBe(10);
    cache.batch(batch(40 * 1024 * 1024), decode); // over a quarter of the budget: not kept
    cache.forgetBatches(big);
    cache.clear();
    expect(cache.size.batchBytes).toBe(0);
  });
});

describe.each(paths)('retention on the %s path', (path) => {
  it('rewrites the manifest only when it drops something', async () => {
    const dataDir = newDataDir();
    const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    try {
      await s.correlations.insert(new FindingGenerator({ seed: 2, embeddingDim: DIM }).next(10));
      await s.correlations.flush();
      const manifest = join(s.correlations.dir, 'MANIFEST');
      const before = statSync(manifest).ino;
      expect(await s.correlations.applyRetention()).toBe(0);
      expect(statSync(manifest).ino).toBe(before);
      // Far in the future every day is past retention: the segments go and the manifest is new.
      expect(await s.correlations.applyRetention(Date.now() + 400 * 86_400_000)).toBe(1);
      expect(statSync(manifest).ino).not.toBe(before);
    } finally {
      await s.close();
    }
  });
});
