/**
 * Runs a short synchronous handler for promise-returning calls without letting a burst of them
 * hold the event loop: a call runs at once while the current event-loop turn has spent less than
 * {@link TURN_BUDGET_MS} and fewer than {@link MAX_JOBS_PER_TURN} calls; later ones wait, in call
 * order, for the following turns, each of which runs as many as its budget allows. A caller that
 * makes one call per request never waits; 10,000 calls made in one loop are spread over turns
 * instead of running back to back (`apiKeys.verify` of 10,000 keys took 70-340 ms in one turn).
 * A waiting call keeps only its argument and its promise's resolvers (no closure per call), since
 * thousands of them live through several garbage collections.
 */

/** Calls one turn runs at most. */
export const MAX_JOBS_PER_TURN = 1024;
/** Milliseconds of calls after which the rest of a turn's calls wait for the next turn. */
export const TURN_BUDGET_MS = 4;

export class TurnBudget<A, R> {
  readonly #handler: (arg: A) => R;
  readonly #budgetMs: number;
  #spentMs = 0;
  #jobs = 0;
  /** What #spentMs and #jobs held when the last #newTurn ended: that turn's work. */
  #carriedMs = 0;
  #carriedJobs = 0;
  /** A setImmediate is pending: it ends the current turn's account and runs waiting calls. */
  #turnEnds = false;
  // Waiting calls, from #head on: argument, resolve, reject, three slots each.
  #waiting: unknown[] = [];
  #head = 0;

  /**
   * `budgetMs`: the time after which a turn's further calls wait (default TURN_BUDGET_MS). A
   * handler that takes milliseconds per call wants a smaller one: the call that crosses the budget
   * still runs whole, so a turn can hold the budget plus one call.
   */
  constructor(handler: (arg: A) => R, { budgetMs = TURN_BUDGET_MS }: { budgetMs?: number } = {}) {
    this.#handler = handler;
    this.#budgetMs = budgetMs;
  }

  /** The handler's result for `arg`, computed now or in a later turn. */
  run(arg: A): Promise<R> {
    if (this.#head === this.#waiting.length && this.#jobs < MAX_JOBS_PER_TURN && this.#spentMs < this.#budgetMs) {
      try {
        return Promise.resolve(this.#timed(arg));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push(arg, resolve, reject);
      this.#endTurnLater();
    });
  }

  #timed(arg: A): R {
    this.#endTurnLater();
    const started = performance.now();
    try {
      return this.#handler(arg);
    } finally {
      this.#spentMs += performance.now() - started;
      this.#jobs++;
    }
  }

  #endTurnLater(): void {
    if (this.#turnEnds) return;
    this.#turnEnds = true;
    setImmediate(() => this.#newTurn());
  }

  /**
   * Runs in the check phase (setImmediate) of a turn of the event loop. What the turn before ran
   * (up to the end of its own #newTurn) is taken off the account; what is left was run at once
   * since: in this turn from a timer, an I/O callback or their promises, or after the last
   * #newTurn in its check phase. That counts against this turn's budget, so a turn that spent it
   * already leaves the waiting calls to the next one, and a call made in the check phase right
   * after #newTurn ran calls does not find a fresh budget.
   */
  #newTurn(): void {
    this.#turnEnds = false;
    this.#spentMs -= this.#carriedMs;
    this.#jobs -= this.#carriedJobs;
    const waiting = this.#waiting;
    while (this.#head < waiting.length && this.#jobs < MAX_JOBS_PER_TURN && this.#spentMs < this.#budgetMs) {
      const arg = waiting[this.#head] as A;
      const resolve = waiting[this.#head + 1] as (value: R) => void;
      const reject = waiting[this.#head + 2] as (err: unknown) => void;
      waiting[this.#head] = waiting[this.#head + 1] = waiting[this.#head + 2] = undefined;
      this.#head += 3;
      let value: R;
      try {
        value = this.#timed(arg);
      } catch (err) {
        reject(err);
        continue;
      }
      resolve(value);
    }
    if (this.#head === waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head > 3072 && this.#head * 2 > waiting.length) {
      this.#waiting = waiting.slice(this.#head);
      this.#head = 0;
    }
    this.#carriedMs = this.#spentMs;
    this.#carriedJobs = this.#jobs;
    // The next turn takes this one's work off the account (and runs what still waits).
    if (this.#head < this.#waiting.length || this.#spentMs > 0 || this.#jobs > 0) this.#endTurnLater();
  }
}
