/**
 * Runs short synchronous jobs for promise-returning calls without letting a burst of them hold
 * the event loop: a job runs at once while the current event-loop turn has spent less than
 * {@link TURN_BUDGET_MS} and fewer than {@link MAX_JOBS_PER_TURN} jobs; later ones wait, in call
 * order, for the following turns, each of which runs as many as its budget allows. A caller that
 * makes one call per request never waits; 10,000 calls made in one loop are spread over turns
 * instead of running back to back (`apiKeys.verify` of 10,000 keys took 70-340 ms in one turn).
 */

/** Jobs one turn runs at most. */
export const MAX_JOBS_PER_TURN = 1024;
/** Milliseconds of jobs after which the rest of a turn's jobs wait for the next turn. */
export const TURN_BUDGET_MS = 4;

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class TurnBudget {
  #spentMs = 0;
  #jobs = 0;
  /** A setImmediate is pending: it ends the current turn's account and runs waiting jobs. */
  #turnEnds = false;
  #waiting: Job[] = [];
  #head = 0;

  /** The result of `job`, run now or in a later turn. */
  run<T>(job: () => T): Promise<T> {
    if (this.#head === this.#waiting.length && this.#jobs < MAX_JOBS_PER_TURN && this.#spentMs < TURN_BUDGET_MS) {
      try {
        return Promise.resolve(this.#timed(job));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ run: job, resolve: resolve as (value: unknown) => void, reject });
      this.#endTurnLater();
    });
  }

  #timed<T>(job: () => T): T {
    this.#endTurnLater();
    const started = performance.now();
    try {
      return job();
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

  #newTurn(): void {
    this.#turnEnds = false;
    this.#spentMs = 0;
    this.#jobs = 0;
    while (this.#head < this.#waiting.length && this.#jobs < MAX_JOBS_PER_TURN && this.#spentMs < TURN_BUDGET_MS) {
      const job = this.#waiting[this.#head] as Job;
      this.#waiting[this.#head++] = undefined as unknown as Job;
      try {
        job.resolve(this.#timed(job.run));
      } catch (err) {
        job.reject(err);
      }
    }
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head < this.#waiting.length) this.#endTurnLater();
  }
}
