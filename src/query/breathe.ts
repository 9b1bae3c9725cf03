/**
 * Lets the event loop run between the synchronous steps of a long query. A query's steps (decoding
 * a row group, building its columns, filtering, scoring a block) each take a few milliseconds, but
 * awaiting an already-settled promise runs the next step at once, so without a real yield a scan
 * of many row groups holds the loop for its whole length. `breathe()` yields (setImmediate) when
 * the current stretch has run longer than QUERY_SLICE_MS, and costs a clock read otherwise.
 */

/** Milliseconds of query work after which `breathe()` lets other callbacks run. */
export const QUERY_SLICE_MS = 5;

let sliceStart = performance.now();

export async function breathe(): Promise<void> {
  if (performance.now() - sliceStart < QUERY_SLICE_MS) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  sliceStart = performance.now();
}
