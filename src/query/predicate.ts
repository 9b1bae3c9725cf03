/**
 * A label selector over findings held as columns: which label each key names, which segments the
 * manifest's facts rule out, and the rows of a batch that match (a selection vector, narrowed one
 * requirement at a time, each requirement evaluated once per distinct value).
 *
 * A finding's labels are `type` (its type name), `severity` (the integer as text), `id`, and one
 * label per resource type holding every name of that type (`pods`, or `resources.pods`; a type
 * named like a field is reached only as `resources.<type>`). A resource type with no names (an
 * empty list) is an absent label.
 */
import type { BatchColumns } from '../correlations/batch-columns.js';
import type { RowGroupFacts, SegmentEntry } from '../correlations/manifest.js';
import { mayHoldName, nameKey } from '../correlations/name-filter.js';
import { selectKernels, type SelectKernels } from './select-kernels.js';
import type { Requirement, Selector } from './selector.js';

/** The column a selector key reads. */
export type LabelColumn = { kind: 'type' } | { kind: 'severity' } | { kind: 'id' } | { kind: 'resource'; type: string };

const RESOURCE_PREFIX = 'resources.';

/** The column behind selector key `key`. */
export function labelColumn(key: string): LabelColumn {
  if (key === 'type' || key === 'severity' || key === 'id') return { kind: key };
  return { kind: 'resource', type: key.startsWith(RESOURCE_PREFIX) ? key.slice(RESOURCE_PREFIX.length) : key };
}

/** The columns the selector reads (besides timestamp); a segment without a resource column skips it. */
export function selectorColumns(selector: Selector | null): string[] {
  const out = new Set<string>();
  if (selector === null) return [];
  for (const r of selector.requirements) {
    const c = labelColumn(r.key);
    out.add(c.kind === 'resource' ? RESOURCE_PREFIX + c.type : c.kind);
  }
  return [...out];
}

/** Which requirements a call of `select` applies. */
export type SelectPhase = 'all' | 'fixed' | 'lists';

/** What a scan filters rows with: a compiled selector, or one finding's id. */
export interface RowFilter {
  /** False when the segment's facts show that no row can pass. */
  segmentMayMatch(s: SegmentEntry): boolean;
  /** False when a row group's facts show that no row can pass. */
  groupMayMatch(facts: RowGroupFacts): boolean;
  /**
   * The rows of `cols` among `sel` (all when null) that pass, ascending. `which` narrows by the
   * requirements on fixed-width and id columns only ('fixed'), on resource lists only ('lists'),
   * or all: a scan tests the cheap columns first and decodes lists only for the rows left.
   */
  select(cols: BatchColumns, sel: Uint32Array | null, which?: SelectPhase): Uint32Array;
}

/** The rows whose id is `id` (ids need not be label values, so this is no selector). */
export function idFilter(id: string): RowFilter {
  return {
    segmentMayMatch: () => true,
    groupMayMatch: () => true,
    select(cols, sel, which = 'all') {
      const from = sel ?? allRows(cols.rows);
      if (which === 'lists') return from;
      const out: number[] = [];
      for (const i of from) if (cols.id[i] === id) out.push(i);
      return Uint32Array.from(out);
    },
  };
}

/** A requirement compiled against the store's finding types: lookups per code, a cache per name. */
interface CompiledRequirement {
  req: Requirement;
  column: LabelColumn;
  /** type and severity: whether code c passes the requirement's value test. */
  codes: Uint8Array | null;
  /** resource and id: value -> valueTest, filled as values are met. */
  cache: Map<string, boolean>;
}

/**
 * A selector ready to run over batches and to prune segments. Its selection vectors are built by
 * `kernels` (native or the TypeScript twin; both give the same rows).
 */
export class CompiledSelector implements RowFilter {
  readonly requirements: readonly CompiledRequirement[];

  constructor(
    readonly selector: Selector,
    types: readonly string[],
    readonly kernels: SelectKernels = selectKernels(),
  ) {
    // Requirements on fixed-width columns first: they are a table lookup per row, and the rows
    // they leave are the only ones whose resource lists need building.
    const fixedFirst = [...selector.requirements].sort(
      (a, b) => Number(labelColumn(a.key).kind === 'resource') - Number(labelColumn(b.key).kind === 'resource'),
    );
    this.requirements = fixedFirst.map((req) => {
      const column = labelColumn(req.key);
      let codes: Uint8Array | null = null;
      if (column.kind === 'type') {
        codes = new Uint8Array(256);
        types.forEach((t, c) => (codes![c] = req.valueTest(t) ? 1 : 0));
      } else if (column.kind === 'severity') {
        codes = new Uint8Array(256);
        for (let s = 0; s < 256; s++) codes[s] = req.valueTest(String(s)) ? 1 : 0;
      }
      return { req, column, codes, cache: new Map() };
    });
  }

