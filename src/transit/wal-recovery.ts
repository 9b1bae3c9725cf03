/**
 * The recovery scan of a transit WAL directory: the TypeScript twin of
 * native/core/wal_recovery. It runs at open (recoverWal) and for `tapio-storage wal verify`
 * (wal-verify.ts, which changes nothing), and shares its record rules with the reader
 * (readRecords, re-exported here). File operations are in wal-files.ts.
 *
 * The rules (CHECKPOINT, headers, records, an unfinished segment, the torn tail, damage in the
 * middle and salvage) are stated once, in docs/FORMAT.md "Recovery" (with SALVAGED);
 * native/core/wal_recovery applies the same rules with the same reasons, and a twin test runs
 * both over the same damaged directories and compares.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';

import type { IndexSeed, RecoveryMode, RecoveryReport } from './backend.js';
import { decodeSegmentHeader, storeIdToHex, type SegmentHeader } from './codec.js';
import {
  CHECKPOINT_FILE_NAME,
  SALVAGED_FILE_NAME,
  HEADER_OFF_FIRST_SEQ,
  HEADER_OFF_SEGMENT,
  HEADER_OFF_STORE_ID,
  RECORD_ALIGN,
  SEGMENT_HEADER_SIZE,
  SEGMENT_HEADER_USED,
  indexesRecord,
  segmentFileName,
} from './format.js';
import { damageText, reasonError, reasonText, withFacts, type Reasoned } from './reasons.js';
import { headerGapEnd, lostBetween, readSalvaged, writeSalvaged, type SalvagedStretch } from './salvage-file.js';
import { SegmentScanner } from './segment-scanner.js';
import { ioError, openSegment, setAside, sizeAndHead, zeroRange } from './wal-files.js';
import { fsyncDir, listSegments, openWalId, readCheckpoint, writeCheckpoint, type SegmentFile, type WalCheckpoint, type WalIdentity } from './wal-dir.js';

export { readRecords, WalReader, type ReadRecordsOptions, type WalRecord } from './wal-reader.js';

/** A segment whose header starts later than the segment before it ends: the damage, and the sequence number due. */
interface HeaderGap {
  damage: Reasoned;
  expected: number;
}

/** What the scan found in one segment. */
export interface RecoveredSegment {
  number: number;
  /** The file name, e.g. 0000000000000001.wal. */
  name: string;
  path: string;
  /** The first sequence number from the header (0 when the header is unusable). */
  firstSeq: number;
  /** The sequence number of the segment's last whole record (firstSeq - 1 when it holds none). */
  lastSeq: number;
  records: number;
  /** Offset where the next record would go: the end of the last whole record. */
  endOffset: number;
  /** The segment size from the header (the file length when the header is unusable). */
  segmentSize: number;
  /** False when the header is unusable (salvage, verify): the writer starts a new segment. */
  appendable: boolean;
  /** Taken on CHECKPOINT's word: its header was checked, its records were not scanned. */
  sealed?: boolean;
}

/** Recovery's result: the report, and where the writer resumes. */
export interface RecoveredWal {
  report: RecoveryReport;
  storeId: string;
  storeIdBytes: Uint8Array;
  segments: RecoveredSegment[];
  /** Number of the newest segment, 0 when there is none. */
  lastSegment: number;
  /** Where the next record goes in the newest segment (0 when there is none). */
  writeOffset: number;
  /** The sequence number the next record gets. */
  nextSeq: number;
  /** Write CHECKPOINT at each segment roll: off after a salvage that skipped damage. */
  writeCheckpoints: boolean;
  /** What reads need: the usable segments and the index entries of those the scan read. */
  indexSeed: IndexSeed;
}

/** Kinds of problem the scan reports. */
export type WalProblemKind = 'torn-tail' | 'corrupt' | 'gap' | 'format';

/** One problem found by verifyWal (or set aside by salvage). */
export interface WalProblem {
  kind: WalProblemKind;
  /** The segment file name, or the file the problem is in (WAL_ID). */
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
}

/** A stretch of SALVAGED as reports show it: the segment by file name. */
export type SetAsideStretch = Omit<SalvagedStretch, 'segment'> & { segment: string };

export type ScanMode = RecoveryMode | 'verify';

