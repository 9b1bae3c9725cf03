/**
 * `tapio-storage wal stats`: what a WAL directory holds, from the segment list, the headers of the
 * oldest and the newest segment, and a scan of the newest segment only (the sequence numbers are
 * consecutive, so the oldest header and the newest record give the count). It opens every file
 * read-only and takes no lock, so it works beside a running store; it checks no record of the
 * older segments (`wal verify` does).
 */
import { open, type FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import { decodeSegmentHeader, storeIdToHex, type SegmentHeader } from './codec.js';
import { reasonText } from './reasons.js';
import { RECORD_ALIGN, SEGMENT_HEADER_SIZE, SEGMENT_HEADER_USED } from './format.js';
import { isRecordedDamage, readSalvaged, type SalvagedStretch } from './salvage-file.js';
import { SegmentScanner } from './segment-scanner.js';
import { listSegments, readWalId, type SegmentFile } from './wal-dir.js';

/** What walStats found. */
export interface WalStatsSummary {
  dir: string;
  segments: number;
  /** Records from the oldest to the newest, less those salvage set aside (0 when there is none). */
  records: number;
  /** The oldest record's sequence number (0 when there is none). */
  firstSeq: number;
  /** The newest whole record's sequence number (0 when there is none). */
  lastSeq: number;
  /** Bytes read to answer (two headers and the newest segment's records). */
  bytesScanned: number;
  /** False when WAL_ID, the oldest or the newest header could not be used; `problem` says why. */
  ok: boolean;
  problem?: string;
}

/**
 * Counts a WAL directory's segments and records without reading its older segments.
 *
 * @example
 * ```ts
 * const s = await walStats('/var/lib/tapio/wal');
 * console.log(`${s.records} records in ${s.segments} segments (seq ${s.firstSeq}..${s.lastSeq})`);
 * ```
 */
export async function walStats(dir: string): Promise<WalStatsSummary> {
  const summary: WalStatsSummary = { dir, segments: 0, records: 0, firstSeq: 0, lastSeq: 0, bytesScanned: 0, ok: true };
  const segs = await listSegments(dir);
  summary.segments = segs.length;
  let storeId: string | null = null;
  try {
    storeId = (await readWalId(dir))?.storeId ?? null;
  } catch (err) {
    if (!(err instanceof TapioError)) throw err;
    return { ...summary, ok: false, problem: err.message };
  }
  if (segs.length === 0) return summary;
  if (storeId === null) return { ...summary, ok: false, problem: 'WAL_ID is missing, so the store id of the segments cannot be checked' };
  // The oldest segment with a usable header starts the log (retention removes from the front).
  let oldest: SegmentHeader | null = null;
  let problem: string | undefined;
  for (const seg of segs) {
    const got = await headerOf(seg, storeId, summary);
    if (typeof got === 'string') {
      problem ??= got;
      continue;
    }
    oldest = got;
    break;
  }
  // The stretches a salvage set aside: skipped in the newest segment, their lost records not counted.
  const recorded = await readSalvaged(dir, storeId).catch(() => null);
  const setAside = Array.isArray(recorded) ? recorded : [];
  const newestSeg = segs.at(-1)!;
  const newest = await newestEnd(newestSeg, storeId, setAside, summary);
  if (typeof newest === 'string') problem ??= newest;
  if (oldest === null || typeof newest === 'string') return { ...summary, ok: false, problem: problem ?? 'no segment header is readable' };
  if (newest.lastSeq >= oldest.firstSeq) {
    const first = oldest.firstSeq;
    const last = newest.lastSeq;
    summary.firstSeq = first;
    summary.lastSeq = last;
    const lost = setAside.reduce((n, s) => n + Math.max(0, Math.min(last, s.lostFrom + s.lostCount - 1) - Math.max(first, s.lostFrom) + 1), 0);
    summary.records = last - first + 1 - lost;
  }
  return problem === undefined ? summary : { ...summary, ok: false, problem };
}

/** The header of `seg`, or why it cannot be used. */
async function headerOf(seg: SegmentFile, storeId: string, summary: WalStatsSummary): Promise<SegmentHeader | string> {
  const opened = await openWithHeader(seg, storeId, summary);
  if (typeof opened === 'string') return opened;
  await opened.fh.close();
  return opened.header;
}

/** `seg` opened for reading with its checked header, or why it cannot be used (then closed). */
async function openWithHeader(
  seg: SegmentFile,
  storeId: string,
  summary: WalStatsSummary,
): Promise<{ fh: FileHandle; size: number; header: SegmentHeader } | string> {
  let fh;
  try {
    fh = await open(seg.path, 'r');
  } catch (err) {
    return `${seg.name} cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`;
  }
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(SEGMENT_HEADER_USED);
    const { bytesRead } = await fh.read(head, 0, SEGMENT_HEADER_USED, 0);
    summary.bytesScanned += bytesRead;
    const header = checked(seg, head.subarray(0, bytesRead), storeId);
    if (typeof header === 'string') {
      await fh.close();
      return header;
    }
    return { fh, size, header };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function checked(seg: SegmentFile, head: Buffer, storeId: string): SegmentHeader | string {
  const decoded = decodeSegmentHeader(head);
  if (!decoded.ok) return `the header of ${seg.name} is damaged (${reasonText(decoded.problem.reason, decoded.problem.details)})`;
  if (decoded.header.segment !== seg.number) return `the header of ${seg.name} says segment ${decoded.header.segment}`;
  if (storeIdToHex(decoded.header.storeId) !== storeId) return `${seg.name} belongs to another store`;
  return decoded.header;
}

/**
 * The last whole record of the newest segment (a writer may be writing after it), or why not.
 * Stretches a salvage set aside are stepped over, as reads do.
 */
async function newestEnd(
  seg: SegmentFile,
  storeId: string,
  setAside: readonly SalvagedStretch[],
  summary: WalStatsSummary,
): Promise<{ lastSeq: number } | string> {
  const opened = await openWithHeader(seg, storeId, summary);
  if (typeof opened === 'string') return opened;
  const { fh, size, header } = opened;
  try {
    const scanner = new SegmentScanner(fh, seg.path, Math.min(size, header.segmentSize), SEGMENT_HEADER_SIZE);
    let lastSeq = header.firstSeq - 1;
    try {
      for (;;) {
        const s = scanner.step();
        if (s.kind === 'need') {
          await scanner.fill();
          continue;
        }
        if (s.kind === 'record' && s.seq === lastSeq + 1) {
          lastSeq = s.seq;
          continue;
        }
        if (
          s.kind === 'record' &&
          s.seq > lastSeq + 1 &&
          isRecordedDamage(setAside, seg.number, s.offset, { kind: 'seq', expected: lastSeq + 1, found: s.seq })
        ) {
          lastSeq = s.seq;
          continue;
        }
        if (s.kind === 'end' || setAside.length === 0) break;
        const found = await scanner.findValidAfter(s.offset + RECORD_ALIGN, lastSeq);
        if (found === null || !isRecordedDamage(setAside, seg.number, s.offset, { kind: 'bytes', end: found })) break;
        scanner.seek(found);
      }
    } finally {
      summary.bytesScanned += scanner.bytesRead;
    }
    return { lastSeq };
  } finally {
    await fh.close();
  }
}
