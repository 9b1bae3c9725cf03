// The native WAL and its TypeScript twin must be interchangeable: the same input gives the same
// bytes on disk, each reads and continues what the other wrote, and recovery of the same damaged
// directory gives the same report or the same error (its code and details: the reason and its
// facts, which one module words for both paths), and leaves the same files. The report or error
// of each damage case is also written down, and a read afterwards must return the records the
// report keeps, so both paths going wrong the same way fails too.
import { cp, mkdir, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';

import { isTapioError } from '../../src/errors.js';
import type { RecoveryMode, RecoveryReport, WalOpenOptions } from '../../src/transit/backend.js';
import { encodeSegmentHeader } from '../../src/transit/codec.js';
import {
  HEADER_OFF_CRC,
  HEADER_OFF_CREATED,
  HEADER_OFF_SEGMENT_SIZE,
  HEADER_OFF_STORE_ID,
  SEGMENT_HEADER_SIZE,
  recordFootprint,
} from '../../src/transit/format.js';
import { NativeWal } from '../../src/transit/native-wal.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { readRecords, recoverWal } from '../../src/transit/wal-recovery.js';
import {
  cleanupDirs,
  editHeader,
  firstDifference,
  nativeLoaded,
  options,
  patch,
  payload,
  readAll,
  readAt,
  segPath,
  setRecordSeq,
  tempDir,
  writeLog,
  type WalPath,
} from './wal-helpers.js';
import { injectFaults } from '../../src/transit/test-hooks.js';

afterEach(cleanupDirs);

const SEG = 1 << 20;
const SMALL = 100; // footprint 120
const at = (k: number): number => SEGMENT_HEADER_SIZE + (k - 1) * recordFootprint(SMALL);
const BIG = 100_000; // 10 records per segment
const atBig = (k: number): number => SEGMENT_HEADER_SIZE + ((k - 1) % 10) * recordFootprint(BIG);

const open = (path: WalPath, o: WalOpenOptions): Promise<TsWalWriter | NativeWal> => (path === 'typescript' ? TsWalWriter.open(o) : NativeWal.open(o));

/** Header bytes that differ between two writers by design: [from, to). */
type Mask = Array<[number, number]>;
/** A segment's creation time and header checksum. */
const TIME_AND_CRC: Mask = [
  [HEADER_OFF_CREATED, HEADER_OFF_SEGMENT_SIZE],
  [HEADER_OFF_CRC, HEADER_OFF_CRC + 4],
];
/** The store id too: two directories each made their own. */
const ID_TIME_AND_CRC: Mask = [[HEADER_OFF_STORE_ID, HEADER_OFF_CREATED], ...TIME_AND_CRC];

/** The first offset where `a` and `b` differ outside `mask` (segment headers only), or -1. */
function firstByteDifference(a: Buffer, b: Buffer, mask: Mask): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  for (const [from, to] of mask) {
    x.fill(0, Math.min(from, x.length), Math.min(to, x.length));
    y.fill(0, Math.min(from, y.length), Math.min(to, y.length));
  }
  if (x.equals(y)) return -1;
  let i = 0;
  while (x[i] === y[i]) i++;
  return i;
}

/** Every file of both directories: the same names, and the same bytes (segments outside `mask`). */
async function expectSameFiles(a: string, b: string, mask: Mask): Promise<void> {
  const names = (await readdir(a)).sort();
  expect((await readdir(b)).sort()).toEqual(names);
  for (const name of names) {
    const [da, db] = [(await stat(join(a, name))).isDirectory(), (await stat(join(b, name))).isDirectory()];
    expect(db, `${name} is a directory in one of them only`).toBe(da);
    if (da) continue;
    const x = await readFile(join(a, name));
    const y = await readFile(join(b, name));
    if (name === 'WAL_ID' && mask === ID_TIME_AND_CRC) {
      expect(x.toString()).toMatch(/^\{"format":"tapio-wal","version":1,"storeId":"[0-9a-f]{32}"\}$/);
      expect(y.toString()).toMatch(/^\{"format":"tapio-wal","version":1,"storeId":"[0-9a-f]{32}"\}$/);
      continue;
    }
    if (name === 'CHECKPOINT' && mask === ID_TIME_AND_CRC) {
      // The same checkpoint but for the store id each path drew.
      const anyStore = (t: string): string => t.replace(/"storeId":"[0-9a-f]{32}"/, '"storeId":"*"');
      expect(x.toString()).toMatch(/^\{"format":"tapio-wal-checkpoint","version":1,"storeId":"[0-9a-f]{32}","sealed":\d+,"firstSeq":\d+,"lastSeq":\d+\}$/);
      expect(anyStore(y.toString())).toBe(anyStore(x.toString()));
      continue;
    }
    const diff = firstByteDifference(x, y, name.endsWith('.wal') ? mask : []);
    expect(diff, `${name} differs at byte ${diff} (lengths ${x.length} and ${y.length})`).toBe(-1);
  }
}

/** Appends `batches` in order (one append each, awaited) and closes. */
async function appendAll(
  path: WalPath,
  dir: string,
  batches: Uint8Array[][],
  extra: Partial<WalOpenOptions> = {},
): Promise<Array<{ firstSeq: number; lastSeq: number }>> {
  const wal = await open(path, options(dir, { ringCapacity: 8 << 20, directIo: 'off', ...extra }));
  const results = [];
  for (const b of batches) results.push(await wal.append(b));
  await wal.close();
  return results;
}

/** Batches of every payload length class: empty, shorter than the padding, aligned, large, a roll. */
function mixedBatches(): Uint8Array[][] {
  const lengths = [0, 1, 7, 8, 9, 15, 16, 17, 100, 4095, 4096, 4097, 65_536];
  const batches: Uint8Array[][] = lengths.map((n, i) => [payload(i + 1, n)]);
  batches.push(lengths.map((n, i) => payload(i + 100, n)));
  for (let i = 0; i < 12; i++) batches.push([payload(200 + i, 90_000 + i)]);
  // One batch that spans two segment rolls.
  batches.push(Array.from({ length: 25 }, (_, i) => payload(300 + i, BIG)));
  batches.push([payload(400, 3)]);
  return batches;
}

/** Rewrites the text of the CHECKPOINT in `dir`. */
async function rewriteCheckpoint(dir: string, edit: (text: string) => string): Promise<void> {
  await writeFile(join(dir, 'CHECKPOINT'), edit(await readFile(join(dir, 'CHECKPOINT'), 'utf8')));
}

