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
import { loadNative } from '../native/loader.js';

/** Reads bytes of one file at any offset. */
export interface ByteSource {
  /** Copies bytes from `position` into `into`; fewer than into.length only at the end of the file. */
  read(into: Uint8Array, position: number): Promise<number>;
  /** Closes the file once no read is under way. */
  close(): void;
}

/**
 * `path` open for direct reads in blocks of `alignment` bytes, or null when the addon is not
 * loaded or the file system refuses direct I/O (read buffered then). A failed open throws ERR_WAL_IO.
 */
export function openDirectSource(path: string, alignment: number): ByteSource | null {
  const addon = loadNative();
  if (addon === null) return null;
  const handle = addon.openDirectReader(path, alignment);
  if (handle === null) return null;
  let closed = false;
  return {
    read: (into, position) => addon.directRead(handle, into, position),
    close: () => {
      if (closed) return;
      closed = true;
      addon.closeDirectReader(handle);
    },
  };
}
