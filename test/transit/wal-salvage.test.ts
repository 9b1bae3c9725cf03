// A salvage open on both paths: every whole record outside the damaged stretch stays readable
// (reads, subscriptions, new appends), the decision survives the next strict open through
// SALVAGED, and damage anywhere else is still refused. Also: bytesScanned never exceeds the files.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage, type TapioError } from '../../src/index.js';
import { isTapioError } from '../../src/errors.js';
import { nativeStatus } from '../../src/native/loader.js';
import { pruneSalvaged } from '../../src/transit/salvage-file.js';
import { verifyWal } from '../../src/transit/wal-verify.js';
import { backends, cleanupDirs, patch, readAt, recoverVia, segPath, subscribeAll, tempDir, writeLog } from './wal-helpers.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await cleanupDirs();
});

const COUNT = 10_000;
const SIZE = 104; // footprint 120 bytes, no padding: every byte of the area is a record's
const at = (k: number): number => 4096 + (k - 1) * 120;
const text = (k: number): string => `record ${k} `.padEnd(SIZE, '.');

async function failure(p: Promise<unknown>): Promise<TapioError> {
  try {
    await p;
  } catch (err) {
    if (isTapioError(err)) return err;
    throw err;
  }
  throw new Error('expected a TapioError');
}

/** Flips every bit of the byte at `offset` of `file`. */
async function flip(file: string, offset: number): Promise<void> {
  const b = await readAt(file, offset, 1);
  await patch(file, offset, Uint8Array.of(b[0]! ^ 0xff));
}

