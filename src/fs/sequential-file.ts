/**
 * A new file written from its first byte to its last in large blocks: the segment files a
 * correlation store compaction writes. Bytes appended are gathered into a block of `blockBytes`,
 * written whole at its offset; the last block is padded with zeros to the alignment and the file
 * cut back to the bytes appended, then fdatasync'ed and closed.
 *
 * On the native path (native/core/sequential_writer.h) the blocks are written with direct I/O
 * (O_DIRECT) where the file system takes it, so a merge's gigabytes, written once and not read
 * soon, do not fill the page cache; this TypeScript twin writes the same blocks at the same
 * offsets through the page cache. Both give the same bytes, and the same ERR_WAL_IO (the I/O
 * reason of transit's error contract) when a system call fails.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import { loadNative, type NativeAddon, type NativeSequentialWriterHandle } from '../native/loader.js';
import { ioError, writeAll } from '../transit/wal-files.js';

/** Bytes gathered before a write: large sequential writes, whatever the caller appends at a time. */
export const SEQUENTIAL_BLOCK_BYTES = 4 * 1024 * 1024;

/** The unit the tail is padded to when no direct-I/O alignment is given. */
const DEFAULT_UNIT = 4096;

/** ERR_CLOSED for a call after finish() or abort(), on both paths. */
function closedError(path: string, call: string): TapioError {
  return new TapioError('ERR_CLOSED', `${call} of ${path} after the file was finished or given up`, { details: { file: path } });
}

/** A file being written. Calls are made one after another (each awaited). */
export interface SequentialFile {
  readonly path: string;
  /** Bytes appended so far. */
  readonly size: number;
  /** Appends `bytes` (which must not change until this resolves). */
  append(bytes: Uint8Array): Promise<void>;
  /** Writes the rest, cuts the file to its length, fdatasyncs and closes it. */
  finish(): Promise<{ bytes: number; direct: boolean }>;
  /** Closes the file and removes it (nothing if it was finished). */
  abort(): Promise<void>;
}

export interface SequentialFileOptions {
  /** 'native' writes through the addon (direct I/O when `alignment` > 0), 'typescript' through the page cache. */
  path: 'native' | 'typescript';
  /** The block size direct writes use (probeDirectIo), 0 for none. */
  alignment: number;
  /** Bytes per write, a multiple of the alignment (of 4096 without one). */
  blockBytes?: number;
}

/**
 * The alignment direct writes use in `dir` on the native path, or 0 (no addon, `typescript`, or
 * a file system that refuses them).
 */
export function directAlignment(dir: string, path: 'native' | 'typescript'): number {
  if (path !== 'native') return 0;
  const addon = loadNative();
  if (addon === null) return 0;
  try {
    return addon.probeDirectIo(dir);
  } catch {
    return 0;
  }
}

/** The most bytes one block may hold. */
const MAX_BLOCK_BYTES = 1 << 30;

/** Creates `path` (which must not exist) for sequential writes. */
export async function createSequentialFile(path: string, options: SequentialFileOptions): Promise<SequentialFile> {
  const blockBytes = options.blockBytes ?? SEQUENTIAL_BLOCK_BYTES;
  const { alignment } = options;
  // Checked here for both paths, with the same error.
  if (!(alignment === 0 || (Number.isInteger(alignment) && alignment >= 512 && alignment <= 65536 && (alignment & (alignment - 1)) === 0))) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `a sequential file's alignment must be 0 or a power of two from 512 to 65536, got ${alignment}`);
  }
  const unit = alignment > 0 ? alignment : DEFAULT_UNIT;
  if (!(Number.isInteger(blockBytes) && blockBytes > 0 && blockBytes <= MAX_BLOCK_BYTES && blockBytes % unit === 0)) {
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `a sequential file's blockBytes must be a multiple of ${unit} from ${unit} to ${MAX_BLOCK_BYTES}, got ${blockBytes}`,
    );
  }
  const addon = options.path === 'native' ? loadNative() : null;
  if (addon !== null) return new NativeSequentialFile(addon, path, addon.createSequentialWriter(path, alignment, blockBytes));
  let fh: FileHandle;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    throw ioError(path, 'open', err);
  }
  return new TsSequentialFile(path, fh, unit, blockBytes);
}

/**
 * What both paths share: one call at a time (each awaited by the caller), none after finish() or
 * abort() (ERR_CLOSED), abort() after the call under way, and `size` as the bytes of the appends
 * that succeeded. The paths give the writes, the finish and the removal.
 */
