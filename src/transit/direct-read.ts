/**
 * Direct reads of segment files, for the transit reader on the native path. The native writer
 * appends with O_DIRECT, so the page cache holds none of what it wrote: a buffered read of a
 * fresh segment goes to the device anyway and makes the kernel fill the page cache on top,
 * which costs more CPU than the read and competes with the event loop for the machine's cores.
 * A direct read (native/core/direct_reader.h) moves the bytes from the device into a block-aligned
 * buffer on a libuv pool thread and copies the range asked for out of it.
 *
 * The TypeScript writer appends through the page cache, so its segments are read buffered: a
 * direct read would only make the kernel write them back first.
 */
import { TapioError } from '../errors.js';
import { loadNative, type NativeDirectReaderHandle } from '../native/loader.js';

/** Reads bytes of one file at any offset. */
export interface ByteSource {
  /** Copies bytes from `position` into `into`; fewer than into.length only at the end of the file. */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Closes the file once no read is under way. */
  close(): void;
  /** False once reads go through the page cache instead (the direct open failed or was refused). */
  readonly direct: boolean;
}

/**
 * `path` for direct reads in blocks of `alignment` bytes, opened at its first read rather than
 * at once: a segment opened for a page of records (reads shorter than the scanner's direct-read
 * bound go through the page cache) then costs no second open and close, which are system calls
 * on the event loop's thread. Where that open fails or the file system refuses direct I/O,
 * `fallback` (a buffered read of the same file) serves the reads. Null when the addon is not loaded.
 */
export function lazyDirectSource(path: string, alignment: number, fallback: (into: Uint8Array, position: number) => Promise<number>): ByteSource | null {
  const addon = loadNative();
  if (addon === null) return null;
  let handle: NativeDirectReaderHandle | null | undefined;
  let closed = false;
  return {
    get direct() {
      return handle !== null;
    },
    read: (into, position) => {
      if (closed) return Promise.reject(new TapioError('ERR_CLOSED', `a direct read of ${path} after its source was closed`, { details: { file: path } }));
      if (handle === undefined) {
        try {
          handle = addon.openDirectReader(path, alignment);
        } catch {
          // Read through the page cache: direct reads only spare the CPU.
          handle = null;
        }
      }
      return handle === null ? fallback(into, position) : addon.directRead(handle, into, position);
    },
    close: () => {
      if (closed) return;
      closed = true;
      if (handle !== undefined && handle !== null) addon.closeDirectReader(handle);
    },
  };
}
