/**
 * Reads records back from a transit WAL directory, across segments, in sequence order. Used by
 * transit.read on both paths (the native writer writes the same bytes).
 *
 * The reader reads what is on disk. While a writer is live, the newest segment may end in a
 * record that is being written: the reader stops at the first record that is not whole in the
 * newest segment. To see only durable records, pass `toSeq` = the writer's durableSeq.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import type { RecoveryMode } from './backend.js';
import { decodeSegmentHeader, storeIdToHex, type SegmentHeader } from './codec.js';
import { RECORD_ALIGN, SEGMENT_HEADER_SIZE, SEGMENT_HEADER_USED } from './format.js';
import { isRecordedDamage, readSalvaged, type FoundDamage, type SalvagedStretch } from './salvage-file.js';
import { SegmentScanner } from './segment-scanner.js';
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
}

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
  private readonly recovery: RecoveryMode;
  private readonly exactStart: boolean;
  /** SALVAGED's stretches, read at the first damage met (null until then). */
  private salvaged: SalvagedStretch[] | null = null;

  constructor(
    readonly dir: string,
    options: ReadRecordsOptions = {},
  ) {
    this.fromSeq = checkSeq('fromSeq', options.fromSeq ?? 1);
    this.toSeq = options.toSeq === undefined ? Infinity : checkSeq('toSeq', options.toSeq);
    if (options.recovery !== undefined && options.recovery !== 'strict' && options.recovery !== 'salvage') {
      throw new TapioError('ERR_INVALID_ARGUMENT', `readRecords: recovery must be 'strict' or 'salvage', got ${JSON.stringify(options.recovery)}`);
    }
    this.recovery = options.recovery ?? 'strict';
    this.exactStart = options.exactStart ?? false;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WalRecord, void, undefined> {
    if (this.toSeq < this.fromSeq) return;
    const identity = await readWalId(this.dir);
    let segs = await listSegments(this.dir);
    if (segs.length === 0) return;
    if (identity === null) {
      throw new TapioError('ERR_WAL_CORRUPT', `${this.dir}/WAL_ID is missing, so the store id of the segments cannot be checked; restore it from a copy`, {
        details: { dir: this.dir },
      });
    }
    let i = await this.startIndex(segs, identity);
    let first = true; // the segment the read starts in
    let expected: number | null = null;
    let lastSeq = 0;
    for (;;) {
      const seg = segs[i]!;
      const fh = await openForRead(seg);
      if (fh === null) {
        throw new TapioError('ERR_WAL_RETENTION', `transit WAL segment ${seg.path} was deleted while it was being read; resume from a newer sequence number`, {
          details: { segment: seg.name },
        });
      }
      try {
        const size = (await fh.stat()).size;
        const header = await this.checkHeader(seg, await readHead(fh), identity);
        if (header !== null) {
          if (first && this.exactStart && header.firstSeq > this.fromSeq) {
            throw new TapioError('ERR_WAL_RETENTION', `records ${this.fromSeq} to ${header.firstSeq - 1} of the transit WAL were deleted by retention; the oldest record kept is ${header.firstSeq}`, {
              details: { fromSeq: this.fromSeq, oldestSeq: header.firstSeq },
            });
          }
          if (expected !== null && header.firstSeq !== expected) {
            await this.damage(seg, 0, `sequence gap: the segment starts at sequence ${header.firstSeq}, the previous one ends at ${expected - 1}`, identity, { kind: 'seq', expected, found: header.firstSeq });
          }
          const scanner = new SegmentScanner(fh, seg.path, Math.min(size, header.segmentSize), SEGMENT_HEADER_SIZE, { wantPayload: true });
          let next: number = header.firstSeq;
          for (;;) {
            const s = scanner.step();
            if (s.kind === 'need') {
              await scanner.fill();
              continue;
            }
            if (s.kind === 'end') break;
            if (s.kind === 'record' && s.seq > lastSeq) {
              if (s.seq !== next) await this.damage(seg, s.offset, `sequence gap: expected ${next}, found ${s.seq}`, identity, { kind: 'seq', expected: next, found: s.seq });
              next = s.seq + 1;
              lastSeq = s.seq;
              if (s.seq > this.toSeq) return;
              if (s.seq >= this.fromSeq) yield { seq: s.seq, data: ownCopy(scanner.payload()!) };
              if (s.seq >= this.toSeq) return;
              continue;
            }
            // Not a whole record (or one out of order). In the newest segment, when no valid
            // record follows, that is where the written part ends (a writer may be writing
            // there right now): the same rule as the torn tail at recovery.
            const found = await scanner.findValidAfter(s.offset + RECORD_ALIGN, lastSeq);
            if (found === null) {
              segs = await listSegments(this.dir);
              if (!segs.some((x) => x.number > seg.number)) return;
            }
            await this.damage(seg, s.offset, s.kind === 'bad' ? s.reason : `sequence number ${s.seq} does not follow ${lastSeq}`, identity, { kind: 'bytes', end: found });
            if (found === null) break;
            scanner.seek(found);
          }
          expected = next;
        }
      } finally {
        await fh.close();
      }
      first = false;
      // Next segment: re-list when this was the last one known, since the writer may have rolled.
      let nextIndex = segs.findIndex((x) => x.number > seg.number);
      if (nextIndex < 0) {
        segs = await listSegments(this.dir);
        nextIndex = segs.findIndex((x) => x.number > seg.number);
      }
      if (nextIndex < 0) return;
      if (segs[nextIndex]!.number !== seg.number + 1) {
        await this.damage(segs[nextIndex]!, 0, `the segment before it (number ${seg.number + 1}) is missing`, identity, { kind: 'missing' });
        expected = null;
      }
      i = nextIndex;
    }
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
        throw new TapioError('ERR_FORMAT_VERSION', `transit WAL segment ${seg.path} was ${decoded.reason}`, { details: { segment: seg.name, file: seg.path } });
      }
      await this.damage(seg, 0, decoded.reason, identity, { kind: 'header' });
      return null;
    }
    const h = decoded.header;
    if (h.segment !== seg.number) {
      await this.damage(seg, 0, `the header says segment ${h.segment}, but the file name says ${seg.number}`, identity, { kind: 'header' });
      return null;
    }
    const id = storeIdToHex(h.storeId);
    if (id !== identity.storeId) {
      await this.damage(seg, 0, `the segment belongs to store ${id}, but WAL_ID names store ${identity.storeId}`, identity, { kind: 'foreign' });
      return null;
    }
    return h;
  }

  /**
   * Strict: returns when the damage lies in a stretch SALVAGED records (the caller skips it),
   * else throws ERR_WAL_CORRUPT. Salvage: returns.
   */
  private async damage(seg: SegmentFile, offset: number, reason: string, identity: WalIdentity, found: FoundDamage | { kind: 'foreign' }): Promise<void> {
    if (this.recovery === 'salvage') return;
    if (found.kind !== 'foreign') {
      if (this.salvaged === null) {
        const recorded = await readSalvaged(this.dir, identity.storeId);
        this.salvaged = Array.isArray(recorded) ? recorded : [];
      }
      if (isRecordedDamage(this.salvaged, seg.number, offset, found)) return;
    }
    throw new TapioError('ERR_WAL_CORRUPT', `transit WAL segment ${seg.path} is damaged at byte offset ${offset}: ${reason}. ${SALVAGE_ADVICE}`, {
      details: { segment: seg.name, file: seg.path, offset, reason },
    });
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

/** What an ERR_WAL_CORRUPT of a read tells the user to do. */
const SALVAGE_ADVICE =
  "Restore the file from a copy, or set the damage aside for good with `tapio-storage wal salvage` or TapioStorage.open(config, { transit: { recovery: 'salvage' } }); reads then skip it.";

function checkSeq(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `readRecords: ${name} must be a non-negative integer sequence number, got ${String(v)}`);
  }
  return v;
}

/** A copy of `view` in memory of its own (a plain Uint8Array, not a Buffer). */
function ownCopy(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

async function openForRead(seg: SegmentFile): Promise<FileHandle | null> {
  try {
    return await open(seg.path, 'r');
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
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return b.subarray(0, done);
}