  /**
   * False when the segment's facts show that no row can match: a positive requirement on a type,
   * severity or resource name the segment lacks, a negative one that every type or severity in it
   * fails, or a requirement that needs a resource type the segment has no column for.
   */
  segmentMayMatch(s: SegmentEntry): boolean {
    let filter: Uint8Array | null = null;
    for (const { req, column, codes } of this.requirements) {
      const op = req.operator;
      if (column.kind === 'type' || column.kind === 'severity') {
        if (op === 'exists') continue;
        if (op === '!') return false; // always present
        const present = column.kind === 'type' ? s.types : severitiesOf(s.severities);
        const passing = present.some((c) => codes![c] === 1);
        if (!req.negative && !passing) return false;
        if (req.negative && present.every((c) => codes![c] === 1)) return false;
        continue;
      }
      if (column.kind === 'id') {
        if (op === '!') return false;
        continue;
      }
      if (req.negative) continue; // an absent column matches every negative requirement
      if (!s.resourceTypes.includes(column.type)) return false;
      if (op === '=' || op === '==' || op === 'in') {
        filter ??= Buffer.from(s.names, 'base64');
        if (!req.values.some((v) => mayHoldName(filter!, nameKey(column.type, v)))) return false;
      }
    }
    return true;
  }

  /**
   * False when a row group's type and severity bits show that no row can match (groups written
   * before these bits were kept have none, and are read).
   */
  groupMayMatch(facts: RowGroupFacts): boolean {
    const [, , , typeMask, severityMask] = facts;
    for (const { req, column, codes } of this.requirements) {
      if (column.kind !== 'type' && column.kind !== 'severity') continue;
      const mask = column.kind === 'type' ? typeMask : severityMask;
      if (mask === undefined || mask === -1 || req.operator === 'exists' || req.operator === '!') continue;
      const present: number[] = [];
      for (let c = 0; c < 31; c++) if ((mask & (1 << c)) !== 0) present.push(c);
      if (!req.negative && !present.some((c) => codes![c] === 1)) return false;
      if (req.negative && present.every((c) => codes![c] === 1)) return false;
    }
    return true;
  }

  /**
   * The rows of `cols` among `sel` (ascending row numbers; all rows when null) that match, as a
   * new selection vector.
   */
  select(cols: BatchColumns, sel: Uint32Array | null, which: SelectPhase = 'all'): Uint32Array {
    let current = sel ?? allRows(cols.rows);
    for (const r of this.requirements) {
      if (current.length === 0) break;
      const list = r.column.kind === 'resource';
      if ((which === 'fixed' && list) || (which === 'lists' && !list)) continue;
      current = narrow(r, cols, current, this.kernels);
    }
    return current;
  }
}

function severitiesOf(mask: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < 31; s++) if ((mask & (1 << s)) !== 0) out.push(s);
  return out;
}

/**
 * 0, 1, ..., rows - 1, as a view of one shared array: selection vectors are only ever read (each
 * filter makes a new one), and a scan of every row of 300 row groups made 20 MB of these per
 * query for the collector. Never write into it.
 */
export function allRows(rows: number): Uint32Array {
  if (identity.length < rows) {
    const next = new Uint32Array(Math.max(rows, 2 * identity.length, 1 << 14));
    for (let i = 0; i < next.length; i++) next[i] = i;
    identity = next;
  }
  return identity.subarray(0, rows);
}

let identity = new Uint32Array(0);

function narrow(r: CompiledRequirement, cols: BatchColumns, sel: Uint32Array, kernels: SelectKernels): Uint32Array {
  const { req, column } = r;
  const want = req.negative ? 0 : 1;
  if (column.kind === 'type' || column.kind === 'severity') {
    if (req.operator === 'exists') return sel;
    if (req.operator === '!') return new Uint32Array(0);
    return kernels.selectByCode(column.kind === 'type' ? cols.type : cols.severity, r.codes!, sel, want);
  }
  if (column.kind === 'id') {
    if (req.operator === 'exists') return sel;
    if (req.operator === '!') return new Uint32Array(0);
    const pass = new Uint8Array(cols.rows);
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j]!;
      if (req.valueTest(cols.id[i]!)) pass[i] = 1;
    }
    return kernels.selectByMask(pass, sel, want);
  }
  const names = cols.resources.get(column.type);
  if (names === undefined) return req.negative ? sel : new Uint32Array(0);
  const cache = r.cache;
  const presence = req.operator === 'exists' || req.operator === '!';
  // hit[i]: row i holds a name of the type (exists, !) or a name passing the value test (the
  // rest); filled for the selected rows only, each distinct name tested once.
  const hit = new Uint8Array(cols.rows);
  for (let j = 0; j < sel.length; j++) {
    const i = sel[j]!;
    const values = names[i];
    if (values === null || values === undefined || values.length === 0) continue;
    if (presence) {
      hit[i] = 1;
      continue;
    }
    for (const v of values) {
      let pass = cache.get(v);
      if (pass === undefined) {
        pass = req.valueTest(v);
        cache.set(v, pass);
      }
      if (pass) {
        hit[i] = 1;
        break;
      }
    }
  }
  return kernels.selectByMask(hit, sel, want);
}

/**
 * The rows of `cols` with `from <= timestamp < to`, as a selection vector (null when all are), built
 * by `kernels`.
 */
export function timeSelection(cols: BatchColumns, from: number, to: number, kernels: SelectKernels = selectKernels()): Uint32Array | null {
  return kernels.selectTimeRange(cols.timestamp, cols.rows, from, to);
}
