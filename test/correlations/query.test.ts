// The query layer over a store whose findings sit in L1 segments, L0 segments and the active part
// at once: selectors, time ranges, order and limit, similarity, aggregations and topValues give
// what a plain filter of the inserted findings gives, on both paths; pruning skips what the
// manifest rules out; bad input is refused with its code.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseSelector, TapioStorage, type CorrelationInput, type CorrelationRecord } from '../../src/index.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { asRecord, paths } from './helpers.js';

const DIM = 16;
const START = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2 * 86_400_000;

type Labels = Record<string, string | string[]>;

function labels(r: CorrelationRecord): Labels {
  const out: Labels = { type: r.type, severity: String(r.severity), id: r.id };
  for (const [k, v] of Object.entries(r.resources)) {
    out[k] = v;
    out[`resources.${k}`] = v;
  }
  return out;
}

const byTsId = (a: CorrelationRecord, b: CorrelationRecord) => a.timestamp.getTime() - b.timestamp.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The canonical float64 score the kernels compute: 16 lanes, pairwise reduction, stored float32 norms. */
function dot(a: Float32Array, b: Float32Array): number {
  const acc = new Float64Array(16);
  for (let i = 0; i < a.length; i++) acc[i % 16]! += a[i]! * b[i]!;
  for (let w = 8; w >= 1; w >>= 1) for (let j = 0; j < w; j++) acc[j]! += acc[j + w]!;
  return acc[0]!;
}
function referenceScore(q: Float32Array, e: Float32Array): number {
  let s = 0;
  for (let i = 0; i < e.length; i++) s += e[i]! * e[i]!;
  const n = Math.fround(Math.sqrt(s));
  const qn = Math.sqrt(dot(q, q));
  const raw = qn * n === 0 ? 0 : dot(q, e) / (qn * n);
  return raw > 1 ? 1 : raw < -1 ? -1 : raw;
}