/** Rewrites fields of the CHECKPOINT in `dir`. */
async function editCheckpoint(dir: string, fields: Record<string, unknown>): Promise<void> {
  const cp = JSON.parse(await readFile(join(dir, 'CHECKPOINT'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'CHECKPOINT'), JSON.stringify({ ...cp, ...fields }));
}

/** What one open (recovery, then the writer) and close of `dir` gives, with `dir` written as <dir>. */
interface Outcome {
  report?: Record<string, unknown>;
  /** The error's code and details (the reason, e.g. `damage: 'record-checksum'`, with its facts). */
  error?: { code: string; details: unknown };
}

/**
 * What an outcome comes to, in a few words: the error's code, or the records kept (firstSeq..lastSeq,
 * or 'empty') and the segments, then what recovery did beyond that: segments taken on the
 * CHECKPOINT's word, bytes cut from a torn tail, files removed, stretches salvaged, stretches set
 * aside with the records they lose, and a CHECKPOINT or SALVAGED file it ignored.
 */
function summary(o: Outcome): string {
  if (o.error !== undefined) return o.error.code;
  const r = o.report as unknown as RecoveryReport;
  const parts = [r.lastSeq === 0 ? 'empty' : `${r.firstSeq}..${r.lastSeq}`, `${r.segments} segment${r.segments === 1 ? '' : 's'}`];
  if (r.sealedSegments > 0) parts.push(`${r.sealedSegments} sealed`);
  if (r.tornBytes > 0) parts.push(`torn ${r.tornBytes}`);
  if (r.removedFiles.length > 0) parts.push(`removed ${r.removedFiles.length}`);
  if (r.salvaged.length > 0) parts.push(`salvaged ${r.salvaged.length}`);
  if (r.setAside.length > 0) parts.push(`set aside ${r.setAside.length} losing ${r.setAside.reduce((n, x) => n + x.lostCount, 0)}`);
  if (r.checkpointIgnored !== undefined) parts.push('CHECKPOINT ignored');
  if (r.setAsideIgnored !== undefined) parts.push('SALVAGED ignored');
  return parts.join(', ');
}

/** The sequence numbers a report says are readable: firstSeq..lastSeq but those its stretches lose. */
function keptSeqs(r: RecoveryReport): number[] {
  if (r.lastSeq === 0) return [];
  const lost = (seq: number): boolean => r.setAside.some((x) => seq >= x.lostFrom && seq < x.lostFrom + x.lostCount);
  return Array.from({ length: r.lastSeq - r.firstSeq + 1 }, (_, i) => r.firstSeq + i).filter((seq) => !lost(seq));
}

async function openAndClose(path: WalPath, dir: string, recovery: RecoveryMode): Promise<Outcome> {
  const hide = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null).replaceAll(dir, '<dir>'));
  try {
    const wal = await open(path, options(dir, { recovery, directIo: 'off' }));
    await wal.close();
    // Everything must match, bytesScanned too (each byte examined counts once on both paths).
    return { report: hide(wal.recovery) as Record<string, unknown> };
  } catch (err) {
    if (!isTapioError(err)) throw err;
    return { error: { code: err.code, details: hide(err.details) } };
  }
}

/**
 * Copies `template` twice, applies `damage` to each copy, recovers one copy with each path and
 * expects the same outcome, the same files afterwards and the same records read back. When every
 * segment was scanned (none sealed), the records read back must also be exactly those the report
 * keeps.
 */
async function expectSameRecovery(template: string, damage: (dir: string) => Promise<void>, recovery: RecoveryMode): Promise<Outcome> {
  const dirs = { typescript: await tempDir(), native: await tempDir() };
  for (const dir of Object.values(dirs)) {
    await cp(template, dir, { recursive: true });
    await damage(dir);
  }
  const ts = await openAndClose('typescript', dirs.typescript, recovery);
  const native = await openAndClose('native', dirs.native, recovery);
  expect(native).toEqual(ts);
  await expectSameFiles(dirs.typescript, dirs.native, TIME_AND_CRC);
  if (ts.report !== undefined) {
    const a = await readOutcome(dirs.typescript);
    const b = await readOutcome(dirs.native);
    expect(b.error).toEqual(a.error);
    expect(b.seqs).toEqual(a.seqs);
    expect(firstDifference(b.data, a.data)).toBeNull();
    const report = ts.report as unknown as RecoveryReport;
    if (report.sealedSegments === 0) {
      expect(a.error, 'a read after recovery').toBeUndefined();
      expect(a.seqs, 'the records read back are those the report keeps').toEqual(keptSeqs(report));
    }
  }
  return ts;
}

/** The records a salvage read finds, or the code it fails with. */
async function readOutcome(dir: string): Promise<{ seqs: number[]; data: Uint8Array[]; error?: string }> {
  try {
    const records = await readAll(dir, { recovery: 'salvage' });
    return { seqs: records.map((r) => r.seq), data: records.map((r) => r.data) };
  } catch (err) {
    if (!isTapioError(err)) throw err;
    return { seqs: [], data: [], error: err.code };
  }
}

/** The row of `table` for case `what`; a case without one fails, naming it. */
function expected<T>(table: Record<string, T>, what: string): T {
  const row = table[what];
  if (row === undefined) throw new Error(`no expected outcome is written down for ${JSON.stringify(what)}`);
  return row;
}

// What each case below comes to (written as summary() writes it), so the two paths are held to
// the right outcome, not only to the same one.