/**
 * Runs the recovery scan of `dir` (creating the directory and WAL_ID when it is new or empty)
 * and returns what the writer needs to resume.
 *
 * @example
 * ```ts
 * const { report, nextSeq } = await recoverWal('/var/lib/tapio/wal', { recovery: 'strict' });
 * if (report.tornBytes > 0) console.warn(`cut ${report.tornBytes} torn bytes into ${report.brokenFile}`);
 * ```
 */
export async function recoverWal(dir: string, options: { recovery: RecoveryMode }): Promise<RecoveredWal> {
  const identity = await openWalId(dir);
  const scan = new WalScan(dir, identity, options.recovery);
  await scan.run(await listSegments(dir));
  const segments = scan.segments;
  const last = segments.at(-1);
  await scan.saveCheckpoint();
  await scan.saveSalvaged();
  return {
    report: {
      segments: segments.length,
      firstSeq: scan.firstSeq,
      lastSeq: scan.lastSeq,
      bytesScanned: scan.bytesScanned,
      tornBytes: scan.tornBytes,
      ...(scan.brokenFile !== undefined ? { brokenFile: scan.brokenFile } : {}),
      salvaged: scan.problems.map(({ segment, offset, bytes, reason }) => ({ segment, offset, bytes, reason })),
      sealedSegments: scan.sealedSegments,
      ...(scan.checkpointIgnored !== undefined ? { checkpointIgnored: scan.checkpointIgnored } : {}),
      removedFiles: scan.removedFiles,
      setAside: scan.setAside(),
      ...(scan.salvagedIgnored !== undefined ? { setAsideIgnored: scan.salvagedIgnored } : {}),
    },
    storeId: identity.storeId,
    storeIdBytes: identity.storeIdBytes,
    segments,
    lastSegment: last?.number ?? 0,
    writeOffset: last?.endOffset ?? 0,
    nextSeq: scan.expected === 0 ? 1 : scan.expected,
    writeCheckpoints: scan.problems.length === 0,
    indexSeed: {
      storeId: identity.storeId,
      segments: segments.flatMap((g) => (g.appendable ? [{ number: g.number, firstSeq: g.firstSeq, scanned: g.sealed !== true }] : [])),
      points: scan.indexPoints,
    },
  };
}

/** The scan over all segments, in one of three modes (recovery's two, and verify's). */
export class WalScan {
  readonly segments: RecoveredSegment[] = [];
  readonly problems: WalProblem[] = [];
  firstSeq = 0;
  /** The sequence number of the last record kept. */
  lastSeq = 0;
  /** The sequence number the next record must have; 0 until a segment header was read. */
  expected = 0;
  records = 0;
  tornBytes = 0;
  /** Strict and verify: the stretches SALVAGED records. Salvage: those this scan set aside. */
  stretches: SalvagedStretch[] = [];
  salvagedIgnored: string | undefined;
  /** Per segment number: the header bytes examined and the end of the record area examined. */
  private readonly examined = new Map<number, { head: number; end: number }>();
  brokenFile: string | undefined;
  /** Segment files recovery removed (a newest segment whose creation never finished). */
  removedFiles: string[] = [];
  /** Segments taken on CHECKPOINT's word (headers checked only). */
  sealedSegments = 0;
  checkpointIgnored: string | undefined;
  /** Index entries of the records scanned: triples (segment, sequence number, byte offset). */
  readonly indexPoints: number[] = [];
  private readonly repair: boolean;
  private checkpoint: WalCheckpoint | null = null;
  /** A sealed segment kept that waits for the next readable header to tell its last record. */
  private pending: RecoveredSegment | null = null;

  constructor(
    private readonly dir: string,
    private readonly identity: WalIdentity | null,
    private readonly mode: ScanMode,
  ) {
    this.repair = mode !== 'verify';
  }

  /**
   * Bytes of segment files examined, each byte counted once: every header's used bytes (fewer
   * when the file is shorter) and the record area (from byte 4096) as far as it was scanned.
   * Never more than the files hold, and the same on both paths.
   */
  get bytesScanned(): number {
    let total = 0;
    for (const { head, end } of this.examined.values()) total += head + Math.max(0, end - SEGMENT_HEADER_SIZE);
    return total;
  }

