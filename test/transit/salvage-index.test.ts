// A segment set aside whole in the middle of the WAL, on both paths: recovery's bounds after the
// strict opens that follow (one of them on CHECKPOINT's word), reads through the read index
// across the set-aside segment, subscriptions from the oldest record, and the index files.
import { closeSync, existsSync, mkdtempSync, openSync, readSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { readCounters } from '../../src/transit/wal-reader.js';
import { editHeader, subscribeAll } from './wal-helpers.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const COUNT = 30_000;
const text = (k: number): string => `record ${k} `.padEnd(104, '.'); // 120 bytes a record

function openStore(path: 'native' | 'typescript', dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> {
  return TapioStorage.open(
    { dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } } },
    { transit: { path, ...(recovery ? { recovery } : {}) } },
  );
}

/** A new store holding records 1 to COUNT in four segments of 1 MiB, closed: its folders and segment file names. */
async function filledStore(path: 'native' | 'typescript', prefix: string): Promise<{ dataDir: string; wal: string; segs: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dataDir);
  const wal = join(dataDir, 'wal');
  const storage = await openStore(path, dataDir);
  for (let b = 0; b < COUNT / 1000; b++) await storage.transit.append(Array.from({ length: 1000 }, (_, i) => text(b * 1000 + i + 1)));
  await storage.close();
  const segs = readdirSync(wal)
    .filter((n) => n.endsWith('.wal'))
    .sort();
  expect(segs).toHaveLength(4);
  return { dataDir, wal, segs };
}

