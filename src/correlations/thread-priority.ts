/**
 * The nice value of the calling thread. On Linux each thread has its own, set through its thread
 * id (/proc/thread-self names it); a compaction's worker lowers its own so the merge yields the
 * CPU to inserts and queries.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** How many nice levels below the process compaction workers run. */
export const BACKGROUND_NICE = 10;

/** The id of the calling thread, or null where the system does not tell it (not Linux). */
export function threadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/**
 * Raises the calling thread's nice value by `levels` (at most to 19) and returns the new value,
 * or null where a thread's priority cannot be set on its own (then nothing changes).
 */
export function lowerThreadPriority(levels: number): number | null {
  const tid = threadId();
  if (tid === null) return null;
  try {
    const nice = Math.min(19, getPriority(tid) + levels);
    setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return null;
  }
}
