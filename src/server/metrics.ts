/**
 * Metrics in the Prometheus text format (version 0.0.4): counters and histograms the service
 * updates as it works, and gauges read from the stores when /metrics is scraped.
 */

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels));
}

/** A counter per label set. */
export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const v = this.#values.get(key);
    if (v === undefined) this.#values.set(key, { labels, value: by });
    else v.value += by;
  }

  value(labels: Labels = {}): number {
    return this.#values.get(keyOf(labels))?.value ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) out.push(`${this.name} 0`);
    for (const { labels, value } of this.#values.values()) out.push(`${this.name}${labelText(labels)} ${value}`);
    return out;
  }
}

/** A histogram per label set, with fixed bucket bounds (seconds for latencies). */
export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: Float64Array; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let s = this.#series.get(key);
    if (s === undefined) {
      s = { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** The value below which a fraction `q` of the observations of `labels` lie (a bucket bound). */
  quantile(q: number, labels: Labels = {}): number {
    const s = this.#series.get(keyOf(labels));
    if (s === undefined || s.count === 0) return 0;
    let seen = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      seen += s.counts[i]!;
      if (seen >= q * s.count) return this.bounds[i]!;
    }
    return Infinity;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) out.push(...histogramLines(this.name, s.labels, this.bounds, s.counts, s.sum, s.count));
    return out;
  }
}

/** The lines of one histogram series from per-bucket (not cumulative) counts. */
export function histogramLines(name: string, labels: Labels, bounds: readonly number[], counts: ArrayLike<number>, sum: number, count: number): string[] {
  const out: string[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i]!;
    out.push(`${name}_bucket${labelText(labels, ['le', String(bounds[i])])} ${cumulative}`);
  }
  out.push(`${name}_bucket${labelText(labels, ['le', '+Inf'])} ${count}`);
  out.push(`${name}_sum${labelText(labels)} ${sum}`);
  out.push(`${name}_count${labelText(labels)} ${count}`);
  return out;
}

/** Gauge lines: `# HELP`, `# TYPE` and one line per label set. */
export function gaugeLines(name: string, help: string, values: Array<[Labels, number]>, type: 'gauge' | 'counter' = 'gauge'): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...values.map(([labels, v]) => `${name}${labelText(labels)} ${v}`)];
}

/** Latency buckets in seconds: 100 µs to 30 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