describe.each(paths)('a segment set aside whole (%s path)', (path) => {
  const open = (dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> => openStore(path, dataDir, recovery);

  async function seqs(t: TapioStorage['transit'], fromSeq: number): Promise<number[]> {
    const out: number[] = [];
    for await (const r of t.read({ fromSeq })) {
      expect(Buffer.from(r.data).toString()).toBe(text(r.seq));
      out.push(r.seq);
    }
    return out;
  }

  it("reads every record outside it, before and after strict opens that take segments on CHECKPOINT's word", async () => {
    const { dataDir, wal, segs } = await filledStore(path, 'tapio-salvage-index-');
    let storage: TapioStorage;
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

    const idx2 = join(wal, segs[1]!.replace('.wal', '.idx'));
    const stray = join(wal, '0000000000000099.idx');
    expect(existsSync(idx2)).toBe(true);
    writeFileSync(stray, 'not an index of any segment here');
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
    // Index files of no segment the store reads are removed: the segment set aside whole, a stray.
    expect(existsSync(idx2)).toBe(false);
    expect(existsSync(stray)).toBe(false);
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

describe.each(paths)('index files of a segment with damage (%s path)', (path) => {
  const open = (dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> => openStore(path, dataDir, recovery);

  /** A store of COUNT records whose record 2001 (in segment 1) has a flipped byte; CHECKPOINT seals segment 1. */
  async function damagedStore(): Promise<{ dataDir: string; idx1: string }> {
    const { dataDir, wal } = await filledStore(path, 'tapio-index-damage-');
    const seg1 = join(wal, '0000000000000001.wal');
    const at = 4096 + 2000 * 120 + 40;
    const fd = openSync(seg1, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0]! ^= 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    return { dataDir, idx1: join(wal, '0000000000000001.idx') };
  }

  async function readOne(t: TapioStorage['transit'], fromSeq: number): Promise<{ seqs: number[]; bytes: number }> {
    readCounters.bytesRead = 0;
    const seqs: number[] = [];
    for await (const r of t.read({ fromSeq, limit: 1 })) seqs.push(r.seq);
    return { seqs, bytes: readCounters.bytesRead };
  }

  it('a rebuild steps over a salvaged stretch, and its index file is written again', async () => {
    const { dataDir, idx1 } = await damagedStore();
    let storage = await open(dataDir, 'salvage');
    expect(storage.transit.recovery.setAside).toHaveLength(1);
    await storage.close();
    storage = await open(dataDir); // strict: writes CHECKPOINT, segment 1 sealed from now on
    await storage.close();
    unlinkSync(idx1);
    storage = await open(dataDir);
    try {
      expect(storage.transit.recovery.sealedSegments).toBeGreaterThan(0);
      expect((await readOne(storage.transit, 8000)).seqs).toEqual([8000]); // rebuilds segment 1's entries
      const again = await readOne(storage.transit, 8000);
      expect(again.seqs).toEqual([8000]);
      expect(again.bytes).toBeLessThan(256 * 1024);
    } finally {
      await storage.close();
    }
    expect(existsSync(idx1)).toBe(true);
    storage = await open(dataDir);
    try {
      const first = await readOne(storage.transit, 8000);
      expect(first.seqs).toEqual([8000]);
      expect(first.bytes).toBeLessThan(256 * 1024);
    } finally {
      await storage.close();
    }
  }, 120_000);

  it('a read gives the same answer with and without the index file when the damage was not salvaged', async () => {
    const { dataDir, idx1 } = await damagedStore();
    const outcomes = async (): Promise<Array<number[] | string>> => {
      const storage = await open(dataDir);
      try {
        expect(storage.transit.recovery.sealedSegments).toBeGreaterThan(0);
        const out: Array<number[] | string> = [];
        for (const fromSeq of [1990, 2001, 5000, 8000]) {
          const seqs: number[] = [];
          try {
            for await (const r of storage.transit.read({ fromSeq, limit: 3 })) seqs.push(r.seq);
            out.push(seqs);
          } catch (err) {
            out.push((err as { code?: string }).code ?? String(err));
          }
        }
        return out;
      } finally {
        await storage.close();
      }
    };
    const withFile = await outcomes();
    if (existsSync(idx1)) unlinkSync(idx1);
    const withoutFile = await outcomes();
    expect(withFile).toEqual([[1990, 1991, 1992], 'ERR_WAL_CORRUPT', [5000, 5001, 5002], [8000, 8001, 8002]]);
    expect(withoutFile).toEqual(withFile);
  }, 120_000);
});

describe.each(paths)('a segment header that starts later than its records (%s path)', (path) => {
  const open = (dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> => openStore(path, dataDir, recovery);

  it.each([
    ['the newest segment', 3],
    ['an older segment, CHECKPOINT gone', 2],
  ])(
    'in %s: set aside losing no sequence number, and every record reads back from anywhere, before and after strict opens',
    async (_what, k) => {
      const { dataDir, wal, segs } = await filledStore(path, 'tapio-header-gap-');
      let storage: TapioStorage;
      // The segment's header says it starts nine records later than its first record does.
      const third = join(wal, segs[k]!);
      const fd = openSync(third, 'r');
      const head = Buffer.alloc(32);
      readSync(fd, head, 0, 32, 0);
      closeSync(fd);
      const first = Number(head.readBigUInt64LE(24));
      await editHeader(third, (h) => h.writeBigUInt64LE(BigInt(first + 9), 24));
      rmSync(join(wal, 'CHECKPOINT'), { force: true });
      await expect(open(dataDir)).rejects.toMatchObject({ code: 'ERR_WAL_CORRUPT', details: { damage: 'segment-gap' } });

      const all = Array.from({ length: COUNT }, (_, i) => i + 1);
      // Salvage, then a strict open that scans and writes CHECKPOINT, then one that takes it.
      for (const recovery of ['salvage', undefined, undefined] as const) {
        storage = await open(dataDir, recovery);
        try {
          const t = storage.transit;
          if (recovery === 'salvage') expect(t.recovery.setAside).toEqual([{ segment: segs[k], offset: 24, bytes: 0, lostFrom: 0, lostCount: 0 }]);
          expect(t.recovery.lastSeq).toBe(COUNT);
          for (const from of [1, first - 3, first, first + 4, first + 9, first + 20, 29_000]) {
            const got: number[] = [];
            for await (const r of t.read({ fromSeq: from })) {
              expect(Buffer.from(r.data).toString()).toBe(text(r.seq));
              got.push(r.seq);
            }
            expect(got, `from ${from}`).toEqual(all.filter((k) => k >= from));
            const few: number[] = [];
            for await (const r of t.read({ fromSeq: from, limit: 3 })) few.push(r.seq);
            expect(few, `3 from ${from}`).toEqual([from, from + 1, from + 2].filter((k) => k <= COUNT));
          }
          expect(await subscribeAll(t, `from-oldest-${String(recovery)}-${Math.random()}`, COUNT)).toEqual(all);
        } finally {
          await storage.close();
        }
      }
    },
    120_000,
  );
});
