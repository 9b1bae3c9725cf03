/**
 * SALVAGED: the stretches of damage a salvage open set aside, kept in the WAL directory so the
 * decision survives the open. Strict opens, readers, `wal verify`, `wal dump` and `wal stats`
 * accept exactly these stretches (and the sequence numbers they lost) and refuse any other damage.
 * The native twin (native/core/salvage_file.cc) reads and writes the same bytes; docs/FORMAT.md
 * describes them.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { fsyncDir, writeFileAtomic } from '../fs/durable.js';
import { storeIdFromHex } from './codec.js';
import { reasonText } from './reasons.js';
import { FORMAT_VERSION, HEADER_OFF_FIRST_SEQ, MAX_SALVAGED_FILE_BYTES, SALVAGED_FILE_NAME, SALVAGED_FORMAT_NAME, SEGMENT_HEADER_USED } from './format.js';
import { listSegments, parseSmallFileObject, readWalId } from './wal-dir.js';

/**
 * One stretch set aside: `bytes` bytes of segment `segment` from byte `offset` (0 bytes for a
 * sequence gap or a missing segment before it), and the `lostCount` sequence numbers from
 * `lostFrom` that no record holds because of it (both 0 when none).
 */
export interface SalvagedStretch {
  segment: number;
  offset: number;
  bytes: number;
  lostFrom: number;
  lostCount: number;
}

/** What the reader or a scan found, to be checked against the recorded stretches. */
export type FoundDamage =
  /** Bad bytes at the offset; `end` is where the next valid record starts (null: none in the segment). */
  | { kind: 'bytes'; end: number | null }
  /** The segment header is unusable (or names another segment): the whole segment was set aside. */
  | { kind: 'header' }
  /** The segments before this one are missing. */
  | { kind: 'missing' }
  /** The next record is `found` where `expected` was due: a gap (found > expected) or a step back. */
  | { kind: 'seq'; expected: number; found: number };

/** The exact bytes of SALVAGED: one JSON object, no whitespace, no newline. */
export function encodeSalvaged(storeId: string, stretches: readonly SalvagedStretch[]): string {
  const list = stretches.map((s) => ({ segment: s.segment, offset: s.offset, bytes: s.bytes, lostFrom: s.lostFrom, lostCount: s.lostCount }));
  return JSON.stringify({ format: SALVAGED_FORMAT_NAME, version: FORMAT_VERSION, storeId, stretches: list });
}

/**
 * Reads SALVAGED: null when there is none; `{ ignored }` with the reason when it exists but
 * cannot be used (then no damage is accepted on its word, and the next salvage rewrites it).
 */
