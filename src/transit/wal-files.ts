/**
 * File operations of the recovery scan (the TypeScript twin of native/core/wal_file's helpers):
 * opening a segment, reading its size and header, setting a torn tail aside to `.broken` and
 * zeroing it. Every failure is an ERR_WAL_IO naming the file and the operation.
 */
import { access, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FileHandle } from 'node:fs/promises';

import { TapioError } from '../errors.js';
import { BROKEN_SUFFIX, SEGMENT_HEADER_USED } from './format.js';
import { reasonError } from './reasons.js';
import { fsyncDir } from './wal-dir.js';

export async function openSegment(path: string, flags: 'r' | 'r+'): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (err) {
    throw ioError(path, 'open', err);
  }
}

/** The segment file's size and the used bytes of its header (fewer when the file is shorter). */
export async function sizeAndHead(fh: FileHandle, path: string): Promise<{ size: number; head: Buffer }> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    throw ioError(path, 'stat', err);
  }
  const n = Math.min(size, SEGMENT_HEADER_USED);
  const b = Buffer.alloc(n);
  let done = 0;
  try {
    while (done < n) {
      const { bytesRead } = await fh.read(b, done, n - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw ioError(path, 'read', err);
  }
  return { size, head: b.subarray(0, done) };
}

/**
 * Copies bytes [from, to) of the segment to the first free `<segment>.broken`, `.broken.2`,
 * `.broken.3`, ... (so no cut bytes are ever overwritten) through a temporary file: write,
 * fdatasync, rename, fsync of the directory. Returns its path.
 */
export async function setAside(fh: FileHandle, segmentPath: string, from: number, to: number): Promise<string> {
  const base = `${segmentPath}${BROKEN_SUFFIX}`;
  let path = base;
  for (let n = 2; await exists(path); n++) path = `${base}.${n}`;
  const temp = `${path}.tmp`;
  let out: FileHandle;
  try {
    out = await open(temp, 'w', 0o600);
  } catch (err) {
    throw ioError(temp, 'open', err);
  }
  try {
    const chunk = Buffer.allocUnsafeSlow(Math.min(to - from, 1 << 20));
    for (let p = from; p < to;) {
      const n = Math.min(chunk.length, to - p);
      const { bytesRead } = await fh.read(chunk, 0, n, p);
      if (bytesRead === 0) throw Object.assign(new Error(`${segmentPath} ended at byte offset ${p}`), { code: 'EOF' });
      await writeAll(out, chunk.subarray(0, bytesRead), p - from, temp);
      p += bytesRead;
    }
    await out.datasync();
  } catch (err) {
    throw err instanceof TapioError ? err : ioError(temp, 'write', err);
  } finally {
    await out.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    throw ioError(path, 'rename', err);
  }
  try {
    await fsyncDir(dirname(path));
  } catch (err) {
    throw ioError(dirname(path), 'fsync', err);
  }
  return path;
}

/** Writes zeros over [from, to) of the segment, then fdatasync. */
export async function zeroRange(fh: FileHandle, path: string, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(to - from, 1 << 20));
  for (let p = from; p < to;) {
    const n = Math.min(zeros.length, to - p);
    await writeAll(fh, zeros.subarray(0, n), p, path);
    p += n;
  }
  try {
    await fh.datasync();
  } catch (err) {
    throw ioError(path, 'fdatasync', err);
  }
}

export async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    try {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
      done += bytesWritten;
    } catch (err) {
      throw ioError(path, 'write', err);
    }
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** An ERR_WAL_IO for a failed `operation` on `file`. */
export function ioError(file: string, operation: string, err: unknown): TapioError {
  if (err instanceof TapioError) return err;
  const errno = (err as NodeJS.ErrnoException).code ?? 'unknown error';
  return reasonError('io', { operation, file, errno }, { cause: err });
}
