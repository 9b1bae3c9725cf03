/**
 * Lets the event loop run between the synchronous steps of long queries. A query's steps
 * (building a row group's columns, filtering, scoring a block) each take a few milliseconds, but
 * awaiting an already-settled promise runs the next step at once, so without a real yield a scan
 * of many row groups holds the loop for its whole length.
 *
 * Queries share the loop through one queue: a query yields once it has run QUERY_SLICE_MS since
 * it last did, or, when other queries are waiting, once the loop has gone QUERY_SLICE_MS without
 * a turn. The queue lets one query in per turn of the loop, the one that has had the least time
 * so far (or the oldest, once it has waited QUERY_MAX_WAIT_MS per query in the queue, up to
 * ten), so ten long queries hold the loop one slice at a time rather than ten slices in a row, a
 * short query started beside them runs ahead of them and finishes in a few slices, and a stream
 * of short queries does not hold a long one back for good.
 */

/** Milliseconds of query work after which the event loop gets a turn. */
export const QUERY_SLICE_MS = 5;

/**
 * Milliseconds a query waits at most, per query in the queue (up to QUERY_MAX_WAIT_QUERIES of
 * them), while others keep going first: then it goes first (without this, a steady stream of
 * short queries would hold a long one back for good). Per query in the queue, because ten long
 * queries taking turns each wait about ten slices anyway: a bound that did not grow with them
 * would hold every turn for the oldest, and a short query started beside them would wait for all
 * ten.
 */
export const QUERY_MAX_WAIT_MS = 4 * QUERY_SLICE_MS;

/**
 * The queue length beyond which the wait allowed stops growing (200 ms): with many clients
 * sending short queries, a long query still gets a turn at least every 200 ms or so.
 */
export const QUERY_MAX_WAIT_QUERIES = 10;

const waiting: Array<{ pace: Pace; resume: () => void; since: number }> = [];
let pumping = false;
/** When the queue last let a query in (a turn of the loop). */
let turn = performance.now();

function pump(): void {
  turn = performance.now();
  if (waiting.length === 0) {
    pumping = false;
    return;
  }
  const next = waiting.splice(leastServed(waiting, turn, QUERY_MAX_WAIT_MS * Math.min(waiting.length, QUERY_MAX_WAIT_QUERIES)), 1)[0]!;
  // The next one in the next turn: an immediate set during this one runs after the loop's I/O.
  if (waiting.length > 0) setImmediate(pump);
  else pumping = false;
  next.resume();
}

/**
 * The index of the entry to serve next: the one whose query has had the least time so far, or,
 * when the oldest has waited `maxWait` milliseconds, the oldest (entries are in arrival order).
 */
export function leastServed(queue: ReadonlyArray<{ pace: Pace; since: number }>, now: number, maxWait: number): number {
  if (queue.length === 0 || now - queue[0]!.since >= maxWait) return 0;
  let best = 0;
  for (let i = 1; i < queue.length; i++) if (queue[i]!.pace.attained < queue[best]!.pace.attained) best = i;
  return best;
}

let phaseStart: number | null = null;

/**
 * Whether the work already done in this phase of the loop (since the loop last came to its
 * immediates) has taken QUERY_SLICE_MS: callbacks of one I/O phase run back to back, so a request
 * handler that asks this can take its turn in the queue (`Pace.turn`) instead of adding to it.
 */
export function phaseBusy(): boolean {
  const now = performance.now();
  if (phaseStart === null) {
    phaseStart = now;
    setImmediate(() => (phaseStart = null));
    return false;
  }
  return now - phaseStart >= QUERY_SLICE_MS;
}

/** Queries waiting for a turn (tests and stats). */
export function waitingQueries(): number {
  return waiting.length;
}

/** One query's share of the event loop. */
export class Pace {
  /** Milliseconds this query has run so far (on the loop, and decoding in threads). */
  attained = 0;
  #since: number | null = performance.now();

  /** Yields to the event loop when this query, or the queries together, have held it a slice. */
  async breathe(): Promise<void> {
    const now = performance.now();
    const own = this.#since === null ? 0 : now - this.#since;
    if (own < QUERY_SLICE_MS && !(waiting.length > 0 && now - turn >= QUERY_SLICE_MS)) return;
    await this.turn();
  }

  /**
   * Waits for a turn of the loop in the queue, whatever the time run (a request's work that should
   * take its turn with the queries rather than run inside the loop's I/O phase).
   */
  async turn(): Promise<void> {
    this.pause();
    await new Promise<void>((resume) => {
      waiting.push({ pace: this, resume, since: performance.now() });
      if (!pumping) {
        pumping = true;
        setImmediate(pump);
      }
    });
    this.#since = performance.now();
  }

  /** The query waits for something else (a decoding thread): that time is not its own. */
  pause(): void {
    if (this.#since !== null) this.attained += performance.now() - this.#since;
    this.#since = null;
  }

  /** The query runs again. */
  resume(): void {
    this.#since = performance.now();
  }
}