/** What recovery of each one-segment case comes to: [strict, salvage] (see summary()). */
const NEWEST_OUTCOMES: Record<string, [strict: string, salvage: string]> = {
  'a partial payload': ['1..9, 1 segment, torn 76', '1..9, 1 segment, torn 76'],
  'a partial header': ['1..9, 1 segment, torn 5', '1..9, 1 segment, torn 5'],
  'a bad length': ['1..9, 1 segment, torn 116', '1..9, 1 segment, torn 116'],
  'a payload running one byte past the segment': ['1..9, 1 segment, torn 116', '1..9, 1 segment, torn 116'],
  'a bad checksum in the last record': ['1..9, 1 segment, torn 116', '1..9, 1 segment, torn 116'],
  'a bad checksum in the middle': ['ERR_WAL_CORRUPT', '1..10, 1 segment, salvaged 2, set aside 1 losing 1'],
  'a zeroed record in the middle': ['ERR_WAL_CORRUPT', '1..10, 1 segment, salvaged 2, set aside 1 losing 1'],
  'a zero header before the last record': ['1..9, 1 segment, torn 116', '1..9, 1 segment, torn 116'],
  'a zeroed tail': ['1..8, 1 segment', '1..8, 1 segment'],
  'stray bytes after the last record': ['1..10, 1 segment, torn 4003', '1..10, 1 segment, torn 4003'],
  'stray bytes at the very end of the segment': ['1..10, 1 segment, torn 1043280', '1..10, 1 segment, torn 1043280'],
  'sequence number 0': ['ERR_WAL_CORRUPT', '1..10, 1 segment, salvaged 2, set aside 1 losing 1'],
  'a sequence gap': ['ERR_WAL_CORRUPT', '1..11, 1 segment, salvaged 1, set aside 1 losing 1'],
  'a record that goes back in sequence': ['ERR_WAL_CORRUPT', '1..10, 1 segment, salvaged 2, set aside 1 losing 1'],
  'a jump far ahead': ['ERR_WAL_CORRUPT', '1..100, 1 segment, torn 476, salvaged 1, set aside 1 losing 94'],
  'a sequence number above 2^53': ['ERR_WAL_CORRUPT', '1..10, 1 segment, salvaged 2, set aside 1 losing 1'],
  'a bad magic': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'another format version': ['ERR_FORMAT_VERSION', 'ERR_FORMAT_VERSION'],
  'a bad header checksum': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'another store id': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a header number that is not the file name': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a header length in use of 65': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a segment size that is not a multiple of 4096': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a first sequence number of 0': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a header cut to 40 bytes': ['empty, 0 segments, torn 40, removed 1', 'empty, 0 segments, torn 40, removed 1'],
  'a file cut before its first record': ['empty, 1 segment', 'empty, 1 segment'],
  'a WAL_ID whose store id is in capitals': ['1..10, 1 segment', '1..10, 1 segment'],
  'a WAL_ID of version 2': ['ERR_FORMAT_VERSION', 'ERR_FORMAT_VERSION'],
  'a WAL_ID that is not an object': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a WAL_ID that is not JSON': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a WAL_ID with a short store id': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
  'a missing WAL_ID': ['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT'],
};

