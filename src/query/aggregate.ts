/**
 * Group-by aggregation over selected rows of batches: counts, sums, averages, minimums and
 * maximums per group of type, severity, resource names and time bucket. A finding with several
 * names of a grouped resource type counts once in each name's group; one with none counts in the
 * group whose value is null.
 */
import type { BatchColumns } from '../correlations/batch-columns.js';
import type { Measure, MeasureField } from './options.js';

/** One group of an aggregation: its keys, then its measures by name. */
export type AggregateRow = Record<string, string | number | Date | null>;

interface Group {
  keys: Array<string | number | null>;
  count: number;
  sums: Float64Array;
  mins: Float64Array;
  maxs: Float64Array;
}

const NO_NAMES: ReadonlyArray<string | null> = [null];

/** Accumulates groups over batches; `rows()` gives them sorted by bucket, then by each key. */
export class Aggregator {
  readonly #groups = new Map<string | number, Group>();
  /** Groups by type and severity code, when there are no buckets (#addNumeric). */
  #dense: Array<Group | undefined> | null = null;
  readonly #fields: MeasureField[];
  readonly #numeric: boolean;
  /** Per resource key: name -> small code (a group's key in the common case). */
  readonly #nameCodes: Array<Map<string, number>>;

  constructor(
    readonly groupBy: readonly string[],
    readonly bucket: number | null,
    readonly measures: readonly Measure[],
    readonly types: readonly string[],
  ) {
    this.#fields = [...new Set(measures.flatMap((m) => (m.field === null ? [] : [m.field])))];
    this.#numeric = groupBy.every((k) => k === 'type' || k === 'severity');
    this.#nameCodes = groupBy.map(() => new Map());
  }

  /** The batch columns the aggregation reads. */
  columns(): string[] {
    return [...this.groupBy.filter((k) => k !== 'type' && k !== 'severity'), ...this.groupBy.filter((k) => k === 'type' || k === 'severity'), ...this.#fields];
  }

  /** Adds rows `sel` of `cols`. */
  add(cols: BatchColumns, sel: Uint32Array): void {
    if (this.#numeric) this.#addNumeric(cols, sel);
    else this.#addGeneral(cols, sel);
  }

  #group(key: string | number, keys: () => Array<string | number | null>): Group {
    let g = this.#groups.get(key);
    if (g === undefined) {
      const n = this.#fields.length;
      g = { keys: keys(), count: 0, sums: new Float64Array(n), mins: new Float64Array(n).fill(Infinity), maxs: new Float64Array(n).fill(-Infinity) };
      this.#groups.set(key, g);
    }
    return g;
  }

  #measure(g: Group, cols: BatchColumns, i: number): void {
    g.count++;
    for (let f = 0; f < this.#fields.length; f++) {
      const x = cols[this.#fields[f]!][i]!;
      g.sums[f]! += x;
      if (x < g.mins[f]!) g.mins[f] = x;
      if (x > g.maxs[f]!) g.maxs[f] = x;
    }
  }

  #bucketOf(ts: number): number {
    return this.bucket === null ? 0 : Math.floor(ts / this.bucket) * this.bucket;
  }