/** Builds the store: L1 segments (compacted), L0 segments overlapping them in time, and an active part. */
async function build(
  path: 'native' | 'typescript',
): Promise<{ s: TapioStorage; dataDir: string; all: CorrelationRecord[]; names: { pods: string[]; nodes: string[] } }> {
  // Not newDataDir: its directories go after each test, and this one serves a whole suite.
  const dataDir = mkdtempSync(join(tmpdir(), 'tapio-query-'));
  const config = (l0: string) => ({ dataDir, storage: { correlations: { embedding_dim: DIM, compaction: { l0_size: l0, l1_size: '2GB' } } } });
  const gen = new FindingGenerator({ seed: 21, embeddingDim: DIM, ratePerSecond: 0.03, start: START, pods: 40, nodes: 6, namespaces: 3 });
  const inputs: CorrelationInput[] = [];
  let s = await TapioStorage.open(config('1GB'), { correlations: { path } });
  for (let b = 0; b < 6; b++) {
    const batch = gen.next(500);
    inputs.push(...batch);
    await s.correlations.insert(batch);
    await s.correlations.flush();
  }
  await s.close();
  s = await TapioStorage.open(config('1KB'), { correlations: { path } });
  await s.correlations.compactionSettled();
  await s.close();
  s = await TapioStorage.open(config('1GB'), { correlations: { path } });
  for (let b = 0; b < 4; b++) {
    const batch = gen.next(500);
    // Half of each batch goes back a day: L0 segments overlap the L1 ones in time.
    batch.forEach((f, i) => i % 2 === 0 && (f.timestamp = (f.timestamp as number) - 86_400_000));
    // Exact ties for similarity: copies of earlier findings' embeddings under other ids.
    for (let d = 0; d < 5; d++) batch.push({ ...inputs[d * 97]!, id: `dup-${b}-${d}`, timestamp: (batch[d]!.timestamp as number) + 1 });
    inputs.push(...batch);
    await s.correlations.insert(batch);
    if (b < 3) await s.correlations.flush();
  }
  const all = inputs.map(asRecord);
  // Names most frequent first: selectors over them match many rows in many segments.
  const byCount = (names: string[]) => {
    const n = new Map<string, number>();
    for (const x of names) n.set(x, (n.get(x) ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([x]) => x);
  };
  const pods = byCount(all.flatMap((r) => r.resources.pods ?? []));
  const nodes = byCount(all.flatMap((r) => r.resources.nodes ?? []));
  return { s, dataDir, all, names: { pods, nodes } };
}

describe.each(paths)('queries on the %s path', (path) => {
  let fixture: Awaited<ReturnType<typeof build>>;
  let s: TapioStorage;

  beforeAll(async () => {
    fixture = await build(path);
    s = fixture.s;
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    if (fixture !== undefined) rmSync(fixture.dataDir, { recursive: true, force: true });
  });

  it('has findings in L1 and L0 segments and in the active part', () => {
    const levels = new Set(s.correlations.segments().map((x) => x.level));
    expect(levels).toEqual(new Set([0, 1]));
    expect(s.correlations.stats().activeRows).toBe(505);
    expect(s.correlations.stats().rows).toBe(fixture.all.length);
  });

  function expectSame(got: CorrelationRecord[], want: CorrelationRecord[]): void {
    expect(got.map((r) => r.id).sort()).toEqual(want.map((r) => r.id).sort());
    expect([...got].sort(byTsId)).toEqual([...want].sort(byTsId));
  }

  it('selects with Kubernetes selectors over type, severity, id and multi-valued resources', async () => {
    const { pods, nodes } = fixture.names;
    const cases = [
      'type=attack',
      'type!=anomaly',
      'severity>3',
      'severity in (1,5)',
      `pods=${pods[0]}`,
      `pods!=${pods[0]}`,
      `nodes in (${nodes[0]},${nodes[1]}),type=anomaly`,
      `nodes notin (${nodes[0]})`,
      'deployments',
      '!deployments',
      'nodes,!deployments,severity<=2',
      `resources.nodes=${nodes[2]}`,
      'pods=no-such-pod',
      `nodes=~"node-00[0-2].*"`,
      `pods!~".*-[b-m].*"`,
      `id=${fixture.all[10]!.id}`,
      '',
    ];
    for (const text of cases) {
      const sel = parseSelector(text);
      const want = fixture.all.filter((r) => sel.matches(labels(r)));
      const got = await s.correlations.query({ selector: text });
      expectSame(got, want);
    }
  });

  it('gives the rows of a plain filter for random selectors and time ranges (property)', async () => {
    const { pods, nodes } = fixture.names;
    const lo = START;
    const hi = Math.max(...fixture.all.map((r) => r.timestamp.getTime())) + 1;
    const value = fc.constantFrom(...pods.slice(0, 6), ...nodes.slice(0, 4), 'anomaly', 'attack', 'misconfiguration', '1', '3', '5', 'nothing');
    const resource = fc.oneof(
      fc.tuple(fc.constantFrom('pods', 'resources.pods'), fc.constantFrom(...pods.slice(0, 4), pods.at(-1)!)),
      fc.tuple(fc.constantFrom('nodes', 'resources.nodes'), fc.constantFrom(...nodes.slice(0, 3), nodes.at(-1)!)),
    );
    const requirement = fc.oneof(
      fc.tuple(resource, fc.constantFrom('=', '!=', '==')).map(([[k, v], o]) => `${k}${o}${v}`),
      fc
        .tuple(fc.constantFrom('type', 'severity', 'pods', 'nodes', 'namespaces', 'deployments'), fc.constantFrom('=', '!=', '=='), value)
        .map(([k, o, v]) => `${k}${o}${v}`),
      fc
        .tuple(fc.constantFrom('pods', 'nodes', 'type'), fc.constantFrom('in', 'notin'), fc.array(value, { minLength: 1, maxLength: 3 }))
        .map(([k, o, v]) => `${k} ${o} (${v.join(',')})`),
      fc.tuple(fc.constantFrom('severity'), fc.constantFrom('>', '<', '>=', '<='), fc.integer({ min: 0, max: 6 })).map(([k, o, v]) => `${k}${o}${v}`),
      fc.tuple(fc.constantFrom('', '!'), fc.constantFrom('deployments', 'nodes', 'pods')).map(([n, k]) => `${n}${k}`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(requirement, { maxLength: 3 }),
        fc.integer({ min: lo, max: hi }),
        fc.integer({ min: 0, max: hi - lo }),
        fc.constantFrom<'timestamp' | '-timestamp'>('timestamp', '-timestamp'),
        fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
        async (reqs, from, span, orderBy, limit) => {
          const text = reqs.join(',');
          const sel = parseSelector(text);
          const to = from + span;
          const want = fixture.all.filter((r) => r.timestamp.getTime() >= from && r.timestamp.getTime() < to && sel.matches(labels(r)));
          const got = await s.correlations.query({ selector: text, from, to, orderBy, ...(limit === undefined ? {} : { limit }) });
          if (limit === undefined) expectSame(got, want);
          else {
            const times = want.map((r) => r.timestamp.getTime()).sort((a, b) => (orderBy === 'timestamp' ? a - b : b - a));
            expect(got.map((r) => r.timestamp.getTime())).toEqual(times.slice(0, limit));
            for (const r of got) expect(sel.matches(labels(r))).toBe(true);
          }
          const order = got.map((r) => r.timestamp.getTime());
          for (let i = 1; i < order.length; i++) expect(orderBy === 'timestamp' ? order[i]! >= order[i - 1]! : order[i]! <= order[i - 1]!).toBe(true);
        },
      ),
      { numRuns: 80, seed: 7 },
    );
  }, 120_000);

  it('prunes segments by type, severity, resource columns and names, and says so in explain', async () => {
    const all = await s.correlations.explain({});
    expect(all.explain.segments.scanned).toBe(s.correlations.segments().length);
    const none = await s.correlations.explain({ selector: 'pods=no-such-pod' });
    expect(none.records).toEqual([]);
    // A Bloom filter lets about 1% through: at most one segment of these few is read.
    expect(none.explain.segments.prunedByFacts).toBeGreaterThanOrEqual(s.correlations.segments().length - 1);
    const sev = await s.correlations.explain({ selector: 'severity>5' });
    expect(sev.explain.segments.prunedByFacts).toBe(s.correlations.segments().length);
    expect(sev.explain.rows.scanned).toBe(s.correlations.stats().activeRows);
    const time = await s.correlations.explain({ from: START, to: START + 3_600_000 });
    expect(time.explain.segments.prunedByTime).toBeGreaterThan(0);
    expect(time.explain.rowGroups.scanned).toBeLessThanOrEqual(time.explain.segments.scanned * 2);
    expect(time.query).toContain('time [');
    expect(time.explain.bytesRead).toBeGreaterThan(0);
  });

  it('ranks by similarity exactly: the true top k with ties by id, over every level and the active part', async () => {
    const q = fixture.all[97]!.embedding; // duplicated under four other ids
    const scored = fixture.all.map((r) => ({ r, score: referenceScore(q, r.embedding) }));
    scored.sort((a, b) => b.score - a.score || (a.r.id < b.r.id ? -1 : 1));
    for (const k of [1, 3, 10, 50]) {
      const got = await s.correlations.query({ similar: { embedding: q, k } });
      expect(got.map((r) => r.id)).toEqual(scored.slice(0, k).map((x) => x.r.id));
      got.forEach((r, i) => expect(r.score).toBeCloseTo(scored[i]!.score, 12));
    }
    const threshold = scored[30]!.score;
    const above = await s.correlations.query({ similar: { embedding: q, threshold } });
    expect(above.map((r) => r.id)).toEqual(scored.filter((x) => x.score >= threshold).map((x) => x.r.id));
    // With a selector and a time range: only rows that pass them are scored.
    const sel = parseSelector('type=anomaly,severity<=3');
    const from = START + 86_400_000;
    const filtered = scored.filter((x) => sel.matches(labels(x.r)) && x.r.timestamp.getTime() >= from);
    const got = await s.correlations.query({ selector: 'type=anomaly,severity<=3', from, similar: { embedding: q, k: 20 } });
    expect(got.map((r) => r.id)).toEqual(filtered.slice(0, 20).map((x) => x.r.id));
    // By id: the stored finding's embedding.
    const byId = await s.correlations.query({ similar: { id: fixture.all[97]!.id, k: 5 }, fields: ['id'] });
    expect(byId.map((r) => r.id)).toEqual(scored.slice(0, 5).map((x) => x.r.id));
    expect(Object.keys(byId[0]!).sort()).toEqual(['id', 'score', 'timestamp']);
    // Ordered by time instead of score, and as an Arrow table with a score column.
    const byTime = await s.correlations.query({ similar: { embedding: q, k: 10 }, orderBy: 'timestamp' });
    expect(byTime.map((r) => r.id).sort()).toEqual(
      scored
        .slice(0, 10)
        .map((x) => x.r.id)
        .sort(),
    );
    const table = await s.correlations.query({ similar: { embedding: q, k: 10 }, format: 'arrow', fields: ['id'] });
    expect(table.numRows).toBe(10);
    expect([...table.getChild('score')!]).toEqual(scored.slice(0, 10).map((x) => expect.closeTo(x.score, 12)));
  });

  it('finds matches that exist only in the active part', async () => {
    const active = fixture.all.slice(-505);
    const target = active[200]!;
    const got = await s.correlations.query({ similar: { embedding: target.embedding, k: 1 }, selector: `id=${target.id}` });
    expect(got.map((r) => r.id)).toEqual([target.id]);
    expect(got[0]!.embedding).toEqual(target.embedding);
    expect(got[0]!.score).toBeCloseTo(1, 6);
  });

  it('aggregates per type, severity, resource names and bucket as a plain count does', async () => {
    const from = START + 3_600_000;
    const to = START + 2 * 86_400_000;
    const rows = fixture.all.filter((r) => r.timestamp.getTime() >= from && r.timestamp.getTime() < to && r.type !== 'misconfiguration');
    const got = await s.correlations.aggregate({
      selector: 'type!=misconfiguration',
      from,
      to,
      groupBy: ['type', 'severity'],
      measures: ['count', 'avg(confidence)', 'max(eventCount)', 'sum(eventCount)'],
    });
    const want = new Map<string, { type: string; severity: number; n: number; conf: number; max: number; sum: number }>();
    for (const r of rows) {
      const key = `${r.type}|${r.severity}`;
      const g = want.get(key) ?? { type: r.type, severity: r.severity, n: 0, conf: 0, max: -Infinity, sum: 0 };
      g.n++;
      g.conf += r.confidence;
      g.max = Math.max(g.max, r.eventCount);
      g.sum += r.eventCount;
      want.set(key, g);
    }
    const sorted = [...want.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.severity - b.severity));
    expect(got).toEqual(
      sorted.map((g) => ({
        type: g.type,
        severity: g.severity,
        count: g.n,
        'avg(confidence)': expect.closeTo(g.conf / g.n, 9),
        'max(eventCount)': g.max,
        'sum(eventCount)': g.sum,
      })),
    );
    // A multi-valued key: a finding counts once under each of its nodes; none -> null (last).
    const perNode = await s.correlations.aggregate({ groupBy: ['resources.nodes'], bucket: '1d' });
    const counts = new Map<string, number>();
    for (const r of fixture.all) {
      const day = Math.floor(r.timestamp.getTime() / 86_400_000) * 86_400_000;
      const nodes = r.resources.nodes && r.resources.nodes.length > 0 ? [...new Set(r.resources.nodes)] : [null];
      for (const n of nodes) counts.set(`${day}|${n}`, (counts.get(`${day}|${n}`) ?? 0) + 1);
    }
    expect(perNode.length).toBe(counts.size);
    for (const g of perNode)
      expect(g.count, `${String(g.bucket)} ${String(g['resources.nodes'])}`).toBe(counts.get(`${(g.bucket as Date).getTime()}|${g['resources.nodes']}`));
    expect(perNode.map((g) => (g.bucket as Date).getTime())).toEqual([...perNode.map((g) => (g.bucket as Date).getTime())].sort((a, b) => a - b));
  });

  it('gives the most frequent values with topValues', async () => {
    const top = await s.correlations.topValues('resources.pods', 5, { selector: 'type=attack' });
    const counts = new Map<string, number>();
    for (const r of fixture.all) if (r.type === 'attack') for (const p of new Set(r.resources.pods ?? [])) counts.set(p, (counts.get(p) ?? 0) + 1);
    const want = [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([value, count]) => ({ value, count }));
    expect(top).toEqual(want);
    const types = await s.correlations.topValues('type');
    expect(types.reduce((n, t) => n + t.count, 0)).toBe(fixture.all.length);
  });

  it('streams the rows of a query in order, and the builder runs the same query', async () => {
    const q = { selector: 'severity>=2', from: START + 86_400_000 };
    const rows = await s.correlations.query(q);
    const streamed: CorrelationRecord[] = [];
    for await (const r of s.correlations.stream(q)) streamed.push(r);
    expect(streamed).toEqual(rows);
    // Stopping early lets the segments go: a compaction afterwards can delete them.
    for await (const r of s.correlations.stream({})) {
      expect(r).toBeDefined();
      break;
    }
    const built = await s.correlations.find().where('severity>=2').since(q.from);
    expect(built).toEqual(rows);
    const vec = fixture.all[5]!.embedding;
    const top = await s.correlations.find().where('type=anomaly').similar(vec, { k: 3 }).limit(3);
    expect(top).toEqual(await s.correlations.query({ selector: 'type=anomaly', similar: { embedding: vec, k: 3 }, limit: 3 }));
  });

  it('refuses bad input with its code and keeps no segment held', async () => {
    const bad: Array<[unknown, string]> = [
      [{ selector: 'pods in (a' }, 'ERR_SELECTOR_SYNTAX'],
      [{ selector: 'x=~"' + 'a'.repeat(300) + '"' }, 'ERR_SELECTOR_SYNTAX'],
      [{ selector: 42 }, 'ERR_INVALID_ARGUMENT'],
      [{ fields: ['nope'] }, 'ERR_INVALID_ARGUMENT'],
      [{ similar: { embedding: new Float32Array(DIM + 1) } }, 'ERR_INVALID_ARGUMENT'],
      [{ similar: { embedding: Array.from({ length: DIM }, (_, i) => (i === 3 ? NaN : 0)) } }, 'ERR_INVALID_ARGUMENT'],
      [{ similar: { embedding: new Float32Array(DIM), k: 0 } }, 'ERR_INVALID_ARGUMENT'],
      [{ similar: { embedding: new Float32Array(DIM), threshold: 1.5 } }, 'ERR_INVALID_ARGUMENT'],
      [{ similar: { id: 'no-such-finding' } }, 'ERR_NOT_FOUND'],
      [{ similar: {} }, 'ERR_INVALID_ARGUMENT'],
      [{ from: 10, to: 5 }, 'ERR_INVALID_ARGUMENT'],
      [{ orderBy: 'score' }, 'ERR_INVALID_ARGUMENT'],
      [{ limit: 0 }, 'ERR_INVALID_ARGUMENT'],
      [{ nope: 1 }, 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [q, code] of bad) {
      await expect(s.correlations.query(q as never), JSON.stringify(q)).rejects.toMatchObject({ code });
    }
    await expect(s.correlations.aggregate({ groupBy: ['pods/x'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.aggregate({ measures: ['median(confidence)'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.aggregate({ bucket: '5 parsecs' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.topValues('resources.pods', 0)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(s.correlations.stats().heldSegments).toBe(0);
  });
});

describe.each(paths)('row-group pruning on the %s path', (path) => {
  it('skips row groups whose types and severities cannot match, and returns the same rows', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-groups-'));
    try {
      const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: 4 } } }, { correlations: { path } });
      const gen = new FindingGenerator({ seed: 8, embeddingDim: 4, ratePerSecond: 5, start: START });
      const findings = gen.next(40_000);
      // The first 20,000 (by time: the first row group and more) are low-severity anomalies only.
      findings.forEach((f, i) => {
        if (i < 20_000) {
          f.severity = 1;
          f.type = 'anomaly';
        }
      });
      for (let i = 0; i < findings.length; i += 10_000) await s.correlations.insert(findings.slice(i, i + 10_000));
      await s.correlations.flush();
      expect(s.correlations.segments()[0]!.groups.length).toBe(3);
      const want = findings.filter((f) => f.severity === 5 || f.type === 'attack').length;
      for (const selector of ['severity=5', 'type=attack', 'type!=anomaly']) {
        const e = await s.correlations.explain({ selector, fields: ['id'] });
        expect(e.explain.rowGroups.prunedByFacts, selector).toBe(1);
        const all = findings.map(asRecord).filter((r) => parseSelector(selector).matches(labels(r)));
        expect(e.records.map((r) => r.id).sort(), selector).toEqual(all.map((r) => r.id).sort());
      }
      expect(want).toBeGreaterThan(0);
      await s.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.each(paths)('results of several groups of sources on the %s path', (path) => {
  it('gives every row in order when thousands come from segments apart in time and the active part, whole or cut at a limit', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-parts-'));
    try {
      const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: 4 } } }, { correlations: { path } });
      // Three stretches of time apart from each other, 1,500 findings each (more than the 1,024
      // rows copied at a time): two segments and the active part, three groups of sources.
      const inputs: CorrelationInput[] = [];
      for (let part = 0; part < 3; part++) {
        const gen = new FindingGenerator({ seed: 30 + part, embeddingDim: 4, ratePerSecond: 1, start: START + part * 6 * 3_600_000 });
        const batch = gen.next(1500);
        inputs.push(...batch);
        await s.correlations.insert(batch);
        if (part < 2) await s.correlations.flush();
      }
      expect(s.correlations.segments()).toHaveLength(2);
      const all = inputs.map(asRecord).sort(byTsId);
      const got = await s.correlations.query({});
      expect(got.map((r) => r.id)).toEqual(all.map((r) => r.id));
      expect([...got].sort(byTsId)).toEqual(all);
      const newest = await s.correlations.query({ orderBy: '-timestamp', limit: 2000, fields: ['id'] });
      expect(newest.map((r) => r.timestamp.getTime())).toEqual(
        all
          .map((r) => r.timestamp.getTime())
          .reverse()
          .slice(0, 2000),
      );
      const table = await s.correlations.query({ format: 'arrow', fields: ['id'] });
      expect(table.numRows).toBe(4500);
      expect(table.getChild('id')!.toArray()).toEqual(all.map((r) => r.id));
      await s.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('similarity scores on both paths', () => {
  it.runIf(paths.length === 2)(
    'are the same bits on the native and the TypeScript path',
    async () => {
      const fixture = await build('native');
      await fixture.s.close();
      const q = fixture.all[3]!.embedding;
      const scores: Float64Array[] = [];
      for (const path of paths) {
        const s = await TapioStorage.open({ dataDir: fixture.dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
        const got = await s.correlations.query({ similar: { embedding: q, k: 200 }, fields: ['id'] });
        scores.push(Float64Array.from(got, (r) => r.score!));
        await s.close();
      }
      rmSync(fixture.dataDir, { recursive: true, force: true });
      expect(scores[0]!.length).toBe(200);
      for (let i = 0; i < 200; i++) expect(Object.is(scores[0]![i], scores[1]![i]), `row ${i}`).toBe(true);
    },
    120_000,
  );
});

describe.each(paths)('a top k over many chunks on the %s path', (path) => {
  it('keeps a row that ties the best so far in a later chunk, and breaks the tie by id', async () => {
    // The best score is met first in an older segment under larger ids, then again under smaller
    // ids in a newer segment and in the active part: a later chunk's rows that only tie the k-th
    // best so far must still be scored, kept and compared by id.
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-topk-'));
    try {
      const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
      const gen = new FindingGenerator({ seed: 5, embeddingDim: DIM, start: START });
      const target = Float32Array.from({ length: DIM }, (_, i) => (i % 3) - 1);
      const all: CorrelationRecord[] = [];
      const insert = async (ids: string[]) => {
        const batch = gen.next(300);
        ids.forEach((id, j) => batch.splice(40 + 100 * j, 0, { ...batch[10 + j]!, id, embedding: target.slice() }));
        await s.correlations.insert(batch);
        all.push(...batch.map(asRecord));
      };
      await insert(['zzz-1', 'zzz-2', 'yyy-1']);
      await s.correlations.flush();
      await insert(['bbb-1', 'aaa-1']);
      await s.correlations.flush();
      await insert(['ccc-1']);
      expect(s.correlations.segments().length).toBe(2);
      const scored = all.map((r) => ({ id: r.id, score: referenceScore(target, r.embedding) }));
      scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      expect(scored.slice(0, 6).map((x) => x.id)).toEqual(['aaa-1', 'bbb-1', 'ccc-1', 'yyy-1', 'zzz-1', 'zzz-2']);
      for (const k of [1, 2, 3, 4, 7, 20]) {
        const got = await s.correlations.query({ similar: { embedding: target, k }, fields: ['id'] });
        expect(got.map((r) => r.id)).toEqual(scored.slice(0, k).map((x) => x.id));
      }
      await s.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
