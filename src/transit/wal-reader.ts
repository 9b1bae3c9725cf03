/**
 * Reads records back from a transit WAL directory, across segments, in sequence order. Used by
 * transit.read on both paths (the native writer writes the same bytes).
 *
 * The reader reads what is on disk. While a writer is live, the newest segment may end in a
 * record that is being written: the reader stops at the first record that is not whole in the
 * newest segment. To see only durable records, pass `toSeq` = the writer's durableSeq.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import type { RecoveryMode } from './backend.js';
import { decodeSegmentHeader, storeIdToHex, type SegmentHeader } from './codec.js';
import { INDEX_SPACING, RECORD_ALIGN, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, SEGMENT_HEADER_USED, segmentFileName } from './format.js';
import { reasonError, type Reasoned } from './reasons.js';
import { headerGapEnd, isRecordedDamage, readSalvaged, type FoundDamage, type SalvagedStretch } from './salvage-file.js';
import { lazyDirectSource, type ByteSource } from './direct-read.js';
import { SCAN_CHUNK_BYTES, SegmentScanner } from './segment-scanner.js';
import { listSegments, readWalId, type SegmentFile, type WalIdentity } from './wal-dir.js';

/** One record read back: its sequence number and its payload (a copy the caller owns). */
export interface WalRecord {
  seq: number;
  data: Uint8Array;
}

export interface ReadRecordsOptions {
  /** The first sequence number wanted (default 1: the oldest record kept). */
  fromSeq?: number;
  /** The last sequence number wanted (default: every whole record on disk). */
  toSeq?: number;
  /**
   * 'strict' (default) throws ERR_WAL_CORRUPT on damage before the newest segment, but for the
   * stretches a salvage open recorded in SALVAGED, which it skips; 'salvage' skips any damage.
   */
  recovery?: RecoveryMode;
  /**
   * Throw ERR_WAL_RETENTION when the oldest segment left starts after `fromSeq` (retention
   * deleted the records from `fromSeq` on, possibly while the read began), rather than start at
   * the oldest record kept.
   */
  exactStart?: boolean;
  /** At most this many records (default: no limit). */
  limit?: number;
  /**
   * Finds segments and records through an index instead of listing the directory and reading
   * every newer segment's header (the transit facade passes its WalIndex).
   */
  locator?: ReadLocator;
}

/**
 * What a reader needs from a segment index (wal-index.ts). Segments come oldest first, by number.
 */
export interface ReadLocator {
  /** The store id every segment header must carry (32 lowercase hex digits). */
  readonly storeId: string;
  /**
   * The segments from the one that holds `seq` (the oldest when `seq` is older), up to the first
   * one after those that can hold `lastSeq` (default: all of them).
   */
  segmentsFrom(seq: number, lastSeq?: number): SegmentFile[];
  /** A record at or before `seq` in segment `number`: its sequence number and byte offset. */
  entryFor(number: number, seq: number): Promise<{ seq: number; offset: number }>;
  /** The entry given for segment `number` did not hold its record: rebuild that segment's entries. */
  distrust(number: number): Promise<void>;
  /** The sequence number of the first record of segment `number` (undefined when it is not known). */
  firstSeqOf(number: number): number | undefined;
  /** Loads the entries of sealed segment `number` when its index file is there (no scan for a missing one). */
  loadFiled(number: number): Promise<void>;
  /** The first entry after `seq` in segment `number` (where the records up to `seq` end at the latest), or null. */
  entryAfter(number: number, seq: number): { seq: number; offset: number } | null;
  /**
   * The segment open for reading, its size and its first SEGMENT_HEADER_USED bytes, or null when
   * it is gone. The handle may be shared and stay open after `release()`, which the reader calls
   * once when it is done with the segment.
   */
  acquire(seg: SegmentFile): Promise<(OpenedSegment & { release(): void }) | null>;
}

/** A segment file open for reading. */
export interface OpenedSegment {
  fh: FileHandle;
  size: number;
  head: Buffer;
  /** Where records are read from when not through `fh`: the file open for direct reads. */
  direct?: ByteSource | null;
}

