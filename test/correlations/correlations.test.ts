// The correlation store on both paths: round trip of every field through the active part, a
// flush and a reopen; queries by time; bad input; the manifest and the files it names.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import { TapioStorage, type CorrelationInput, type TapioConfigInput } from '../../src/index.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { asRecord, byTime, newDataDir, paths } from './helpers.js';

const DIM = 8;
/** Noon UTC today: within any retention. */
const NOON = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * 3_600_000;

function finding(over: Partial<CorrelationInput> = {}): CorrelationInput {
  return {
    id: 'f-1',
    timestamp: NOON,
    type: 'attack',
    severity: 4,
    confidence: 0.75,
    eventCount: 12,
    timeWindow: 300,
    resources: { pods: ['nginx-abc', 'nginx-def'], nodes: ['node-1'] },
    pattern: new Uint8Array([1, 2, 3]),
    embedding: Float32Array.from({ length: DIM }, (_, i) => i / DIM),
    ...over,
  };
}

/** Findings exercising every field's edge: absent and empty resources, empty pattern, a number array embedding, Date timestamps. */
function edgeFindings(): CorrelationInput[] {
  const base = NOON;
  return [
    finding({ id: 'a', timestamp: base + 3 }),
    finding({ id: 'b', timestamp: new Date(base + 1), resources: {}, pattern: new Uint8Array(0) }),
    finding({ id: 'c', timestamp: base + 2, resources: { pods: [] } }),
    (() => {
      const f = finding({ id: 'd', timestamp: base, type: 'misconfiguration', severity: 1, confidence: 0, eventCount: 0, timeWindow: 0 });
      delete f.resources;
      delete f.pattern;
      f.embedding = Array.from({ length: DIM }, (_, i) => -i * 1.5);
      return f;
    })(),
    finding({
      id: 'e',
      timestamp: base + 2,
      severity: 5,
      confidence: 1,
      eventCount: 2 ** 31 - 1,
      resources: { deployments: ['web'], 'my-crds_x': ['a', 'a'] },
    }),
  ];
}