describe.each(paths)('salvage on the %s path', (path) => {
  const open = (dataDir: string, recovery?: 'salvage'): Promise<TapioStorage> =>
    TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: '2MiB', ring_capacity: '1MiB' } } },
      { transit: { path, ...(recovery ? { recovery } : {}) } },
    );

  async function seqsAndCheck(t: TapioStorage['transit'], fromSeq?: number): Promise<number[]> {
    const seqs: number[] = [];
    for await (const r of t.read(fromSeq === undefined ? {} : { fromSeq })) {
      expect(Buffer.from(r.data).toString()).toBe(text(r.seq));
      seqs.push(r.seq);
    }
    return seqs;
  }

  /** A new store holding records 1..COUNT (text(k)) in one segment, closed; its data directory. */
  async function storeOfCount(): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-salvage-'));
    dirs.push(dataDir);
    const storage = await open(dataDir);
    for (let b = 0; b < COUNT / 1000; b++) await storage.transit.append(Array.from({ length: 1000 }, (_, i) => text(b * 1000 + i + 1)));
    await storage.close();
    return dataDir;
  }

  /** Every sequence number from `from` to `to` but `lost`. */
  const range = (from: number, to: number, lost: number[] = []): number[] =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((k) => !lost.includes(k));

  it('keeps every whole record readable after a salvage open, and the next strict open accepts what it set aside', async () => {
    const dataDir = await storeOfCount();
    let storage: TapioStorage;
    const wal = join(dataDir, 'wal');
    expect(readdirSync(wal).filter((n) => n.endsWith('.wal'))).toHaveLength(1);
    await flip(segPath(wal, 1), at(5001) + 40);

    const refused = await failure(open(dataDir));
    expect(refused.code).toBe('ERR_WAL_CORRUPT');
    expect(refused.message).toContain('tapio-storage wal salvage');
    expect(refused.message).toContain("TapioStorage.open(config, { transit: { recovery: 'salvage' } })");

    storage = await open(dataDir, 'salvage');
    try {
      const t = storage.transit;
      expect(t.recovery.setAside).toEqual([{ segment: '0000000000000001.wal', offset: at(5001), bytes: 120, lostFrom: 5001, lostCount: 1 }]);
      expect(t.recovery.lastSeq).toBe(COUNT);
      expect(await seqsAndCheck(t)).toEqual(range(1, COUNT, [5001]));
      expect(await seqsAndCheck(t, 5002)).toEqual(range(5002, COUNT));
      expect(await seqsAndCheck(t, 4990)).toEqual(range(4990, COUNT, [5001]));
      expect(await t.append([text(10_001), text(10_002)])).toEqual({ firstSeq: 10_001, lastSeq: 10_002 });
      expect(await seqsAndCheck(t, 10_001)).toEqual([10_001, 10_002]);
      expect(await subscribeAll(t, 'after-salvage', 10_002)).toEqual(range(1, 10_002, [5001]));
    } finally {
      await storage.close();
    }
    // The decision is durable: a strict open takes the stretch, and reads the same.
    const salvagedFile = readFileSync(join(wal, 'SALVAGED'), 'utf8');
    expect(salvagedFile).toMatch(/"stretches":\[\{"segment":1,"offset":604096,"bytes":120,"lostFrom":5001,"lostCount":1\}\]\}$/);
    storage = await open(dataDir);
    try {
      const t = storage.transit;
      expect(t.recovery.salvaged).toEqual([]);
      expect(t.recovery.setAside).toEqual([{ segment: '0000000000000001.wal', offset: at(5001), bytes: 120, lostFrom: 5001, lostCount: 1 }]);
      expect(await seqsAndCheck(t)).toEqual(range(1, 10_002, [5001]));
      expect(await t.append([text(10_003)])).toEqual({ firstSeq: 10_003, lastSeq: 10_003 });
      expect(await subscribeAll(t, 'after-reopen', 10_003)).toEqual(range(1, 10_003, [5001]));
    } finally {
      await storage.close();
    }
    expect((await verifyWal(wal)).ok).toBe(true);
    // Damage anywhere else is refused as before.
    await flip(segPath(wal, 1), at(7000) + 40);
    const again = await failure(open(dataDir));
    expect(again.code).toBe('ERR_WAL_CORRUPT');
    expect(again.details).toMatchObject({ offset: at(7000) });
    const verify = await verifyWal(wal);
    expect(verify.ok).toBe(false);
    expect(verify.problems.map((p) => p.offset)).toEqual([at(7000), at(7001)]);
  });

  it('reads past a record zeroed in the middle of the newest segment once salvage set it aside', async () => {
    const dataDir = await storeOfCount();
    let storage: TapioStorage;
    const wal = join(dataDir, 'wal');
    // A zeroed record header reads as the end of the written part: only the records after it
    // tell that it is damage.
    await patch(segPath(wal, 1), at(5001), new Uint8Array(120));
    expect((await failure(open(dataDir))).code).toBe('ERR_WAL_CORRUPT');
    storage = await open(dataDir, 'salvage');
    try {
      const t = storage.transit;
      expect(t.recovery.setAside).toEqual([{ segment: '0000000000000001.wal', offset: at(5001), bytes: 120, lostFrom: 5001, lostCount: 1 }]);
      expect(await seqsAndCheck(t)).toEqual(range(1, COUNT, [5001]));
      expect(await seqsAndCheck(t, 4990)).toEqual(range(4990, COUNT, [5001]));
      expect(await seqsAndCheck(t, 5002)).toEqual(range(5002, COUNT));
      expect(await t.append([text(10_001)])).toEqual({ firstSeq: 10_001, lastSeq: 10_001 });
      expect(await seqsAndCheck(t, 9_999)).toEqual([9_999, 10_000, 10_001]);
      expect(await subscribeAll(t, 'past-zeros', 10_001)).toEqual(range(1, 10_001, [5001]));
    } finally {
      await storage.close();
    }
    storage = await open(dataDir);
    try {
      expect(await seqsAndCheck(storage.transit)).toEqual(range(1, 10_001, [5001]));
    } finally {
      await storage.close();
    }
  });

  it('retention drops the stretches of the segments it deletes from SALVAGED', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-salvage-'));
    dirs.push(dataDir);
    const big = (k: number): string => `big ${k} `.padEnd(100_000, '.');
    const small = (dir: string, r: 'salvage' | undefined): Promise<TapioStorage> =>
      TapioStorage.open(
        { dataDir: dir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB', retention: '1h' } } },
        { transit: { path, ...(r ? { recovery: r } : {}) } },
      );
    let storage = await small(dataDir, undefined);
    for (let k = 1; k <= 35; k++) await storage.transit.append([big(k)]); // 10 a segment: 4 segments
    await storage.close();
    const wal = join(dataDir, 'wal');
    await flip(segPath(wal, 1), 4096 + 2 * 100_016 + 500); // record 3
    await flip(segPath(wal, 3), 4096 + 5 * 100_016 + 500); // record 26
    storage = await small(dataDir, 'salvage');
    expect(storage.transit.recovery.setAside.map((s) => [s.segment, s.lostFrom])).toEqual([
      ['0000000000000001.wal', 3],
      ['0000000000000003.wal', 26],
    ]);
    await storage.close();
    // Segment 1 is past retention: the next open deletes it, and its stretch leaves SALVAGED.
    const old = Date.now() / 1000 - 7200;
    utimesSync(segPath(wal, 1), old, old);
    storage = await small(dataDir, undefined);
    try {
      expect(readdirSync(wal)).not.toContain('0000000000000001.wal');
      expect(JSON.parse(readFileSync(join(wal, 'SALVAGED'), 'utf8')).stretches).toEqual([
        { segment: 3, offset: 4096 + 5 * 100_016, bytes: 100_016, lostFrom: 26, lostCount: 1 },
      ]);
      const seqs: number[] = [];
      for await (const r of storage.transit.read()) seqs.push(r.seq);
      expect(seqs).toEqual(range(11, 35, [26]));
    } finally {
      await storage.close();
    }
  });

  it('a read refuses damage outside the recorded stretches', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-salvage-'));
    dirs.push(dataDir);
    let storage = await open(dataDir);
    await storage.transit.append(Array.from({ length: 100 }, (_, i) => text(i + 1)));
    await storage.transit.append([text(101)]);
    await storage.close();
    const wal = join(dataDir, 'wal');
    await flip(segPath(wal, 1), at(10) + 40);
    storage = await open(dataDir, 'salvage');
    try {
      // Damage the salvage open never saw (made while the store is open) is still an error.
      await flip(segPath(wal, 1), at(50) + 40);
      const err = await failure(
        (async () => {
          for await (const r of storage.transit.read()) void r;
        })(),
      );
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ offset: at(50) });
      expect(err.message).toContain('tapio-storage wal salvage');
      expect(err.message).not.toContain('read with recovery');
    } finally {
      await storage.close();
    }
  });
});

