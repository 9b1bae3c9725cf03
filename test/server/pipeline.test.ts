// The event-to-finding pipeline on both paths: the reference correlator's findings, loading a
// correlator module, and exactly-once in effect across restarts (the transit position is stored
// in the same WAL record as the findings it produced).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage, type CorrelationInput } from '../../src/index.js';
import { builtinCorrelator, embeddingOf, MIN_EVENTS, WINDOW_MS, type PipelineEvent } from '../../src/server/correlator.js';
import { isThreaded } from '../../src/server/correlator-thread.js';
import { loadCorrelator, Pipeline } from '../../src/server/pipeline.js';
import { DIM, paths } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-pipe-'));
  dirs.push(d);
  return d;
}

const T0 = Date.UTC(2026, 11, 1, 12);
const ctx = { embeddingDim: DIM, findingTypes: ['anomaly', 'attack', 'misconfiguration'] };

function ev(seq: number, event: Record<string, unknown>): PipelineEvent {
  return { seq, event, data: new TextEncoder().encode(JSON.stringify(event)) };
}

describe('the reference correlator', () => {
  it('turns restarts and OOM kills on one node within the window into one anomaly with those resources', () => {
    const events = [
      ev(1, { kind: 'pod_restart', node: 'n1', pod: 'a', namespace: 'x', timestamp: T0 }),
      ev(2, { kind: 'probe_failed', node: 'n1', pod: 'a', namespace: 'x', timestamp: T0 + 1000 }),
      ev(3, { kind: 'oom_killed', node: 'n1', pod: 'b', namespace: 'x', timestamp: T0 + 2000 }),
      ev(4, { kind: 'pod_restart', node: 'n2', pod: 'z', namespace: 'y', timestamp: T0 + 2000 }),
      ev(5, { kind: 'pod_restart', node: 'n1', pod: 'c', namespace: 'y', timestamp: new Date(T0 + 60_000).toISOString() }),
    ];
    const out = builtinCorrelator(events, ctx) as CorrelationInput[];
    expect(out).toHaveLength(1);
    const f = out[0]!;
    expect(f).toMatchObject({
      id: 'anomaly-n1-1',
      timestamp: T0,
      type: 'anomaly',
      eventCount: 3,
      timeWindow: 60,
      resources: { nodes: ['n1'], pods: ['a', 'b', 'c'], namespaces: ['x', 'y'] },
      severity: 2,
    });
    expect(f.confidence).toBeGreaterThan(0.5);
    expect(f.confidence).toBeLessThan(1);
    const e = f.embedding as Float32Array;
    expect(e).toHaveLength(DIM);
    expect(Math.hypot(...e)).toBeCloseTo(1, 5);
  });

  it('needs MIN_EVENTS within WINDOW_MS on one node, and gives the same finding for the same events', () => {
    const spread = [0, 1, 2].map((i) => ev(i + 1, { kind: 'pod_restart', node: 'n1', pod: `p${i}`, timestamp: T0 + i * (WINDOW_MS / 2 + 1) }));
    expect(builtinCorrelator(spread, ctx)).toEqual([]);
    const few = [0, 1].map((i) => ev(i + 1, { kind: 'oom_killed', node: 'n1', pod: `p${i}`, timestamp: T0 + i }));
    expect(MIN_EVENTS).toBe(3);
    expect(builtinCorrelator(few, ctx)).toEqual([]);
    const burst = Array.from({ length: 7 }, (_, i) => ev(10 + i, { kind: i % 2 ? 'oom_killed' : 'pod_restart', node: 'n9', pod: `p${i}`, timestamp: T0 + i }));
    const a = builtinCorrelator(burst, ctx);
    const b = builtinCorrelator([...burst].reverse(), ctx);
    expect(a).toEqual(b);
    // Unparseable or unrelated events are skipped, not fatal.
    expect(builtinCorrelator([{ seq: 1, event: null, data: new Uint8Array([1]) }, ev(2, { kind: 'pod_restart' })], ctx)).toEqual([]);
  });

  it('gives similar embeddings to similar event mixes', () => {
    const mix = (kind: string, ns: string) =>
      Array.from({ length: 4 }, (_, i) => ({
        seq: i,
        at: i,
        kind: kind === 'oom_killed' ? ('oom' as const) : ('restart' as const),
        node: 'n',
        pod: null,
        namespace: ns,
        rawKind: kind,
      }));
    const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i]!, 0);
    const a = embeddingOf(mix('oom_killed', 'payments'), 64);
    const b = embeddingOf(mix('oom_killed', 'payments'), 64);
    const c = embeddingOf(mix('pod_restart', 'web'), 64);
    expect(cos(a, b)).toBeCloseTo(1, 6);
    expect(cos(a, c)).toBeLessThan(0.9);
  });
});

