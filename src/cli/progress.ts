/**
 * Progress of a long command on standard error: a bar redrawn in place on a terminal, a plain
 * line at each tenth otherwise (logs and pipes), nothing with --json (scripts read stdout alone).
 */
export interface ProgressOptions {
  /** What is counted, plural: 'events', 'findings', 'segments'. */
  unit: string;
  /** The total when known (0: unknown, no bar, a running count). */
  total: number;
  /** Say nothing (--json). */
  quiet?: boolean;
  /** Draw a bar (default: when standard error is a terminal). */
  tty?: boolean;
  /** Where lines go (default: standard error). */
  write?: (text: string) => void;
}

const WIDTH = 28;

export class Progress {
  readonly #o: Required<ProgressOptions>;
  readonly #started = performance.now();
  #done = 0;
  #lastDraw = 0;
  #lastTenth = 0;

  constructor(label: string, options: ProgressOptions) {
    this.label = label;
    this.#o = {
      quiet: false,
      tty: process.stderr.isTTY === true,
      write: (t) => void process.stderr.write(t),
      ...options,
    };
  }

  readonly label: string;

  /** Counts `n` more done. */
  tick(n = 1): void {
    this.#done += n;
    if (this.#o.quiet) return;
    const now = performance.now();
    if (this.#o.tty) {
      if (now - this.#lastDraw >= 100 || this.#done >= this.#o.total) {
        this.#lastDraw = now;
        this.#o.write(`\r${this.#line(now)}`);
      }
      return;
    }
    if (this.#o.total > 0) {
      const tenth = Math.floor((10 * this.#done) / this.#o.total);
      if (tenth > this.#lastTenth) {
        this.#lastTenth = tenth;
        this.#o.write(`${this.#line(now)}\n`);
      }
    }
  }

  /** Ends the bar (a final line on a terminal). */
  done(): void {
    if (this.#o.quiet) return;
    const line = this.#line(performance.now());
    if (this.#o.tty) this.#o.write(`\r${line}\n`);
    else if (this.#o.total === 0 || this.#lastTenth < 10) this.#o.write(`${line}\n`);
  }

  /** Ends a bar cut short by a failure: the line it was drawing is closed, nothing more is said. */
  abort(): void {
    if (!this.#o.quiet && this.#o.tty && this.#lastDraw > 0) this.#o.write('\n');
  }

  get count(): number {
    return this.#done;
  }

  /** The total, when it grows as the work goes (compaction finds more to merge). */
  setTotal(total: number): void {
    this.#o.total = total;
  }

  #line(now: number): string {
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const rateText = `${formatCount(Math.round(rate))} ${this.#o.unit}/s`;
    if (this.#o.total <= 0) return `${this.label} ${formatCount(this.#done)} ${this.#o.unit}, ${rateText}`;
    const share = Math.min(1, this.#done / this.#o.total);
    const bar = this.#o.tty ? `[${'#'.repeat(Math.round(share * WIDTH)).padEnd(WIDTH, '.')}] ` : '';
    const eta = rate > 0 && share < 1 ? `, ${Math.ceil((this.#o.total - this.#done) / rate)} s left` : '';
    return `${this.label} ${bar}${(share * 100).toFixed(0).padStart(3)}% ${formatCount(this.#done)}/${formatCount(this.#o.total)} ${this.#o.unit}, ${rateText}${eta}`;
  }
}

/** 1234567 -> '1,234,567'. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
