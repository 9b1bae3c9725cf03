/**
 * Lets the event loop run between the synchronous steps of a long query. A query's steps (decoding
 * a row group, building its columns, filtering, scoring a block) each take a few milliseconds, but
 * awaiting an already-settled promise runs the next step at once, so without a real yield a scan
 * of many row groups holds the loop for its whole length. Each query has its own `Pace`: it yields
 * (setImmediate) once the query itself has run longer than QUERY_SLICE_MS since it last yielded,
 * so a short query beside long ones finishes in one stretch instead of queueing behind their turns.
 */

/** Milliseconds of a query's work after which it lets other callbacks run. */
export const QUERY_SLICE_MS = 5;

export class Pace {
  #since = performance.now();

  /** Yields to the event loop when this query has run QUERY_SLICE_MS since it last did. */
  async breathe(): Promise<void> {
    if (performance.now() - this.#since < QUERY_SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#since = performance.now();
  }
}
