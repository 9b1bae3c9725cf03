// Reads find their records through the segment index on both paths: a read far into a segment
// or behind many segments reads a bounded number of bytes and opens a bounded number of files
// (counted, not timed), the index follows rolls, retention, reopens and crashes, a damaged or
// missing index file is rebuilt rather than trusted, and a long read gives the event loop turns.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { crc32c } from '../../src/crc32c.js';
import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { readCounters, readRecords } from '../../src/transit/wal-reader.js';
import { WalIndex } from '../../src/transit/wal-index.js';
import { libChildScript } from '../built-lib.js';
import { openFilesIn } from './wal-helpers.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => resetCounters());

function newDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-read-'));
  dirs.push(d);
  return d;
}

function resetCounters(): void {
  readCounters.segmentsOpened = 0;
  readCounters.reads = 0;
  readCounters.bytesRead = 0;
}

type Transit = TapioStorage['transit'];

/** The payload of the record with sequence number `seq`: its number, then filler, `size` bytes. */
function payload(seq: number, size: number): Uint8Array {
  const b = Buffer.alloc(size, 0x61 + (seq % 26));
  b.write(`#${seq}#`, 0, 'latin1');
  return b;
}

/** Appends records numbered from `first` (they must get those sequence numbers). */
async function appendNumbered(t: Transit, first: number, count: number, size: number, batch = 1000): Promise<void> {
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    const recs = Array.from({ length: n }, (_, i) => payload(first + done + i, size));
    const r = await t.append(recs);
    expect(r.firstSeq).toBe(first + done);
  }
}

/** Reads `limit` records from `fromSeq` and checks each one's number and bytes. */
async function readChecked(t: Transit, fromSeq: number, limit: number, size: number): Promise<number> {
  let seq = fromSeq;
  for await (const r of t.read({ fromSeq, limit })) {
    expect(r.seq).toBe(seq);
    expect(Buffer.from(r.data).equals(Buffer.from(payload(seq, size)))).toBe(true);
    seq++;
  }
  return seq - fromSeq;
}

function segmentsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^[0-9a-f]{16}\.wal$/.test(n))
    .sort();
}

/** The first sequence number in the header of segment file `name`. */
function firstSeqOf(dir: string, name: string): number {
  return Number(readFileSync(join(dir, name)).readBigUInt64LE(24));
}