describe.each(paths)('correlations on the %s path', (path) => {
  async function open(dataDir: string, correlations: NonNullable<TapioConfigInput['storage']>['correlations'] = {}): Promise<TapioStorage> {
    return TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM, ...correlations } } }, { correlations: { path } });
  }

  it('returns every field as inserted from the active part, after a flush and after a reopen', async () => {
    const dataDir = newDataDir();
    const input = edgeFindings();
    const want = byTime(input.map(asRecord));
    let s = await open(dataDir);
    expect(s.correlations.path).toBe(path);
    await s.correlations.insert(input);
    expect(await s.correlations.query()).toEqual(want);
    expect(await s.correlations.flush()).toEqual({ rows: 5, segments: 1 });
    expect(s.correlations.stats().levels).toMatchObject([{ level: 0, segments: 1, rows: 5 }]);
    expect(await s.correlations.query()).toEqual(want);
    await s.close();
    s = await open(dataDir);
    expect(await s.correlations.query()).toEqual(want);
    await s.close();
  });

  it('replays the active part from the WAL after an unclean stop, exactly once', async () => {
    const dataDir = newDataDir();
    const gen = new FindingGenerator({ seed: 7, embeddingDim: DIM });
    const first = gen.next(300);
    const second = gen.next(200);
    let s = await open(dataDir);
    await s.correlations.insert(first);
    await s.correlations.flush();
    await s.correlations.insert(second);
    // A second handle cannot open the store while this one holds it; drop this one unclosed by
    // opening the same directory from a child would need a process: here the WAL and manifest
    // are read as a reopen after a crash would, by copying the directory while it is open.
    const copy = newDataDir();
    await import('node:fs/promises').then((fs) => fs.cp(dataDir, copy, { recursive: true }));
    await s.close();
    for (const lock of ['correlations/LOCK', 'correlations/wal/LOCK', 'wal/LOCK']) writeFileSync(join(copy, lock), '');
    s = await open(copy);
    const stats = s.correlations.stats();
    expect(stats.replayedRows).toBe(200);
    const got = await s.correlations.query({ fields: ['id'] });
    expect(got.map((r) => r.id)).toEqual(byTime([...first, ...second].map(asRecord)).map((r) => r.id));
    await s.close();
  });

  it('answers time ranges half-open, with limits and field projection, across segments and the active part', async () => {
    const dataDir = newDataDir();
    const gen = new FindingGenerator({ seed: 3, embeddingDim: DIM, ratePerSecond: 0.01 }); // about one per 100 s: several days
    const all = gen.next(3000);
    const s = await open(dataDir);
    await s.correlations.insert(all.slice(0, 1000));
    await s.correlations.flush();
    await s.correlations.insert(all.slice(1000, 2000));
    await s.correlations.flush();
    await s.correlations.insert(all.slice(2000));
    const segments = s.correlations.segments();
    expect(new Set(segments.map((x) => x.day)).size).toBe(segments.length > 0 ? new Set(segments.map((x) => x.day)).size : 0);
    for (const seg of segments) {
      expect(seg.file).toBe(`segments/day=${seg.day}/L0-${seg.file.slice(-14, -8)}.parquet`);
      expect(new Date(seg.minTs).toISOString().slice(0, 10)).toBe(seg.day);
      expect(new Date(seg.maxTs).toISOString().slice(0, 10)).toBe(seg.day);
    }
    const ts = all.map((f) => f.timestamp as number);
    const from = ts[500]!;
    const to = ts[2500]!;
    const got = await s.correlations.query({ from: new Date(from), to, fields: ['id', 'severity'] });
    const want = all.filter((f) => (f.timestamp as number) >= from && (f.timestamp as number) < to);
    expect(got.map((r) => r.id)).toEqual(want.map((f) => f.id));
    expect(Object.keys(got[0]!).sort()).toEqual(['id', 'severity', 'timestamp']);
    const limited = await s.correlations.query({ from, limit: 10 });
    expect(limited.map((r) => r.id)).toEqual(all.slice(500, 510).map((f) => f.id));
    const table = await s.correlations.query({ from, to, fields: ['id', 'resources'], format: 'arrow' });
    expect(table.numRows).toBe(want.length);
    expect(table.schema.fields.map((f) => f.name)).toContain('resources.pods');
    expect(table.schema.fields.map((f) => f.name)).not.toContain('embedding');
    await s.close();
  });

  it('refuses a batch with a bad record or a repeated id whole, naming the record, the field and the expectation', async () => {
    const dataDir = newDataDir();
    const s = await open(dataDir);
    const cases: Array<[Partial<CorrelationInput> | Record<string, unknown>, RegExp]> = [
      [{ type: 'bogus' }, /record 1 .*type: one of anomaly, attack, misconfiguration/],
      [{ severity: 6 }, /record 1 .*severity: a whole number from 1 to 5/],
      [{ severity: 2.5 }, /record 1 .*severity/],
      [{ confidence: 1.5 }, /record 1 .*confidence/],
      [{ confidence: Number.NaN }, /record 1 .*confidence/],
      [{ eventCount: -1 }, /record 1 .*eventCount/],
      [{ timeWindow: 1.5 }, /record 1 .*timeWindow/],
      [{ embedding: new Float32Array(DIM + 1) }, /record 1 .*embedding: a Float32Array or an array of 8 finite/],
      [{ embedding: [1, 2, 3, 4, 5, 6, 7, Number.POSITIVE_INFINITY] }, /record 1 .*embedding/],
      [{ embedding: [1, 2, 3, 4, 5, 6, 7, 1e39] }, /record 1 .*embedding/],
      [{ embedding: Float32Array.of(1, 2, 3, Number.NaN, 5, 6, 7, 8) }, /record 1 .*embedding/],
      [{ embedding: Float32Array.of(Number.POSITIVE_INFINITY, 2, 3, 4, 5, 6, 7, 8) }, /record 1 .*embedding/],
      [{ embedding: Float32Array.of(Number.POSITIVE_INFINITY, 2, 3, 4, 5, 6, 7, Number.NEGATIVE_INFINITY) }, /record 1 .*embedding/],
      [{ resources: { pods: ['a\u0001b'] } }, /record 1 .*resources/],
      [{ resources: { pods: ['web-\ud800'] } }, /record 1 .*resources/],
      [{ id: 'a\tb' }, /record 1 .*id/],
      [{ id: '' }, /record 1 .*id/],
      [{ timestamp: -5 }, /record 1 .*timestamp/],
      [{ timestamp: new Date(Number.NaN) }, /record 1 .*timestamp/],
      [{ resources: { Pods: ['a'] } }, /record 1 .*resources/],
      [{ resources: { pods: 'a' } }, /record 1 .*resources/],
      [{ resources: { pods: [''] } }, /record 1 .*resources/],
      [{ pattern: 'abc' }, /record 1 .*pattern/],
      [{ extra: 1 }, /record 1 .*unknown field extra/],
      [{ id: 'ok-0' }, /record 1 .*id: "ok-0" is also the id of record 0/],
    ];
    for (const [over, message] of cases) {
      const batch = [finding({ id: 'ok-0' }), { ...finding({ id: 'x' }), ...over } as CorrelationInput, finding({ id: 'ok-2' })];
      await expect(s.correlations.insert(batch)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message, details: { index: 1 } });
    }
    await expect(s.correlations.insert('x' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(await s.correlations.query()).toEqual([]);
    expect(s.correlations.stats().inserts).toBe(0);
    await expect(s.correlations.query({ form: 1 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /unknown option "form"/ });
    await expect(s.correlations.query({ fields: ['nope'] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.query({ selector: 'pods in (a' })).rejects.toMatchObject({ code: 'ERR_SELECTOR_SYNTAX', details: { offset: 10 } });
    await expect(s.correlations.query({ limit: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await s.close();
  });

  it('takes finding types from the configuration, and refuses a list that reorders the store’s', async () => {
    const dataDir = newDataDir();
    let s = await open(dataDir, { finding_types: ['anomaly', 'attack'] });
    await s.correlations.insert([finding({ type: 'anomaly' })]);
    await expect(s.correlations.insert([finding({ id: 'm', type: 'misconfiguration' })])).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await s.close();
    s = await open(dataDir, { finding_types: ['anomaly', 'attack', 'drift'] });
    await s.correlations.insert([finding({ id: 'd', type: 'drift' })]);
    expect((await s.correlations.query()).map((r) => r.type)).toEqual(['anomaly', 'drift']);
    await s.close();
    await expect(open(dataDir, { finding_types: ['attack', 'anomaly', 'drift'] })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: /add new ones at the end/,
    });
    await expect(open(dataDir, { finding_types: ['anomaly', 'attack', 'drift'], embedding_dim: 16 })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: /embedding_dim/,
    });
  });

  it('removes files the manifest does not name at open, and refuses a damaged manifest or a cut segment naming the file', async () => {
    const dataDir = newDataDir();
    let s = await open(dataDir);
    await s.correlations.insert([finding()]);
    await s.close();
    const store = join(dataDir, 'correlations');
    const seg = s.correlations.segments()[0]!;
    // Written under their final names only once whole: nothing else is in the folder.
    expect(readdirSync(join(store, 'segments', `day=${seg.day}`)).sort()).toEqual(['L0-000001.emb', 'L0-000001.parquet']);
    writeFileSync(join(store, 'segments', `day=${seg.day}`, 'L0-999999.parquet'), 'left by a crash');
    writeFileSync(join(store, 'segments', `day=${seg.day}`, 'L0-999998.parquet.tmp'), 'cut short by a crash');
    s = await open(dataDir);
    expect(s.correlations.stats().removedFiles.sort()).toEqual([`segments/day=${seg.day}/L0-999998.parquet.tmp`, `segments/day=${seg.day}/L0-999999.parquet`]);
    expect(readdirSync(join(store, 'segments', `day=${seg.day}`)).sort()).toEqual(['L0-000001.emb', 'L0-000001.parquet']);
    await s.close();
    const file = join(store, seg.file);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    await expect(open(dataDir)).rejects.toMatchObject({ code: 'ERR_SEGMENT_CORRUPT', message: new RegExp(seg.file.replace(/[.=]/g, '.')) });
    // Salvage sets the cut segment aside; the rest of the store opens.
    const saved = readFileSync(join(store, 'MANIFEST'));
    const salvaged = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path, recovery: 'salvage' } });
    expect(salvaged.correlations.stats().salvaged).toEqual([seg.file]);
    expect(await salvaged.correlations.query()).toEqual([]);
    await salvaged.close();
    expect(readdirSync(join(store, 'damaged'))).toContain(seg.file.replace(/\//g, '_'));
    // Put everything back as it was.
    writeFileSync(join(store, 'MANIFEST'), saved);
    mkdirSync(dirname(file), { recursive: true });
    renameSync(join(store, 'damaged', seg.embeddings.replace(/\//g, '_')), join(store, seg.embeddings));
    writeFileSync(file, bytes);
    const manifest = readFileSync(join(store, 'MANIFEST'), 'utf8');
    writeFileSync(join(store, 'MANIFEST'), manifest.replace('"walSeq":', '"walSeq": '));
    await expect(open(dataDir)).rejects.toMatchObject({ code: 'ERR_SEGMENT_CORRUPT', message: /MANIFEST is damaged \(its checksum does not match/ });
    writeFileSync(join(store, 'MANIFEST'), manifest);
    s = await open(dataDir);
    expect((await s.correlations.query()).map((r) => r.id)).toEqual(['f-1']);
    await s.close();
  });
});

describe.each(paths)('correlations on the %s path, more', (path) => {
  const open = (dataDir: string, correlations: NonNullable<TapioConfigInput['storage']>['correlations'] = {}) =>
    TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM, ...correlations } } }, { correlations: { path } });

  it('takes concurrent inserts from many async callers, each batch whole, flushing in the background meanwhile', async () => {
    const dataDir = newDataDir();
    const s = await open(dataDir, { active_memory: '1MiB' });
    const gen = new FindingGenerator({ seed: 21, embeddingDim: DIM });
    const batches = Array.from({ length: 64 }, (_, b) => gen.next(1 + ((b * 37) % 120)).map((f, i) => ({ ...f, id: `${b}-${i}` })));
    const results = await Promise.all(batches.map((batch) => s.correlations.insert(batch)));
    expect(results.map((r) => r.inserted)).toEqual(batches.map((b) => b.length));
    const got = await s.correlations.query({ fields: ['id'] });
    expect(got.map((r) => r.id).sort()).toEqual(
      batches
        .flat()
        .map((f) => f.id)
        .sort(),
    );
    expect(s.correlations.stats().inserts).toBe(64);
    await s.close();
  });

  it('with wal_enabled: false writes no WAL record, says so in stats() and in a warning at open', async () => {
    const dataDir = newDataDir();
    const warnings: string[] = [];
    const listener = (w: Error) => warnings.push(w.message);
    process.on('warning', listener);
    try {
      const s = await open(dataDir, { wal_enabled: false });
      await s.correlations.insert([finding()]);
      expect(s.correlations.stats().walEnabled).toBe(false);
      expect((await s.correlations.query()).length).toBe(1);
      await s.close();
      await new Promise((r) => setImmediate(r));
      expect(warnings.some((w) => /wal_enabled is false/.test(w))).toBe(true);
    } finally {
      process.off('warning', listener);
    }
  });

  it('drops whole day partitions past retention, but not while a query holds them', async () => {
    const dataDir = newDataDir();
    const s = await open(dataDir, { retention: '2d' });
    const day = 86_400_000;
    const today = Math.floor(Date.now() / day) * day;
    for (const [i, start] of [today - 5 * day, today - 4 * day, today].entries()) {
      await s.correlations.insert(new FindingGenerator({ seed: i, embeddingDim: DIM, start }).next(50));
      await s.correlations.flush();
    }
    expect(s.correlations.segments().length).toBe(3);
    const old = s.correlations.segments().filter((x) => x.minTs < today);
    // A query started before retention runs still reads the old segments whole.
    const running = s.correlations.query({ fields: ['id'] });
    expect(await s.correlations.applyRetention()).toBe(2);
    expect((await running).length).toBe(150);
    expect(s.correlations.segments().map((x) => x.day)).toEqual([new Date(today).toISOString().slice(0, 10)]);
    expect((await s.correlations.query()).length).toBe(50);
    for (const x of old) expect(existsSync(join(s.correlations.dir, x.file)), x.file).toBe(false);
    expect(s.correlations.stats().retentionDropped).toBe(2);
    await s.close();
  });
});

describe.each(paths)('the bulk path on the %s path', (path) => {
  const open = (dataDir: string, dim = DIM) => TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: dim } } }, { correlations: { path } });

  it('inserts an Arrow table whole, as insert() would the same findings, and refuses a bad column naming the record', async () => {
    const gen = new FindingGenerator({ seed: 31, embeddingDim: DIM });
    const findings = gen.next(700);
    const a = await open(newDataDir());
    await a.correlations.insert(findings);
    const table = await a.correlations.query({ format: 'arrow' });
    await a.close();
    const b = await open(newDataDir());
    expect(await b.correlations.insertArrow(table)).toEqual({ inserted: 700 });
    expect(await b.correlations.insertArrow(table.batches[0]!)).toMatchObject({ inserted: table.batches[0]!.numRows });
    const got = await b.correlations.query();
    expect(got.filter((_, i) => i % 2 === 0).length).toBeGreaterThan(0);
    expect(new Set(got.map((r) => r.id)).size).toBe(700);
    expect((await b.correlations.query({ limit: 700 })).length).toBe(700);
    // A plain table of the caller's (utf8 type, list<utf8> resources) is taken too.
    const plain = arrow.tableFromArrays({
      id: ['p1'],
      type: ['attack'],
      severity: Int8Array.of(2),
      confidence: Float32Array.of(0.5),
      eventCount: Int32Array.of(1),
      timeWindow: Int32Array.of(60),
      timestamp: Float64Array.of(NOON),
    });
    const withEmbedding = plain.assign(
      new arrow.Table({
        embedding: arrow.makeVector(
          arrow.makeData({
            type: new arrow.FixedSizeList(DIM, new arrow.Field('item', new arrow.Float32(), false)),
            length: 1,
            child: arrow.makeData({ type: new arrow.Float32(), length: DIM, data: new Float32Array(DIM).fill(0.25) }),
          }),
        ),
      }),
    );
    await b.correlations.insertArrow(withEmbedding);
    const p1 = (await b.correlations.query()).find((r) => r.id === 'p1')!;
    expect(p1).toMatchObject({ type: 'attack', severity: 2, confidence: 0.5, eventCount: 1, timeWindow: 60, resources: {} });
    // Bad input: a value out of range, a missing column, another dimension; nothing stored.
    const rows = (await b.correlations.query()).length;
    const bad = withEmbedding.assign(arrow.tableFromArrays({ severity: Int8Array.of(7) }));
    await expect(b.correlations.insertArrow(bad)).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      message: /record 0 \(severity\) was refused: expected a whole number from 1 to 5/,
    });
    await expect(b.correlations.insertArrow(withEmbedding.select(['id', 'type', 'embedding']))).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      message: /column timestamp/,
    });
    await expect(b.correlations.insertArrow(plain)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: /column embedding/ });
    await expect(b.correlations.insertArrow({} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect((await b.correlations.query()).length).toBe(rows);
    await b.close();
    const c = await open(newDataDir(), 16);
    await expect(c.correlations.insertArrow(withEmbedding)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: /fixed-size list of 16 float32/ });
    await c.close();
  });
});

