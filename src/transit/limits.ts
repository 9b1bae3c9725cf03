/**
 * The limits both paths enforce, other than those of the on-disk format (format.ts): the
 * TypeScript source of truth, twin of native/core/limits.h (a test proves they agree). The
 * facade validates options and batches against them; below it, the core only asserts them.
 */

/**
 * Ring buffer capacity: a power of two from MIN_RING_CAPACITY to MAX_RING_CAPACITY bytes. The
 * maximum is what the TypeScript ring can index (it keeps its capacity and masks positions in
 * 32-bit integers) and what the configuration accepts (transit.ring_capacity up to 1 GiB).
 * ring-buffer.ts defines them (it imports nothing, so worker threads can load it alone).
 */
export { MAX_RING_CAPACITY, MIN_RING_CAPACITY } from './ring-buffer.js';
/** Bytes of a ring entry's header (ring-buffer.ts describes the layout). */
export { ENTRY_HEADER_SIZE as RING_ENTRY_HEADER_SIZE } from './ring-buffer.js';

/** Record bytes one group (one write and one fdatasync) may hold: one block at least. */
export const MIN_GROUP_BYTES = 4096;
export const MAX_GROUP_BYTES = 1 << 30;
export const DEFAULT_MAX_GROUP_BYTES = 4 * 1024 * 1024;

/** The largest direct I/O alignment used; a file system that asks for more gets buffered writes. */
export const MAX_DIRECT_IO_ALIGNMENT = 64 * 1024;

/** The sync probe: bytes per write, bytes per scratch file, cycles per mode. */
export const MAX_SYNC_PROBE_WRITE = 64 * 1024 * 1024;
export const MAX_SYNC_PROBE_FILE = 1 << 30;
export const MAX_SYNC_PROBE_CYCLES = 1_000_000;