/** Opens `seg` and reads its size and header; null when it does not exist. */
export async function openSegment(seg: SegmentFile, directAlignment = 0): Promise<OpenedSegment | null> {
  const fh = await openForRead(seg);
  if (fh === null) return null;
  let opened: OpenedSegment;
  try {
    // Both at once: each is a trip to the thread pool.
    const [stat, head] = await Promise.all([fh.stat(), readHead(fh)]);
    opened = { fh, size: stat.size, head };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  if (directAlignment > 0) {
    opened.direct = lazyDirectSource(seg.path, directAlignment, async (into, position) => (await fh.read(into, 0, into.length, position)).bytesRead);
  }
  return opened;
}

/** Closes what openSegment opened. */
export async function closeSegment(opened: OpenedSegment): Promise<void> {
  opened.direct?.close();
  await opened.fh.close();
}

/** A segment the reader opened: through the locator (released) or itself (closed). */
type ReaderSegment = OpenedSegment | (OpenedSegment & { release(): void });

/** Gives back what the reader opened. */
async function releaseSegment(opened: ReaderSegment): Promise<void> {
  if ('release' in opened) opened.release();
  else await closeSegment(opened);
}

/** The next segment, opened by WalReader.prefetch with the read of its first chunk started. */
interface Prefetched {
  number: number;
  opened: ReaderSegment;
  scanner: SegmentScanner;
  segmentEnd: number;
  wantedEnd: number;
}

/** A segment being prefetched, by number. */
interface Queued {
  number: number;
  pre: Promise<Prefetched | null>;
}

/**
 * Where a read of a segment wants to stop: at the index's first entry after its last record
 * wanted (`after`); at the segment's end when there is none and the segment is sealed; 0 (as far
 * as records go) in the newest segment, which may still grow.
 */
function wantedEndOf(after: { offset: number } | null, segmentEnd: number, sealed: boolean): number {
  if (after !== null) return Math.min(after.offset + RECORD_ALIGN, segmentEnd);
  return sealed ? segmentEnd : 0;
}

/** Gives back a prefetched segment the reader did not go on to. */
async function dropPrefetched(pre: Prefetched | null): Promise<void> {
  if (pre === null) return;
  await pre.scanner.close();
  await releaseSegment(pre.opened);
}

/**
 * True when the read's last wanted record can lie in segs[i]: the segment after it starts past
 * that record, or is not known. Only then do its index entries tell the read where to stop.
 */
function endsIn(locator: ReadLocator, segs: readonly SegmentFile[], i: number, lastWanted: number): boolean {
  const after = segs[i + 1];
  const next = after === undefined ? undefined : locator.firstSeqOf(after.number);
  return next === undefined || next > lastWanted;
}

/** A read of at most this many records that goes on into the next segment opens it at once. */
const EARLY_PREFETCH_RECORDS = 4096;

/** Segments a reader opens and starts to read ahead of the one it decodes, at most. */
const PREFETCH_SEGMENTS = 2;

/** Records per array handed out by WalReader.batches(). */
export const READ_BATCH_RECORDS = 512;
/** A reader gives the event loop a turn at least after this many records... */
export const READ_YIELD_RECORDS = 2048;
/** ...or after this many milliseconds of work (checked between arrays). */
export const READ_YIELD_MS = 1;
/** The first read of a segment reads this much; each next one twice as much, up to SCAN_CHUNK_BYTES. */
const FIRST_CHUNK_BYTES = 64 * 1024;

/**
 * @internal What readers did since the process started (or since a test reset it): segment files
 * opened, reads made and bytes read from them (directBytesRead: those read with direct I/O),
 * counted as the reads are made (reads ahead of the consumer too). Tests bound these
 * to prove a read does not scan.
 */
export const readCounters = { segmentsOpened: 0, reads: 0, bytesRead: 0, directBytesRead: 0 };

/**
 * An async iterable over the records of a WAL directory.
 *
 * @example
 * ```ts
 * for await (const { seq, data } of new WalReader('/var/lib/tapio/wal', { fromSeq: 100, toSeq: wal.stats().durableSeq })) {
 *   handle(seq, data);
 * }
 * ```
 */
export class WalReader implements AsyncIterable<WalRecord> {
  private readonly fromSeq: number;
  private readonly toSeq: number;
  private readonly limit: number;
  private readonly recovery: RecoveryMode;
  private readonly exactStart: boolean;
  private readonly locator: ReadLocator | null;
  /** The read buffers of this reader's segment scanners, reused from one segment to the next. */
  private readonly buffers: Buffer[] = [];
  /** SALVAGED's stretches, read at the first damage met (null until then). */
  private salvaged: SalvagedStretch[] | null = null;

  constructor(
    readonly dir: string,
    options: ReadRecordsOptions = {},
  ) {
    this.fromSeq = checkSeq('fromSeq', options.fromSeq ?? 1);
    this.toSeq = options.toSeq === undefined ? Infinity : checkSeq('toSeq', options.toSeq);
    this.limit = options.limit === undefined ? Infinity : checkSeq('limit', options.limit);
    if (options.recovery !== undefined && options.recovery !== 'strict' && options.recovery !== 'salvage') {
      throw new TapioError('ERR_INVALID_ARGUMENT', `readRecords: recovery must be 'strict' or 'salvage', got ${JSON.stringify(options.recovery)}`);
    }
    this.recovery = options.recovery ?? 'strict';
    this.exactStart = options.exactStart ?? false;
    this.locator = options.locator ?? null;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WalRecord, void, undefined> {
    for await (const batch of this.batches()) yield* batch;
  }

  /**
   * The same records in arrays of up to READ_BATCH_RECORDS, each decoded without awaiting
   * anything. Between arrays the reader gives the event loop a turn (setImmediate) at least every
   * READ_YIELD_RECORDS records or READ_YIELD_MS milliseconds, so a consumer that does nothing
   * with the records does not hold the loop for long.
   */
  async *batches(): AsyncGenerator<WalRecord[], void, undefined> {
    /** The next segments, opened and their first chunks being read, oldest first. */
    const prefetched: Queued[] = [];
    try {
      yield* this.read(prefetched);
    } finally {
      // Whatever ended the read stands: a failure to close one of these does not replace it.
      for (const p of prefetched) await dropPrefetched(await p.pre).catch(() => undefined);
    }
  }

  private async *read(prefetched: Queued[]): AsyncGenerator<WalRecord[], void, undefined> {
    if (this.toSeq < this.fromSeq || this.limit === 0) return;
    const locator = this.locator;
    let identity: WalIdentity | null;
    let segs: SegmentFile[];
    if (locator !== null) {
      identity = { storeId: locator.storeId, storeIdBytes: new Uint8Array(0) };
      // Up to where the read can end (a gap of salvaged records takes it further: the segments
      // are listed again, all of them, when it goes past the last one of this list).
      segs = locator.segmentsFrom(this.fromSeq, this.lastWanted());
    } else {
      identity = await readWalId(this.dir);
      segs = await listSegments(this.dir);
    }
    if (segs.length === 0) return;
    if (identity === null) {
      throw new TapioError('ERR_WAL_CORRUPT', `${this.dir}/WAL_ID is missing, so the store id of the segments cannot be checked; restore it from a copy`, {
        details: { dir: this.dir },
      });
    }
    let i = locator !== null ? 0 : await this.startIndex(segs, identity);
    let first = true; // the segment the read starts in
    let expected: number | null = null;
    let lastSeq = 0;
    let out: WalRecord[] = [];
    let delivered = 0;
    let sinceTurn = 0;
    let turnAt = performance.now();
    /** Hands `out` over; first a turn of the event loop when the reader held it long enough. */
    const flush = async function* (): AsyncGenerator<WalRecord[], void, undefined> {
      if (out.length === 0) return;
      sinceTurn += out.length;
      const batch = out;
      out = [];
      if (sinceTurn >= READ_YIELD_RECORDS || performance.now() - turnAt >= READ_YIELD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sinceTurn = 0;
        turnAt = performance.now();
      }
      yield batch;
    };
    for (;;) {
      const seg = segs[i]!;
      while (prefetched.length > 0 && prefetched[0]!.number < seg.number) await dropPrefetched(await prefetched.shift()!.pre).catch(() => undefined);
      const pre = prefetched.length > 0 && prefetched[0]!.number === seg.number ? await prefetched.shift()!.pre : null;
      const lastWanted = this.lastWanted();
      let filed: Promise<void> | null = null;
      if (first && locator !== null && pre === null) {
        // A short read (a page of records) that goes on into the next segment: open that one
        // and start its read now, beside this segment's, rather than once this one's reads are
        // under way: opening a segment and loading its index entries take several trips to the
        // thread pool, which is most of such a read's time. A longer read keeps its pace of
        // reading ahead (one part of a segment handed out while the next is read).
        if (lastWanted - this.fromSeq < EARLY_PREFETCH_RECORDS) this.prefetchAfter(seg, segs, lastWanted, prefetched);
        // The index file of the segment the read starts in, read while the segment is opened
        // (the entries tell where the first record wanted is, and where the last one ends).
        const firstSeq = locator.firstSeqOf(seg.number);
        if (firstSeq !== undefined && (this.fromSeq > firstSeq || (this.limit !== Infinity && endsIn(locator, segs, i, lastWanted)))) {
          filed = locator.loadFiled(seg.number);
          // Awaited below; a failure here is met again there (the read then loads or scans itself).
          filed.catch(() => undefined);
        }
      }
      let opened: ReaderSegment | null;
      try {
        opened = pre !== null ? pre.opened : locator !== null ? await locator.acquire(seg) : await openSegment(seg);
      } catch (err) {
        await filed?.catch(() => undefined);
        throw err;
      }
      if (opened === null) {
        await filed?.catch(() => undefined);
        throw new TapioError('ERR_WAL_RETENTION', `transit WAL segment ${seg.path} was deleted while it was being read; resume from a newer sequence number`, {
          details: { segment: seg.name },
        });
      }
      const { size } = opened;
      let scanner: SegmentScanner | null = null;
      try {
        const header = await this.checkHeader(seg, opened.head, identity);
        if (header !== null) {
          if (first && this.exactStart && header.firstSeq > this.fromSeq) {
            throw new TapioError(
              'ERR_WAL_RETENTION',
              `records ${this.fromSeq} to ${header.firstSeq - 1} of the transit WAL were deleted by retention; the oldest record kept is ${header.firstSeq}`,
              {
                details: { fromSeq: this.fromSeq, oldestSeq: header.firstSeq },
              },
            );
          }
          /** A later start than the previous segment's end: checked at the first record (recovery does the same). */
          let headerGap: { damage: Reasoned; expected: number } | null = null;
          if (expected !== null && header.firstSeq !== expected) {
            const gap: Reasoned = { reason: 'read-gap', details: { firstSeq: header.firstSeq, previousLastSeq: expected - 1 } };
            if (header.firstSeq > expected) headerGap = { damage: gap, expected };
            else await this.damage(seg, 0, gap, identity, { kind: 'seq', expected, found: header.firstSeq });
          }
          // The index's entry for the first record wanted (looking it up loads the segment's
          // entries, which tell where the wanted records end): checked against the record found there.
          let entry: { seq: number; offset: number } | null = null;
          if (filed !== null) await filed.catch(() => undefined);
          if (first && locator !== null && this.fromSeq > header.firstSeq) {
            entry = await locator.entryFor(seg.number, this.fromSeq);
            if (!(entry.offset > SEGMENT_HEADER_SIZE && entry.seq > header.firstSeq)) entry = null;
          } else if (locator !== null && (!first || this.limit !== Infinity) && endsIn(locator, segs, i, lastWanted)) {
            // From the segment's first record (the read's first segment, or one after it in which
            // the read ends): its entries too, when its index file has them, so that the read
            // stops where the last record wanted ends rather than at the segment's end.
            await locator.loadFiled(seg.number);
          }
          // How much of the segment the read wants: up to the index's first entry after the last
          // record wanted; all of it when that lies beyond the segment and a newer segment follows.
          const after = locator !== null ? locator.entryAfter(seg.number, lastWanted) : null;
          const sealed = segs.some((x) => x.number > seg.number);
          const segmentEnd = Math.min(size, header.segmentSize);
          const wantedEnd = wantedEndOf(after, segmentEnd, sealed);
          scanner =
            pre !== null && pre.segmentEnd === segmentEnd && pre.wantedEnd === wantedEnd
              ? pre.scanner
              : this.scanner(seg, opened, segmentEnd, wantedEnd, wantedEnd > 0 && !(first && this.limit !== Infinity) ? SCAN_CHUNK_BYTES : FIRST_CHUNK_BYTES);
          let next: number = header.firstSeq;
          let retried = false;
          if (entry !== null) {
            scanner.seek(entry.offset);
            next = entry.seq;
            lastSeq = entry.seq - 1;
          }
          if (first && locator !== null && this.limit !== Infinity) {
            // The first read takes what the wanted records span, from the index: one read, not
            // several of growing size. When the entries (loaded to find the first) have none after
            // the last wanted record of a sealed segment, up to where that record can end: an
            // entry is made for every record that reaches a multiple of INDEX_SPACING, so the
            // records after the entry at or before it end within the next multiple after the
            // entry's own record (not in the zeros that may follow the last record of a segment
            // that rolled early). A record reaching further is read whole all the same.
            const start = entry?.offset ?? SEGMENT_HEADER_SIZE;
            if (after !== null) scanner.nextChunk(after.offset - start + RECORD_ALIGN);
            else if (entry !== null && sealed) {
              const last = await locator.entryFor(seg.number, lastWanted);
              scanner.nextChunk(Math.min(segmentEnd, Math.max(last.offset, start) + 2 * INDEX_SPACING) - start);
            }
          }
          for (;;) {
            const s = scanner.step();
            if (s.kind === 'need') {
              yield* flush();
              await scanner.fill();
              // The rest of this segment is read or being read, and the records wanted go on
              // past it: open the next one and start its first read now, so that the reads of a
              // segment after another overlap with the decoding (direct reads have no read-ahead
              // of the kernel's, and each segment is a file of its own).
              if (wantedEnd === segmentEnd && wantedEnd > 0 && scanner.readsStarted) this.prefetchAfter(seg, segs, lastWanted, prefetched);
              continue;
            }
            if (entry !== null) {
              // The record at the entry must be the one it names; else the entries are wrong
              // (a stale or damaged index file): forget them and scan this segment from its start.
              const held = s.kind === 'record' && s.seq === entry.seq;
              entry = null;
              if (!held) {
                // Once: rebuild the segment's entries from its records and take the new one;
                // a second miss scans from the segment's start.
                let again = { seq: header.firstSeq, offset: SEGMENT_HEADER_SIZE };
                if (!retried) {
                  retried = true;
                  await locator!.distrust(seg.number);
                  again = await locator!.entryFor(seg.number, this.fromSeq);
                }
                scanner.seek(again.offset);
                next = again.seq;
                lastSeq = again.seq - 1;
                if (again.offset > SEGMENT_HEADER_SIZE) entry = again;
                continue;
              }
            }
            if (headerGap !== null && s.kind === 'record') {
              // The header's gap ends at the first record when that one fills part of it.
              const found = headerGapEnd(headerGap.expected, header.firstSeq, s.seq);
              await this.damage(seg, 0, headerGap.damage, identity, { kind: 'seq', expected: headerGap.expected, found });
              if (found === s.seq) next = s.seq;
              headerGap = null;
            }
            if (s.kind === 'end') {
              if (!s.zeroHeader) break;
              // A zeroed header ends the written part, unless whole records follow it: then it is
              // damage (a stretch zeroed in the middle), skipped as salvage recorded it. Only reached
              // while records are still wanted (a read returns at its last one), so the look ahead
              // costs nothing on the everyday path.
              yield* flush();
              const found = await scanner.findValidAfter(s.offset + RECORD_ALIGN, lastSeq);
              if (found === null) break;
              // A writer may have appended since the zeros were read (a read with no toSeq beside a
              // live store): it writes in order, so the header is there now. Read it again.
              if (!(await scanner.zerosAt(s.offset, RECORD_HEADER_SIZE))) {
                await scanner.forget();
                scanner.seek(s.offset);
                continue;
              }
              await this.damage(seg, s.offset, { reason: 'bytes-after-end', details: { validAt: found } }, identity, { kind: 'bytes', end: found });
              scanner.seek(found);
              continue;
            }
            if (s.kind === 'record' && s.seq > lastSeq) {
              if (s.seq !== next)
                await this.damage(seg, s.offset, { reason: 'seq-gap', details: { expected: next, found: s.seq } }, identity, {
                  kind: 'seq',
                  expected: next,
                  found: s.seq,
                });
              next = s.seq + 1;
              lastSeq = s.seq;
              if (s.seq > this.toSeq) {
                yield* flush();
                return;
              }
              if (s.seq >= this.fromSeq) {
                out.push({ seq: s.seq, data: ownCopy(scanner.payload()!) });
                if (++delivered >= this.limit) {
                  yield* flush();
                  return;
                }
                if (out.length >= READ_BATCH_RECORDS) yield* flush();
              }
              if (s.seq >= this.toSeq) {
                yield* flush();
                return;
              }
              continue;
            }
            yield* flush();
            // Not a whole record (or one out of order). In the newest segment, when no valid
            // record follows, that is where the written part ends (a writer may be writing
            // there right now): the same rule as the torn tail at recovery.
            const found = await scanner.findValidAfter(s.offset + RECORD_ALIGN, lastSeq);
            if (found === null) {
              segs = await this.segmentList();
              if (!segs.some((x) => x.number > seg.number)) return;
            }
            const damage: Reasoned = s.kind === 'bad' ? s.problem : { reason: 'seq-behind', details: { seq: s.seq, last: lastSeq } };
            await this.damage(seg, s.offset, damage, identity, { kind: 'bytes', end: found });
            if (found === null) break;
            scanner.seek(found);
          }
          if (headerGap !== null) await this.damage(seg, 0, headerGap.damage, identity, { kind: 'seq', expected: headerGap.expected, found: header.firstSeq });
          expected = next;
        }
      } finally {
        // A read that failed before it needed the entries waits for their load all the same.
        if (filed !== null) await filed.catch(() => undefined);
        if (scanner !== null) {
          await scanner.close();
        }
        if (pre !== null && pre.scanner !== scanner) await pre.scanner.close();
        await releaseSegment(opened);
      }
      yield* flush();
      first = false;
      // Next segment: re-list when this was the last one known, since the writer may have rolled.
      let nextIndex = segs.findIndex((x) => x.number > seg.number);
      if (nextIndex < 0) {
        segs = await this.segmentList();
        nextIndex = segs.findIndex((x) => x.number > seg.number);
      }
      if (nextIndex < 0) return;
      if (segs[nextIndex]!.number !== seg.number + 1) {
        await this.skipped(seg.number, segs[nextIndex]!, identity);
        expected = null;
      }
      i = nextIndex;
    }
  }

  /** The sequence number of the last record the read can hand out. */
  private lastWanted(): number {
    return this.limit === Infinity ? this.toSeq : Math.min(this.toSeq, this.fromSeq + this.limit - 1);
  }

  /** A scanner of the records of `seg` from its first, up to `wantedEnd` (0: as far as they go). */
  private scanner(seg: SegmentFile, opened: OpenedSegment, segmentEnd: number, wantedEnd: number, firstChunkBytes: number): SegmentScanner {
    return new SegmentScanner(opened.fh, seg.path, segmentEnd, SEGMENT_HEADER_SIZE, {
      wantPayload: true,
      firstChunkBytes,
      readAhead: wantedEnd > 0,
      buffers: this.buffers,
      source: opened.direct ?? null,
      counters: readCounters,
      ...(wantedEnd > 0 ? { wantedEnd } : {}),
    });
  }

  /**
   * Once the reads of `seg` are all started and the records wanted go on past it: opens the
   * segments after it, up to PREFETCH_SEGMENTS ahead, and starts the read of each one's first
   * chunk, so that reading a segment after another overlaps with decoding (direct reads get no
   * read-ahead from the kernel, and each segment is a file of its own). Opening takes a few turns
   * of the event loop, which is why more than one is under way. Only sealed segments (a newer one
   * exists): the newest may still be growing, and is read as it grows.
   */
  private prefetchAfter(seg: SegmentFile, segs: SegmentFile[], lastWanted: number, prefetched: Queued[]): void {
    let last = prefetched.length > 0 ? prefetched[prefetched.length - 1]!.number : seg.number;
    while (prefetched.length < PREFETCH_SEGMENTS) {
      const i = segs.findIndex((x) => x.number > last);
      if (i < 0 || i + 1 >= segs.length) return;
      const next = segs[i]!;
      // Only a segment that holds records wanted (without an index, prefetch() reads its header
      // first and goes no further when it does not).
      const first = this.locator !== null ? this.locator.firstSeqOf(next.number) : undefined;
      if (this.locator !== null && (first === undefined || first > lastWanted)) return;
      // A failed prefetch is no failure of the read: the reader opens the segment itself.
      const endsHere = this.locator === null || endsIn(this.locator, segs, i, lastWanted);
      prefetched.push({ number: next.number, pre: this.prefetch(next, lastWanted, endsHere).catch(() => null) });
      last = next.number;
    }
  }

  /**
   * `next` opened, with the read of its first chunk started. Null when it cannot be opened or its
   * header not decoded: the reader then opens it itself, and meets and reports what stopped this.
   */
  private async prefetch(next: SegmentFile, lastWanted: number, endsHere: boolean): Promise<Prefetched | null> {
    // The segment's entries, when its index file has them (a sealed segment's are not in memory
    // after a reopen until a read needs them): they tell where the records wanted end in it, so
    // a read that ends early in this segment does not read all of it. Read while it is opened.
    const filed = this.locator !== null && endsHere ? this.locator.loadFiled(next.number).catch(() => undefined) : null;
    try {
      let opened: ReaderSegment | null;
      try {
        opened = this.locator !== null ? await this.locator.acquire(next) : await openSegment(next);
      } catch {
        return null;
      }
      if (opened === null) return null;
      const decoded = decodeSegmentHeader(opened.head);
      if (!decoded.ok || decoded.header.firstSeq > lastWanted) {
        await releaseSegment(opened);
        return null;
      }
      const segmentEnd = Math.min(opened.size, decoded.header.segmentSize);
      await filed;
      const after = this.locator !== null ? this.locator.entryAfter(next.number, lastWanted) : null;
      const wantedEnd = wantedEndOf(after, segmentEnd, true);
      const scanner = this.scanner(next, opened, segmentEnd, wantedEnd, SCAN_CHUNK_BYTES);
      scanner.prefetch();
      return { number: next.number, opened, scanner, segmentEnd, wantedEnd };
    } finally {
      // Whatever the outcome, the load it started has ended when this does.
      await filed;
    }
  }

  /**
   * The segments between `from` and `to` that the list leaves out: a file that is there is one
   * whose header recovery found unusable (the locator leaves those out), so it is damage of that
   * segment from byte 0; one that is not there is missing before `to`.
   */
  private async skipped(from: number, to: SegmentFile, identity: WalIdentity): Promise<void> {
    for (let n = from + 1; n < to.number; n++) {
      const name = segmentFileName(n);
      const path = join(this.dir, name);
      if (await fileExists(path)) {
        await this.damage({ number: n, name, path }, 0, { reason: 'unusable-header', details: {} }, identity, { kind: 'header' });
      } else {
        await this.damage(to, 0, { reason: 'missing-before', details: { number: n } }, identity, { kind: 'missing' });
      }
    }
  }

  /** The segments as they are now, all of them from the read's start: from the locator, or listed from the directory. */
  private async segmentList(): Promise<SegmentFile[]> {
    return this.locator !== null ? this.locator.segmentsFrom(this.fromSeq) : listSegments(this.dir);
  }

  /** The index of the newest segment whose first sequence number is at most fromSeq (0 if none). */
  private async startIndex(segs: SegmentFile[], identity: WalIdentity): Promise<number> {
    for (let i = segs.length - 1; i > 0; i--) {
      const fh = await openForRead(segs[i]!);
      if (fh === null) continue;
      try {
        const decoded = decodeSegmentHeader(await readHead(fh));
        if (decoded.ok && storeIdToHex(decoded.header.storeId) === identity.storeId && decoded.header.firstSeq <= this.fromSeq) return i;
      } finally {
        await fh.close();
      }
    }
    return 0;
  }

  /** The segment's header, or null (salvage) when it is unusable. */
  private async checkHeader(seg: SegmentFile, head: Buffer, identity: WalIdentity): Promise<SegmentHeader | null> {
    const decoded = decodeSegmentHeader(head);
    if (!decoded.ok) {
      if (decoded.kind === 'version') {
        throw reasonError('segment-version', { segment: seg.name, file: seg.path, damage: decoded.problem.reason, ...decoded.problem.details });
      }
      await this.damage(seg, 0, decoded.problem, identity, { kind: 'header' });
      return null;
    }
    const h = decoded.header;
    if (h.segment !== seg.number) {
      await this.damage(seg, 0, { reason: 'header-segment', details: { headerSegment: h.segment, fileSegment: seg.number } }, identity, { kind: 'header' });
      return null;
    }
    const id = storeIdToHex(h.storeId);
    if (id !== identity.storeId) {
      await this.damage(seg, 0, { reason: 'foreign-store', details: { storeId: id, walStoreId: identity.storeId } }, identity, { kind: 'foreign' });
      return null;
    }
    return h;
  }

  /**
   * Strict: returns when the damage lies in a stretch SALVAGED records (the caller skips it),
   * else throws ERR_WAL_CORRUPT. Salvage: returns.
   */
  private async damage(seg: SegmentFile, offset: number, damage: Reasoned, identity: WalIdentity, found: FoundDamage | { kind: 'foreign' }): Promise<void> {
    if (this.recovery === 'salvage') return;
    if (found.kind !== 'foreign') {
      if (this.salvaged === null) {
        const recorded = await readSalvaged(this.dir, identity.storeId);
        this.salvaged = Array.isArray(recorded) ? recorded : [];
      }
      if (isRecordedDamage(this.salvaged, seg.number, offset, found)) return;
    }
    throw reasonError('read-damaged', { segment: seg.name, file: seg.path, offset, damage: damage.reason, ...damage.details });
  }
}

/**
 * The records of the WAL in `dir` with fromSeq <= seq <= toSeq, oldest first, each payload a
 * fresh copy.
 *
 * @example
 * ```ts
 * for await (const { seq, data } of readRecords(dir, { fromSeq: 1 })) console.log(seq, data.length);
 * ```
 */
export function readRecords(dir: string, options: ReadRecordsOptions = {}): AsyncGenerator<WalRecord, void, undefined> {
  return new WalReader(dir, options)[Symbol.asyncIterator]();
}

function checkSeq(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `readRecords: ${name} must be a non-negative integer sequence number, got ${String(v)}`);
  }
  return v;
}

