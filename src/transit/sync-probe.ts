/**
 * What the disk under a directory allows the WAL writer: one write followed by one fdatasync,
 * repeated and timed, for each way a writer can put bytes on the file system. A writer that
 * acknowledges N records per fdatasync can never acknowledge more than N times the cycles per
 * second found here, whatever its software does, so this is the ceiling to compare the
 * writer's figures with (`tapio-storage wal test-sync`, and the transit benchmark).
 *
 * The native path runs every mode (native/core/sync_probe.h). The TypeScript path runs the two
 * it can: Node.js has neither O_DIRECT with aligned buffers nor fallocate, which is also why
 * the TypeScript writer writes through the page cache into a file sized by ftruncate
 * ('buffered-sparse'). Each mode writes a scratch file `.sync-probe-*` in the directory and
 * removes it; nothing else there is touched.
 */
import { randomBytes } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import { loadNative, type NativeAddon } from '../native/loader.js';
import { DEFAULT_SEGMENT_SIZE, recordFootprint } from './format.js';
import { MAX_DIRECT_IO_ALIGNMENT, MAX_SYNC_PROBE_CYCLES, MAX_SYNC_PROBE_FILE, MAX_SYNC_PROBE_WRITE } from './limits.js';
import { reasonText } from './reasons.js';
import { fsyncDir } from './wal-dir.js';

/** The ways of writing, in the order they are run. */
export const SYNC_PROBE_MODES = ['direct-preallocated', 'direct-zero-filled', 'buffered-preallocated', 'buffered-sparse', 'buffered-append'] as const;
export type SyncProbeMode = (typeof SYNC_PROBE_MODES)[number];

/** What each mode is, in words (the CLI prints these). */
export const SYNC_PROBE_MODE_TEXT: Record<SyncProbeMode, string> = {
  'direct-preallocated': 'O_DIRECT into fallocated extents (the native writer)',
  'direct-zero-filled': 'O_DIRECT into a file filled with zeros first',
  'buffered-preallocated': 'page cache, into fallocated extents',
  'buffered-sparse': 'page cache, into a file sized by ftruncate (the TypeScript writer)',
  'buffered-append': 'page cache, each write extending the file (a plain append loop)',
};

/** 1,024 records of 200 bytes as the WAL frames them: a full group of the benchmark's 64 producers. */
export const DEFAULT_PROBE_WRITE_BYTES = 1024 * recordFootprint(200);
/** The most bytes one write may have. */
export const MAX_PROBE_WRITE_BYTES = MAX_SYNC_PROBE_WRITE;
/** The most cycles one mode times (every cycle is kept until the mode ends). */
export const MAX_PROBE_CYCLES = MAX_SYNC_PROBE_CYCLES;
/** Room a scratch file keeps past one write: the largest direct I/O block a write is rounded up to. */
const MAX_BLOCK = MAX_DIRECT_IO_ALIGNMENT;

export interface SyncProbeOptions {
  /** Bytes per write (default DEFAULT_PROBE_WRITE_BYTES); direct modes round it up to the block size. */
  writeBytes?: number;
  /** Timed seconds per mode (default 2); a mode stops at whichever of seconds and maxCycles comes first. */
  seconds?: number;
  /** At most this many cycles per mode (default and most: MAX_PROBE_CYCLES). */
  maxCycles?: number;
  /**
   * Size of the scratch file (default 64 MiB, a default segment, or writeBytes + 64 KiB when that
   * is larger); a full one is replaced untimed, as a writer rolls.
   */
  fileBytes?: number;
  /** Modes to run (default all), in SYNC_PROBE_MODES order whatever the order given. */
  modes?: readonly SyncProbeMode[];
  /** 'native' or 'typescript'; default native when the addon is loaded. */
  path?: 'native' | 'typescript';
  /** Called as each mode finishes (progress for a long run). */
  onResult?: (result: SyncProbeResult) => void;
}