describe.each(paths)('pruning on the %s path', (path) => {
  it('answers a one-hour query from the one segment and the row groups that meet it, opening no other file', async () => {
    const { segmentReads } = await import('../../src/correlations/segment-file.js');
    const dataDir = newDataDir();
    const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    const day = 86_400_000;
    const today = Math.floor(Date.now() / day) * day;
    // Three days, about 50,000 findings each (one every ~1.7 s): several row groups per segment.
    for (const [i, start] of [today - 2 * day, today - day, today].entries()) {
      const gen = new FindingGenerator({ seed: i, embeddingDim: DIM, start, ratePerSecond: 0.6 });
      for (let k = 0; k < 5; k++) await s.correlations.insert(gen.next(10_000));
      await s.correlations.flush();
    }
    const segments = s.correlations.segments();
    expect(segments.length).toBe(3);
    expect(segments.every((x) => x.groups.length >= 3)).toBe(true);
    const from = today - day + 10 * 3_600_000;
    const to = from + 3_600_000;
    const before = { ...segmentReads };
    const got = await s.correlations.query({ from, to, fields: ['id'] });
    expect(segmentReads.opens - before.opens).toBe(1);
    // The hour lies within one or two row groups of the day's segment.
    expect(segmentReads.rowGroups - before.rowGroups).toBeLessThanOrEqual(2);
    expect(got.length).toBeGreaterThan(1000);
    expect(got.every((r) => r.timestamp.getTime() >= from && r.timestamp.getTime() < to)).toBe(true);
    const all = await s.correlations.query({ from: today - day, to: today, fields: ['id'] });
    expect(all.filter((r) => r.timestamp.getTime() >= from && r.timestamp.getTime() < to).map((r) => r.id)).toEqual(got.map((r) => r.id));
    await s.close();
  }, 120_000);
});

