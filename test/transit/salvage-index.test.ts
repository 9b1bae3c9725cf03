// A segment set aside whole in the middle of the WAL, on both paths: recovery's bounds after the
// strict opens that follow (one of them on CHECKPOINT's word), reads through the read index
// across the set-aside segment, subscriptions from the oldest record, and the index files.
import { mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { readCounters } from '../../src/transit/wal-reader.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const COUNT = 30_000;
const text = (k: number): string => `record ${k} `.padEnd(104, '.'); // 120 bytes a record

describe.each(paths)('a segment set aside whole (%s path)', (path) => {
  const open = (dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> =>
    TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } } },
      { transit: { path, ...(recovery ? { recovery } : {}) } },
    );

  async function seqs(t: TapioStorage['transit'], fromSeq: number): Promise<number[]> {
    const out: number[] = [];
    for await (const r of t.read({ fromSeq })) {
      expect(Buffer.from(r.data).toString()).toBe(text(r.seq));
      out.push(r.seq);
    }
    return out;
  }

  async function subscribeAll(t: TapioStorage['transit'], name: string, last: number): Promise<number[]> {
    const seen: number[] = [];
    const sub = t.subscribe(name, (r) => {
      seen.push(r.seq);
    }, { batchSize: 500 });
    let failed: unknown = null;
    sub.done.catch((err: unknown) => {
      failed = err;
    });
    const give = Date.now() + 60_000; // liveness only
    while (sub.position < last && failed === null && Date.now() < give) await new Promise((r) => setTimeout(r, 5));
    await sub.close().catch(() => undefined);
    if (failed !== null) throw failed;
    return seen;
  }

  it('reads every record outside it, before and after strict opens that take segments on CHECKPOINT\'s word', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-salvage-index-'));
    dirs.push(dataDir);
    const wal = join(dataDir, 'wal');
    let storage = await open(dataDir);
    for (let b = 0; b < COUNT / 1000; b++) await storage.transit.append(Array.from({ length: 1000 }, (_, i) => text(b * 1000 + i + 1)));
    await storage.close();
    const segs = readdirSync(wal).filter((n) => n.endsWith('.wal')).sort();
    expect(segs).toHaveLength(4);
    const fd = openSync(join(wal, segs[1]!), 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 0);
    closeSync(fd);

    const check = async (t: TapioStorage['transit'], lost: { lostFrom: number; lostCount: number }): Promise<void> => {
      const isLost = (k: number): boolean => k >= lost.lostFrom && k < lost.lostFrom + lost.lostCount;
      const all = Array.from({ length: COUNT }, (_, i) => i + 1).filter((k) => !isLost(k));
      expect(t.recovery.firstSeq).toBe(1);
      expect(t.oldestSeq).toBe(1);
      expect(await seqs(t, 1)).toEqual(all);
      // From the first segment, the records lost, the third segment and the newest.
      for (const from of [lost.lostFrom - 5, lost.lostFrom + 10, lost.lostFrom + lost.lostCount, 26_000]) {
        expect(await seqs(t, from)).toEqual(all.filter((k) => k >= from));
      }
    };

    storage = await open(dataDir, 'salvage');
    const stretch = storage.transit.recovery.setAside;
    expect(stretch).toHaveLength(1);
    expect(stretch[0]).toMatchObject({ segment: segs[1], offset: 0 });
    const lost = { lostFrom: stretch[0]!.lostFrom, lostCount: stretch[0]!.lostCount };
    expect(lost.lostCount).toBeGreaterThan(0);
    try {
      await check(storage.transit, lost);
    } finally {
      await storage.close();
    }
    // The first strict open scans and writes CHECKPOINT; the second takes segments 1-3 on its word.
    for (const round of [1, 2]) {
      const idx3 = join(wal, segs[2]!.replace('.wal', '.idx'));
      const idxBefore = statSync(idx3).size;
      storage = await open(dataDir);
      try {
        const t = storage.transit;
        if (round === 2) expect(t.recovery.sealedSegments).toBeGreaterThan(0);
        // A read near the end of the last sealed segment finds its record through the index.
        readCounters.bytesRead = 0;
        const one: number[] = [];
        for await (const r of t.read({ fromSeq: 25_000, limit: 1 })) one.push(r.seq);
        expect(one).toEqual([25_000]);
        expect(readCounters.bytesRead).toBeLessThan(256 * 1024);
        await check(t, lost);
        const seen = await subscribeAll(t, `from-oldest-${round}`, COUNT);
        expect(seen).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1).filter((k) => k < lost.lostFrom || k >= lost.lostFrom + lost.lostCount));
      } finally {
        await storage.close();
      }
      // The last sealed segment's index file was not replaced by an empty one.
      expect(statSync(idx3).size).toBe(idxBefore);
    }
  }, 120_000);
});
