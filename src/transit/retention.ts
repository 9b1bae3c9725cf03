/**
 * Retention of the transit WAL: deletes whole segments whose last write is older than
 * `transit.retention` (never the two newest), with their index files, keeps SALVAGED and the
 * oldest retained sequence number up to date, and runs on a timer. One run at a time; a failed
 * run leaves what it finished for the next one to complete.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { TapioError } from '../errors.js';
import type { WalBackend } from './backend.js';
import { decodeSegmentHeader } from './codec.js';
import { reasonText } from './reasons.js';
import { indexFileName, parseSegmentFileName, SEGMENT_HEADER_SIZE } from './format.js';
import { pruneSalvaged } from './salvage-file.js';
import { fsyncDir } from './wal-dir.js';
import type { WalIndex } from './wal-index.js';

/** What retention needs of its transit store. */
export interface RetentionHost {
  /** The read index: segments deleted leave it. */
  readonly index: WalIndex;
  /** The writer, whose index points are taken in before segments leave the index. */
  readonly backend: Pick<WalBackend, 'takeIndexPoints'>;
  /** The oldest retained sequence number changed. */
  oldestSeq(seq: number): void;
  /** Segments were deleted (the 'retention' event). */
  announce(deleted: number): void;
  /** A run of the timer (or the one at open) failed; `repeated` when it failed the same way last time. */
  report(err: unknown, repeated: boolean): void;
}

/**
 * Which segments retention deletes: those whose last write is older than `ms` (the transit
 * store's rule), or, for a log that is another store's WAL, those whose every record has a
 * sequence number at or below `covered()` (records the owner has put somewhere durable).
 */
export type RetentionRule = { kind: 'age'; ms: number } | { kind: 'covered'; covered: () => number };

export class Retention {
  #segmentsDeleted = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The run in progress (runs never overlap). */
  #run: Promise<number> = Promise.resolve(0);
  #error: string | null = null;
  /** Segments went away but the oldest sequence number could not be read since. */
  #oldestStale = false;
  /** Segments deleted and not yet announced (a run failed after them). */
  #unreported = 0;

  constructor(
    readonly dir: string,
    readonly rule: RetentionRule,
    private readonly host: RetentionHost,
  ) {}

  /** Segments deleted since the store opened. */
  get segmentsDeleted(): number {
    return this.#segmentsDeleted;
  }

  /** Why the last run failed, or null. */
  get error(): string | null {
    return this.#error;
  }

  /**
   * Calls `run` (the store's applyRetention) every quarter of the retention period, between 1 s
   * and 1 min; its failures go to failed().
   */
  start(run: () => Promise<unknown>): void {
    if (this.rule.kind !== 'age') return; // the owner runs it when it has covered records
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.rule.ms / 4)));
    this.#timer = setInterval(() => {
      run().catch((err: unknown) => this.failed(err));
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One run after the one under way; resolves with the segments it deleted. */
  run(now = Date.now()): Promise<number> {
    const run = this.#run.catch(() => 0).then(() => this.#runOnce(now));
    this.#run = run;
    return run;
  }

  /** A run the store made on its own failed: the error becomes `error` and goes to the host's report(). */
  failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const repeated = this.#error === message;
    this.#error = message;
    this.host.report(err, repeated);
  }

  /** Resolves once no run is in progress. */
  settled(): Promise<void> {
    return this.#run.then(
      () => undefined,
      () => undefined,
    );
  }

  async #runOnce(now: number): Promise<number> {
    const dir = this.dir;
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).filter((n) => parseSegmentFileName(n) !== null).sort();
    } catch (err) {
      throw failure('list', dir, err);
    }
    if (names.length === 0) return 0;
    let past = 0; // segments at the front of `names` that are gone now
    let deleted = 0; // of those, the ones this run deleted
    try {
      // Never the newest segment, nor the one before it: the oldest sequence number is read from
      // the header of the first segment kept, and a segment the writer is creating right now
      // may not have its header yet.
      const rule = this.rule;
      const covered = rule.kind === 'covered' ? rule.covered() : 0;
      for (const [at, name] of names.slice(0, -2).entries()) {
        const file = join(dir, name);
        let mtimeMs: number | null;
        try {
          mtimeMs = (await fsp.stat(file)).mtimeMs;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failure('read the age of', file, err);
          mtimeMs = null; // already gone
        }
        if (mtimeMs !== null && rule.kind === 'age' && mtimeMs >= now - rule.ms) break;
        // The records of a segment end just before the first one of the next segment.
        if (mtimeMs !== null && rule.kind === 'covered' && (await firstSeqOf(join(dir, names[at + 1]!))) - 1 > covered) break;
        if (mtimeMs !== null) {
          try {
            await fsp.unlink(file);
            deleted++;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failure('delete', file, err);
          }
        }
        past++;
        // The segment's index file goes with it (a cache: one left behind is ignored).
        await fsp.unlink(join(dir, indexFileName(parseSegmentFileName(name)!))).catch(() => undefined);
      }
    } finally {
      // What is done stays to be finished, by this run or, if it fails, by the next one.
      if (deleted > 0) {
        this.#segmentsDeleted += deleted;
        this.#unreported += deleted;
      }
      if (past > 0) {
        this.#oldestStale = true;
        this.host.index.absorb(this.host.backend.takeIndexPoints());
        this.host.index.dropBefore(Number(parseSegmentFileName(names[past]!)!));
      }
    }
    if (this.#unreported > 0) {
      // Again after a run that failed past this point: one more fsync of the directory is cheap.
      try {
        await fsyncDir(dir);
        await pruneSalvaged(dir); // stretches of deleted segments leave SALVAGED
      } catch (err) {
        throw failure('sync the directory and update SALVAGED in', dir, err);
      }
    }
    if (this.#oldestStale) {
      // Until this succeeds (a damaged header), every run tries again and reports the failure.
      this.host.oldestSeq(await firstSeqOf(join(dir, names[past]!)));
      this.#oldestStale = false;
    }
    if (this.#unreported > 0) {
      const count = this.#unreported;
      this.#unreported = 0;
      this.host.announce(count);
    }
    this.#error = null;
    return deleted;
  }
}

function failure(what: string, file: string, err: unknown): TapioError {
  return new TapioError('ERR_WAL_IO', `retention could not ${what} ${file}: ${(err as Error).message}; the next run tries again`, { cause: err });
}

/** The first sequence number in the header of the segment `file` (the oldest one kept). */
async function firstSeqOf(file: string): Promise<number> {
  const buf = Buffer.alloc(SEGMENT_HEADER_SIZE);
  try {
    const handle = await fsp.open(file, 'r');
    try {
      await handle.read(buf, 0, SEGMENT_HEADER_SIZE, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new TapioError('ERR_WAL_IO', `retention could not read the header of ${file}: ${(err as Error).message}; the next run tries again`, { cause: err });
  }
  const decoded = decodeSegmentHeader(buf);
  if (!decoded.ok) {
    throw new TapioError(
      'ERR_WAL_CORRUPT',
      `retention cannot tell the oldest sequence number kept: the header of ${file} is damaged (${reasonText(decoded.problem.reason, decoded.problem.details)}); \`tapio-storage wal verify\` shows the damage`,
      {
        details: { file },
      },
    );
  }
  return decoded.header.firstSeq;
}