/** Records up to this size are copied into a shared slab; larger ones get memory of their own. */
const SLAB_RECORD_MAX = 1024;
/** Bytes per slab: a record kept alive keeps at most this much memory alive with it. */
const SLAB_BYTES = 16 * 1024;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/**
 * A copy of `view` (a plain Uint8Array, not a Buffer) that nothing else writes. Small records are
 * copied into a 16 KiB slab shared with the records read next to them, as Node's Buffer pool
 * does: one allocation per slab rather than per record, which is most of what reading costs.
 */
function ownCopy(view: Uint8Array): Uint8Array {
  const n = view.length;
  if (n > SLAB_RECORD_MAX) return new Uint8Array(view);
  if (slabUsed + n > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  out.set(view);
  slabUsed += (n + 7) & ~7;
  return out;
}

async function openForRead(seg: SegmentFile): Promise<FileHandle | null> {
  try {
    const fh = await open(seg.path, 'r');
    readCounters.segmentsOpened++;
    return fh;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new TapioError('ERR_WAL_IO', `cannot open ${seg.path} for reading (${code}): ${(err as Error).message}`, {
      cause: err,
      details: { file: seg.path, operation: 'open', code },
    });
  }
}

async function readHead(fh: FileHandle): Promise<Buffer> {
  const b = Buffer.alloc(SEGMENT_HEADER_USED);
  let done = 0;
  while (done < b.length) {
    const { bytesRead } = await fh.read(b, done, b.length - done, done);
    readCounters.reads++;
    readCounters.bytesRead += bytesRead;
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return b.subarray(0, done);
}

/** True when `path` names an existing file or directory entry. */
async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new TapioError('ERR_WAL_IO', `cannot tell whether transit WAL segment ${path} exists: ${(err as Error).message}`, {
      cause: err,
      details: { file: path },
    });
  }
}
