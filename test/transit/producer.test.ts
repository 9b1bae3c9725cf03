// Worker threads append into the ring of a transit opened on the main thread, on both paths.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage, transferList, type ProducerHandle } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { assertLibCurrent } from '../built-lib.js';
import { injectFaults } from '../../src/transit/test-hooks.js';

// The worker scripts (producer-worker.mjs, oversized-worker.mjs) import lib/.
assertLibCurrent();

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(path: 'native' | 'typescript', ring = '64KiB'): Promise<TapioStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), `tapio-producers-${path}-`));
  dirs.push(dataDir);
  return TapioStorage.open(
    { dataDir, storage: { transit: { ring_capacity: ring, segment_size: '1MiB' }, metadata: { in_memory: true } } },
    { transit: { path } },
  );
}

describe.each(paths)('worker-thread producers on the %s path', (path) => {
  it("four workers and the main thread append into one ring; every record lands once, in each producer's order", async () => {
    const storage = await open(path);
    try {
      const workers = 4;
      const batches = 300;
      const perBatch = 8;
      const script = new URL('./producer-worker.mjs', import.meta.url);
      const results = Promise.all(
        Array.from({ length: workers }, (_, worker) => {
          const handle = storage.transit.producerHandle();
          const w = new Worker(script, { workerData: { handle, worker, batches, perBatch }, transferList: transferList(handle) });
          return new Promise<{ worker: number; acks: Array<{ batch: number; firstSeq: number; lastSeq: number }> }>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          });
        }),
      );
      const mainAcks = [];
      for (let b = 0; b < 100; b++) mainAcks.push(await storage.transit.append([`main:${b}`]));
      const reports = await results;

      const total = workers * batches * perBatch + 100;
      expect(storage.transit.lastSeq).toBe(total);
      const bySeq = new Map<number, string>();
      for await (const rec of storage.transit.read({ fromSeq: 1 })) bySeq.set(rec.seq, Buffer.from(rec.data).toString());
      expect(bySeq.size).toBe(total);
      const seen = new Set(bySeq.values());
      expect(seen.size).toBe(total);
      for (const { worker, acks } of reports) {
        expect(acks).toHaveLength(batches);
        for (const a of acks) {
          expect(a.lastSeq - a.firstSeq + 1).toBe(perBatch);
          for (let i = 0; i < perBatch; i++) expect(bySeq.get(a.firstSeq + i)).toBe(`w${worker}:${a.batch}:${i}`);
        }
        // A producer's batches are numbered in the order it appended them.
        const sorted = [...acks].sort((x, y) => x.batch - y.batch);
        for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.firstSeq).toBeGreaterThan(sorted[i - 1]!.lastSeq);
      }
      for (let b = 0; b < 100; b++) expect(bySeq.get(mainAcks[b]!.firstSeq)).toBe(`main:${b}`);
    } finally {
      await storage.close();
    }
  });

  it('a subscription on the main thread gets what workers append, with no append of its own', async () => {
    const storage = await open(path);
    try {
      const got: string[] = [];
      const sub = storage.transit.subscribe('watch', (r) => {
        got.push(Buffer.from(r.data).toString());
      });
      const handle = storage.transit.producerHandle();
      const script = new URL('./producer-worker.mjs', import.meta.url);
      const w = new Worker(script, { workerData: { handle, worker: 0, batches: 5, perBatch: 2 }, transferList: transferList(handle) });
      await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      const deadline = Date.now() + 10_000;
      while (got.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await sub.close();
      expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `w0:${Math.floor(i / 2)}:${i % 2}`));
    } finally {
      await storage.close();
    }
  });

  it('refuses a handle that is not one', async () => {
    const { attachProducer } = await import('../../src/index.js');
    expect(() => attachProducer({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => attachProducer({ kind: path } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it("refuses a worker's record larger than a segment, as the main thread would, and goes on", async () => {
    // A ring more than twice the segment lets such a batch into the ring as far as size goes.
    const storage = await open(path, '4MiB');
    try {
      const script = new URL('./oversized-worker.mjs', import.meta.url);
      const run = (handle: ProducerHandle) => {
        const w = new Worker(script, { workerData: { handle, bytes: 1024 * 1024 }, transferList: transferList(handle) });
        return new Promise<{ big: { code?: string; message?: string; details?: { index: number } }; after: { ok?: { firstSeq: number } } }>(
          (resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          },
        );
      };
      const report = await run(storage.transit.producerHandle());
      expect(report.big.code).toBe('ERR_RECORD_TOO_LARGE');
      expect(report.big.message).toContain('records[1]');
      expect(report.big.details?.index).toBe(1);
      expect(report.after.ok?.firstSeq).toBe(1);
      // A handle whose limits were tampered with gets past the worker's check: the writer refuses.
      const forged = storage.transit.producerHandle();
      forged.limits = { ...forged.limits, segmentSize: 1 << 30 };
      const late = await run(forged);
      expect(late.big.code).toBe('ERR_RECORD_TOO_LARGE');
      expect(late.after.ok?.firstSeq).toBe(2);
      expect(await storage.transit.append(['main'])).toEqual({ firstSeq: 3, lastSeq: 3 });
      expect(readdirSync(storage.transit.dir).filter((f) => f.endsWith('.wal'))).toHaveLength(1);
    } finally {
      await storage.close();
    }
  });
  it("tells a worker why the writer failed, with the failed call's details, as it tells the main thread", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), `tapio-producers-${path}-`));
    dirs.push(dataDir);
    injectFaults(join(dataDir, 'wal'), { failSyncAt: 1 });
    const storage = await TapioStorage.open(
      { dataDir, storage: { transit: { ring_capacity: '64KiB', segment_size: '1MiB' }, metadata: { in_memory: true } } },
      { transit: { path } },
    );
    try {
      const handle = storage.transit.producerHandle();
      const w = new Worker(new URL('./oversized-worker.mjs', import.meta.url), { workerData: { handle, bytes: 10 }, transferList: transferList(handle) });
      const report = await new Promise<{ big: { code?: string; details?: unknown }; after: { code?: string; details?: unknown } }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      const file = join(dataDir, 'wal', '0000000000000001.wal');
      const expected = { code: 'ERR_WAL_IO', details: { file, operation: 'fdatasync', code: 'EIO' } };
      expect(report.big).toMatchObject(expected);
      expect(report.after).toMatchObject(expected);
      await expect(storage.transit.append(['main'])).rejects.toMatchObject(expected);
    } finally {
      await storage.close();
    }
  });
});