describe.each(backends)('SALVAGED and bytesScanned (%s)', (name, openWal) => {
  const SEG = 1 << 20;

  it('salvage of a damaged older segment records the stretch and the sequence numbers lost, which a strict open accepts', async () => {
    const dir = await tempDir();
    await writeLog(dir, 25, 100_000, {}, openWal); // 10 records per segment: 1..10, 11..20, 21..25
    // Record 15's checksum breaks: the stretch is one record, and 15 is lost.
    const at15 = 4096 + 4 * 100_016;
    await flip(segPath(dir, 2), at15 + 100);
    // Without CHECKPOINT a strict open scans segment 2 (with it, the reader finds the damage).
    rmSync(join(dir, 'CHECKPOINT'), { force: true });
    expect((await failure(recoverVia(name, dir))).code).toBe('ERR_WAL_CORRUPT');
    const report = await recoverVia(name, dir, 'salvage');
    expect(report.setAside).toEqual([{ segment: '0000000000000002.wal', offset: at15, bytes: 100_016, lostFrom: 15, lostCount: 1 }]);
    const strict = await recoverVia(name, dir);
    expect(strict.setAside).toEqual(report.setAside);
    expect(strict.lastSeq).toBe(25);
    // Segment 2 gone (as retention deletes it): its stretch is dropped.
    rmSync(segPath(dir, 1));
    rmSync(segPath(dir, 2));
    await pruneSalvaged(dir);
    expect(readdirSync(dir)).not.toContain('SALVAGED');
  });

  it('a salvage that finds no damage removes SALVAGED', async () => {
    const dir = await tempDir();
    await writeLog(dir, 5, 100, {}, openWal);
    await flip(segPath(dir, 1), 4096 + 120 + 40);
    await recoverVia(name, dir, 'salvage');
    expect(readdirSync(dir)).toContain('SALVAGED');
    // Rewrite the damaged record as it was: nothing is left to set aside.
    await flip(segPath(dir, 1), 4096 + 120 + 40);
    expect((await recoverVia(name, dir, 'salvage')).setAside).toEqual([]);
    expect(readdirSync(dir)).not.toContain('SALVAGED');
  });

  it('bytesScanned never exceeds the bytes of the segment files, and counts the same on both paths', async () => {
    const dir = await tempDir();
    await writeLog(dir, 5, 100, { segmentSize: SEG }, openWal);
    const size = (): number =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.wal'))
        .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const clean = await recoverVia(name, dir);
    expect(clean.bytesScanned).toBeLessThanOrEqual(size());
    expect(clean.bytesScanned).toBe(64 + SEG - 4096);
    // Damage in the middle: the scan reads on from the damage to find the next valid record.
    await flip(segPath(dir, 1), 4096 + 120 + 40);
    const salvaged = await recoverVia(name, dir, 'salvage');
    expect(salvaged.bytesScanned).toBe(64 + SEG - 4096);
    const verified = await verifyWal(dir);
    expect(verified.bytesScanned).toBe(64 + SEG - 4096);
  });
});
