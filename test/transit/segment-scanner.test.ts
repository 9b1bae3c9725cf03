// The segment scanner's read-ahead: records cut by a chunk's start come out whole, a seek drops
// what was read ahead, nothing is read past the end the caller wants, and scanners made one after
// another share their buffers. Logs written by each path.
import { open, type FileHandle } from 'node:fs/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { nativeStatus } from '../../src/native/loader.js';
import { SEGMENT_HEADER_SIZE } from '../../src/transit/format.js';
import { NativeWal } from '../../src/transit/native-wal.js';
import { SegmentScanner, type SegmentScannerOptions } from '../../src/transit/segment-scanner.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { WalReader } from '../../src/transit/wal-reader.js';
import { cleanupDirs, options, payload, segPath, tempDir } from './wal-helpers.js';

const writers = nativeStatus().native ? (['native', 'typescript'] as const) : (['typescript'] as const);
afterEach(cleanupDirs);

/** Record sizes that cut chunks of 8 KiB at every kind of place: 1 B to 3 KiB. */
function sizeOf(i: number): number {
  return 1 + ((i * 977) % 3000);
}

/** Writes `count` records of sizeOf(i) bytes into one segment of 1 MiB; returns the segment file. */
async function writeSegment(writer: 'native' | 'typescript', count: number): Promise<string> {
  const dir = await tempDir();
  const o = options(dir, { directIo: 'off' });
  const wal = writer === 'native' ? await NativeWal.open(o) : await TsWalWriter.open(o);
  for (let i = 1; i <= count; i += 50) {
    await wal.append(Array.from({ length: Math.min(50, count - i + 1) }, (_, k) => payload(i + k, sizeOf(i + k))));
  }
  await wal.close();
  return segPath(dir, 1);
}

/** A file handle that counts its reads, tells how many are under way and where the furthest ended. */
function counting(fh: FileHandle): { fh: FileHandle; reads: number; inFlight: number; maxEnd: number } {
  const c = { fh, reads: 0, inFlight: 0, maxEnd: 0 };
  c.fh = new Proxy(fh, {
    get(target, prop) {
      if (prop !== 'read') return Reflect.get(target, prop, target) as unknown;
      return async (...args: unknown[]) => {
        c.reads++;
        c.inFlight++;
        try {
          const r = await (target.read as (...a: unknown[]) => ReturnType<FileHandle['read']>)(...args);
          c.maxEnd = Math.max(c.maxEnd, Number(args[3]) + r.bytesRead);
          return r;
        } finally {
          c.inFlight--;
        }
      };
    },
  });
  return c;
}

interface Scanned {
  seq: number;
  offset: number;
  data: Buffer;
}

/** Every record the scanner finds from `start` to the end, with a copy of each payload. */
async function scanAll(scanner: SegmentScanner, stopAfter = Infinity): Promise<Scanned[]> {
  const out: Scanned[] = [];
  for (;;) {
    const s = scanner.step();
    if (s.kind === 'need') {
      await scanner.fill();
      continue;
    }
    if (s.kind !== 'record') {
      expect(s.kind).toBe('end');
      return out;
    }
    out.push({ seq: s.seq, offset: s.offset, data: Buffer.from(scanner.payload()!) });
    if (out.length >= stopAfter) return out;
  }
}

async function scanFile(
  file: string,
  opts: SegmentScannerOptions,
  start = SEGMENT_HEADER_SIZE,
): Promise<{ records: Scanned[]; reads: number; bytesRead: number }> {
  const handle = await open(file, 'r');
  try {
    const c = counting(handle);
    const size = (await handle.stat()).size;
    const scanner = new SegmentScanner(c.fh, file, size, start, { wantPayload: true, ...opts });
    const records = await scanAll(scanner);
    await scanner.close();
    expect(c.inFlight).toBe(0);
    return { records, reads: c.reads, bytesRead: scanner.bytesRead };
  } finally {
    await handle.close();
  }
}

