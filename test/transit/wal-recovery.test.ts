import { cp, mkdir, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { isTapioError, type TapioError } from '../../src/errors.js';
import { encodeSegmentHeader } from '../../src/transit/codec.js';
import { MAX_SMALL_FILE_NESTING, SEGMENT_HEADER_SIZE, recordFootprint } from '../../src/transit/format.js';
import { verifyWal } from '../../src/transit/wal-verify.js';
import {
  backends,
  cleanupDirs,
  editHeader,
  firstDifference,
  options,
  patch,
  payload,
  readAll,
  readAt,
  recoverVia,
  sameBytes,
  segPath,
  setRecordSeq,
  snapshot,
  tempDir,
  writeLog,
} from './wal-helpers.js';

afterEach(cleanupDirs);

const SMALL = 100; // footprint 120 bytes
/** Offset of record k (1-based) in a one-segment log of SMALL records. */
const at = (k: number): number => 4096 + (k - 1) * 120;
const BIG = 100_000; // footprint 100016 bytes: 10 records per 1 MiB segment
const atBig = (k: number): number => 4096 + ((k - 1) % 10) * 100_016;
const SEG1 = '0000000000000001.wal';

async function openError(promise: Promise<unknown>): Promise<TapioError> {
  try {
    await promise;
  } catch (err) {
    if (isTapioError(err)) return err;
    throw err;
  }
  throw new Error('expected the open to fail');
}

function lastNonZero(b: Uint8Array, from: number): number {
  for (let i = b.length - 1; i >= from; i--) if (b[i] !== 0) return i;
  return -1;
}

describe.each(backends)('transit WAL recovery (%s)', (name, openWal) => {
  /** A log of `count` records of `size` bytes written by this path's writer. */
  const write = (dir: string, count: number, size: number): Promise<Uint8Array[]> => writeLog(dir, count, size, {}, openWal);

  describe('WAL_ID', () => {
    it('is created in a new directory with the exact JSON, and read back on reopen', async () => {
      const dir = join(await tempDir(), 'a', 'b', 'wal');
      const wal = await openWal(options(dir));
      await wal.close();
      const text = await readFile(join(dir, 'WAL_ID'), 'utf8');
      expect(text).toMatch(/^\{"format":"tapio-wal","version":1,"storeId":"[0-9a-f]{32}"\}$/);
      const header = await readAt(segPath(dir, 1), 32, 16);
      expect(header.toString('hex')).toBe((JSON.parse(text) as { storeId: string }).storeId);
      const again = await openWal(options(dir));
      await again.close();
      expect(await readFile(join(dir, 'WAL_ID'), 'utf8')).toBe(text);
    });

    it('refuses another format or version with ERR_FORMAT_VERSION naming the file, touching nothing', async () => {
      for (const content of [
        '{"format":"tapio-parquet","version":1,"storeId":"00"}',
        '{"format":"tapio-wal","version":2,"storeId":"00112233445566778899aabbccddeeff"}',
      ]) {
        const dir = await tempDir();
        await writeFile(join(dir, 'WAL_ID'), content);
        const err = await openError(openWal(options(dir)));
        expect(err.code).toBe('ERR_FORMAT_VERSION');
        expect(err.message).toContain(join(dir, 'WAL_ID'));
        expect(await readdir(dir)).toEqual(['WAL_ID']);
        expect(await readFile(join(dir, 'WAL_ID'), 'utf8')).toBe(content);
      }
    });

    it('refuses a non-empty directory without WAL_ID, creating nothing', async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'notes.txt'), 'hello');
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_FORMAT_VERSION');
      expect(await readdir(dir)).toEqual(['notes.txt']);
    });

    it('refuses a WAL_ID larger than 64 KiB with ERR_WAL_CORRUPT, even one that parses', async () => {
      const dir = await tempDir();
      const wal = await openWal(options(dir));
      await wal.close();
      const text = await readFile(join(dir, 'WAL_ID'), 'utf8');
      const padded = text + ' '.repeat(64 * 1024);
      await writeFile(join(dir, 'WAL_ID'), padded);
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.message).toContain(join(dir, 'WAL_ID'));
      expect(await readFile(join(dir, 'WAL_ID'), 'utf8')).toBe(padded);
    });
  });

  it('a segment file that cannot be read fails the open with ERR_WAL_IO naming it', async () => {
    const dir = await tempDir();
    await write(dir, 3, SMALL);
    // A directory where the next segment would be: it opens, but reading it fails (EISDIR).
    await mkdir(join(dir, '0000000000000002.wal'));
    const err = await openError(openWal(options(dir)));
    expect(err.code).toBe('ERR_WAL_IO');
    expect(err.message).toContain('0000000000000002.wal');
  });

  describe('the newest segment', () => {
    it('keeps a clean log as it is', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      const before = await snapshot(dir, [SEG1, 'WAL_ID']);
      const report = await recoverVia(name, dir);
      expect(report).toMatchObject({ segments: 1, firstSeq: 1, lastSeq: 10, tornBytes: 0, salvaged: [] });
      expect(report.bytesScanned).toBeGreaterThan(at(11));
      expect(report.brokenFile).toBeUndefined();
      expect(sameBytes(await snapshot(dir, [SEG1, 'WAL_ID']), before)).toBe(true);
      // The writer resumes right after the last record.
      const wal = await openWal(options(dir));
      expect(await wal.append([payload(11, SMALL)])).toEqual({ firstSeq: 11, lastSeq: 11 });
      await wal.close();
      expect((await readAt(segPath(dir, 1), at(11) + 8, 8)).readBigUInt64LE(0)).toBe(11n);
    });

    it('treats a zeroed tail as the end: the records before it stay, nothing is cut', async () => {
      const dir = await tempDir();
      const written = await write(dir, 10, SMALL);
      await patch(segPath(dir, 1), at(9), new Uint8Array(240));
      const wal = await openWal(options(dir));
      expect(wal.recovery).toMatchObject({ lastSeq: 8, tornBytes: 0 });
      expect(wal.recovery.brokenFile).toBeUndefined();
      expect(await wal.append([payload(1, 5)])).toEqual({ firstSeq: 9, lastSeq: 9 });
      await wal.close();
      expect(
        firstDifference(
          (await readAll(dir)).slice(0, 8).map((r) => r.data),
          written.slice(0, 8),
        ),
      ).toBeNull();
    });

    const tornCases: Array<[string, (file: string) => Promise<void>]> = [
      ['a partial payload', (f) => patch(f, at(10) + 16 + 60, new Uint8Array(40))],
      ['a partial header', (f) => patch(f, at(10) + 8, new Uint8Array(112))],
      ['a bad length', async (f) => patch(f, at(10) + 4, Uint8Array.from([0xff, 0xff, 0xff, 0x7f]))],
      ['a bad checksum', async (f) => patch(f, at(10) + 20, Uint8Array.from([(await readAt(f, at(10) + 20, 1))[0]! ^ 0x40]))],
      ['a zero header followed by the rest of the record', (f) => patch(f, at(10), new Uint8Array(16))],
    ];

    it.each(tornCases)('cuts a torn tail with %s into a .broken file and keeps the records before it', async (_case, damage) => {
      const dir = await tempDir();
      const written = await write(dir, 10, SMALL);
      const file = segPath(dir, 1);
      await damage(file);
      const before = await readFile(file);
      const end = lastNonZero(before, at(10)) + 1;
      expect(end).toBeGreaterThan(at(10));

      const wal = await openWal(options(dir));
      expect(wal.recovery).toMatchObject({ segments: 1, lastSeq: 9, tornBytes: end - at(10), brokenFile: `${file}.broken`, salvaged: [] });
      const broken = await readFile(`${file}.broken`);
      expect(broken.equals(before.subarray(at(10), end))).toBe(true);
      const after = await readFile(file);
      expect(after.subarray(0, at(10)).equals(before.subarray(0, at(10)))).toBe(true);
      expect(lastNonZero(after, at(10))).toBe(-1);
      expect(await wal.append([payload(77, 30)])).toEqual({ firstSeq: 10, lastSeq: 10 });
      await wal.close();
      const back = await readAll(dir);
      expect(back.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(
        firstDifference(
          back.map((r) => r.data),
          [...written.slice(0, 9), payload(77, 30)],
        ),
      ).toBeNull();
    });

    it('never overwrites an earlier .broken file', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      const file = segPath(dir, 1);
      await patch(file, at(10) + 30, Uint8Array.from([1, 2, 3]));
      await (await openWal(options(dir))).close();
      const wal = await openWal(options(dir));
      await wal.append([payload(5, SMALL)]);
      await wal.close();
      await patch(file, at(10) + 30, Uint8Array.from([4, 5, 6]));
      const again = await openWal(options(dir));
      expect(again.recovery).toMatchObject({ lastSeq: 9, brokenFile: `${file}.broken.2` });
      await again.close();
      expect((await readdir(dir)).sort()).toEqual([SEG1, `${SEG1}.broken`, `${SEG1}.broken.2`, 'WAL_ID']);
    });

    it('refuses damage followed by valid records (ERR_WAL_CORRUPT naming segment and offset), touching nothing', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      const file = segPath(dir, 1);
      await patch(file, at(5) + 40, Uint8Array.from([0xaa, 0xbb]));
      const before = await snapshot(dir, [SEG1, 'WAL_ID']);
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, offset: at(5), reason: expect.stringMatching(/checksum/) });
      expect(err.message).toContain(file);
      expect(err.message).toContain(`byte offset ${at(5)}`);
      expect(sameBytes(await snapshot(dir, [SEG1, 'WAL_ID']), before)).toBe(true);
      expect(await readdir(dir)).toHaveLength(2);
    });

    it('refuses a sequence gap', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      for (let k = 6; k <= 10; k++) await setRecordSeq(segPath(dir, 1), at(k), k + 1);
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, offset: at(6), reason: expect.stringMatching(/sequence gap: expected 6, found 7/) });
    });

    it('removes a segment whose creation was interrupted, setting its header bytes aside', async () => {
      const dir = await tempDir();
      const written = await write(dir, 25, BIG);
      const partial = encodeSegmentHeader({ segment: 4, firstSeq: 26, storeId: new Uint8Array(16), createdMs: 1, segmentSize: 1 << 20 }).subarray(0, 20);
      await writeFile(segPath(dir, 4), partial);
      await truncate(segPath(dir, 4), 1 << 20);
      const wal = await openWal(options(dir));
      // Bytes up to the last non-zero one are set aside: byte 16 (the segment number) is the last.
      expect(wal.recovery).toMatchObject({ segments: 3, lastSeq: 25, tornBytes: 17, brokenFile: `${segPath(dir, 4)}.broken`, removedFiles: [segPath(dir, 4)] });
      expect((await readFile(`${segPath(dir, 4)}.broken`)).equals(partial.subarray(0, 17))).toBe(true);
      expect(await wal.append([payload(1, 10)])).toEqual({ firstSeq: 26, lastSeq: 26 });
      await wal.close();
      const back = await readAll(dir);
      expect(back.length).toBe(26);
      expect(
        firstDifference(
          back.slice(0, 25).map((r) => r.data),
          written,
        ),
      ).toBeNull();
    });

    it('refuses a segment with records but a bad magic', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await patch(segPath(dir, 1), 0, Buffer.from('XAPIOWAL'));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, offset: 0, reason: expect.stringMatching(/magic/) });
    });
  });

  describe('segment headers', () => {
    it('refuses another format version with ERR_FORMAT_VERSION, touching nothing', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await editHeader(segPath(dir, 1), (h) => h.writeUInt32LE(2, 8));
      const before = await snapshot(dir, [SEG1]);
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_FORMAT_VERSION');
      expect(err.message).toContain(segPath(dir, 1));
      expect(err.message).toMatch(/version 2/);
      expect(sameBytes(await snapshot(dir, [SEG1]), before)).toBe(true);
      // Salvage cannot read another version either.
      expect((await openError(openWal(options(dir, { recovery: 'salvage' })))).code).toBe('ERR_FORMAT_VERSION');
    });

    it('refuses a segment of another store', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await editHeader(segPath(dir, 1), (h) => h.fill(0x11, 32, 48));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, offset: 32, reason: expect.stringMatching(/store 11111111111111111111111111111111/) });
    });

    it('refuses a segment whose header number does not match its file name', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await editHeader(segPath(dir, 1), (h) => h.writeBigUInt64LE(7n, 16));
      expect((await openError(openWal(options(dir)))).details).toMatchObject({ offset: 16, reason: expect.stringMatching(/segment 7/) });
    });
  });

  describe('older segments', () => {
    it('refuses damage in an older segment it scans with ERR_WAL_CORRUPT naming segment and offset', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 1), atBig(3) + 5000, Uint8Array.from([1, 2, 3, 4]));
      await unlink(join(dir, 'CHECKPOINT')); // without it, every segment is scanned
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, offset: atBig(3) });
      expect(err.message).toContain(`${segPath(dir, 1)} is damaged at byte offset ${atBig(3)}`);
    });

    it('refuses a torn-looking end of an older segment it scans: only the newest may have a torn tail', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 1), atBig(10) + 50_000, new Uint8Array(50_016));
      await unlink(join(dir, 'CHECKPOINT'));
      const err = await openError(openWal(options(dir)));
      expect(err.details).toMatchObject({ segment: SEG1, offset: atBig(10) });
    });

    it('refuses a missing segment', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await unlink(segPath(dir, 2));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: '0000000000000003.wal', reason: expect.stringMatching(/missing/) });
    });
  });

  describe('the recovery checkpoint', () => {
    const checkpointOf = async (dir: string): Promise<Record<string, unknown>> =>
      JSON.parse(await readFile(join(dir, 'CHECKPOINT'), 'utf8')) as Record<string, unknown>;
    const storeIdOf = async (dir: string): Promise<string> => (JSON.parse(await readFile(join(dir, 'WAL_ID'), 'utf8')) as { storeId: string }).storeId;
    const setCheckpoint = async (dir: string, fields: Record<string, unknown>): Promise<void> => {
      await writeFile(join(dir, 'CHECKPOINT'), JSON.stringify({ ...(await checkpointOf(dir)), ...fields }));
    };

    it('is written at each roll, and an open scans only the segments after it', async () => {
      const dir = await tempDir();
      const written = await write(dir, 25, BIG); // segments of 10, 10 and 5 records
      const storeId = await storeIdOf(dir);
      expect(await readFile(join(dir, 'CHECKPOINT'), 'utf8')).toBe(
        `{"format":"tapio-wal-checkpoint","version":1,"storeId":"${storeId}","sealed":2,"firstSeq":11,"lastSeq":20}`,
      );
      const wal = await openWal(options(dir));
      const quick = wal.recovery;
      await wal.close();
      expect(quick).toMatchObject({ segments: 3, sealedSegments: 2, firstSeq: 1, lastSeq: 25, tornBytes: 0, salvaged: [] });
      expect(quick.checkpointIgnored).toBeUndefined();
      // The same answer from a full scan, which reads every record (and writes CHECKPOINT again).
      await unlink(join(dir, 'CHECKPOINT'));
      const full = await recoverVia(name, dir);
      expect(full).toMatchObject({ segments: 3, sealedSegments: 0, firstSeq: 1, lastSeq: 25 });
      // The quick open read the headers of segments 1 and 2 and segment 3 (1 MiB); the full one all three.
      expect(full.bytesScanned).toBeGreaterThan(quick.bytesScanned + 20 * BIG);
      expect(quick.bytesScanned).toBeLessThan(full.bytesScanned / 2);
      expect(await checkpointOf(dir)).toMatchObject({ sealed: 2, firstSeq: 11, lastSeq: 20 });
      const back = await readAll(dir);
      expect(
        firstDifference(
          back.map((r) => r.data),
          written,
        ),
      ).toBeNull();
    });

    it('leaves damage in a sealed segment to the reader and to verify, which refuse it', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 1), atBig(3) + 5000, Uint8Array.from([1, 2, 3, 4]));
      const wal = await openWal(options(dir));
      expect(wal.recovery.sealedSegments).toBe(2);
      expect(await wal.append([payload(1, 10)])).toEqual({ firstSeq: 26, lastSeq: 26 });
      await wal.close();
      await expect(readAll(dir)).rejects.toMatchObject({ code: 'ERR_WAL_CORRUPT', details: { segment: SEG1, offset: atBig(3) } });
      expect((await readAll(dir, { fromSeq: 11 })).map((r) => r.seq)).toEqual(Array.from({ length: 16 }, (_, i) => 11 + i));
      const summary = await verifyWal(dir);
      expect(summary.ok).toBe(false);
      expect(summary.problems[0]).toMatchObject({ kind: 'corrupt', segment: SEG1, offset: atBig(3) });
    });

    it('still checks the headers of sealed segments', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 1), 0, Buffer.from('XAPIOWAL'));
      expect(await openError(openWal(options(dir)))).toMatchObject({
        code: 'ERR_WAL_CORRUPT',
        details: { segment: SEG1, reason: expect.stringMatching(/magic/) },
      });

      const other = await tempDir();
      await write(other, 25, BIG);
      await setCheckpoint(other, { firstSeq: 12 });
      expect(await openError(openWal(options(other)))).toMatchObject({
        code: 'ERR_WAL_CORRUPT',
        details: { segment: '0000000000000002.wal', reason: 'the segment starts at sequence 11, but CHECKPOINT says it starts at 12' },
      });
      await setCheckpoint(other, { firstSeq: 11, lastSeq: 21 });
      expect(await openError(openWal(options(other)))).toMatchObject({
        code: 'ERR_WAL_CORRUPT',
        details: { segment: '0000000000000003.wal', reason: 'sequence gap: the segment starts at sequence 21, but 0000000000000002.wal ends at 21' },
      });
    });

    it('refuses the open when the segment after the sealed one is missing', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await unlink(segPath(dir, 3));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({
        segment: '0000000000000003.wal',
        offset: 0,
        reason: 'the segment is missing: CHECKPOINT says 0000000000000002.wal was sealed, which happens only once the next segment exists',
      });
      // Nothing was changed.
      expect((await readdir(dir)).sort()).toEqual(['0000000000000001.wal', '0000000000000002.wal', 'CHECKPOINT', 'WAL_ID']);
    });

    it('goes on from CHECKPOINT when retention removed the sealed segments', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await unlink(segPath(dir, 1));
      await unlink(segPath(dir, 2));
      expect(await recoverVia(name, dir)).toMatchObject({ segments: 1, sealedSegments: 0, firstSeq: 21, lastSeq: 25 });
      await setCheckpoint(dir, { lastSeq: 19 });
      expect(await openError(openWal(options(dir)))).toMatchObject({
        code: 'ERR_WAL_CORRUPT',
        details: {
          segment: '0000000000000003.wal',
          reason: 'sequence gap: the segment starts at sequence 21, but CHECKPOINT says 0000000000000002.wal ends at 19',
        },
      });
    });

    it.each([
      ['garbage', () => 'not json {', /is not the JSON object it must hold/],
      [
        'another format',
        (id: string) => JSON.stringify({ format: 'tapio-wal-checkpoint', version: 2, storeId: id, sealed: 2, firstSeq: 11, lastSeq: 20 }),
        /another format or version/,
      ],
      [
        'another store',
        () => JSON.stringify({ format: 'tapio-wal-checkpoint', version: 1, storeId: 'ab'.repeat(16), sealed: 2, firstSeq: 11, lastSeq: 20 }),
        /names store abab.*, but WAL_ID names store/,
      ],
      [
        'a bad number',
        (id: string) => JSON.stringify({ format: 'tapio-wal-checkpoint', version: 1, storeId: id, sealed: 2, firstSeq: 11, lastSeq: 2.5 }),
        /out of range/,
      ],
      ['a missing field', (id: string) => JSON.stringify({ format: 'tapio-wal-checkpoint', version: 1, storeId: id, sealed: 2, firstSeq: 11 }), /out of range/],
      [
        'a member nested too deep',
        (id: string) =>
          JSON.stringify({ format: 'tapio-wal-checkpoint', version: 1, storeId: id, sealed: 2, firstSeq: 11, lastSeq: 20 }).replace(
            /}$/,
            `,"x":${'['.repeat(MAX_SMALL_FILE_NESTING + 1)}${']'.repeat(MAX_SMALL_FILE_NESTING + 1)}}`,
          ),
        /is not the JSON object it must hold/,
      ],
    ])('ignores a CHECKPOINT holding %s, scans every segment, and writes a good one', async (_what, text, reason) => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      const good = await readFile(join(dir, 'CHECKPOINT'), 'utf8');
      await writeFile(join(dir, 'CHECKPOINT'), text(await storeIdOf(dir)));
      const wal = await openWal(options(dir));
      expect(wal.recovery).toMatchObject({ sealedSegments: 0, lastSeq: 25, checkpointIgnored: expect.stringMatching(reason) });
      await wal.close();
      expect(await readFile(join(dir, 'CHECKPOINT'), 'utf8')).toBe(good);
    });

    it('is removed by any salvage, which may remove an unfinished segment the checkpoint counts on', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      // A crash (then a power loss) took segment 3's header, which only the page cache held when
      // the checkpoint was written by a process that did not sync it first.
      await writeFile(segPath(dir, 3), new Uint8Array(4096));
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      expect(wal.recovery).toMatchObject({ segments: 2, lastSeq: 20, salvaged: [] });
      expect((await readdir(dir)).filter((n) => n.endsWith('.wal'))).toEqual([SEG1, '0000000000000002.wal']);
      expect(await wal.append([payload(1, 10)])).toEqual({ firstSeq: 21, lastSeq: 21 });
      await wal.close();
      expect((await readdir(dir)).includes('CHECKPOINT')).toBe(false);
      // A strict open scans every segment and takes what salvage left.
      expect(await recoverVia(name, dir)).toMatchObject({ segments: 2, sealedSegments: 0, lastSeq: 21 });
    });

    it('is written by an open only once the newest segment is synced', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await unlink(join(dir, 'CHECKPOINT'));
      // The open writes it again; the newest segment it relies on is whole on disk by then
      // (fdatasync and a directory fsync come first; this checks the outcome, not the order).
      expect(await recoverVia(name, dir)).toMatchObject({ sealedSegments: 0, lastSeq: 25 });
      expect(await checkpointOf(dir)).toMatchObject({ sealed: 2, lastSeq: 20 });
      expect(await recoverVia(name, dir)).toMatchObject({ sealedSegments: 2, lastSeq: 25 });
    });

    it('goes on appending when a roll cannot write it, and the next open scans from the older one', async () => {
      const dir = await tempDir();
      await write(dir, 15, BIG); // segments 1 and 2; CHECKPOINT seals 1
      await mkdir(join(dir, 'CHECKPOINT.tmp')); // the next write of it fails
      const wal = await openWal(options(dir));
      const results = [];
      for (let i = 0; i < 12; i++) results.push(await wal.append([payload(100 + i, BIG)]));
      await wal.close();
      expect(results.at(-1)).toEqual({ firstSeq: 27, lastSeq: 27 });
      expect(await checkpointOf(dir)).toMatchObject({ sealed: 1 });
      const reopened = await openWal(options(dir));
      expect(reopened.recovery).toMatchObject({ segments: 3, sealedSegments: 1, lastSeq: 27 });
      await reopened.close();
      expect((await readAll(dir)).map((r) => r.seq)).toEqual(Array.from({ length: 27 }, (_, i) => i + 1));
    });

    it('ignores a CHECKPOINT that cannot be read', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await unlink(join(dir, 'CHECKPOINT'));
      await mkdir(join(dir, 'CHECKPOINT'));
      const wal = await openWal(options(dir));
      expect(wal.recovery).toMatchObject({ sealedSegments: 0, lastSeq: 25, checkpointIgnored: 'CHECKPOINT cannot be read (EISDIR)' });
      await wal.close();
    });

    it('is ignored by salvage, which removes it after skipping damage so a strict open scans everything and refuses damage salvage did not set aside', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 1), atBig(3) + 5000, Uint8Array.from([1, 2, 3, 4]));
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      expect(wal.recovery.sealedSegments).toBe(0);
      expect(wal.recovery.salvaged[0]).toMatchObject({ segment: SEG1, offset: atBig(3) });
      // Rolls after such a salvage write no CHECKPOINT either.
      for (let i = 0; i < 12; i++) await wal.append([payload(i, BIG)]);
      await wal.close();
      expect((await readdir(dir)).filter((n) => n.endsWith('.wal')).length).toBe(4);
      expect((await readdir(dir)).includes('CHECKPOINT')).toBe(false);
      // The stretch salvage set aside is accepted (SALVAGED); other damage in a segment it calls sealed is not.
      await patch(segPath(dir, 1), atBig(7) + 5000, Uint8Array.from([1, 2, 3, 4]));
      expect(await openError(openWal(options(dir)))).toMatchObject({ code: 'ERR_WAL_CORRUPT', details: { segment: SEG1, offset: atBig(7) } });
    });
  });

  describe("recovery: 'salvage'", () => {
    it('keeps every whole record around damage in the newest segment and reports each stretch and gap', async () => {
      const dir = await tempDir();
      const written = await write(dir, 10, SMALL);
      await patch(segPath(dir, 1), at(5) + 40, Uint8Array.from([0xaa, 0xbb]));
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      expect(wal.recovery).toMatchObject({ lastSeq: 10, tornBytes: 0 });
      expect(wal.recovery.salvaged).toEqual([
        { segment: SEG1, offset: at(5), bytes: 120, reason: expect.stringMatching(/checksum/) },
        { segment: SEG1, offset: at(6), bytes: 0, reason: expect.stringMatching(/sequence gap: expected 5, found 6/) },
      ]);
      expect(await wal.append([payload(1, 1)])).toEqual({ firstSeq: 11, lastSeq: 11 });
      await wal.close();
      const back = await readAll(dir, { recovery: 'salvage' });
      expect(back.map((r) => r.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
      expect(
        firstDifference(
          back.slice(0, 9).map((r) => r.data),
          [...written.slice(0, 4), ...written.slice(5)],
        ),
      ).toBeNull();
      // A strict reader skips the stretch salvage recorded, and only that one.
      expect(wal.recovery.setAside).toEqual([{ segment: SEG1, offset: at(5), bytes: 120, lostFrom: 5, lostCount: 1 }]);
      expect((await readAll(dir)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
      await patch(segPath(dir, 1), at(8) + 40, Uint8Array.from([0xaa, 0xbb]));
      await expect(readAll(dir)).rejects.toMatchObject({ code: 'ERR_WAL_CORRUPT', details: { offset: at(8) } });
    });

    it('accepts a sequence gap and reports it', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      for (let k = 6; k <= 10; k++) await setRecordSeq(segPath(dir, 1), at(k), k + 1);
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      expect(wal.recovery.salvaged).toEqual([{ segment: SEG1, offset: at(6), bytes: 0, reason: expect.stringMatching(/gap/) }]);
      expect(wal.recovery.lastSeq).toBe(11);
      expect(await wal.append([payload(1, 1)])).toEqual({ firstSeq: 12, lastSeq: 12 });
      await wal.close();
    });

    it('skips an unreadable older segment and damage inside one, keeping the rest', async () => {
      const dir = await tempDir();
      const written = await write(dir, 35, BIG);
      await patch(segPath(dir, 1), 0, Buffer.from('XAPIOWAL'));
      await patch(segPath(dir, 2), atBig(14) + 100, Uint8Array.from([9, 9, 9]));
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      const size = (await stat(segPath(dir, 1))).size;
      expect(wal.recovery).toMatchObject({ segments: 4, firstSeq: 11, lastSeq: 35, tornBytes: 0 });
      expect(wal.recovery.salvaged).toEqual([
        { segment: SEG1, offset: 0, bytes: size, reason: expect.stringMatching(/magic/) },
        { segment: '0000000000000002.wal', offset: atBig(14), bytes: 100_016, reason: expect.stringMatching(/checksum/) },
        { segment: '0000000000000002.wal', offset: atBig(15), bytes: 0, reason: expect.stringMatching(/gap/) },
      ]);
      await wal.close();
      const back = await readAll(dir, { recovery: 'salvage' });
      expect(back.map((r) => r.seq)).toEqual([...Array.from({ length: 3 }, (_, i) => i + 11), ...Array.from({ length: 21 }, (_, i) => i + 15)]);
      expect(
        firstDifference(
          back.map((r) => r.data),
          [...written.slice(10, 13), ...written.slice(14)],
        ),
      ).toBeNull();
    });
  });

  describe('rules both paths share', () => {
    it('cuts a record header cut short by a truncation, and the writer restores the preallocated length', async () => {
      const dir = await tempDir();
      const written = await write(dir, 10, SMALL);
      const file = segPath(dir, 1);
      await truncate(file, at(10) + 8);
      const before = await readFile(file);
      const cut = before.subarray(at(10), lastNonZero(before, at(10)) + 1);
      expect(cut.length).toBeGreaterThan(0);
      const report = await recoverVia(name, dir);
      expect(report).toMatchObject({ lastSeq: 9, tornBytes: cut.length, brokenFile: `${file}.broken` });
      expect((await readFile(`${file}.broken`)).equals(cut)).toBe(true);
      const wal = await openWal(options(dir));
      expect(await wal.append([payload(77, 30)])).toEqual({ firstSeq: 10, lastSeq: 10 });
      await wal.close();
      expect((await stat(file)).size).toBe(1 << 20);
      expect(
        firstDifference(
          (await readAll(dir)).map((r) => r.data),
          [...written.slice(0, 9), payload(77, 30)],
        ),
      ).toBeNull();
    });

    it('keeps a record whose zero padding was cut off', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      await truncate(segPath(dir, 1), at(10) + 16 + SMALL);
      expect(await recoverVia(name, dir)).toMatchObject({ lastSeq: 10, tornBytes: 0 });
      const wal = await openWal(options(dir));
      expect(await wal.append([payload(11, SMALL)])).toEqual({ firstSeq: 11, lastSeq: 11 });
      await wal.close();
      expect((await readAll(dir)).map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    });

    it('refuses a segment of another store even with salvage', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await editHeader(segPath(dir, 1), (h) => h.fill(0x22, 32, 48));
      const err = await openError(openWal(options(dir, { recovery: 'salvage' })));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toMatchObject({ segment: SEG1, file: segPath(dir, 1), offset: 32, reason: expect.stringMatching(/store 2222/) });
      expect(err.message).toContain(`${segPath(dir, 1)} is damaged at byte offset 32`);
    });

    it('refuses salvage when no segment header can be read: the next sequence number is unknown', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      await patch(segPath(dir, 1), 0, Buffer.from('X'));
      const err = await openError(openWal(options(dir, { recovery: 'salvage' })));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toEqual({ dir });
    });

    it('starts over when segment 1, the only one, never got its header', async () => {
      const dir = await tempDir();
      await (await openWal(options(dir))).close();
      await patch(segPath(dir, 1), 0, new Uint8Array(64));
      expect(await recoverVia(name, dir)).toMatchObject({ segments: 0, lastSeq: 0, tornBytes: 0 });
      const wal = await openWal(options(dir));
      expect(await wal.append([payload(1, 5)])).toEqual({ firstSeq: 1, lastSeq: 1 });
      await wal.close();
    });

    it('refuses when the only segment left never got its header and older ones are gone', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      for (const n of [1, 2, 3]) await unlink(segPath(dir, n));
      await writeFile(segPath(dir, 4), new Uint8Array(4096));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.message).toMatch(/next sequence number is unknown/);
    });

    it('treats the segment before an interrupted creation as complete: damage there is refused, not cut', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      await patch(segPath(dir, 3), atBig(25) + 16 + 50_000, new Uint8Array(50_000));
      await writeFile(segPath(dir, 4), new Uint8Array(0));
      const err = await openError(openWal(options(dir)));
      expect(err.details).toMatchObject({
        segment: '0000000000000003.wal',
        offset: atBig(25),
        reason: expect.stringMatching(/checksum.*only the newest segment/),
      });
      // The empty file was the interrupted creation; it is gone, nothing else changed.
      expect((await readdir(dir)).sort()).toEqual(['0000000000000001.wal', '0000000000000002.wal', '0000000000000003.wal', 'CHECKPOINT', 'WAL_ID']);
    });

    it('sets aside records that go back in sequence at the end of the newest segment (salvage)', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      await setRecordSeq(segPath(dir, 1), at(6), 100);
      const before = await readFile(segPath(dir, 1));
      const report = await recoverVia(name, dir, 'salvage');
      // Records 7..10 (seq 7..10) go back below 100: they are the torn tail.
      expect(report).toMatchObject({ lastSeq: 100, tornBytes: lastNonZero(before, at(7)) + 1 - at(7), brokenFile: `${segPath(dir, 1)}.broken` });
      expect(report.salvaged).toEqual([{ segment: SEG1, offset: at(6), bytes: 0, reason: 'sequence gap: expected 6, found 100' }]);
      const wal = await openWal(options(dir, { recovery: 'salvage' }));
      expect(await wal.append([payload(1, 1)])).toEqual({ firstSeq: 101, lastSeq: 101 });
      await wal.close();
    });

    it('refuses a zero record header followed by valid records', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      await patch(segPath(dir, 1), at(4), new Uint8Array(16));
      const err = await openError(openWal(options(dir)));
      expect(err.details).toEqual({
        segment: SEG1,
        file: segPath(dir, 1),
        offset: at(4),
        bytes: 120,
        reason: `a zero record header is followed by non-zero bytes; valid records follow at byte offset ${at(5)}`,
        damage: 'bytes-after-end',
        validAt: at(5),
      });
    });

    it('reads a WAL_ID whose extra member nests as deep as allowed, and refuses one deeper', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      const id = join(dir, 'WAL_ID');
      const text = (await readFile(id, 'utf8')).trim();
      const nested = (levels: number): string => text.replace(/}$/, `,"x":${'['.repeat(levels)}${']'.repeat(levels)}}`);
      await writeFile(id, nested(MAX_SMALL_FILE_NESTING));
      expect(await recoverVia(name, dir)).toMatchObject({ lastSeq: 3 });
      await writeFile(id, nested(MAX_SMALL_FILE_NESTING + 1));
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.message).toMatch(/is not the JSON object WAL_ID must hold/);
      expect(err.details).toEqual({ file: id });
    });

    it('reads a WAL_ID whose store id is in capitals, and refuses one that is JSON but not an object', async () => {
      const dir = await tempDir();
      await write(dir, 3, SMALL);
      const id = join(dir, 'WAL_ID');
      await writeFile(
        id,
        (await readFile(id, 'utf8'))
          .toUpperCase()
          .replace('TAPIO-WAL', 'tapio-wal')
          .replace('FORMAT', 'format')
          .replace('VERSION', 'version')
          .replace('STOREID', 'storeId'),
      );
      expect(await recoverVia(name, dir)).toMatchObject({ lastSeq: 3 });
      await writeFile(id, '["tapio-wal"]');
      const err = await openError(openWal(options(dir)));
      expect(err.code).toBe('ERR_WAL_CORRUPT');
      expect(err.details).toEqual({ file: id });
    });
  });

  describe('verifyWal', () => {
    it('reports a torn tail without cutting it', async () => {
      const dir = await tempDir();
      await write(dir, 10, SMALL);
      await patch(segPath(dir, 1), at(10) + 50, Uint8Array.from([1]));
      const before = await snapshot(dir, [SEG1, 'WAL_ID']);
      const v = await verifyWal(dir);
      expect(v).toMatchObject({ ok: true, records: 9, firstSeq: 1, lastSeq: 9, tornTail: { segment: SEG1, offset: at(10) } });
      expect(v.tornTail!.bytes).toBeGreaterThan(0);
      expect(sameBytes(await snapshot(dir, [SEG1, 'WAL_ID']), before)).toBe(true);
      expect(await readdir(dir)).toHaveLength(2);
    });

    it('reports every problem and changes nothing', async () => {
      const dir = await tempDir();
      await write(dir, 35, BIG);
      await patch(segPath(dir, 1), atBig(3) + 10, Uint8Array.from([1]));
      await editHeader(segPath(dir, 2), (h) => h.writeUInt32LE(3, 8));
      const names = (await readdir(dir)).sort();
      const before = await snapshot(dir, names);
      const v = await verifyWal(dir);
      expect(v.ok).toBe(false);
      expect(v.problems.map((p) => [p.kind, p.segment, p.offset])).toEqual([
        ['corrupt', SEG1, atBig(3)],
        ['gap', SEG1, atBig(4)],
        ['format', '0000000000000002.wal', 0],
      ]);
      expect(v.records).toBe(24);
      expect(sameBytes(await snapshot(dir, names), before)).toBe(true);
    });

    it('says ok for a clean log', async () => {
      const dir = await tempDir();
      await write(dir, 25, BIG);
      const v = await verifyWal(dir);
      expect(v).toMatchObject({ ok: true, records: 25, firstSeq: 1, lastSeq: 25, tornTail: null, problems: [] });
      expect(v.segments.map((s) => [s.firstSeq, s.lastSeq, s.records])).toEqual([
        [1, 10, 10],
        [11, 20, 10],
        [21, 25, 5],
      ]);
    });
  });

  describe('readRecords', () => {
    it('reads ranges across segments', async () => {
      const dir = await tempDir();
      const written = await write(dir, 25, BIG);
      const mid = await readAll(dir, { fromSeq: 9, toSeq: 22 });
      expect(mid.map((r) => r.seq)).toEqual(Array.from({ length: 14 }, (_, i) => i + 9));
      expect(
        firstDifference(
          mid.map((r) => r.data),
          written.slice(8, 22),
        ),
      ).toBeNull();
      expect(await readAll(dir, { fromSeq: 26 })).toEqual([]);
      expect((await readAll(dir, { fromSeq: 25 })).map((r) => r.seq)).toEqual([25]);
      expect(await readAll(dir, { fromSeq: 5, toSeq: 4 })).toEqual([]);
      expect(await readAll(join(dir, 'missing'))).toEqual([]);
      await expect(readAll(dir, { fromSeq: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /fromSeq/ });
    });

    it('sees the records of a live writer, including new segments', async () => {
      const dir = await tempDir();
      const wal = await openWal(options(dir));
      for (let i = 1; i <= 15; i++) await wal.append([payload(i, BIG)]);
      const first = await readAll(dir, { toSeq: wal.stats().durableSeq });
      expect(first.length).toBe(15);
      for (let i = 16; i <= 30; i++) await wal.append([payload(i, BIG)]);
      expect((await readAll(dir, { fromSeq: 14, toSeq: wal.stats().durableSeq })).map((r) => r.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i + 14));
      await wal.close();
    });
  });

  it('after random damage, recovers a prefix of what was written or refuses with ERR_WAL_CORRUPT; salvage keeps only written records', async () => {
    const template = await tempDir();
    const sizes = Array.from({ length: 30 }, (_, i) => (i * 53) % 400);
    const wal = await openWal(options(template));
    const written: Uint8Array[] = [];
    for (const [i, n] of sizes.entries()) {
      written.push(payload(i + 1, n));
      await wal.append([written[i]!]);
    }
    const end = sizes.reduce((offset, n) => offset + recordFootprint(n), SEGMENT_HEADER_SIZE);
    await wal.close();
    const matchesWritten = (r: { seq: number; data: Uint8Array }): boolean => Buffer.from(r.data).equals(written[r.seq - 1]!);

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ offset: fc.integer({ min: 0, max: end + 256 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }),
        async (edits) => {
          const dir = await tempDir();
          await cp(template, dir, { recursive: true });
          for (const e of edits) await patch(segPath(dir, 1), e.offset, Uint8Array.of(e.value));
          let strict: TapioError | null = null;
          try {
            await (await openWal(options(dir))).close();
          } catch (err) {
            if (!isTapioError(err)) throw err;
            strict = err;
          }
          if (strict !== null) {
            expect(['ERR_WAL_CORRUPT', 'ERR_FORMAT_VERSION']).toContain(strict.code);
          } else {
            const back = await readAll(dir);
            expect(back.map((r) => r.seq)).toEqual(back.map((_, i) => i + 1));
            expect(back.every(matchesWritten)).toBe(true);
            return;
          }
          try {
            await (await openWal(options(dir, { recovery: 'salvage' }))).close();
          } catch (err) {
            // Salvage refuses another version, and a log whose only header is unreadable (it
            // cannot tell which sequence number comes next).
            expect(isTapioError(err)).toBe(true);
            const e = err as TapioError;
            if (e.code !== 'ERR_FORMAT_VERSION')
              expect(e).toMatchObject({ code: 'ERR_WAL_CORRUPT', message: expect.stringMatching(/no segment header .* is readable/) });
            return;
          }
          const salvaged = await readAll(dir, { recovery: 'salvage' });
          expect(salvaged.every(matchesWritten)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('creates the directory when it does not exist', async () => {
    const dir = join(await tempDir(), 'new');
    await mkdir(dir);
    const wal = await openWal(options(dir));
    await wal.close();
    expect((await readdir(dir)).sort()).toEqual([SEG1, 'WAL_ID']);
  });
});