describe.each(paths)('embedding side files on the %s path', (path) => {
  it.each([8, 128, 20])(
    'hold each row of a segment, aligned, with its norm, after flushes and compaction (dim %d)',
    async (dim) => {
      const { decodeEmbeddingHeader, embeddingStride } = await import('../../src/correlations/segment-file.js');
      const dataDir = newDataDir();
      const open = (l0: string) =>
        TapioStorage.open(
          { dataDir, storage: { correlations: { embedding_dim: dim, compaction: { l0_size: l0, l1_size: '100GB' } } } },
          { correlations: { path } },
        );
      let s = await open('50GB');
      const gen = new FindingGenerator({ seed: dim, embeddingDim: dim });
      for (let k = 0; k < 3; k++) {
        await s.correlations.insert(gen.next(300));
        await s.correlations.flush();
      }
      await s.close();
      for (const l0 of ['50GB', '1B']) {
        s = await open(l0);
        await s.correlations.compactionSettled();
        for (const seg of s.correlations.segments()) {
          const bytes = readFileSync(join(s.correlations.dir, seg.embeddings));
          const header = decodeEmbeddingHeader(bytes);
          if (typeof header === 'string') throw new Error(header);
          expect(header).toEqual({ dim, stride: embeddingStride(dim), rows: seg.rows, normsAt: 64 + seg.rows * embeddingStride(dim) });
          expect(header.stride % 64).toBe(0);
          expect(bytes.length).toBe(header.normsAt + seg.rows * 4);
          const rows = await s.correlations.query({ from: seg.minTs, to: seg.maxTs + 1 });
          expect(rows.length).toBe(seg.rows);
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          rows.forEach((r, i) => {
            const at = 64 + i * header.stride;
            const row = new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + dim * 4));
            expect(row).toEqual(r.embedding);
            const norm = Math.hypot(...r.embedding);
            expect(view.getFloat32(header.normsAt + i * 4, true)).toBeCloseTo(norm, 5);
          });
        }
        expect(s.correlations.segments().map((x) => x.level)).toEqual(l0 === '1B' ? [1] : [0, 0, 0]);
        await s.close();
      }
    },
    60_000,
  );
});

