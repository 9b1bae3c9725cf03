// Queries decode segment row groups in the process's decoding threads: the answers are the
// answers of the same queries decoding on the event loop's thread, on both paths, and a
// missing or damaged segment fails the query that reads it with its code, not the store.
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { TapioStorage, type CorrelationQuery } from '../../src/index.js';
import { DecodePool, defaultDecodeThreads } from '../../src/correlations/decode-pool.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { segmentReads } from '../../src/correlations/segment-file.js';
import { newDataDir, paths } from './helpers.js';

const DIM = 16;
const DAY = 86_400_000;
const START = Math.floor(Date.now() / DAY) * DAY - DAY;

function config(dataDir: string) {
  return {
    dataDir,
    storage: { correlations: { embedding_dim: DIM, retention: '30d', compaction: { l0_size: '1GB', l1_size: '2GB' } } },
  };
}

async function build(path: 'native' | 'typescript'): Promise<{ s: TapioStorage; dataDir: string; vector: Float32Array; pod: string }> {
  // Kept for the describe block's tests (newDataDir's folders go after each test).
  const dataDir = mkdtempSync(join(tmpdir(), 'tapio-decode-'));
  const s = await TapioStorage.open(config(dataDir), { correlations: { path } });
  const gen = new FindingGenerator({ seed: 11, embeddingDim: DIM, ratePerSecond: 0.3, start: START });
  let vector: Float32Array | null = null;
  let pod = '';
  for (let b = 0; b < 3; b++) {
    const batch = gen.next(12_000);
    vector ??= Float32Array.from(batch[123]!.embedding);
    pod ||= batch[5]!.resources!.pods![0]!;
    await s.correlations.insert(batch);
    await s.correlations.flush();
  }
  return { s, dataDir, vector: vector!, pod };
}

function queries(vector: Float32Array, pod: string): Array<{ name: string; run: (s: TapioStorage) => Promise<unknown> }> {
  const from = START + 6 * 3_600_000;
  const q = (query: CorrelationQuery & { format?: 'records' }) => (s: TapioStorage) => s.correlations.query(query);
  return [
    {
      name: 'every field of an hour',
      run: q({ from, to: from + 3_600_000, fields: ['id', 'type', 'severity', 'confidence', 'eventCount', 'timeWindow', 'resources', 'pattern', 'embedding'] }),
    },
    { name: 'a selector over a resource list', run: q({ selector: `pods=${pod}`, from: START, fields: ['id', 'resources'] }) },
    {
      name: 'type and severity, newest first, limit',
      run: q({ selector: 'type=attack,severity>=3', orderBy: '-timestamp', limit: 777, fields: ['id', 'severity'] }),
    },
    {
      name: 'similarity with a selector',
      run: q({ selector: 'severity in (4,5)', similar: { embedding: vector, threshold: 0.5, k: 50 }, fields: ['id', 'resources'] }),
    },
    { name: 'similarity over every row', run: q({ similar: { embedding: vector, k: 20 }, fields: ['id', 'embedding'] }) },
    {
      name: 'an Arrow table',
      run: async (s) => {
        const t = await s.correlations.query({ selector: 'type=anomaly', from, to: from + 7_200_000, format: 'arrow' });
        const plain = (v: unknown): unknown =>
          v !== null && typeof v === 'object' && 'toArray' in v ? Array.from((v as { toArray(): ArrayLike<unknown> }).toArray(), plain) : v;
        return t.schema.fields.map((f) => [f.name, plain(t.getChild(f.name))]);
      },
    },
    {
      name: 'an aggregation',
      run: (s) => s.correlations.aggregate({ groupBy: ['type', 'severity'], bucket: '1h', measures: ['count', 'avg(confidence)', 'sum(eventCount)'] }),
    },
    { name: 'top values of a resource list', run: (s) => s.correlations.topValues('resources.pods', 10) },
    { name: 'explain', run: async (s) => (await s.correlations.explain({ selector: 'type=attack', from, to: from + 3_600_000 })).explain.bytesRead },
  ];
}

afterEach(() => DecodePool.configure(defaultDecodeThreads()));