abstract class OneCallAtATime implements SequentialFile {
  #size = 0;
  #done = false;
  #finished = false;
  /** The call under way, which abort() waits for. */
  #pending: Promise<unknown> | null = null;

  constructor(readonly path: string) {}

  get size(): number {
    return this.#size;
  }

  /** Appends `bytes`. */
  protected abstract write(bytes: Uint8Array): Promise<void>;
  /** Writes the rest of `total` bytes, fdatasyncs and closes the file (removed when this fails). */
  protected abstract complete(total: number): Promise<{ bytes: number; direct: boolean }>;
  /** Closes the file and removes it. */
  protected abstract discard(): Promise<void>;

  async append(bytes: Uint8Array): Promise<void> {
    if (this.#done) throw closedError(this.path, 'append()');
    await this.#run(this.write(bytes));
    this.#size += bytes.length;
  }

  async finish(): Promise<{ bytes: number; direct: boolean }> {
    if (this.#done) throw closedError(this.path, 'finish()');
    this.#done = true;
    const done = await this.#run(this.complete(this.#size));
    this.#finished = true;
    return done;
  }

  async abort(): Promise<void> {
    if (this.#done && this.#pending === null) return;
    // After the call under way (its failure is the caller's to see); a file finished meanwhile stays.
    const pending = this.#pending;
    this.#done = true;
    if (pending !== null) await pending.catch(() => undefined);
    if (!this.#finished) await this.discard();
  }

  async #run<T>(call: Promise<T>): Promise<T> {
    this.#pending = call;
    try {
      return await call;
    } finally {
      if (this.#pending === call) this.#pending = null;
    }
  }
}

class NativeSequentialFile extends OneCallAtATime {
  constructor(
    private readonly addon: NativeAddon,
    path: string,
    private readonly handle: NativeSequentialWriterHandle,
  ) {
    super(path);
  }

  protected write(bytes: Uint8Array): Promise<void> {
    return this.addon.sequentialWrite(this.handle, bytes);
  }

  protected complete(): Promise<{ bytes: number; direct: boolean }> {
    return this.addon.finishSequentialWriter(this.handle);
  }

  protected async discard(): Promise<void> {
    this.addon.abortSequentialWriter(this.handle);
  }
}

class TsSequentialFile extends OneCallAtATime {
  readonly #fh: FileHandle;
  readonly #unit: number;
  readonly #block: Uint8Array;
  #used = 0;
  #written = 0;
  /** The first failure: every later append and finish throws it (a block is never written twice). */
  #failed: unknown = null;

  constructor(path: string, fh: FileHandle, unit: number, blockBytes: number) {
    super(path);
    this.#fh = fh;
    this.#unit = unit;
    this.#block = new Uint8Array(blockBytes);
  }

  protected async write(bytes: Uint8Array): Promise<void> {
    if (this.#failed !== null) throw this.#failed;
    let at = 0;
    while (at < bytes.length) {
      const take = Math.min(bytes.length - at, this.#block.length - this.#used);
      this.#block.set(bytes.subarray(at, at + take), this.#used);
      this.#used += take;
      at += take;
      if (this.#used === this.#block.length) {
        await this.#write(this.#used);
        this.#used = 0;
      }
    }
  }

  async #write(n: number): Promise<void> {
    try {
      await writeAll(this.#fh, this.#block.subarray(0, n), this.#written, this.path);
    } catch (err) {
      this.#failed = err;
      throw err;
    }
    this.#written += n;
  }

  protected async complete(total: number): Promise<{ bytes: number; direct: boolean }> {
    try {
      if (this.#failed !== null) throw this.#failed;
      if (this.#used > 0) {
        // The tail padded to the unit, as the native writer's direct writes need; cut back below.
        const padded = Math.ceil(this.#used / this.#unit) * this.#unit;
        this.#block.fill(0, this.#used, padded);
        await this.#write(padded);
        this.#used = 0;
      }
      if (this.#written !== total) {
        try {
          await this.#fh.truncate(total);
        } catch (err) {
          throw ioError(this.path, 'ftruncate', err);
        }
      }
      try {
        await this.#fh.datasync();
      } catch (err) {
        throw ioError(this.path, 'fdatasync', err);
      }
    } catch (err) {
      await this.discard();
      throw err;
    }
    try {
      await this.#fh.close();
    } catch (err) {
      await unlink(this.path).catch(() => undefined);
      throw ioError(this.path, 'close', err);
    }
    return { bytes: total, direct: false };
  }

  protected async discard(): Promise<void> {
    await this.#fh.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}
