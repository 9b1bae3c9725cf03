/**
 * `tapio-storage wal verify`: the recovery scan of a WAL directory in a mode that changes
 * nothing and reports every problem instead of stopping at the first (wal-recovery.ts's WalScan),
 * then checks CHECKPOINT against what the scan found.
 */
import { TapioError } from '../errors.js';
import { CHECKPOINT_FILE_NAME, segmentFileName } from './format.js';
import { reasonText } from './reasons.js';
import { WalScan, type RecoveredSegment, type SetAsideStretch, type WalProblem } from './wal-recovery.js';
import { listSegments, readCheckpoint, readWalId, type WalCheckpoint, type WalIdentity } from './wal-dir.js';

/** What verifyWal found. It never changes a file. */
export interface WalVerifySummary {
  dir: string;
  /** True when nothing but a torn tail (which the next open cuts) was found. */
  ok: boolean;
  storeId: string | null;
  segments: RecoveredSegment[];
  records: number;
  firstSeq: number;
  lastSeq: number;
  bytesScanned: number;
  /** A torn tail of the newest segment, which the next open would cut. */
  tornTail: { segment: string; offset: number; bytes: number } | null;
  problems: WalProblem[];
  /** The recovery checkpoint: what it says, why an open would ignore it, or null when there is none. */
  checkpoint: WalCheckpoint | { ignored: string } | null;
  /** The stretches SALVAGED records for segments still present: damage a salvage set aside, accepted here. */
  setAside: SetAsideStretch[];
  /** Why SALVAGED could not be used although it exists (its stretches are then damage like any other). */
  setAsideIgnored?: string;
}

/**
 * Checks every segment of `dir` with the recovery rules and reports what it finds, without
 * changing anything: a torn tail is reported (the next open cuts it), not cut.
 *
 * @example
 * ```ts
 * const summary = await verifyWal('/var/lib/tapio/wal');
 * for (const p of summary.problems) console.log(`${p.segment} @${p.offset}: ${p.reason}`);
 * ```
 */
export async function verifyWal(dir: string): Promise<WalVerifySummary> {
  const problems: WalProblem[] = [];
  let identity: WalIdentity | null = null;
  try {
    identity = await readWalId(dir);
  } catch (err) {
    if (!(err instanceof TapioError)) throw err;
    problems.push({ kind: err.code === 'ERR_FORMAT_VERSION' ? 'format' : 'corrupt', segment: 'WAL_ID', offset: 0, bytes: 0, reason: err.message });
  }
  const segs = await listSegments(dir);
  if (identity === null && problems.length === 0 && segs.length > 0) {
    problems.push({ kind: 'corrupt', segment: 'WAL_ID', offset: 0, bytes: 0, reason: reasonText('wal-id-absent', {}) });
  }
  const scan = new WalScan(dir, identity, 'verify');
  await scan.run(segs);
  problems.push(...scan.problems);
  // The checkpoint must agree with what the scan found, or a strict open would refuse the log.
  const checkpoint = identity === null ? null : await readCheckpoint(dir, identity.storeId);
  if (checkpoint !== null && !('ignored' in checkpoint)) {
    const sealed = scan.segments.find((g) => g.number === checkpoint.sealed && g.appendable);
    if ((segs.at(-1)?.number ?? 0) <= checkpoint.sealed) {
      problems.push({
        kind: 'gap',
        segment: segmentFileName(checkpoint.sealed + 1),
        offset: 0,
        bytes: 0,
        reason: reasonText('missing-after-checkpoint', { sealed: checkpoint.sealed }),
      });
    } else if (sealed !== undefined && (sealed.firstSeq !== checkpoint.firstSeq || sealed.lastSeq !== checkpoint.lastSeq)) {
      problems.push({
        kind: 'corrupt',
        segment: CHECKPOINT_FILE_NAME,
        offset: 0,
        bytes: 0,
        reason: reasonText('checkpoint-mismatch', {
          name: sealed.name,
          checkpointFirstSeq: checkpoint.firstSeq,
          checkpointLastSeq: checkpoint.lastSeq,
          firstSeq: sealed.firstSeq,
          lastSeq: sealed.lastSeq,
        }),
      });
    }
  }
  const torn = problems.find((p) => p.kind === 'torn-tail');
  return {
    dir,
    ok: problems.every((p) => p.kind === 'torn-tail'),
    storeId: identity?.storeId ?? null,
    segments: scan.segments,
    records: scan.records,
    firstSeq: scan.firstSeq,
    lastSeq: scan.lastSeq,
    bytesScanned: scan.bytesScanned,
    tornTail: torn ? { segment: torn.segment, offset: torn.offset, bytes: torn.bytes } : null,
    problems,
    checkpoint,
    setAside: scan.setAside(),
    ...(scan.salvagedIgnored !== undefined ? { setAsideIgnored: scan.salvagedIgnored } : {}),
  };
}