describe.each(paths)('decoding threads on the %s path', (path) => {
  let fixture: Awaited<ReturnType<typeof build>> | undefined;
  afterAll(async () => {
    await fixture?.s.close();
    if (fixture !== undefined) rmSync(fixture.dataDir, { recursive: true, force: true });
  });

  beforeAll(async () => {
    fixture = await build(path);
  }, 120_000);

  it('gives every query the answer it gets decoding on its own thread', async () => {
    const { vector, pod, dataDir } = fixture!;
    expect(fixture!.s.correlations.segments().length).toBeGreaterThanOrEqual(3);
    // Each run in a store opened afresh, so that it decodes what it reads rather than take what
    // an earlier query kept (segment-cache.ts).
    await fixture!.s.close();
    const fresh = () => TapioStorage.open(config(dataDir), { correlations: { path } });
    try {
      for (const { name, run } of queries(vector, pod)) {
        DecodePool.configure(0);
        let s = await fresh();
        let own: unknown;
        let ownReads: number;
        try {
          const before = segmentReads.rowGroups;
          own = await run(s);
          ownReads = segmentReads.rowGroups - before;
        } finally {
          await s.close();
        }
        DecodePool.configure(2);
        s = await fresh();
        let threaded: unknown;
        try {
          threaded = await run(s);
        } finally {
          await s.close();
        }
        expect(threaded, name).toEqual(own);
        expect(ownReads, `${name}: the query read row groups`).toBeGreaterThan(0);
      }
      expect(DecodePool.shared().threads).toBeGreaterThan(0);
    } finally {
      // The next tests of the block use the fixture's store.
      fixture!.s = await fresh();
    }
  }, 120_000);

  it('serves ten queries at once, the same as one at a time', async () => {
    const { s, vector, pod } = fixture!;
    DecodePool.configure(2);
    const list = queries(vector, pod);
    const alone = [];
    for (const { run } of list) alone.push(await run(s));
    const together = await Promise.all([...list, ...list.slice(0, 1)].map(({ run }) => run(s)));
    expect(together.slice(0, list.length)).toEqual(alone);
    expect(together[list.length]).toEqual(alone[0]);
  }, 120_000);
});

describe('TAPIO_DECODE_THREADS', () => {
  it('sets the default number of threads, and a bad value is ERR_CONFIG', () => {
    expect(defaultDecodeThreads('0')).toBe(0);
    expect(defaultDecodeThreads('3')).toBe(3);
    expect(defaultDecodeThreads(undefined)).toBeGreaterThanOrEqual(1);
    for (const bad of ['-1', '1.5', 'two', '65']) expect(() => defaultDecodeThreads(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});

describe('a segment the decoding threads cannot read', () => {
  it('fails the query with ERR_SEGMENT_IO when the file is gone and ERR_SEGMENT_CORRUPT when it is cut short; other queries still run, and a lost thread is replaced', async () => {
    const path = paths[0]!;
    const dataDir = newDataDir('tapio-decode-bad-');
    let s = await TapioStorage.open(config(dataDir), { correlations: { path } });
    const gen = new FindingGenerator({ seed: 3, embeddingDim: DIM, ratePerSecond: 1, start: START });
    await s.correlations.insert(gen.next(5_000));
    await s.correlations.flush();
    await s.correlations.insert(gen.next(5_000));
    await s.correlations.flush();
    const [a, b] = s.correlations.segments();
    await s.close();
    DecodePool.configure(2);
    s = await TapioStorage.open(config(dataDir), { correlations: { path } });
    const inA = { from: a!.minTs, to: a!.maxTs, fields: ['id' as const] };
    const inB = { from: b!.minTs + 1, to: b!.maxTs, fields: ['id' as const] };
    const fileA = join(s.correlations.dir, a!.file);
    truncateSync(fileA, Math.floor(statSync(fileA).size / 2));
    await expect(s.correlations.query(inA)).rejects.toMatchObject({ code: 'ERR_SEGMENT_CORRUPT' });
    expect((await s.correlations.query(inB)).length).toBeGreaterThan(0);
    rmSync(fileA);
    await expect(s.correlations.query(inA)).rejects.toMatchObject({ code: 'ERR_SEGMENT_IO' });
    expect((await s.correlations.query(inB)).length).toBeGreaterThan(0);
    // A file that goes away under a thread that holds it open traps its WebAssembly: the thread
    // is replaced, the request tried once on the new one, and the query fails with the file's error.
    const lost = DecodePool.shared().lost;
    rmSync(join(s.correlations.dir, b!.file));
    await expect(s.correlations.query({ ...inB, fields: ['id', 'pattern'] })).rejects.toMatchObject({ code: 'ERR_SEGMENT_IO' });
    expect(DecodePool.shared().lost).toBeGreaterThan(lost);
    expect(await s.correlations.query({ from: b!.maxTs + 1, fields: ['id'] })).toEqual([]);
    await s.close();
  }, 60_000);
});
