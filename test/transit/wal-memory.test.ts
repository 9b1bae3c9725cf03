// A closed store gives its native WAL writers back: their buffers and ring are freed at close,
// not kept until the process ends (each open used to leave one writer behind, held by a producer's
// environment cleanup hook: about 6 MB per open of the correlation store, more for transit).
// Native path only: the TypeScript writer holds nothing outside the JavaScript heap.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage, transferList } from '../../src/index.js';
import { loadNative } from '../../src/native/loader.js';
import { assertLibCurrent } from '../built-lib.js';

const native = loadNative();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dataDir: string): Promise<TapioStorage> {
  return TapioStorage.open(
    { dataDir, storage: { transit: { ring_capacity: '64KiB', segment_size: '1MiB' }, metadata: { in_memory: true }, correlations: { embedding_dim: 4 } } },
    { transit: { path: 'native' }, correlations: { path: 'native' } },
  );
}

describe.runIf(native !== null)('native WAL writers', () => {
  it('are all released when the store closes, open after open', async () => {
    const live = () => native!.liveWalWriters();
    const before = live();
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-wal-memory-'));
    dirs.push(dataDir);
    for (let i = 0; i < 4; i++) {
      const s = await open(dataDir);
      // The transit WAL and the correlation store's WAL.
      expect(live()).toBe(before + 2);
      await s.transit.append([`record ${i}`]);
      await s.close();
      expect(live()).toBe(before);
    }
  });

  it('are released when a worker that attached a producer ended without closing it', async () => {
    assertLibCurrent();
    const live = () => native!.liveWalWriters();
    const before = live();
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-wal-memory-'));
    dirs.push(dataDir);
    const s = await open(dataDir);
    const handle = s.transit.producerHandle();
    const w = new Worker(new URL('./abandon-worker.mjs', import.meta.url), { workerData: { handle }, transferList: transferList(handle) });
    const ack = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(ack).toEqual({ firstSeq: 1, lastSeq: 1 });
    await new Promise((resolve) => w.once('exit', resolve));
    await s.close();
    expect(live()).toBe(before);
    const again = await open(dataDir);
    expect(await again.transit.read({ fromSeq: 1 }).next()).toMatchObject({ value: { seq: 1 } });
    await again.close();
    expect(live()).toBe(before);
  });
});