describe.each(paths)('reads through the index on the %s path', (path) => {
  function open(dataDir: string, segment: string, ring: string): Promise<TapioStorage> {
    return TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: segment, ring_capacity: ring }, metadata: { in_memory: true } } },
      { transit: { path } },
    );
  }

  it('reads 1,000 records far into a large segment without scanning from its start, live and after a reopen', async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir, '16MiB', '8MiB');
    const size = 200;
    const total = 70_000;
    try {
      await appendNumbered(storage.transit, 1, total, size, 2000);
      expect(segmentsIn(join(dataDir, 'wal'))).toHaveLength(1);
      for (const from of [60_000, 35_123, total - 499]) {
        resetCounters();
        expect(await readChecked(storage.transit, from, 1000, size)).toBe(Math.min(1000, total + 1 - from));
        // 1,000 records are 216 KB; a scan from the start would read up to 15 MB.
        expect(readCounters.bytesRead).toBeLessThan(512 * 1024);
        expect(readCounters.segmentsOpened).toBeLessThanOrEqual(1);
      }
    } finally {
      await storage.close();
    }
    storage = await open(dataDir, '16MiB', '8MiB');
    try {
      resetCounters();
      expect(await readChecked(storage.transit, 60_000, 1000, size)).toBe(1000);
      expect(readCounters.bytesRead).toBeLessThan(512 * 1024);
      // Appended after the reopen, read at once.
      await appendNumbered(storage.transit, total + 1, 5000, size);
      resetCounters();
      expect(await readChecked(storage.transit, total - 10, 3000, size)).toBe(3000);
      expect(readCounters.bytesRead).toBeLessThan(1024 * 1024);
    } finally {
      await storage.close();
    }
  });

  it('reads behind many segments opening only the segments it reads, and rebuilds a missing or damaged index file instead of trusting it', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 1000;
    const total = 31_000; // about 30 segments of 1 MiB
    let storage = await open(dataDir, '1MiB', '4MiB');
    try {
      await appendNumbered(storage.transit, 1, total, size);
      expect(segmentsIn(wal).length).toBeGreaterThanOrEqual(30);
      resetCounters();
      expect(await readChecked(storage.transit, 2500, 10, size)).toBe(10);
      expect(readCounters.segmentsOpened).toBeLessThanOrEqual(1);
      expect(readCounters.bytesRead).toBeLessThan(256 * 1024);
    } finally {
      await storage.close();
    }
    // After a reopen the old segments are sealed (CHECKPOINT): recovery does not scan them.
    storage = await open(dataDir, '1MiB', '4MiB');
    try {
      const names = segmentsIn(wal);
      const third = names[2]!;
      const fifth = names[4]!;
      const inThird = firstSeqOf(wal, third) + 600;
      const inFifth = firstSeqOf(wal, fifth) + 700;
      resetCounters();
      expect(await readChecked(storage.transit, inThird, 10, size)).toBe(10);
      expect(readCounters.segmentsOpened).toBeLessThanOrEqual(1);
      expect(readCounters.bytesRead).toBeLessThan(256 * 1024);

      // A missing index file and a damaged one: the reads are right, and the next ones small again.
      const idx = readdirSync(wal)
        .filter((n) => n.endsWith('.idx'))
        .sort();
      expect(idx.length).toBeGreaterThanOrEqual(names.length - 2);
      const fifthIdx = fifth.replace(/\.wal$/, '.idx');
      const thirdIdx = third.replace(/\.wal$/, '.idx');
      await storage.close();
      unlinkSync(join(wal, fifthIdx));
      const bytes = readFileSync(join(wal, thirdIdx));
      // Point every entry at the wrong place, with a checksum that matches: only the segment can tell.
      expect(bytes.length).toBeGreaterThan(64 + 4);
      for (let at = 64; at + 16 <= bytes.length - 4; at += 16) bytes.writeBigUInt64LE(bytes.readBigUInt64LE(at + 8) + 8n, at + 8);
      bytes.writeUInt32LE(crc32c(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
      writeFileSync(join(wal, thirdIdx), bytes);
      const other = readFileSync(join(wal, names[6]!.replace(/\.wal$/, '.idx')));
      other[other.length - 1]! ^= 0xff; // a bad checksum
      writeFileSync(join(wal, names[6]!.replace(/\.wal$/, '.idx')), other);
      storage = await open(dataDir, '1MiB', '4MiB');
      for (const from of [inFifth, inThird, firstSeqOf(wal, names[6]!) + 5]) {
        expect(await readChecked(storage.transit, from, 10, size)).toBe(10);
        resetCounters();
        expect(await readChecked(storage.transit, from + 10, 10, size)).toBe(10);
        expect(readCounters.bytesRead).toBeLessThan(256 * 1024);
      }
    } finally {
      await storage.close();
    }
  });

  it('reads the next two sealed segments while it hands out the records of one, none past the last record wanted, and closes them when broken off', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 1000;
    const total = 8_000; // about eight segments of 1 MiB
    let second = 0;
    let storage = await open(dataDir, '1MiB', '4MiB');
    try {
      await appendNumbered(storage.transit, 1, total, size);
      const names = segmentsIn(wal);
      expect(names.length).toBeGreaterThanOrEqual(7);
      resetCounters();
      let seq = 1;
      for await (const r of storage.transit.read()) {
        if (seq === 1) {
          // Handed the first record of the first segment: the next two were opened and their
          // reads started meanwhile (the read waits here; what it started goes on), no more.
          await vi.waitFor(() => expect(readCounters.segmentsOpened).toBeGreaterThanOrEqual(3), { timeout: 5000, interval: 5 });
          await new Promise((resolve) => setTimeout(resolve, 50));
          expect(readCounters.segmentsOpened).toBe(3);
        }
        expect(r.seq).toBe(seq);
        expect(Buffer.from(r.data).equals(Buffer.from(payload(seq, size)))).toBe(true);
        seq++;
      }
      expect(seq - 1).toBe(total);
      // What was read ahead was used, not read again: each segment's bytes were read once.
      const fileBytes = names.reduce((sum, n) => sum + statSync(join(wal, n)).size, 0);
      expect(readCounters.bytesRead).toBeGreaterThan(fileBytes / 2);
      expect(readCounters.bytesRead).toBeLessThanOrEqual(fileBytes);
      // A read whose last record is early in the second segment reads a little of it, and
      // nothing of the third.
      second = firstSeqOf(wal, names[1]!);
      resetCounters();
      expect(await readChecked(storage.transit, second - 100, 300, size)).toBe(300);
      expect(readCounters.bytesRead).toBeLessThan(512 * 1024);
      // Broken off after its first record, a read gives back the segments it read ahead.
      for await (const r of storage.transit.read({ fromSeq: 10 })) {
        expect(r.seq).toBe(10);
        await new Promise((resolve) => setTimeout(resolve, 50));
        break;
      }
    } finally {
      await storage.close();
    }
    // The same without a store (the CLI's reads): every file it opened is closed again.
    if (process.platform === 'linux') {
      expect(openFilesIn(wal)).toBe(0);
      for await (const r of readRecords(wal)) {
        expect(r.seq).toBe(1);
        await vi.waitFor(() => expect(openFilesIn(wal)).toBeGreaterThanOrEqual(3), { timeout: 5000, interval: 5 });
        break;
      }
      expect(openFilesIn(wal)).toBe(0);
    }
    // After a reopen the sealed segments' index entries are not in memory until a read needs
    // them: a read that ends early in the second segment still opens no third one, and reads
    // a little of the second, not all of it (its index file tells where the records end).
    storage = await open(dataDir, '1MiB', '4MiB');
    try {
      resetCounters();
      expect(await readChecked(storage.transit, second - 100, 300, size)).toBe(300);
      expect(readCounters.segmentsOpened).toBeLessThanOrEqual(2);
      expect(readCounters.bytesRead).toBeLessThan(512 * 1024);
      // A read of everything ends in no sealed segment: it loads no sealed segment's index file
      // (one call at most, for the newest, which is not sealed and has none).
      const loads = vi.spyOn(WalIndex.prototype, 'loadFiled');
      try {
        expect(await readChecked(storage.transit, 1, total, size)).toBe(total);
        expect(loads.mock.calls.length).toBeLessThanOrEqual(1);
      } finally {
        loads.mockRestore();
      }
    } finally {
      await storage.close();
    }
  });

  it('reads 1,000 records at the end and, after a reopen, at the start of a sealed segment in one read', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 200;
    let storage = await open(dataDir, '4MiB', '4MiB');
    try {
      await appendNumbered(storage.transit, 1, 25_000, size);
      const names = segmentsIn(wal);
      expect(names.length).toBeGreaterThanOrEqual(2);
      const lastOfFirst = firstSeqOf(wal, names[1]!) - 1;
      /** Reads 1,000 records from `fromSeq`: one read of the records, beside the header's when the segment is opened. */
      const readsOnce = async (fromSeq: number): Promise<void> => {
        resetCounters();
        expect(await readChecked(storage.transit, fromSeq, 1000, size)).toBe(1000);
        expect(readCounters.reads).toBe(1 + readCounters.segmentsOpened);
        expect(readCounters.bytesRead).toBeLessThan(512 * 1024);
      };
      await readsOnce(lastOfFirst - 999);
      await storage.close();
      storage = await open(dataDir, '4MiB', '4MiB');
      // From the first record of the sealed first segment, whose entries are not in memory after
      // the reopen until a read asks: its index file gives them, and the records come in one read.
      await readsOnce(1);
      // The same at its end (the segment's index file is read apart, outside these counts).
      await readsOnce(lastOfFirst - 999);
    } finally {
      await storage.close();
    }
  });

  it('reads 1,000 records across a segment boundary after a reopen loading both index files while it opens both segments, and lists only the segments it can reach', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 1000;
    let storage = await open(dataDir, '1MiB', '4MiB');
    await appendNumbered(storage.transit, 1, 31_000, size);
    await storage.close();
    const names = segmentsIn(wal);
    expect(names.length).toBeGreaterThanOrEqual(30);
    const number = (name: string): number => Number.parseInt(name.slice(0, 16), 16);
    const [a, b, c] = [names[10]!, names[11]!, names[20]!];
    // The segment after c has no index file: the reads into it are right all the same.
    unlinkSync(join(wal, names[21]!.replace(/\.wal$/, '.idx')));
    storage = await open(dataDir, '1MiB', '4MiB');
    const events: string[] = [];
    const { acquire, loadFiled } = WalIndex.prototype;
    const acquires = vi.spyOn(WalIndex.prototype, 'acquire').mockImplementation(async function (this: WalIndex, seg) {
      events.push(`open ${seg.number}`);
      const opened = await acquire.call(this, seg);
      events.push(`opened ${seg.number}`);
      return opened;
    });
    const loads = vi.spyOn(WalIndex.prototype, 'loadFiled').mockImplementation(function (this: WalIndex, n) {
      events.push(`load ${n}`);
      return loadFiled.call(this, n);
    });
    const lists = vi.spyOn(WalIndex.prototype, 'segmentsFrom');
    try {
      expect(await readChecked(storage.transit, firstSeqOf(wal, b) - 500, 1000, size)).toBe(1000);
      // Both index files are asked for before either segment is open (each load and each open
      // is a few trips to the thread pool; one after the other they were most of such a read).
      const firstOpened = events.findIndex((e) => e.startsWith('opened'));
      expect(firstOpened).toBeGreaterThan(0);
      expect(events.indexOf(`load ${number(a)}`)).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`load ${number(a)}`)).toBeLessThan(firstOpened);
      expect(events.indexOf(`load ${number(b)}`)).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`load ${number(b)}`)).toBeLessThan(firstOpened);
      // The read's list of segments: the two it reads and the one after, not the twenty after them.
      expect(lists.mock.results.map((r) => (r.value as unknown[]).length)).toEqual([3]);
      // Two reads at once into the segment without an index file, one from the segment before
      // it (which loads its index file ahead), one from its middle (which needs an entry there).
      const [x, y, z] = await Promise.all([
        readChecked(storage.transit, firstSeqOf(wal, names[21]!) - 300, 1000, size),
        readChecked(storage.transit, firstSeqOf(wal, names[21]!) + 400, 1000, size),
        readChecked(storage.transit, firstSeqOf(wal, c) + 100, 50, size),
      ]);
      expect([x, y, z]).toEqual([1000, 1000, 50]);
    } finally {
      acquires.mockRestore();
      loads.mockRestore();
      lists.mockRestore();
      await storage.close();
    }
    // The entry the middle read needed was rebuilt from the segment, and its index file written.
    expect(readdirSync(wal)).toContain(names[21]!.replace(/\.wal$/, '.idx'));
  });

  it('reads little for the last record of a segment that rolled early, whose tail is zeros, live and after a reopen', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    let storage = await open(dataDir, '4MiB', '8MiB');
    try {
      const t = storage.transit;
      for (let i = 0; i < 16; i++) await t.append(Array.from({ length: 1000 }, () => new Uint8Array(200).fill(0x62)));
      const lastSmall = t.lastSeq;
      // Does not fit in what is left of the segment: it rolls, and its tail stays zeros.
      await t.append([new Uint8Array(1024 * 1024).fill(0x63)]);
      const names = segmentsIn(wal);
      expect(firstSeqOf(wal, names[1]!)).toBe(lastSmall + 1);
      for (const phase of ['live', 'reopened']) {
        if (phase === 'reopened') {
          await storage.close();
          storage = await open(dataDir, '4MiB', '8MiB');
        }
        resetCounters();
        const got: number[] = [];
        for await (const r of storage.transit.read({ fromSeq: lastSmall, limit: 1 })) got.push(r.seq);
        expect(got).toEqual([lastSmall]);
        expect(readCounters.bytesRead, phase).toBeLessThan(256 * 1024);
        // The large record after it is read whole, in the next segment.
        const big: Uint8Array[] = [];
        for await (const r of storage.transit.read({ fromSeq: lastSmall + 1, limit: 1 })) big.push(r.data);
        expect(big).toHaveLength(1);
        expect(big[0]!.length).toBe(1024 * 1024);
      }
    } finally {
      await storage.close();
    }
  });

  it('keeps the index right across rolls, retention and a reopen', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 3000;
    let storage = await open(dataDir, '1MiB', '4MiB');
    const checkBoundaries = async (t: Transit): Promise<void> => {
      const names = segmentsIn(wal);
      for (const name of names.slice(1)) {
        const first = firstSeqOf(wal, name);
        expect(await readChecked(t, first - 1, 3, size)).toBe(3);
        expect(await readChecked(t, first, 2, size)).toBe(2);
      }
      resetCounters();
      const last = t.lastSeq;
      expect(await readChecked(t, last, 5, size)).toBe(1);
      expect(readCounters.segmentsOpened).toBeLessThanOrEqual(1);
    };
    try {
      await appendNumbered(storage.transit, 1, 3000, size, 100); // about 9 segments
      await checkBoundaries(storage.transit);
      const names = segmentsIn(wal);
      const old = Date.now() / 1000 - 7200;
      for (const n of names.slice(0, 3)) utimesSync(join(wal, n), old, old);
      expect(await storage.transit.applyRetention()).toBe(3);
      const oldest = firstSeqOf(wal, names[3]!);
      expect(storage.transit.oldestSeq).toBe(oldest);
      expect(
        readdirSync(wal)
          .filter((n) => n.endsWith('.idx'))
          .some((n) => names.slice(0, 3).includes(n.replace(/\.idx$/, '.wal'))),
      ).toBe(false);
      await expect(readChecked(storage.transit, oldest - 1, 1, size)).rejects.toMatchObject({ code: 'ERR_WAL_RETENTION' });
      resetCounters();
      expect(await readChecked(storage.transit, oldest, 5, size)).toBe(5);
      expect(readCounters.segmentsOpened).toBeLessThanOrEqual(1);
      await checkBoundaries(storage.transit);
      await appendNumbered(storage.transit, 3001, 500, size, 100);
      await checkBoundaries(storage.transit);
    } finally {
      await storage.close();
    }
    storage = await open(dataDir, '1MiB', '4MiB');
    try {
      await checkBoundaries(storage.transit);
      await appendNumbered(storage.transit, 3501, 600, size, 100);
      await checkBoundaries(storage.transit);
    } finally {
      await storage.close();
    }
  });

  it('reads every record at once after a crash and a reopen, without scanning', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    const size = 500;
    const total = 12_000; // several segments of 1 MiB, the newest partly written
    const child = spawn(process.execPath, [libChildScript(import.meta.dirname, 'read-crash-child.mjs'), dataDir, String(total), String(size)], {
      env: { ...process.env, TAPIO_NATIVE: path === 'native' ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    // Resolves once the child is gone (and its directory lock with it), with how it ended.
    const ended = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('written')) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => resolve(signal));
      child.on('error', reject);
    });
    expect(out).toContain(`written ${path}`);
    expect(ended).toBe('SIGKILL');
    const storage = await open(dataDir, '1MiB', '4MiB');
    try {
      expect(storage.transit.lastSeq).toBe(total);
      const names = segmentsIn(wal);
      expect(names.length).toBeGreaterThan(3);
      for (const from of [1, firstSeqOf(wal, names[1]!) + 777, firstSeqOf(wal, names.at(-1)!) + 1, total - 3]) {
        resetCounters();
        expect(await readChecked(storage.transit, from, 100, size)).toBe(Math.min(100, total + 1 - from));
        expect(readCounters.segmentsOpened).toBeLessThanOrEqual(2);
        expect(readCounters.bytesRead).toBeLessThan(256 * 1024);
      }
      await appendNumbered(storage.transit, total + 1, 100, size);
      expect(await readChecked(storage.transit, total - 50, 200, size)).toBe(151);
    } finally {
      await storage.close();
    }
  });

  it('gives the event loop turns during a long read whose loop body does nothing', async () => {
    const dataDir = newDataDir();
    const storage = await open(dataDir, '64MiB', '8MiB');
    const total = 60_000;
    try {
      await appendNumbered(storage.transit, 1, total, 200, 2000);
      let read = 0;
      let atLastTurn = 0;
      let mostBetweenTurns = 0;
      let turns = 0;
      let stop = false;
      const turn = (): void => {
        turns++;
        mostBetweenTurns = Math.max(mostBetweenTurns, read - atLastTurn);
        atLastTurn = read;
        if (!stop) setImmediate(turn);
      };
      setImmediate(turn);
      for await (const _ of storage.transit.read({ fromSeq: 1 })) read++;
      stop = true;
      mostBetweenTurns = Math.max(mostBetweenTurns, read - atLastTurn);
      expect(read).toBe(total);
      expect(turns).toBeGreaterThan(5);
      // A 4 MiB chunk holds about 19,000 such records: they must not all go out in one turn.
      expect(mostBetweenTurns).toBeLessThanOrEqual(8192);
    } finally {
      await storage.close();
    }
  });
});