/** One mode's figures, or why it did not run. */
export interface SyncProbeResult {
  mode: SyncProbeMode;
  path: 'native' | 'typescript';
  /** False when this path cannot write this way; `reason` says why. */
  ran: boolean;
  reason?: string;
  /** Bytes per write as written. */
  writeBytes: number;
  cycles: number;
  cyclesPerSecond: number;
  mbPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const TS_MODES: ReadonlySet<SyncProbeMode> = new Set(['buffered-sparse', 'buffered-append']);

type NativeProbeAddon = Pick<NativeAddon, 'syncProbe'>;

/**
 * Times write + fdatasync cycles in `dir` for each mode asked. Throws ERR_INVALID_ARGUMENT for
 * bad options and ERR_DATA_DIR when the directory is missing or cannot take the scratch file.
 *
 * @example
 * ```ts
 * const [direct] = await probeSync('/var/lib/tapio/wal', { modes: ['direct-preallocated'], seconds: 1 });
 * console.log(`at most ${Math.round(direct.cyclesPerSecond * 1024)} records/s with 1,024 records a group`);
 * ```
 */
export async function probeSync(dir: string, options: SyncProbeOptions = {}): Promise<SyncProbeResult[]> {
  const o = checkOptions(options);
  const native = o.path === 'typescript' ? null : loadNative();
  if (o.path === 'native' && !native)
    throw new TapioError('ERR_NATIVE', 'the native path was requested but the addon is not loaded (see capabilities().nativeReason)');
  const path = native ? 'native' : 'typescript';
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new TapioError('ERR_DATA_DIR', `there is no directory at ${dir} to probe; create it, or pass the WAL's directory`);

  const results: SyncProbeResult[] = [];
  for (const mode of SYNC_PROBE_MODES.filter((m) => o.modes.includes(m))) {
    let result: SyncProbeResult;
    if (native) {
      result = await nativeMode(native, dir, mode, o);
    } else if (TS_MODES.has(mode)) {
      result = summarize(mode, 'typescript', o.writeBytes, await tsCycles(dir, mode, o));
    } else {
      const why = mode.startsWith('direct') ? 'the TypeScript path has no O_DIRECT (Node.js cannot align its buffers)' : 'Node.js has no fallocate';
      result = { ...summarize(mode, 'typescript', o.writeBytes, []), ran: false, reason: why };
    }
    results.push(result);
    o.onResult?.(result);
  }
  return results;
}

interface CheckedOptions {
  writeBytes: number;
  seconds: number;
  maxCycles: number;
  fileBytes: number;
  modes: readonly SyncProbeMode[];
  path: 'native' | 'typescript' | undefined;
  onResult: ((result: SyncProbeResult) => void) | undefined;
}

function checkOptions(options: SyncProbeOptions): CheckedOptions {
  const bad = (what: string, expected: string, got: unknown): TapioError =>
    new TapioError('ERR_INVALID_ARGUMENT', `probeSync: ${what} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
  if (options === null || typeof options !== 'object') throw bad('options', 'an object', options);
  const writeBytes = options.writeBytes ?? DEFAULT_PROBE_WRITE_BYTES;
  if (!Number.isSafeInteger(writeBytes) || writeBytes < 1 || writeBytes > MAX_PROBE_WRITE_BYTES)
    throw bad('writeBytes', `a whole number from 1 to ${MAX_PROBE_WRITE_BYTES}`, writeBytes);
  const seconds = options.seconds ?? 2;
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 3600)) throw bad('seconds', 'a number above 0 and at most 3600', seconds);
  const maxCycles = options.maxCycles ?? MAX_PROBE_CYCLES;
  if (!Number.isSafeInteger(maxCycles) || maxCycles < 1 || maxCycles > MAX_PROBE_CYCLES)
    throw bad('maxCycles', `a whole number from 1 to ${MAX_PROBE_CYCLES}`, maxCycles);
  // Room for one write rounded up to the largest direct I/O block.
  const minFile = writeBytes + MAX_BLOCK;
  const fileBytes = options.fileBytes ?? Math.max(DEFAULT_SEGMENT_SIZE, minFile);
  if (!Number.isSafeInteger(fileBytes) || fileBytes < minFile || fileBytes > MAX_SYNC_PROBE_FILE) {
    throw bad('fileBytes', `a whole number from ${minFile} (one write of ${writeBytes} bytes + ${MAX_BLOCK}) to ${MAX_SYNC_PROBE_FILE}`, fileBytes);
  }
  const modes = options.modes ?? SYNC_PROBE_MODES;
  if (!Array.isArray(modes) || modes.length === 0 || !modes.every((m) => (SYNC_PROBE_MODES as readonly unknown[]).includes(m))) {
    throw bad('modes', `a non-empty list of ${SYNC_PROBE_MODES.join(', ')}`, modes);
  }
  if (options.path !== undefined && options.path !== 'native' && options.path !== 'typescript') throw bad('path', "'native' or 'typescript'", options.path);
  if (options.onResult !== undefined && typeof options.onResult !== 'function') throw bad('onResult', 'a function', typeof options.onResult);
  return { writeBytes, seconds, maxCycles, fileBytes, modes, path: options.path, onResult: options.onResult };
}

async function nativeMode(native: NativeProbeAddon, dir: string, mode: SyncProbeMode, o: CheckedOptions): Promise<SyncProbeResult> {
  let r;
  try {
    r = await native.syncProbe({
      dir,
      mode,
      writeBytes: o.writeBytes,
      fileBytes: o.fileBytes,
      maxCycles: o.maxCycles,
      maxMicros: Math.max(1, Math.ceil(o.seconds * 1e6)),
    });
  } catch (err) {
    if (err instanceof TapioError && err.code === 'ERR_WAL_IO') throw cannotProbe(dir, err.message, o, err);
    throw err;
  }
  // A file system without direct I/O: the mode cannot run here, the others can.
  if ('notRun' in r) return { ...summarize(mode, 'native', o.writeBytes, []), ran: false, reason: reasonText(r.notRun.reason, r.notRun.details) };
  return summarize(mode, 'native', r.writeBytes, Array.from(r.cycleMicros));
}

function cannotProbe(dir: string, why: string, o: CheckedOptions, cause: unknown): TapioError {
  return new TapioError(
    'ERR_DATA_DIR',
    `cannot probe ${dir}: ${why}. The probe needs a directory it can write, with room for a scratch file of ${o.fileBytes} bytes (a smaller fileBytes needs less)`,
    { cause },
  );
}

/** The TypeScript cycles: fh.write then fh.datasync (each through libuv's thread pool). */
async function tsCycles(dir: string, mode: SyncProbeMode, o: CheckedOptions): Promise<number[]> {
  const data = Buffer.alloc(o.writeBytes, 0x5a);
  const micros: number[] = [];
  let file: { fh: FileHandle; name: string } | null = null;
  const remove = async (): Promise<void> => {
    if (!file) return;
    const { fh, name } = file;
    file = null;
    await fh.close().catch(() => undefined);
    await unlink(name).catch(() => undefined);
  };
  try {
    let offset = o.fileBytes;
    let total = 0;
    while (micros.length < o.maxCycles && total < o.seconds * 1e6) {
      if (offset + o.writeBytes > o.fileBytes) {
        await remove();
        const name = join(dir, `.sync-probe-${randomBytes(6).toString('hex')}`);
        const fh = await open(name, 'wx+', 0o600);
        file = { fh, name };
        if (mode === 'buffered-sparse') await fh.truncate(o.fileBytes);
        await fh.datasync();
        await fsyncDir(dir);
        offset = 0;
      }
      const start = process.hrtime.bigint();
      await file!.fh.write(data, 0, data.length, offset);
      await file!.fh.datasync();
      const us = Number(process.hrtime.bigint() - start) / 1000;
      micros.push(us);
      total += us;
      offset += o.writeBytes;
    }
  } catch (err) {
    throw cannotProbe(dir, (err as Error).message, o, err);
  } finally {
    await remove();
  }
  return micros;
}

function summarize(mode: SyncProbeMode, path: 'native' | 'typescript', writeBytes: number, micros: number[]): SyncProbeResult {
  const sorted = [...micros].sort((a, b) => a - b);
  const total = micros.reduce((a, b) => a + b, 0);
  const rank = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! / 1000);
  return {
    mode,
    path,
    ran: true,
    writeBytes,
    cycles: micros.length,
    cyclesPerSecond: total > 0 ? micros.length / (total / 1e6) : 0,
    mbPerSecond: total > 0 ? (micros.length * writeBytes) / total : 0,
    p50Ms: rank(0.5),
    p99Ms: rank(0.99),
    maxMs: sorted.length === 0 ? 0 : sorted.at(-1)! / 1000,
  };
}