export async function readSalvaged(dir: string, storeId: string): Promise<SalvagedStretch[] | { ignored: string } | null> {
  const name = SALVAGED_FILE_NAME;
  let text: string | null;
  try {
    text = await readLimited(join(dir, name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return { ignored: reasonText('small-file-unreadable', { name, errno: code ?? 'unknown error' }) };
  }
  let o: Record<string, unknown> | null = null;
  try {
    if (text !== null) o = parseSmallFileObject(text);
  } catch {
    o = null;
  }
  if (o === null) return { ignored: reasonText('small-file-not-object', { name }) };
  if (o.format !== SALVAGED_FORMAT_NAME || o.version !== FORMAT_VERSION) return { ignored: reasonText('small-file-format', { name }) };
  const id = typeof o.storeId === 'string' && storeIdFromHex(o.storeId.toLowerCase()) !== null ? o.storeId.toLowerCase() : null;
  if (id === null) return { ignored: reasonText('small-file-no-store', { name }) };
  if (id !== storeId) return { ignored: reasonText('small-file-other-store', { name, storeId: id, walStoreId: storeId }) };
  const bad = { ignored: reasonText('salvaged-stretches', {}) };
  if (!Array.isArray(o.stretches)) return bad;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const out: SalvagedStretch[] = [];
  for (const e of o.stretches as unknown[]) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad;
    const { segment, offset, bytes, lostFrom, lostCount } = e as Record<string, unknown>;
    if (!ok(segment) || !ok(offset) || !ok(bytes) || !ok(lostFrom) || !ok(lostCount) || segment < 1) return bad;
    out.push({ segment, offset, bytes, lostFrom, lostCount });
  }
  return out;
}

/**
 * Writes SALVAGED through `SALVAGED.tmp` (fdatasync, rename, fsync of the directory), or removes
 * it (and fsyncs the directory) when there is nothing to record.
 */
export async function writeSalvaged(dir: string, storeId: string, stretches: readonly SalvagedStretch[]): Promise<void> {
  const file = join(dir, SALVAGED_FILE_NAME);
  if (stretches.length === 0) {
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fsyncDir(dir);
    return;
  }
  await writeFileAtomic(file, encodeSalvaged(storeId, stretches), { temp: `${file}.tmp` });
}

/**
 * After retention: drops the stretches of segments that are gone, rewriting SALVAGED (or
 * removing it when none is left). A SALVAGED that cannot be used is left alone.
 */
export async function pruneSalvaged(dir: string): Promise<void> {
  const identity = await readWalId(dir);
  if (identity === null) return;
  const recorded = await readSalvaged(dir, identity.storeId);
  if (recorded === null || !Array.isArray(recorded)) return;
  const present = new Set((await listSegments(dir)).map((s) => s.number));
  const kept = recorded.filter((s) => present.has(s.segment));
  if (kept.length !== recorded.length) await writeSalvaged(dir, identity.storeId, kept);
}

/** The sequence numbers a step from `expected` to `found` skips: [from, from + count), or none (0, 0). */
/**
 * Where the gap of a segment header that starts at `headerFirst`, later than the sequence number
 * `expected` due there, ends: at the segment's first record `firstRecord` when that one lies
 * between the two (a damaged header field loses no record that is there), else at the header's word.
 */
export function headerGapEnd(expected: number, headerFirst: number, firstRecord: number): number {
  return firstRecord >= expected && firstRecord < headerFirst ? firstRecord : headerFirst;
}

export function lostBetween(expected: number, found: number): { lostFrom: number; lostCount: number } {
  return found > expected ? { lostFrom: expected, lostCount: found - expected } : { lostFrom: 0, lostCount: 0 };
}

/**
 * True when `found` at byte `offset` of segment `segment` lies inside a recorded stretch: bad bytes
 * that start inside one and whose valid successor is not past its end; an unusable header of a
 * segment set aside whole; missing segments recorded before this one; a sequence gap that skips
 * exactly the sequence numbers a stretch lost, or a step back at a segment header recorded there.
 */
export function isRecordedDamage(stretches: readonly SalvagedStretch[], segment: number, offset: number, found: FoundDamage): boolean {
  return stretches.some((s) => {
    switch (found.kind) {
      case 'bytes':
        return (
          s.segment === segment && s.bytes > 0 && offset >= s.offset && offset < s.offset + s.bytes && (found.end === null || found.end <= s.offset + s.bytes)
        );
      case 'header':
        return s.segment === segment && s.bytes > 0 && s.offset < SEGMENT_HEADER_USED;
      case 'missing':
        return s.segment === segment && s.offset === 0 && s.bytes === 0;
      case 'seq': {
        const lost = lostBetween(found.expected, found.found);
        if (lost.lostCount > 0) return s.lostFrom === lost.lostFrom && s.lostCount === lost.lostCount;
        return s.segment === segment && s.offset === HEADER_OFF_FIRST_SEQ && s.bytes === 0;
      }
    }
  });
}

/** The text of `file`, or null when it is larger than SALVAGED may be. */
async function readLimited(file: string): Promise<string | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SALVAGED_FILE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0 || (got += bytesRead) === buf.length) break;
    }
    return got > MAX_SALVAGED_FILE_BYTES ? null : buf.subarray(0, got).toString('utf8');
  } finally {
    await fh.close();
  }
}