describe.each(writers)('SegmentScanner read-ahead over a log the %s writer wrote', (writer) => {
  it('gives the same records, whole and in order, with read-ahead as without, across chunks of 8 KiB', async () => {
    const count = 600;
    const file = await writeSegment(writer, count);
    const plain = await scanFile(file, { chunkBytes: 8192 });
    const ahead = await scanFile(file, { chunkBytes: 8192, readAhead: true });
    expect(plain.records.map((r) => r.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(ahead.records.map((r) => r.seq)).toEqual(plain.records.map((r) => r.seq));
    expect(ahead.records.map((r) => r.offset)).toEqual(plain.records.map((r) => r.offset));
    for (const r of ahead.records) expect(r.data.equals(Buffer.from(payload(r.seq, sizeOf(r.seq))))).toBe(true);
    // Read ahead, each chunk is read once from where the last one ended; without, each read starts
    // at the record the last chunk cut, so it reads that record's head twice.
    expect(ahead.bytesRead).toBeLessThan(plain.bytesRead);
  });

  it('has the next chunk under way while the caller works on this one', async () => {
    const file = await writeSegment(writer, 400);
    const handle = await open(file, 'r');
    try {
      const c = counting(handle);
      const scanner = new SegmentScanner(c.fh, file, (await handle.stat()).size, SEGMENT_HEADER_SIZE, { wantPayload: true, chunkBytes: 8192, readAhead: true });
      expect(scanner.step().kind).toBe('need');
      await scanner.fill();
      // The chunk asked for, and the one after it, started without waiting for a step.
      expect(c.reads).toBe(2);
      expect(c.inFlight).toBe(1);
      await scanner.close();
      expect(c.inFlight).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('drops what it read ahead on a seek and reads from the new place', async () => {
    const count = 500;
    const file = await writeSegment(writer, count);
    const all = (await scanFile(file, { chunkBytes: 8192 })).records;
    const handle = await open(file, 'r');
    try {
      const scanner = new SegmentScanner(handle, file, (await handle.stat()).size, SEGMENT_HEADER_SIZE, {
        wantPayload: true,
        chunkBytes: 8192,
        readAhead: true,
      });
      const firstPart = await scanAll(scanner, 40);
      expect(firstPart.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      // Far back and far forward: both past the chunk read ahead.
      for (const target of [all[5]!, all[420]!, all[100]!]) {
        scanner.seek(target.offset);
        const rest = await scanAll(scanner);
        expect(rest.map((r) => r.seq)).toEqual(all.slice(target.seq - 1).map((r) => r.seq));
        for (const r of rest) expect(r.data.equals(Buffer.from(payload(r.seq, sizeOf(r.seq))))).toBe(true);
      }
      await scanner.close();
    } finally {
      await handle.close();
    }
  });

  it('reads nothing past the end the caller wants, unless a record reaches past it', async () => {
    const file = await writeSegment(writer, 500);
    const all = (await scanFile(file, {})).records;
    const wantedEnd = all[200]!.offset;
    const handle = await open(file, 'r');
    try {
      const c = counting(handle);
      const scanner = new SegmentScanner(c.fh, file, (await handle.stat()).size, SEGMENT_HEADER_SIZE, {
        wantPayload: true,
        chunkBytes: 8192,
        readAhead: true,
        wantedEnd,
      });
      const got = await scanAll(scanner, 200);
      expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      await scanner.close();
      expect(c.maxEnd).toBe(wantedEnd);
    } finally {
      await handle.close();
    }
  });

  it('past the end the caller wanted (a hint that fell short) reads whole chunks again, not a record at a time', async () => {
    const file = await writeSegment(writer, 500);
    const all = (await scanFile(file, {})).records;
    const scanned = await scanFile(file, { chunkBytes: 64 * 1024, readAhead: true, wantedEnd: all[10]!.offset });
    expect(scanned.records.map((r) => r.seq)).toEqual(all.map((r) => r.seq));
    // About 750 KiB of records: a dozen reads of 64 KiB, where reading a record at a time took
    // two reads per record.
    expect(scanned.reads).toBeLessThan(40);
  });

  it('shares its buffers with the next scanner made with the same pool', async () => {
    const file = await writeSegment(writer, 300);
    const pool: Buffer[] = [];
    const first = await scanFile(file, { chunkBytes: 8192, readAhead: true, buffers: pool });
    expect(pool.length).toBeGreaterThan(0);
    const pooled = new Set(pool.map((b) => b.buffer));
    const handle = await open(file, 'r');
    try {
      const scanner = new SegmentScanner(handle, file, (await handle.stat()).size, SEGMENT_HEADER_SIZE, {
        wantPayload: true,
        chunkBytes: 8192,
        readAhead: true,
        buffers: pool,
      });
      const second = await scanAll(scanner);
      // The pooled memory is in use now, and the records are the same.
      expect(pool.length).toBeLessThan(pooled.size);
      expect(second.map((r) => r.seq)).toEqual(first.records.map((r) => r.seq));
      await scanner.close();
      expect(pool.every((b) => b.byteOffset === 0 && b.length === b.buffer.byteLength)).toBe(true);
      expect(pool.some((b) => pooled.has(b.buffer))).toBe(true);
    } finally {
      await handle.close();
    }
  });
});

describe.each(writers)('a read with no last sequence number beside a live %s writer', (writer) => {
  it('stops where the written part ended or goes on with what was appended meanwhile, and never calls the zeros damage', async () => {
    const dir = await tempDir();
    const o = options(dir, { directIo: 'off' });
    const wal = writer === 'native' ? await NativeWal.open(o) : await TsWalWriter.open(o);
    try {
      for (let i = 1; i <= 55; i++) await wal.append([payload(i, 1000)]);
      const batches = new WalReader(dir).batches();
      const first = await batches.next();
      expect(first.done).toBe(false);
      const seqs = (first.value as Array<{ seq: number }>).map((r) => r.seq);
      // The writer goes on while the read is under way: the zero header the read saw at the end
      // is a record now, followed by more.
      for (let i = 56; i <= 255; i++) await wal.append([payload(i, 1000)]);
      for await (const batch of batches) seqs.push(...batch.map((r) => r.seq));
      expect(seqs.length).toBeGreaterThanOrEqual(55);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    } finally {
      await wal.close();
    }
  });
});