  #addNumeric(cols: BatchColumns, sel: Uint32Array): void {
    const byType = this.groupBy.map((k) => k === 'type');
    const width = this.groupBy.length;
    // Without buckets, a group is at most two codes of 256: a dense table of groups by code
    // instead of a map lookup per row.
    const dense = this.bucket === null ? (this.#dense ??= new Array<Group | undefined>(256 ** width)) : null;
    if (dense !== null) {
      this.#addDense(dense, cols, sel);
      return;
    }
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j]!;
      let code = 0;
      for (let k = 0; k < width; k++) code = code * 256 + (byType[k] ? cols.type[i]! : cols.severity[i]!);
      const b = this.#bucketOf(cols.timestamp[i]!);
      // One number per group while it stays exact (bucket index and the key codes), else text.
      const n = (b / this.bucket!) * 65536 + code;
      const key = Number.isSafeInteger(n) ? n : `${b}|${code}`;
      const g = this.#groups.get(key) ?? this.#group(key, () => this.#numericKeys(b, cols, i));
      this.#measure(g, cols, i);
    }
  }

  /**
   * #addNumeric without buckets: the group of a row is at `first * 256 + second` of its one or two
   * codes; the loop reads the code columns and the measured columns as typed arrays (a count per
   * type and severity over millions of rows spends a few nanoseconds a row).
   */
  #addDense(dense: Array<Group | undefined>, cols: BatchColumns, sel: Uint32Array): void {
    const code = (k: number): Uint8Array => (this.groupBy[k] === 'type' ? cols.type : cols.severity);
    const width = this.groupBy.length;
    const zero = new Uint8Array(cols.rows);
    const first = width > 1 ? code(0) : zero;
    const second = width > 1 ? code(1) : width === 1 ? code(0) : zero;
    const fields = this.#fields.length;
    const values = this.#fields.map((f) => cols[f]);
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j]!;
      const c = first[i]! * 256 + second[i]!;
      let g = dense[c];
      if (g === undefined) dense[c] = g = this.#group(c, () => this.#numericKeys(0, cols, i));
      g.count++;
      for (let f = 0; f < fields; f++) {
        const x = values[f]![i]!;
        g.sums[f]! += x;
        if (x < g.mins[f]!) g.mins[f] = x;
        if (x > g.maxs[f]!) g.maxs[f] = x;
      }
    }
  }

  #numericKeys(b: number, cols: BatchColumns, i: number): Array<string | number | null> {
    return [...(this.bucket === null ? [] : [b]), ...this.groupBy.map((k) => (k === 'type' ? this.types[cols.type[i]!]! : cols.severity[i]!))];
  }

  #addGeneral(cols: BatchColumns, sel: Uint32Array): void {
    const lists = this.groupBy.map((k) => (k.startsWith('resources.') ? (cols.resources.get(k.slice('resources.'.length)) ?? null) : null));
    const parts: Array<ReadonlyArray<string | number | null>> = new Array(this.groupBy.length);
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j]!;
      for (let p = 0; p < this.groupBy.length; p++) {
        const k = this.groupBy[p]!;
        if (k === 'type') parts[p] = [this.types[cols.type[i]!]!];
        else if (k === 'severity') parts[p] = [cols.severity[i]!];
        else {
          const names = lists[p]?.[i];
          parts[p] = names === null || names === undefined || names.length === 0 ? NO_NAMES : [...new Set(names)];
        }
      }
      const b = this.#bucketOf(cols.timestamp[i]!);
      this.#combine(parts, 0, [], b, cols, i);
    }
  }

  #combine(parts: Array<ReadonlyArray<string | number | null>>, p: number, acc: Array<string | number | null>, b: number, cols: BatchColumns, i: number): void {
    if (p === parts.length) {
      const codes = acc.map((v, q) => {
        if (typeof v !== 'string' || this.groupBy[q] === 'type') return String(v);
        const map = this.#nameCodes[q]!;
        let c = map.get(v);
        if (c === undefined) {
          c = map.size;
          map.set(v, c);
        }
        return `n${c}`;
      });
      const g = this.#group(`${b}|${codes.join('|')}`, () => [...(this.bucket === null ? [] : [b]), ...acc]);
      this.#measure(g, cols, i);
      return;
    }
    for (const v of parts[p]!) {
      acc.push(v);
      this.#combine(parts, p + 1, acc, b, cols, i);
      acc.pop();
    }
  }

  /** The groups, sorted by bucket then by each key (nulls last), with their measures. */
  rows(): AggregateRow[] {
    const groups = [...this.#groups.values()];
    groups.sort((a, b) => {
      for (let k = 0; k < a.keys.length; k++) {
        const c = compareKey(a.keys[k]!, b.keys[k]!);
        if (c !== 0) return c;
      }
      return 0;
    });
    const names = [...(this.bucket === null ? [] : ['bucket']), ...this.groupBy];
    return groups.map((g) => {
      const row: AggregateRow = {};
      names.forEach((n, k) => (row[n] = n === 'bucket' ? new Date(g.keys[k] as number) : g.keys[k]!));
      for (const m of this.measures) {
        if (m.fn === 'count') {
          row[m.name] = g.count;
          continue;
        }
        const f = this.#fields.indexOf(m.field!);
        row[m.name] = m.fn === 'sum' ? g.sums[f]! : m.fn === 'avg' ? g.sums[f]! / g.count : m.fn === 'min' ? g.mins[f]! : g.maxs[f]!;
      }
      return row;
    });
  }
}

/** Numbers numerically, strings by UTF-8 byte order, null last. */
export function compareKey(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}