describe('loading a correlator', () => {
  it('takes builtin, none and a module path, and says what is wrong with a module', async () => {
    expect(await loadCorrelator('builtin')).toBe(builtinCorrelator);
    expect(await loadCorrelator('none')).toBeNull();
    const fn = await loadCorrelator(join(import.meta.dirname, 'fixtures', 'per-event-correlator.mjs'));
    expect(typeof fn).toBe('function');
    await expect(loadCorrelator(join(import.meta.dirname, 'fixtures', 'missing.mjs'))).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(loadCorrelator(join(import.meta.dirname, 'helpers.ts'))).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  it('runs a correlator in a thread of its own: the same findings, and the same refusals of a bad module', async () => {
    const threaded = (await loadCorrelator('builtin', { thread: true }))!;
    try {
      expect(isThreaded(threaded)).toBe(true);
      const kinds = ['pod_restart', 'oom_killed', 'probe_failed', 'network_error'];
      const events = Array.from({ length: 3000 }, (_, i) =>
        ev(i + 1, { kind: kinds[(i * 7) % 4], node: `n${i % 13}`, pod: `p${i % 97}`, namespace: `ns${i % 3}`, timestamp: T0 + i * 1500 }),
      );
      events.push({ seq: 3001, event: null, data: new TextEncoder().encode('not json') });
      // The thread parses the bytes itself: it is handed events without their parsed form.
      const want = await builtinCorrelator(events, ctx);
      expect(want.length).toBeGreaterThan(5);
      expect(
        await threaded(
          events.map((e) => ({ ...e, event: null })),
          ctx,
        ),
      ).toEqual(want);
    } finally {
      if (isThreaded(threaded)) await threaded.close();
    }
    await expect(loadCorrelator(join(import.meta.dirname, 'fixtures', 'missing.mjs'), { thread: true })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(loadCorrelator(join(import.meta.dirname, 'helpers.ts'), { thread: true })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });
});

describe.each(paths)('the pipeline on the %s path', (path) => {
  const open = (dataDir: string) =>
    TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { transit: { path }, correlations: { path } });

  it.each([false, true])('stores each marked event’s finding exactly once across restarts (correlator in a thread: %s)', async (thread) => {
    const correlator = (await loadCorrelator(join(import.meta.dirname, 'fixtures', 'per-event-correlator.mjs'), { thread }))!;
    expect(isThreaded(correlator)).toBe(thread);
    const dataDir = newDir();
    const marks: number[] = [];
    const appendSome = async (s: TapioStorage, n: number) => {
      const events = Array.from({ length: n }, (_, i) => JSON.stringify({ kind: i % 3 === 0 ? 'mark' : 'other', node: 'n1' }));
      const ack = await s.transit.append(events);
      for (let i = 0; i < n; i++) if (i % 3 === 0) marks.push(ack.firstSeq + i);
    };
    let s = await open(dataDir);
    await appendSome(s, 300);
    let p = await Pipeline.start(s, correlator, { batchSize: 64 });
    await p.caughtUp();
    expect(p.position).toBe(300);
    await appendSome(s, 100);
    await p.caughtUp();
    await p.close();
    await s.close();
    // Reopen: the position comes back from the store; new events only are correlated.
    s = await open(dataDir);
    expect(s.correlations.sourceSeq).toBe(400);
    await appendSome(s, 50);
    // The subscription's checkpoint is set behind on purpose (as after a crash before it was
    // written): the pipeline must still start after the stored findings.
    await s.metadata.checkpoints.set('correlator', 10);
    // (A threaded correlator ended with the first pipeline: load it again.)
    const again = (await loadCorrelator(join(import.meta.dirname, 'fixtures', 'per-event-correlator.mjs'), { thread }))!;
    p = await Pipeline.start(s, again, { batchSize: 64 });
    await p.caughtUp();
    const ids = (await s.correlations.query({ fields: ['id'] })).map((r) => r.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(new Set(ids)).toEqual(new Set(marks.map((m) => `e-${m}`)));
    expect(p.state).toBe('running');
    await p.close();
    await s.close();
  });

  it('fails visibly, losing nothing, when the correlator returns what the store refuses', async () => {
    const dataDir = newDir();
    const s = await open(dataDir);
    await s.transit.append(['{"kind":"x"}']);
    const failures: Error[] = [];
    s.transit.on('error', (err: Error) => failures.push(err));
    const p = await Pipeline.start(s, () => [{ id: 'bad' } as never]);
    await expect(p.caughtUp(5000)).rejects.toMatchObject({ code: 'ERR_SUBSCRIBER_HANDLER' });
    expect(p.state).toBe('failed');
    expect(failures.map((e) => (e as { code?: string }).code)).toEqual(['ERR_SUBSCRIBER_HANDLER']);
    expect(s.correlations.sourceSeq).toBe(0);
    await s.close();
  });

  it('fails visibly, losing nothing, when a correlator in a thread throws', async () => {
    const dataDir = newDir();
    const s = await open(dataDir);
    await s.transit.append(['{"kind":"x"}', '{"kind":"boom"}']);
    const failures: Error[] = [];
    s.transit.on('error', (err: Error) => failures.push(err));
    const p = await Pipeline.start(s, (await loadCorrelator(join(import.meta.dirname, 'fixtures', 'throwing-correlator.mjs'), { thread: true }))!);
    await expect(p.caughtUp(5000)).rejects.toMatchObject({ code: 'ERR_SUBSCRIBER_HANDLER', message: /boom event/ });
    expect(p.state).toBe('failed');
    expect(failures.map((e) => (e as { code?: string }).code)).toEqual(['ERR_SUBSCRIBER_HANDLER']);
    expect(s.correlations.sourceSeq).toBe(0);
    expect(s.transit.lastSeq).toBe(2);
    await p.close();
    await s.close();
  });

  it('refuses to start when the stored findings are ahead of the transit WAL', async () => {
    const dataDir = newDir();
    const s = await open(dataDir);
    await s.correlations.insert([], { sourceSeq: 5 });
    await expect(Pipeline.start(s, builtinCorrelator)).rejects.toMatchObject({ code: 'ERR_CHECKPOINT_AHEAD' });
    await s.close();
  });
});