describe.each(paths)('reads during flushes on the %s path', (path) => {
  it('never see a row twice or miss one while flushes swap parts for segments', async () => {
    const dataDir = newDataDir();
    const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    const gen = new FindingGenerator({ seed: 77, embeddingDim: DIM });
    let inserted = 0;
    let reads = 0;
    const writer = (async () => {
      for (let k = 0; k < 6; k++) {
        await s.correlations.insert(gen.next(200));
        inserted += 200;
        await s.correlations.flush();
      }
    })();
    let done = false;
    void writer.finally(() => (done = true));
    while (!done) {
      const before = inserted;
      const ids = (await s.correlations.query({ fields: ['id'] })).map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(before);
      expect(ids.length).toBeLessThanOrEqual(inserted);
      reads++;
      // A read of the parts in memory alone completes without waiting on I/O: let the writer run.
      await new Promise((r) => setImmediate(r));
    }
    await writer;
    expect(reads).toBeGreaterThan(3);
    expect((await s.correlations.query({ fields: ['id'] })).length).toBe(1200);
    await s.close();
  }, 60_000);
});

describe.each(paths)('inserts racing close() on the %s path', (path) => {
  it.each([true, false])('either resolve and are kept, or are refused with ERR_CLOSED (wal_enabled %s)', async (wal) => {
    const dataDir = newDataDir();
    const open = () => TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM, wal_enabled: wal } } }, { correlations: { path } });
    const s = await open();
    const gen = new FindingGenerator({ seed: 5, embeddingDim: DIM });
    const batches = Array.from({ length: 20 }, (_, b) => gen.next(100).map((f, i) => ({ ...f, id: `${b}-${i}` })));
    const inserts = batches.map((batch) => s.correlations.insert(batch));
    const closing = s.close();
    const outcomes = await Promise.allSettled(inserts);
    await closing;
    const kept = outcomes.flatMap((o, b) => (o.status === 'fulfilled' ? batches[b]!.map((f) => f.id) : []));
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'ERR_CLOSED' });
    expect(kept.length).toBeGreaterThan(0);
    const t = await open();
    expect((await t.correlations.query({ fields: ['id'] })).map((r) => r.id).sort()).toEqual(kept.sort());
    await t.close();
  });
});