  private note(n: number, head: number, end: number): void {
    const e = this.examined.get(n);
    if (e === undefined) this.examined.set(n, { head, end });
    else this.examined.set(n, { head: Math.max(e.head, head), end: Math.max(e.end, end) });
  }

  /** The stretches to report: those set aside now (salvage), or those SALVAGED records for segments present. */
  setAside(): SetAsideStretch[] {
    const present = new Set(this.segments.map((g) => g.number));
    return this.stretches
      .filter((s) => this.mode === 'salvage' || present.has(s.segment))
      .map((s) => ({ segment: segmentFileName(s.segment), offset: s.offset, bytes: s.bytes, lostFrom: s.lostFrom, lostCount: s.lostCount }));
  }

  async run(files: SegmentFile[]): Promise<void> {
    if (this.mode !== 'salvage' && this.identity !== null) {
      const recorded = await readSalvaged(this.dir, this.identity.storeId);
      if (recorded !== null && !Array.isArray(recorded)) this.salvagedIgnored = recorded.ignored;
      else if (recorded !== null) this.stretches = recorded;
    }
    await this.loadCheckpoint(files);
    const cp = this.checkpoint;
    const segs = [...files];
    const newest = segs.at(-1);
    // The segment after the sealed one was whole before CHECKPOINT was written: never unfinished.
    const removed = newest !== undefined && (cp === null || newest.number > cp.sealed + 1) && (await this.isInterruptedCreation(newest));
    if (removed) segs.pop();
    // The segment before a removed one is not the newest: it was synced whole before the
    // writer began creating the next, so damage in it is damage, not a torn tail.
    let prev: RecoveredSegment | null = null;
    for (let i = 0; i < segs.length; i++) {
      prev = await this.scanSegment(segs[i]!, !removed && i === segs.length - 1, prev, cp !== null && segs[i]!.number <= cp.sealed);
    }
    // Sealed segments come first; the oldest record is in the first of them that holds any.
    const firstSealed = this.segments.find((g) => g.sealed === true && g.records > 0);
    if (firstSealed !== undefined) this.firstSeq = firstSealed.firstSeq;
    const onlyFirstRemoved = removed && files.length === 1 && files[0]!.number === 1;
    if (files.length > 0 && this.expected === 0 && !onlyFirstRemoved && this.mode !== 'verify') {
      throw reasonError('no-readable-header', { dir: this.dir });
    }
  }

  /** Strict opens: reads CHECKPOINT, or notes why it is not used. Salvage and verify scan everything. */
  private async loadCheckpoint(files: SegmentFile[]): Promise<void> {
    if (this.mode !== 'strict' || this.identity === null) return;
    const read = await readCheckpoint(this.dir, this.identity.storeId);
    if (read === null) return;
    if ('ignored' in read) {
      this.checkpointIgnored = read.ignored;
      return;
    }
    const newest = files.at(-1);
    if (newest === undefined || newest.number <= read.sealed) {
      const name = segmentFileName(read.sealed + 1);
      this.corrupt(
        { number: read.sealed + 1, name, path: join(this.dir, name) },
        0,
        0,
        { reason: 'missing-after-checkpoint', details: { sealed: read.sealed } },
        'gap',
      );
    }
    this.checkpoint = read;
  }