/** The same for each three-segment case: [strict, salvage, strict with every segment scanned]. */
const OLDER_OUTCOMES: Record<string, [strict: string, salvage: string, scanned: string]> = {
  'a bad checksum in an older segment': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments, salvaged 2, set aside 1 losing 1', 'ERR_WAL_CORRUPT'],
  'a torn-looking end of an older segment': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments, salvaged 2, set aside 2 losing 1', 'ERR_WAL_CORRUPT'],
  'stray bytes after the end of an older segment': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  'a missing middle segment': ['ERR_WAL_CORRUPT', '1..25, 2 segments, salvaged 2, set aside 2 losing 10', 'ERR_WAL_CORRUPT'],
  'a missing first segment': ['11..25, 2 segments, 1 sealed', '11..25, 2 segments', '11..25, 2 segments'],
  'an unreadable older header': ['ERR_WAL_CORRUPT', '11..25, 3 segments, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  'an unreadable middle header and damage in the newest': ['ERR_WAL_CORRUPT', '1..25, 3 segments, salvaged 3, set aside 2 losing 11', 'ERR_WAL_CORRUPT'],
  'an unreadable newest header with records after it': ['ERR_WAL_CORRUPT', '1..20, 3 segments, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  // The header says 30 where its records start at 21, the next due: no number is lost.
  'a sequence gap between segments': ['ERR_WAL_CORRUPT', '1..25, 3 segments, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  'a segment starting back in sequence': ['ERR_WAL_CORRUPT', '1..25, 3 segments, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  'an interrupted creation of the next segment (all zeros)': [
    '1..25, 3 segments, 2 sealed, removed 1',
    '1..25, 3 segments, removed 1',
    '1..25, 3 segments, removed 1',
  ],
  'an interrupted creation of the next segment (an empty file)': [
    '1..25, 3 segments, 2 sealed, removed 1',
    '1..25, 3 segments, removed 1',
    '1..25, 3 segments, removed 1',
  ],
  'an interrupted creation with half a header': [
    '1..25, 3 segments, 2 sealed, torn 25, removed 1',
    '1..25, 3 segments, torn 25, removed 1',
    '1..25, 3 segments, torn 25, removed 1',
  ],
  'an interrupted creation after a damaged segment': ['ERR_WAL_CORRUPT', '1..24, 3 segments, removed 1, salvaged 1, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
  'a later segment header with records but an interrupted-looking tail': [
    'ERR_WAL_CORRUPT',
    '1..25, 4 segments, salvaged 1, set aside 1 losing 0',
    'ERR_WAL_CORRUPT',
  ],
  'an earlier .broken file in the way': ['1..24, 3 segments, 2 sealed, torn 100016', '1..24, 3 segments, torn 100016', '1..24, 3 segments, torn 100016'],
  'files that are not segments': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT that is not JSON': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT of another store': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a first sequence number the segment does not have': ['ERR_WAL_CORRUPT', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a last sequence number the next segment does not follow': ['ERR_WAL_CORRUPT', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT sealing the newest segment': ['ERR_WAL_CORRUPT', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with numbers written as 2.0 and 11e0': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a hex number': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a plus sign': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a leading zero': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a trailing dot': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with NaN': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with -0 and 1e400': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with nested extra keys': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with an escaped key': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with an escaped format name': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with a bad escape': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT with the store id in capitals': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT that is a directory': ['1..25, 3 segments, CHECKPOINT ignored', '1..25, 3 segments', '1..25, 3 segments'],
  'a CHECKPOINT that cannot be replaced (its temporary name is a directory)': ['1..25, 3 segments', '1..25, 3 segments', '1..25, 3 segments'],
  'a newest segment the CHECKPOINT counts on that lost its header': ['ERR_WAL_CORRUPT', '1..20, 2 segments, removed 1', '1..20, 2 segments, removed 1'],
  'sealed segments removed by retention': ['21..25, 1 segment', '21..25, 1 segment', '21..25, 1 segment'],
  'records damaged in a sealed segment': ['1..25, 3 segments, 2 sealed', '1..25, 3 segments, salvaged 2, set aside 1 losing 1', 'ERR_WAL_CORRUPT'],
};

/** A strict open after the damage of each case above and a salvage by the TypeScript twin. */
const AFTER_SALVAGE_OUTCOMES: Record<string, string> = {
  'a partial payload': '1..9, 1 segment',
  'a partial header': '1..9, 1 segment',
  'a bad length': '1..9, 1 segment',
  'a payload running one byte past the segment': '1..9, 1 segment',
  'a bad checksum in the last record': '1..9, 1 segment',
  'a bad checksum in the middle': '1..10, 1 segment, set aside 1 losing 1',
  'a zeroed record in the middle': '1..10, 1 segment, set aside 1 losing 1',
  'a zero header before the last record': '1..9, 1 segment',
  'a zeroed tail': '1..8, 1 segment',
  'stray bytes after the last record': '1..10, 1 segment',
  'stray bytes at the very end of the segment': '1..10, 1 segment',
  'sequence number 0': '1..10, 1 segment, set aside 1 losing 1',
  'a sequence gap': '1..11, 1 segment, set aside 1 losing 1',
  'a record that goes back in sequence': '1..10, 1 segment, set aside 1 losing 1',
  'a jump far ahead': '1..100, 1 segment, set aside 1 losing 94',
  'a sequence number above 2^53': '1..10, 1 segment, set aside 1 losing 1',
  'a bad magic': 'ERR_WAL_CORRUPT',
  'another format version': 'ERR_FORMAT_VERSION',
  'a bad header checksum': 'ERR_WAL_CORRUPT',
  'another store id': 'ERR_WAL_CORRUPT',
  'a header number that is not the file name': 'ERR_WAL_CORRUPT',
  'a header length in use of 65': 'ERR_WAL_CORRUPT',
  'a segment size that is not a multiple of 4096': 'ERR_WAL_CORRUPT',
  'a first sequence number of 0': 'ERR_WAL_CORRUPT',
  'a header cut to 40 bytes': 'empty, 0 segments',
  'a file cut before its first record': 'empty, 1 segment',
  'a WAL_ID whose store id is in capitals': '1..10, 1 segment',
  'a WAL_ID of version 2': 'ERR_FORMAT_VERSION',
  'a WAL_ID that is not an object': 'ERR_WAL_CORRUPT',
  'a WAL_ID that is not JSON': 'ERR_WAL_CORRUPT',
  'a WAL_ID with a short store id': 'ERR_WAL_CORRUPT',
  'a missing WAL_ID': 'ERR_WAL_CORRUPT',
  'a bad checksum in an older segment': '1..25, 3 segments, set aside 1 losing 1',
  'a torn-looking end of an older segment': '1..25, 3 segments, set aside 2 losing 1',
  'stray bytes after the end of an older segment': '1..25, 3 segments, set aside 1 losing 0',
  'a missing middle segment': '1..25, 2 segments, set aside 2 losing 10',
  'a missing first segment': '11..25, 2 segments',
  'an unreadable older header': '11..25, 3 segments, set aside 1 losing 0',
  'an unreadable middle header and damage in the newest': '1..25, 3 segments, set aside 2 losing 11',
  'an unreadable newest header with records after it': '1..20, 3 segments, set aside 1 losing 0',
  'a sequence gap between segments': '1..25, 3 segments, set aside 1 losing 0',
  'a segment starting back in sequence': '1..25, 3 segments, set aside 1 losing 0',
  'an interrupted creation of the next segment (all zeros)': '1..25, 3 segments',
  'an interrupted creation of the next segment (an empty file)': '1..25, 3 segments',
  'an interrupted creation with half a header': '1..25, 3 segments',
  'an interrupted creation after a damaged segment': '1..24, 3 segments, torn 100016, set aside 1 losing 0',
  'a later segment header with records but an interrupted-looking tail': '1..25, 4 segments, set aside 1 losing 0',
  'an earlier .broken file in the way': '1..24, 3 segments',
  'files that are not segments': '1..25, 3 segments',
  'a CHECKPOINT that is not JSON': '1..25, 3 segments',
  'a CHECKPOINT of another store': '1..25, 3 segments',
  'a CHECKPOINT with a first sequence number the segment does not have': '1..25, 3 segments',
  'a CHECKPOINT with a last sequence number the next segment does not follow': '1..25, 3 segments',
  'a CHECKPOINT sealing the newest segment': '1..25, 3 segments',
  'a CHECKPOINT with numbers written as 2.0 and 11e0': '1..25, 3 segments',
  'a CHECKPOINT with a hex number': '1..25, 3 segments',
  'a CHECKPOINT with a plus sign': '1..25, 3 segments',
  'a CHECKPOINT with a leading zero': '1..25, 3 segments',
  'a CHECKPOINT with a trailing dot': '1..25, 3 segments',
  'a CHECKPOINT with NaN': '1..25, 3 segments',
  'a CHECKPOINT with -0 and 1e400': '1..25, 3 segments',
  'a CHECKPOINT with nested extra keys': '1..25, 3 segments',
  'a CHECKPOINT with an escaped key': '1..25, 3 segments',
  'a CHECKPOINT with an escaped format name': '1..25, 3 segments',
  'a CHECKPOINT with a bad escape': '1..25, 3 segments',
  'a CHECKPOINT with the store id in capitals': '1..25, 3 segments',
  'a CHECKPOINT that is a directory': '1..25, 3 segments, CHECKPOINT ignored',
  'a CHECKPOINT that cannot be replaced (its temporary name is a directory)': '1..25, 3 segments',
  'a newest segment the CHECKPOINT counts on that lost its header': '1..20, 2 segments',
  'sealed segments removed by retention': '21..25, 1 segment',
  'records damaged in a sealed segment': '1..25, 3 segments, set aside 1 losing 1',
};

/** A strict open of a sound log with each SALVAGED file: [no damage, with damage a salvage set aside]. */
const SALVAGED_FILE_OUTCOMES: Record<string, [clean: string, damaged: string]> = {
  'not JSON': ['1..10, 1 segment, SALVAGED ignored', 'ERR_WAL_CORRUPT'],
  'another version': ['1..10, 1 segment, SALVAGED ignored', 'ERR_WAL_CORRUPT'],
  'another store': ['1..10, 1 segment, SALVAGED ignored', 'ERR_WAL_CORRUPT'],
  'a stretch of segment 0': ['1..10, 1 segment, SALVAGED ignored', 'ERR_WAL_CORRUPT'],
  'a string for a stretch': ['1..10, 1 segment, SALVAGED ignored', 'ERR_WAL_CORRUPT'],
  'numbers spelled 1e0 and 8.0, extra members': ['1..10, 1 segment, set aside 1 losing 0', 'ERR_WAL_CORRUPT'],
};

/** A strict open of each new or unusual directory (the last test of 'recover the same damage'). */
const NEW_DIRECTORY_OUTCOMES: Record<string, string> = {
  new: 'empty, 0 segments',
  // Files that are not the store's: refused, not adopted.
  other: 'ERR_FORMAT_VERSION',
  locked: 'empty, 0 segments',
  'segment-only': 'ERR_WAL_CORRUPT',
};

describe.skipIf(!nativeLoaded)('the native WAL and its TypeScript twin', () => {
  describe('write the same bytes', () => {
    it.each(['off', 'auto'] as const)('for the same appends (native direct_io %s), across segment rolls and a batch that spans two', async (directIo) => {
      const batches = mixedBatches();
      const tsDir = await tempDir();
      const nativeDir = await tempDir();
      const tsResults = await appendAll('typescript', tsDir, batches);
      const nativeResults = await appendAll('native', nativeDir, batches, { directIo });
      expect(nativeResults).toEqual(tsResults);
      expect((await readdir(tsDir)).filter((n) => n.endsWith('.wal')).length).toBeGreaterThanOrEqual(4);
      await expectSameFiles(tsDir, nativeDir, ID_TIME_AND_CRC);
      // Each segment header carries its own directory's store id.
      for (const dir of [tsDir, nativeDir]) {
        const id = (JSON.parse(await readFile(join(dir, 'WAL_ID'), 'utf8')) as { storeId: string }).storeId;
        expect((await readAt(segPath(dir, 1), HEADER_OFF_STORE_ID, 16)).toString('hex')).toBe(id);
      }
    });

    it('when appends arrive concurrently and group differently', async () => {
      const records = Array.from({ length: 400 }, (_, i) => payload(i, (i * 97) % 3000));
      const dirs: Record<WalPath, string> = { typescript: await tempDir(), native: await tempDir() };
      for (const path of ['typescript', 'native'] as const) {
        const wal = await open(path, options(dirs[path], { directIo: 'off', maxGroupBytes: 16 * 1024 }));
        // Appends are issued in order, so the sequence numbers are too; how they group is up to each writer.
        await Promise.all(Array.from({ length: 100 }, (_, b) => wal.append(records.slice(b * 4, b * 4 + 4))));
        await wal.close();
      }
      await expectSameFiles(dirs.typescript, dirs.native, ID_TIME_AND_CRC);
    });

    it('after an injected fdatasync failure: exactly the acknowledged prefix, and zeros where the failed group was', async () => {
      const dirs: Record<WalPath, string> = { typescript: await tempDir(), native: await tempDir() };
      for (const path of ['typescript', 'native'] as const) {
        injectFaults(dirs[path], { failSyncAt: 3 });
        const wal = await open(path, options(dirs[path], { directIo: 'off', maxGroupBytes: 4096 }));
        const settled = [];
        for (let i = 1; i <= 4; i++)
          settled.push(
            await wal.append([payload(i, 3000)]).then(
              () => 'ok',
              (e: { code: string }) => e.code,
            ),
          );
        expect(settled).toEqual(['ok', 'ok', 'ERR_WAL_IO', 'ERR_WAL_IO']);
        await wal.close();
      }
      await expectSameFiles(dirs.typescript, dirs.native, ID_TIME_AND_CRC);
      expect((await readAll(dirs.native)).map((r) => r.seq)).toEqual([1, 2]);
    });
  });

  describe('read and continue each other', () => {
    it('a WAL written by the native writer is recovered and read by the TypeScript twin', async () => {
      const batches = mixedBatches();
      const dir = await tempDir();
      await appendAll('native', dir, batches);
      const all = batches.flat();
      const before = (await readdir(dir)).sort();
      const { report } = await recoverWal(dir, { recovery: 'strict' });
      expect(report).toMatchObject({ segments: before.filter((n) => n.endsWith('.wal')).length, firstSeq: 1, lastSeq: all.length, tornBytes: 0, salvaged: [] });
      expect((await readdir(dir)).sort()).toEqual(before);
      const back = await readAll(dir);
      expect(back.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
      expect(
        firstDifference(
          back.map((r) => r.data),
          all,
        ),
      ).toBeNull();
      // And continues it.
      const wal = await TsWalWriter.open(options(dir));
      expect(await wal.append([payload(9, 9)])).toEqual({ firstSeq: all.length + 1, lastSeq: all.length + 1 });
      await wal.close();
      expect((await readAll(dir, { fromSeq: all.length })).map((r) => r.seq)).toEqual([all.length, all.length + 1]);
    });

    it('a WAL written by the TypeScript twin is reopened and appended to by the native writer, then read back', async () => {
      const batches = mixedBatches();
      const dir = await tempDir();
      await appendAll('typescript', dir, batches);
      const all = batches.flat();
      const wal = await NativeWal.open(options(dir, { ringCapacity: 8 << 20 }));
      expect(wal.recovery).toMatchObject({ firstSeq: 1, lastSeq: all.length, tornBytes: 0, salvaged: [] });
      const more = Array.from({ length: 30 }, (_, i) => payload(500 + i, 40_000 + i));
      expect(await wal.append(more)).toEqual({ firstSeq: all.length + 1, lastSeq: all.length + 30 });
      await wal.close();
      const back: Array<{ seq: number; data: Uint8Array }> = [];
      for await (const r of readRecords(dir)) back.push(r);
      expect(back.map((r) => r.seq)).toEqual([...all, ...more].map((_, i) => i + 1));
      expect(
        firstDifference(
          back.map((r) => r.data),
          [...all, ...more],
        ),
      ).toBeNull();
      expect(await recoverWal(dir, { recovery: 'strict' })).toMatchObject({ nextSeq: all.length + 31 });
    });

    it('each path appends to a log the other path cut a torn tail from', async () => {
      for (const [writer, reader] of [
        ['typescript', 'native'],
        ['native', 'typescript'],
      ] as const) {
        const dir = await tempDir();
        await writeLog(dir, 10, SMALL, { directIo: 'off' }, (o) => open(writer, o));
        await truncate(segPath(dir, 1), at(10) + 60);
        const wal = await open(reader, options(dir, { directIo: 'off' }));
        expect(wal.recovery).toMatchObject({ lastSeq: 9, tornBytes: 60 });
        await wal.close();
        const again = await open(writer, options(dir, { directIo: 'off' }));
        expect(again.recovery).toMatchObject({ lastSeq: 9, tornBytes: 0 });
        expect(await again.append([payload(10, SMALL)])).toEqual({ firstSeq: 10, lastSeq: 10 });
        await again.close();
        expect((await readAll(dir)).map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      }
    });
  });

  describe('recover the same damage the same way', () => {
    async function logOf(count: number, size: number): Promise<string> {
      const dir = await tempDir();
      await writeLog(dir, count, size);
      return dir;
    }
    const smallLog = (): Promise<string> => logOf(10, SMALL);
    const bigLog = (): Promise<string> => logOf(25, BIG);

    it.each([0, 1, 4, 8, 12, 15, 16, 17, 60, 115, 116, 117, 119])('a torn tail made by truncating the last record after %i bytes', async (k) => {
      const template = await smallLog();
      for (const mode of ['strict', 'salvage'] as const) {
        const outcome = await expectSameRecovery(template, (dir) => truncate(segPath(dir, 1), at(10) + k), mode);
        // Cut inside the padding (116 of 120 bytes are header and payload), the record is whole.
        expect(outcome.report).toMatchObject({ lastSeq: k >= 16 + SMALL ? 10 : 9 });
      }
    });

    const newestCases: Array<[string, (dir: string) => Promise<void>]> = [
      ['a partial payload', (d) => patch(segPath(d, 1), at(10) + 16 + 60, new Uint8Array(40))],
      ['a partial header', (d) => patch(segPath(d, 1), at(10) + 8, new Uint8Array(112))],
      ['a bad length', (d) => patch(segPath(d, 1), at(10) + 4, Uint8Array.from([0xff, 0xff, 0xff, 0x7f]))],
      [
        'a payload running one byte past the segment',
        async (d) => {
          const length = Buffer.alloc(4);
          length.writeUInt32LE(SEG - at(10) - 16 + 1);
          await patch(segPath(d, 1), at(10) + 4, length);
        },
      ],
      ['a bad checksum in the last record', (d) => patch(segPath(d, 1), at(10) + 20, Uint8Array.from([0x55]))],
      ['a bad checksum in the middle', (d) => patch(segPath(d, 1), at(5) + 40, Uint8Array.from([0xaa, 0xbb]))],
      ['a zeroed record in the middle', (d) => patch(segPath(d, 1), at(4), new Uint8Array(120))],
      ['a zero header before the last record', (d) => patch(segPath(d, 1), at(10), new Uint8Array(16))],
      ['a zeroed tail', (d) => patch(segPath(d, 1), at(9), new Uint8Array(240))],
      ['stray bytes after the last record', (d) => patch(segPath(d, 1), at(11) + 4000, Uint8Array.from([1, 2, 3]))],
      ['stray bytes at the very end of the segment', (d) => patch(segPath(d, 1), SEG - 3, Uint8Array.from([1, 2, 3]))],
      ['sequence number 0', (d) => setRecordSeq(segPath(d, 1), at(3), 0)],
      [
        'a sequence gap',
        async (d) => {
          for (let k = 6; k <= 10; k++) await setRecordSeq(segPath(d, 1), at(k), k + 1);
        },
      ],
      ['a record that goes back in sequence', (d) => setRecordSeq(segPath(d, 1), at(7), 3)],
      ['a jump far ahead', (d) => setRecordSeq(segPath(d, 1), at(6), 100)],
      ['a sequence number above 2^53', (d) => setRecordSeq(segPath(d, 1), at(8), 2 ** 53)],
      ['a bad magic', (d) => patch(segPath(d, 1), 0, Buffer.from('X'))],
      ['another format version', (d) => editHeader(segPath(d, 1), (h) => h.writeUInt32LE(2, 8))],
      // Flipped, not set: the creation time's byte may already hold any given value.
      [
        'a bad header checksum',
        async (d) => patch(segPath(d, 1), HEADER_OFF_CREATED, Uint8Array.from([(await readAt(segPath(d, 1), HEADER_OFF_CREATED, 1))[0]! ^ 0xff])),
      ],
      ['another store id', (d) => editHeader(segPath(d, 1), (h) => h.fill(0x11, 32, 48))],
      ['a header number that is not the file name', (d) => editHeader(segPath(d, 1), (h) => h.writeBigUInt64LE(7n, 16))],
      ['a header length in use of 65', (d) => editHeader(segPath(d, 1), (h) => h.writeUInt32LE(65, 12))],
      ['a segment size that is not a multiple of 4096', (d) => editHeader(segPath(d, 1), (h) => h.writeUInt32LE(SEG + 8, 56))],
      ['a first sequence number of 0', (d) => editHeader(segPath(d, 1), (h) => h.writeBigUInt64LE(0n, 24))],
      ['a header cut to 40 bytes', (d) => truncate(segPath(d, 1), 40)],
      ['a file cut before its first record', (d) => truncate(segPath(d, 1), SEGMENT_HEADER_SIZE)],
      [
        'a WAL_ID whose store id is in capitals',
        async (d) => {
          const text = await readFile(join(d, 'WAL_ID'), 'utf8');
          const id = (JSON.parse(text) as { storeId: string }).storeId;
          await writeFile(join(d, 'WAL_ID'), text.replace(id, id.toUpperCase()));
        },
      ],
      ['a WAL_ID of version 2', (d) => writeFile(join(d, 'WAL_ID'), '{"format":"tapio-wal","version":2,"storeId":"00112233445566778899aabbccddeeff"}')],
      ['a WAL_ID that is not an object', (d) => writeFile(join(d, 'WAL_ID'), '["tapio-wal"]')],
      ['a WAL_ID that is not JSON', (d) => writeFile(join(d, 'WAL_ID'), '{"format":')],
      ['a WAL_ID with a short store id', (d) => writeFile(join(d, 'WAL_ID'), '{"format":"tapio-wal","version":1,"storeId":"0011"}')],
      ['a missing WAL_ID', (d) => unlink(join(d, 'WAL_ID'))],
    ];
    it.each(newestCases)('in a one-segment log: %s', async (what, damage) => {
      const template = await smallLog();
      const [strict, salvage] = expected(NEWEST_OUTCOMES, what);
      expect(summary(await expectSameRecovery(template, damage, 'strict')), 'strict').toBe(strict);
      expect(summary(await expectSameRecovery(template, damage, 'salvage')), 'salvage').toBe(salvage);
    });

    const olderCases: Array<[string, (dir: string) => Promise<void>]> = [
      ['a bad checksum in an older segment', (d) => patch(segPath(d, 1), atBig(3) + 5000, Uint8Array.from([1, 2, 3, 4]))],
      ['a torn-looking end of an older segment', (d) => patch(segPath(d, 1), atBig(10) + 50_000, new Uint8Array(50_016))],
      ['stray bytes after the end of an older segment', (d) => patch(segPath(d, 2), SEG - 10, Uint8Array.from([7]))],
      ['a missing middle segment', (d) => unlink(segPath(d, 2))],
      ['a missing first segment', (d) => unlink(segPath(d, 1))],
      ['an unreadable older header', (d) => patch(segPath(d, 1), 0, Buffer.from('XAPIOWAL'))],
      [
        'an unreadable middle header and damage in the newest',
        async (d) => {
          await patch(segPath(d, 2), 3, Uint8Array.from([0]));
          await patch(segPath(d, 3), atBig(22) + 300, Uint8Array.from([9, 9, 9]));
        },
      ],
      ['an unreadable newest header with records after it', (d) => patch(segPath(d, 3), 0, Buffer.from('X'))],
      ['a sequence gap between segments', (d) => editHeader(segPath(d, 3), (h) => h.writeBigUInt64LE(30n, 24))],
      ['a segment starting back in sequence', (d) => editHeader(segPath(d, 3), (h) => h.writeBigUInt64LE(15n, 24))],
      ['an interrupted creation of the next segment (all zeros)', (d) => writeFile(segPath(d, 4), new Uint8Array(SEG))],
      ['an interrupted creation of the next segment (an empty file)', (d) => writeFile(segPath(d, 4), new Uint8Array(0))],
      [
        'an interrupted creation with half a header',
        async (d) => {
          const header = encodeSegmentHeader({ segment: 4, firstSeq: 26, storeId: new Uint8Array(16).fill(3), createdMs: 1, segmentSize: SEG });
          await writeFile(segPath(d, 4), header.subarray(0, 30));
          await truncate(segPath(d, 4), SEG);
        },
      ],
      [
        'an interrupted creation after a damaged segment',
        async (d) => {
          await patch(segPath(d, 3), atBig(25) + 40, Uint8Array.from([1]));
          await writeFile(segPath(d, 4), new Uint8Array(100));
        },
      ],
      [
        'a later segment header with records but an interrupted-looking tail',
        (d) => writeFile(segPath(d, 5), Buffer.concat([Buffer.from('junk'), Buffer.alloc(SEGMENT_HEADER_SIZE), Buffer.from('x')])),
      ],
      [
        'an earlier .broken file in the way',
        async (d) => {
          await writeFile(`${segPath(d, 3)}.broken`, 'kept');
          await patch(segPath(d, 3), atBig(25) + 40, Uint8Array.from([1]));
        },
      ],
      [
        'files that are not segments',
        async (d) => {
          await writeFile(join(d, '0000000000000000.wal'), 'zero');
          await writeFile(join(d, '00000000000000ff.WAL'), 'caps');
          await writeFile(join(d, 'notes.txt'), 'hello');
        },
      ],
      ['a CHECKPOINT that is not JSON', (d) => writeFile(join(d, 'CHECKPOINT'), '{"format":')],
      ['a CHECKPOINT of another store', (d) => editCheckpoint(d, { storeId: 'cd'.repeat(16) })],
      ['a CHECKPOINT with a first sequence number the segment does not have', (d) => editCheckpoint(d, { firstSeq: 9 })],
      ['a CHECKPOINT with a last sequence number the next segment does not follow', (d) => editCheckpoint(d, { lastSeq: 25 })],
      ['a CHECKPOINT sealing the newest segment', (d) => editCheckpoint(d, { sealed: 3, firstSeq: 21, lastSeq: 25 })],
      [
        'a CHECKPOINT with numbers written as 2.0 and 11e0',
        (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":2.0').replace('"firstSeq":11', '"firstSeq":11e0')),
      ],
      ['a CHECKPOINT with a hex number', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":0x2'))],
      ['a CHECKPOINT with a plus sign', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":+2'))],
      ['a CHECKPOINT with a leading zero', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":02'))],
      ['a CHECKPOINT with a trailing dot', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":2.'))],
      ['a CHECKPOINT with NaN', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":NaN'))],
      ['a CHECKPOINT with -0 and 1e400', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed":2', '"sealed":-0').replace('"lastSeq":20', '"lastSeq":1e400'))],
      ['a CHECKPOINT with nested extra keys', (d) => rewriteCheckpoint(d, (t) => t.replace('{', '{"x":{"y":[1,{"z":"}"}]},"w":[],'))],
      ['a CHECKPOINT with an escaped key', (d) => rewriteCheckpoint(d, (t) => t.replace('"sealed"', '"s\\u0065aled"'))],
      ['a CHECKPOINT with an escaped format name', (d) => rewriteCheckpoint(d, (t) => t.replace('tapio-wal-checkpoint', 'tapio\\u002dwal-checkpoint'))],
      ['a CHECKPOINT with a bad escape', (d) => rewriteCheckpoint(d, (t) => t.replace('tapio-wal-checkpoint', 'tapio\\xwal'))],
      [
        'a CHECKPOINT with the store id in capitals',
        (d) => rewriteCheckpoint(d, (t) => t.replace(/"storeId":"([0-9a-f]+)"/, (_m, id: string) => `"storeId":"${id.toUpperCase()}"`)),
      ],
      [
        'a CHECKPOINT that is a directory',
        async (d) => {
          await rm(join(d, 'CHECKPOINT'));
          await mkdir(join(d, 'CHECKPOINT'));
        },
      ],
      [
        'a CHECKPOINT that cannot be replaced (its temporary name is a directory)',
        async (d) => {
          await rm(join(d, 'CHECKPOINT'));
          await mkdir(join(d, 'CHECKPOINT.tmp'));
        },
      ],
      ['a newest segment the CHECKPOINT counts on that lost its header', (d) => writeFile(segPath(d, 3), new Uint8Array(4096))],
      [
        'sealed segments removed by retention',
        async (d) => {
          await unlink(segPath(d, 1));
          await unlink(segPath(d, 2));
        },
      ],
      ['records damaged in a sealed segment', (d) => patch(segPath(d, 2), atBig(14) + 100, Uint8Array.from([9, 9, 9]))],
    ];
    it.each(olderCases)('in a three-segment log: %s', async (what, damage) => {
      const template = await bigLog();
      expect((await readdir(template)).sort()).toContain('CHECKPOINT');
      const [strictOutcome, salvageOutcome, scannedOutcome] = expected(OLDER_OUTCOMES, what);
      const strict = await expectSameRecovery(template, damage, 'strict');
      expect(summary(strict), 'strict').toBe(strictOutcome);
      if (what.includes('2.0 and 11e0') || what.includes('capitals')) expect(strict.report).toMatchObject({ sealedSegments: 2 });
      if (what.includes('that is a directory'))
        expect(strict.report).toMatchObject({ sealedSegments: 0, checkpointIgnored: 'CHECKPOINT cannot be read (EISDIR)' });
      expect(summary(await expectSameRecovery(template, damage, 'salvage')), 'salvage').toBe(salvageOutcome);
      // And with every segment scanned, as after a salvage or in a log whose CHECKPOINT is gone.
      const scanned = await expectSameRecovery(
        template,
        async (d) => {
          await damage(d);
          await rm(join(d, 'CHECKPOINT'), { force: true, recursive: true });
        },
        'strict',
      );
      expect(summary(scanned), 'strict, every segment scanned').toBe(scannedOutcome);
    });

    /** `damage`, then a salvage by the TypeScript twin; `took` tells whether salvage took the directory. */
    const salvagedAfter =
      (damage: (d: string) => Promise<void>, took: { ok: boolean }) =>
      async (d: string): Promise<void> => {
        await damage(d);
        took.ok = await recoverWal(d, { recovery: 'salvage' }).then(
          () => true,
          (err: unknown) => {
            if (!isTapioError(err)) throw err;
            return false;
          },
        );
      };
    it.each([...newestCases.map((c) => ['one', ...c] as const), ...olderCases.map((c) => ['three', ...c] as const)])(
      'after a salvage of a %s-segment log with %s, both paths open it strictly alike, taking all salvage set aside',
      async (segments, what, damage) => {
        const template = segments === 'one' ? await smallLog() : await bigLog();
        const took = { ok: false };
        const outcome = await expectSameRecovery(template, salvagedAfter(damage, took), 'strict');
        // Salvage takes the directory exactly when a salvage open does (the outcomes above).
        const salvageOutcome = segments === 'one' ? expected(NEWEST_OUTCOMES, what)[1] : expected(OLDER_OUTCOMES, what)[1];
        expect(took.ok).toBe(!salvageOutcome.startsWith('ERR_'));
        if (took.ok) expect(outcome.error).toBeUndefined();
        expect(summary(outcome)).toBe(expected(AFTER_SALVAGE_OUTCOMES, what));
      },
    );

    it('writes down the expected outcome of every case, and of no other', () => {
      expect(Object.keys(NEWEST_OUTCOMES)).toEqual(newestCases.map(([what]) => what));
      expect(Object.keys(OLDER_OUTCOMES)).toEqual(olderCases.map(([what]) => what));
      expect(Object.keys(AFTER_SALVAGE_OUTCOMES)).toEqual([...newestCases, ...olderCases].map(([what]) => what));
    });

    it.each([
      ['not JSON', () => '{"format":'],
      ['another version', (id: string) => `{"format":"tapio-wal-salvaged","version":2,"storeId":"${id}","stretches":[]}`],
      ['another store', () => `{"format":"tapio-wal-salvaged","version":1,"storeId":"${'ab'.repeat(16)}","stretches":[]}`],
      [
        'a stretch of segment 0',
        (id: string) =>
          `{"format":"tapio-wal-salvaged","version":1,"storeId":"${id}","stretches":[{"segment":0,"offset":0,"bytes":0,"lostFrom":0,"lostCount":0}]}`,
      ],
      ['a string for a stretch', (id: string) => `{"format":"tapio-wal-salvaged","version":1,"storeId":"${id}","stretches":["{}"]}`],
      [
        'numbers spelled 1e0 and 8.0, extra members',
        (id: string) =>
          `{"x":[[{}]],"format":"tapio-wal-salvaged","version":1.0,"storeId":"${id.toUpperCase()}","stretches":[{"segment":1e0,"offset":8.0,"bytes":16,"lostFrom":0,"lostCount":0,"y":"z"}]}`,
      ],
    ])('a SALVAGED file with %s: both paths read it alike', async (what, text) => {
      const template = await logOf(10, SMALL);
      const id = (JSON.parse(await readFile(join(template, 'WAL_ID'), 'utf8')) as { storeId: string }).storeId;
      await writeFile(join(template, 'SALVAGED'), text(id));
      const [clean, damaged] = expected(SALVAGED_FILE_OUTCOMES, what);
      expect(summary(await expectSameRecovery(template, async () => undefined, 'strict')), 'no damage').toBe(clean);
      // With damage a salvage set aside: an unusable SALVAGED accepts none of it.
      const withDamage = await expectSameRecovery(
        template,
        async (d) => {
          await patch(segPath(d, 1), at(5) + 40, Uint8Array.from([0xaa]));
          await writeFile(join(d, 'SALVAGED'), text(id));
        },
        'strict',
      );
      expect(summary(withDamage), 'damage').toBe(damaged);
    });

    it('a new directory, an empty one, one with other files and one holding only the lock file', async () => {
      const parent = await tempDir();
      for (const [name, setup] of [
        ['new', async () => undefined],
        ['other', async (d: string) => writeFile(join(d, 'notes.txt'), 'hello')],
        ['locked', async (d: string) => writeFile(join(d, 'LOCK'), '1\n')],
        ['segment-only', async (d: string) => writeFile(segPath(d, 1), new Uint8Array(10))],
      ] as const) {
        const dirs = { typescript: join(parent, `ts-${name}`, 'wal'), native: join(parent, `native-${name}`, 'wal') };
        const outcomes: Outcome[] = [];
        for (const path of ['typescript', 'native'] as const) {
          if (name !== 'new') {
            await mkdir(dirs[path], { recursive: true });
            await setup(dirs[path]);
          }
          outcomes.push(await openAndClose(path, dirs[path], 'strict'));
        }
        expect(outcomes[1], name).toEqual(outcomes[0]);
        expect(summary(outcomes[0]!), name).toBe(expected(NEW_DIRECTORY_OUTCOMES, name));
        await expectSameFiles(dirs.typescript, dirs.native, ID_TIME_AND_CRC);
      }
    });

    it('random damage to a one-segment log', async () => {
      const template = await tempDir();
      const sizes = Array.from({ length: 30 }, (_, i) => (i * 53) % 400);
      const wal = await TsWalWriter.open(options(template));
      for (const [i, n] of sizes.entries()) await wal.append([payload(i + 1, n)]);
      await wal.close();
      const end = sizes.reduce((offset, n) => offset + recordFootprint(n), SEGMENT_HEADER_SIZE);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ offset: fc.integer({ min: 0, max: end + 256 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }),
          fc.option(fc.integer({ min: SEGMENT_HEADER_SIZE, max: end }), { nil: undefined }),
          fc.constantFrom<RecoveryMode>('strict', 'salvage'),
          async (edits, cutAt, mode) => {
            await expectSameRecovery(
              template,
              async (dir) => {
                for (const e of edits) await patch(segPath(dir, 1), e.offset, Uint8Array.of(e.value));
                if (cutAt !== undefined) await truncate(segPath(dir, 1), cutAt);
              },
              mode,
            );
          },
        ),
        { numRuns: 120 },
      );
    });

    it('random damage to a three-segment log', async () => {
      const template = await bigLog();
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({ segment: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: SEG - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
            { minLength: 1, maxLength: 3 },
          ),
          fc.constantFrom<RecoveryMode>('strict', 'salvage'),
          async (edits, mode) => {
            await expectSameRecovery(
              template,
              async (dir) => {
                for (const e of edits) await patch(segPath(dir, e.segment), e.offset, Uint8Array.of(e.value));
              },
              mode,
            );
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