  /**
   * A strict open that scanned cleanly writes CHECKPOINT for the segment before the newest (best
   * effort: without it the next open only scans more). Salvage removes it: it scanned every
   * segment without it, and may have removed an unfinished segment the checkpoint counts on or
   * skipped damage in segments it calls sealed, so the next strict open scans everything too.
   */
  async saveCheckpoint(): Promise<void> {
    const file = join(this.dir, CHECKPOINT_FILE_NAME);
    if (this.mode === 'salvage') {
      try {
        await unlink(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EISDIR') throw ioError(file, 'unlink', err);
      }
      return;
    }
    if (this.mode !== 'strict' || this.identity === null || this.segments.length < 2) return;
    const sealed = this.segments[this.segments.length - 2]!;
    if (this.checkpoint !== null && this.checkpoint.sealed === sealed.number) return;
    // The checkpoint lets the next open skip the interrupted-creation check of the newest
    // segment, so the newest segment (its header) and its directory entry must be durable first:
    // a crash may have cut its creation short before either was synced.
    try {
      const fh = await open(this.segments.at(-1)!.path, 'r');
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await fsyncDir(this.dir);
      await writeCheckpoint(this.dir, this.identity.storeId, { sealed: sealed.number, firstSeq: sealed.firstSeq, lastSeq: sealed.lastSeq });
    } catch {
      // Best effort, as above.
    }
  }

  /** Salvage records what it set aside in SALVAGED (or removes it when it set nothing aside). */
  async saveSalvaged(): Promise<void> {
    if (this.mode !== 'salvage' || this.identity === null) return;
    try {
      await writeSalvaged(this.dir, this.identity.storeId, this.stretches);
    } catch (err) {
      throw ioError(join(this.dir, SALVAGED_FILE_NAME), 'write', err);
    }
  }

  /**
   * True when the newest segment's header never became whole and nothing follows the header
   * block: the crash came during segment creation, before any record could be written. Such a
   * segment is set aside (non-zero header bytes to .broken) and removed, in repair mode.
   */
  private async isInterruptedCreation(seg: SegmentFile): Promise<boolean> {
    const fh = await openSegment(seg.path, 'r');
    try {
      const { size, head } = await sizeAndHead(fh, seg.path);
      this.note(seg.number, head.length, 0);
      const decoded = decodeSegmentHeader(head);
      if (decoded.ok || decoded.kind === 'version') return false;
      const scanner = new SegmentScanner(fh, seg.path, size, 0);
      const afterHeader = size > SEGMENT_HEADER_SIZE ? await scanner.lastNonZero(SEGMENT_HEADER_SIZE) : -1;
      this.note(seg.number, head.length, size);
      if (afterHeader >= 0) return false;
      const headerEnd = (await scanner.lastNonZero(0)) + 1;
      if (!this.repair) {
        const reason = reasonText('creation-unfinished', { ...decoded.problem.details, cause: decoded.problem.reason });
        this.problems.push({ kind: 'torn-tail', segment: seg.name, offset: 0, bytes: headerEnd, reason });
        return true;
      }
      if (headerEnd > 0) {
        this.brokenFile = await setAside(fh, seg.path, 0, headerEnd);
        this.tornBytes += headerEnd;
      }
    } finally {
      await fh.close();
    }
    try {
      await unlink(seg.path);
      await fsyncDir(this.dir);
    } catch (err) {
      throw ioError(seg.path, 'unlink', err);
    }
    this.removedFiles.push(seg.path);
    return true;
  }

  private async scanSegment(seg: SegmentFile, isNewest: boolean, prev: RecoveredSegment | null, sealed: boolean): Promise<RecoveredSegment> {
    const fh = await openSegment(seg.path, 'r');
    try {
      const { size, head } = await sizeAndHead(fh, seg.path);
      this.note(seg.number, head.length, 0);
      const unusable = (): RecoveredSegment => ({
        number: seg.number,
        name: seg.name,
        path: seg.path,
        firstSeq: 0,
        lastSeq: 0,
        records: 0,
        endOffset: 0,
        segmentSize: size,
        appendable: false,
      });
      const decoded = decodeSegmentHeader(head);
      if (!decoded.ok) {
        if (decoded.kind === 'version') {
          this.formatProblem(seg, decoded.problem);
        } else {
          this.corrupt(seg, 0, size, decoded.problem, 'corrupt');
        }
        return this.keep(unusable());
      }
      const header = decoded.header;
      if (header.segment !== seg.number) {
        this.corrupt(
          seg,
          HEADER_OFF_SEGMENT,
          size,
          { reason: 'header-segment', details: { headerSegment: header.segment, fileSegment: seg.number } },
          'corrupt',
        );
        return this.keep(unusable());
      }
      if (this.identity !== null) {
        const id = storeIdToHex(header.storeId);
        if (id !== this.identity.storeId) {
          this.foreign(seg, size, { reason: 'foreign-store', details: { storeId: id, walStoreId: this.identity.storeId } });
          return this.keep(unusable());
        }
      }
      const cp = this.checkpoint;
      const pending = this.pending;
      if (pending !== null) {
        // The sealed segment before this one ends where this one starts, or, when segments set
        // aside whole lie between them, where SALVAGED says the records lost with them begin.
        this.pending = null;
        if (header.firstSeq < pending.firstSeq) {
          const back: Reasoned = { reason: 'segment-back', details: { firstSeq: header.firstSeq, previous: pending.name, previousFirstSeq: pending.firstSeq } };
          this.corrupt(seg, HEADER_OFF_FIRST_SEQ, 0, back, 'gap', [pending.firstSeq, header.firstSeq]);
        } else {
          const lost =
            seg.number === pending.number + 1 ? undefined : this.stretches.find((s) => s.segment === pending.number + 1 && s.offset === 0 && s.lostCount > 0);
          const end = lost !== undefined && lost.lostFrom >= pending.firstSeq && lost.lostFrom <= header.firstSeq ? lost.lostFrom : header.firstSeq;
          this.endSealed(pending, end - 1);
        }
      }
      if (prev === null && cp !== null && seg.number === cp.sealed + 1) {
        // Retention removed the sealed segments; CHECKPOINT still tells where the last one ended.
        this.expected = cp.lastSeq + 1;
        if (header.firstSeq !== this.expected) {
          const gap: Reasoned = { reason: 'checkpoint-gap', details: { firstSeq: header.firstSeq, sealed: cp.sealed, lastSeq: cp.lastSeq } };
          this.corrupt(seg, HEADER_OFF_FIRST_SEQ, 0, gap, 'gap', [this.expected, header.firstSeq]);
        }
      }
      if (prev !== null && seg.number !== prev.number + 1) {
        const missing = seg.number - prev.number - 1;
        this.corrupt(seg, 0, 0, { reason: 'segments-missing', details: { missing, previous: prev.name } }, 'gap');
      }
      let headerGap: HeaderGap | null = null;
      if (prev !== null && prev.appendable && header.firstSeq !== this.expected) {
        const gap: Reasoned = { reason: 'segment-gap', details: { firstSeq: header.firstSeq, previous: prev.name, previousLastSeq: this.expected - 1 } };
        // A later start loses the numbers up to the first record the segment really holds, which
        // a damaged header can put later than it is: the scan below decides.
        if (header.firstSeq > this.expected && !sealed) headerGap = { damage: gap, expected: this.expected };
        else this.corrupt(seg, HEADER_OFF_FIRST_SEQ, 0, gap, 'gap', [this.expected, header.firstSeq]);
      }
      if (prev !== null && !prev.appendable && this.expected > 0 && header.firstSeq > this.expected) {
        // The sequence numbers of the unusable segment before this one are lost with it.
        this.lostWith(prev.number, lostBetween(this.expected, header.firstSeq));
      }
      // Salvage after a gap: a later start skips ahead; an earlier one leaves records that go
      // back in sequence, which the record scan sets aside.
      this.expected = Math.max(this.expected, header.firstSeq);
      if (sealed) return this.keep(this.sealedSegment(seg, header));
      return this.keep(await this.scanRecords(fh, seg, header, Math.min(size, header.segmentSize), isNewest, headerGap));
    } finally {
      await fh.close();
    }
  }

  /**
   * A segment up to the checkpoint: its header was checked; its last sequence number comes from
   * the next segment's header, or from CHECKPOINT for the sealed one itself.
   */
  private sealedSegment(seg: SegmentFile, header: SegmentHeader): RecoveredSegment {
    const cp = this.checkpoint!;
    const info: RecoveredSegment = {
      number: seg.number,
      name: seg.name,
      path: seg.path,
      firstSeq: header.firstSeq,
      lastSeq: 0,
      records: 0,
      endOffset: 0,
      segmentSize: header.segmentSize,
      appendable: true,
      sealed: true,
    };
    this.sealedSegments++;
    if (seg.number !== cp.sealed) {
      this.pending = info;
      return info;
    }
    if (header.firstSeq !== cp.firstSeq) {
      this.corrupt(
        seg,
        HEADER_OFF_FIRST_SEQ,
        0,
        { reason: 'checkpoint-first-seq', details: { firstSeq: header.firstSeq, checkpointFirstSeq: cp.firstSeq } },
        'corrupt',
      );
    }
    this.endSealed(info, cp.lastSeq);
    return info;
  }

  private endSealed(info: RecoveredSegment, lastSeq: number): void {
    info.lastSeq = lastSeq;
    info.records = lastSeq + 1 - info.firstSeq;
    this.records += info.records;
    this.lastSeq = lastSeq;
    this.expected = lastSeq + 1;
  }

  private async scanRecords(
    fh: FileHandle,
    seg: SegmentFile,
    header: SegmentHeader,
    limit: number,
    isNewest: boolean,
    headerGap: HeaderGap | null,
  ): Promise<RecoveredSegment> {
    const scanner = new SegmentScanner(fh, seg.path, limit, SEGMENT_HEADER_SIZE);
    let expected = this.expected;
    let records = 0;
    let lastSeq = header.firstSeq - 1;
    let endOffset = SEGMENT_HEADER_SIZE;
    for (;;) {
      const s = scanner.step();
      if (s.kind === 'need') {
        await scanner.fill();
        continue;
      }
      if (headerGap !== null && s.kind === 'record') {
        // The header's gap ends at the first record when that one fills part of it.
        const found = headerGapEnd(headerGap.expected, header.firstSeq, s.seq);
        this.corrupt(seg, HEADER_OFF_FIRST_SEQ, 0, headerGap.damage, 'gap', [headerGap.expected, found]);
        if (found === s.seq) expected = s.seq;
        headerGap = null;
      }
      let damage: Reasoned;
      if (s.kind === 'record') {
        if (s.seq !== expected && s.seq > this.lastSeq) {
          this.corrupt(seg, s.offset, 0, { reason: 'seq-gap', details: { expected, found: s.seq } }, 'gap', [expected, s.seq]);
        }
        if (s.seq === expected || s.seq > this.lastSeq) {
          if (indexesRecord(s.offset, s.next - s.offset)) this.indexPoints.push(seg.number, s.seq, s.offset);
          records++;
          lastSeq = s.seq;
          expected = s.seq + 1;
          this.accept(s.seq);
          endOffset = s.next;
          continue;
        }
        damage = { reason: 'seq-behind', details: { seq: s.seq, last: this.lastSeq } };
      } else if (s.kind === 'end') {
        if (!s.zeroHeader || (await scanner.lastNonZero(s.offset)) < 0) break;
        damage = { reason: 'bytes-after-end', details: {} };
      } else {
        damage = s.problem;
      }
      if (await this.damage(scanner, seg, s.offset, damage, isNewest)) break;
    }
    if (headerGap !== null) this.corrupt(seg, HEADER_OFF_FIRST_SEQ, 0, headerGap.damage, 'gap', [headerGap.expected, header.firstSeq]);
    this.expected = expected;
    this.note(seg.number, SEGMENT_HEADER_USED, limit);
    return {
      number: seg.number,
      name: seg.name,
      path: seg.path,
      firstSeq: header.firstSeq,
      lastSeq,
      records,
      endOffset,
      segmentSize: header.segmentSize,
      appendable: true,
    };
  }

  /**
   * Handles bad bytes at `offset`. Returns true when the segment ends there (a torn tail, or
   * nothing valid after the damage), false when the scanner was moved to the next valid record.
   */
  private async damage(scanner: SegmentScanner, seg: SegmentFile, offset: number, damage: Reasoned, isNewest: boolean): Promise<boolean> {
    const found = await scanner.findValidAfter(offset + RECORD_ALIGN, this.lastSeq);
    if (found !== null) {
      this.corrupt(seg, offset, found - offset, withFacts(damage, { validAt: found }), 'corrupt');
      scanner.seek(found);
      return false;
    }
    const end = Math.max((await scanner.lastNonZero(offset)) + 1, offset);
    if (end === offset) return true;
    if (!isNewest) {
      this.corrupt(seg, offset, end - offset, withFacts(damage, { olderSegment: true }), 'corrupt');
      return true;
    }
    if (!this.repair) {
      this.problems.push({ kind: 'torn-tail', segment: seg.name, offset, bytes: end - offset, reason: damageText(damage.details, damage.reason) });
      return true;
    }
    const fh = await openSegment(seg.path, 'r+');
    try {
      this.brokenFile = await setAside(fh, seg.path, offset, end);
      await zeroRange(fh, seg.path, offset, end);
    } finally {
      await fh.close();
    }
    this.tornBytes += end - offset;
    return true;
  }

  private accept(seq: number): void {
    if (this.firstSeq === 0) this.firstSeq = seq;
    this.lastSeq = seq;
    this.records++;
  }

  private keep(seg: RecoveredSegment): RecoveredSegment {
    this.segments.push(seg);
    return seg;
  }

  /**
   * Damage. Salvage notes it, records it for SALVAGED and goes on. Strict and verify accept it
   * when SALVAGED records it; else strict throws ERR_WAL_CORRUPT and verify notes it. `seq` is
   * the sequence number due and the one found, for a gap or a step back.
   */
  private corrupt(seg: SegmentFile, offset: number, bytes: number, damage: Reasoned, kind: 'corrupt' | 'gap', seq?: [number, number]): void {
    const lost = seq === undefined ? { lostFrom: 0, lostCount: 0 } : lostBetween(seq[0], seq[1]);
    const reason = damageText(damage.details, damage.reason);
    if (this.mode === 'salvage') {
      this.problems.push({ kind, segment: seg.name, offset, bytes, reason });
      const last = this.stretches.at(-1);
      if (
        kind === 'gap' &&
        last !== undefined &&
        last.segment === seg.number &&
        last.bytes > 0 &&
        last.offset + last.bytes === offset &&
        last.lostCount === 0
      ) {
        // The gap a damaged stretch left: one stretch, with the sequence numbers it lost.
        last.lostFrom = lost.lostFrom;
        last.lostCount = lost.lostCount;
      } else {
        this.stretches.push({ segment: seg.number, offset, bytes, ...(kind === 'gap' ? lost : { lostFrom: 0, lostCount: 0 }) });
      }
      return;
    }
    const recorded = this.stretches.some((s) =>
      kind === 'corrupt'
        ? s.segment === seg.number && s.offset === offset && s.bytes === bytes
        : s.segment === seg.number &&
          ((s.offset === offset && s.bytes === 0) || (s.bytes > 0 && s.offset + s.bytes === offset)) &&
          s.lostFrom === lost.lostFrom &&
          s.lostCount === lost.lostCount,
    );
    if (recorded) return;
    if (this.mode === 'strict') {
      throw reasonError('segment-damaged', { segment: seg.name, file: seg.path, offset, bytes, damage: damage.reason, ...damage.details });
    }
    this.problems.push({ kind, segment: seg.name, offset, bytes, reason });
  }

  /** Salvage: the sequence numbers lost with the stretch last set aside in segment `n`. */
  private lostWith(n: number, lost: { lostFrom: number; lostCount: number }): void {
    const last = this.stretches.at(-1);
    if (this.mode !== 'salvage' || last === undefined || last.segment !== n || last.lostCount !== 0) return;
    last.lostFrom = lost.lostFrom;
    last.lostCount = lost.lostCount;
  }

  /** A segment of another store: no recovery mode takes it (verify notes it). */
  private foreign(seg: SegmentFile, size: number, damage: Reasoned): void {
    if (this.mode !== 'verify') {
      throw reasonError('segment-foreign', {
        segment: seg.name,
        file: seg.path,
        offset: HEADER_OFF_STORE_ID,
        bytes: size,
        damage: damage.reason,
        ...damage.details,
      });
    }
    this.problems.push({ kind: 'corrupt', segment: seg.name, offset: HEADER_OFF_STORE_ID, bytes: size, reason: damageText(damage.details, damage.reason) });
  }

  private formatProblem(seg: SegmentFile, damage: Reasoned): void {
    if (this.mode !== 'verify') {
      throw reasonError('segment-version', { segment: seg.name, file: seg.path, damage: damage.reason, ...damage.details });
    }
    this.problems.push({ kind: 'format', segment: seg.name, offset: 0, bytes: 0, reason: damageText(damage.details, damage.reason) });
  }
}

/** What the ERR_WAL_CORRUPT of a strict open tells the user to do (both paths say the same). */
export { SALVAGE_ADVICE } from './reasons.js';
