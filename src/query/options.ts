/**
 * The options of correlation queries and aggregations, checked at the API edge into one plain
 * plan input: every refusal is a TapioError naming the option and what it takes.
 */
import { TapioError } from '../errors.js';
import { CORRELATION_FIELDS, type CorrelationField } from '../correlations/record.js';
import { parseDuration } from '../config/units.js';
import { parseSelector, type Selector } from './selector.js';

/** What `similar` asks: the findings whose embedding's cosine similarity to one vector is highest. */
export interface SimilarOptions {
  /** The vector to compare with (the store's embedding_dim values, finite). */
  embedding?: Float32Array | readonly number[];
  /** Or the id of a stored finding whose embedding to use. */
  id?: string;
  /** Keep scores >= this, in [-1, 1] (the seed's 0.8). */
  threshold?: number;
  /** Keep the best k (ties broken by id). Default: 10 when no threshold is given, else every row above it. */
  k?: number;
}

/** Options of `correlations.query` and `stream` (and of the `find()` builder). */
export interface CorrelationQuery {
  /** A label selector (Kubernetes syntax, docs/SELECTORS.md) over type, severity, id and resources. */
  selector?: string | Selector;
  /** Inclusive start: a Date or epoch milliseconds (default: the beginning). */
  from?: Date | number;
  /** Exclusive end (default: no end). */
  to?: Date | number;
  /** Rank by cosine similarity of the embedding; each record gets its `score`. */
  similar?: SimilarOptions;
  /** The fields of each record to return (default all); `timestamp` is always returned. */
  fields?: CorrelationField[];
  /** 'timestamp' (oldest first; the default without similar), '-timestamp' (newest first) or 'score' (best first, ties by id; the default with similar). */
  orderBy?: QueryOrder;
  /** The most records to return, the first ones in the order. */
  limit?: number;
  /** 'records' (default) or 'arrow' (an Arrow table of the fields, with a `score` column when similar is asked). */
  format?: 'records' | 'arrow';
}

export type QueryOrder = 'timestamp' | '-timestamp' | 'score';

/** A checked query. */
export interface QueryPlanInput {
  selector: Selector | null;
  from: number;
  to: number;
  similar: { embedding: Float32Array | null; id: string | null; threshold: number; k: number } | null;
  fields: CorrelationField[];
  orderBy: QueryOrder;
  limit: number;
  format: 'records' | 'arrow';
}

const QUERY_KEYS = ['selector', 'from', 'to', 'similar', 'fields', 'orderBy', 'limit', 'format'];
const SIMILAR_KEYS = ['embedding', 'id', 'threshold', 'k'];
const ORDERS: readonly QueryOrder[] = ['timestamp', '-timestamp', 'score'];

function bad(call: string, message: string): TapioError {
  return new TapioError('ERR_INVALID_ARGUMENT', `${call}: ${message}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number') return String(v);
  return typeof v;
}

function options(call: string, q: unknown, keys: readonly string[]): Record<string, unknown> {
  if (q === undefined) return {};
  if (typeof q !== 'object' || q === null || Array.isArray(q)) throw bad(call, `options must be an object, got ${describe(q)}`);
  const o = q as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!keys.includes(key)) throw bad(call, `unknown option ${JSON.stringify(key)}; the options are ${keys.join(', ')}`);
  }
  return o;
}

/** Epoch milliseconds of a Date or a number, or the default when undefined. */
export function timeOption(call: string, name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (v instanceof Date && Number.isFinite(v.getTime())) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw bad(call, `${name} must be a Date or epoch milliseconds, got ${v instanceof Date ? 'an invalid Date' : describe(v)}`);
}

/** The time range [from, to) of options, checked. */
export function rangeOptions(call: string, o: Record<string, unknown>): { from: number; to: number } {
  const from = timeOption(call, 'from', o.from, -Infinity);
  const to = timeOption(call, 'to', o.to, Infinity);
  if (from > to) {
    throw bad(call, `from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()}); the range is from <= timestamp < to`);
  }
  return { from, to };
}

/** A selector option: text is parsed (ERR_SELECTOR_SYNTAX), a parsed Selector is taken as is. */
export function selectorOption(call: string, v: unknown): Selector | null {
  if (v === undefined) return null;
  if (typeof v === 'string') return parseSelector(v);
  if (typeof v === 'object' && v !== null && Array.isArray((v as Selector).requirements) && typeof (v as Selector).matches === 'function') {
    return v as Selector;
  }
  throw bad(call, `selector must be selector text (e.g. "type=attack,nodes=node-1") or a parsed Selector, got ${describe(v)}`);
}

function limitOption(call: string, name: string, v: unknown): number {
  if (v === undefined) return Infinity;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad(call, `${name} must be a whole number >= 1, got ${describe(v)}`);
  return v;
}

function similarOption(call: string, v: unknown, dim: number): QueryPlanInput['similar'] {
  if (v === undefined) return null;
  const o = options(`${call} similar`, v, SIMILAR_KEYS);
  if ((o.embedding === undefined) === (o.id === undefined)) {
    throw bad(call, 'similar needs exactly one of embedding (a vector) or id (a stored finding)');
  }
  let embedding: Float32Array | null = null;
  if (o.embedding !== undefined) {
    const e = o.embedding;
    if (!(e instanceof Float32Array) && !Array.isArray(e)) {
      throw bad(call, `similar.embedding must be a Float32Array or an array of numbers, got ${describe(e)}`);
    }
    if (e.length !== dim) throw bad(call, `similar.embedding has ${e.length} values; this store's embedding_dim is ${dim}`);
    embedding = new Float32Array(dim);
    for (let i = 0; i < dim; i++) {
      const x = e[i] as unknown;
      if (typeof x !== 'number' || !Number.isFinite(x) || !Number.isFinite(Math.fround(x))) {
        throw bad(call, `similar.embedding[${i}] is ${describe(x)}; every value must be a finite float32`);
      }
      embedding[i] = x;
    }
  }
  if (o.id !== undefined && (typeof o.id !== 'string' || o.id.length === 0)) throw bad(call, `similar.id must be a non-empty string, got ${describe(o.id)}`);
  let threshold = -Infinity;
  if (o.threshold !== undefined) {
    if (typeof o.threshold !== 'number' || !(o.threshold >= -1 && o.threshold <= 1)) {
      throw bad(call, `similar.threshold must be a number in [-1, 1], got ${describe(o.threshold)}`);
    }
    threshold = o.threshold;
  }
  let k = limitOption(call, 'similar.k', o.k);
  if (k === Infinity && o.threshold === undefined) k = 10;
  return { embedding, id: (o.id as string | undefined) ?? null, threshold, k };
}

/** Checks `correlations.query` options against a store of embedding dimension `dim`. */
export function checkQuery(call: string, q: unknown, dim: number): QueryPlanInput {
  const o = options(call, q, QUERY_KEYS);
  const { from, to } = rangeOptions(call, o);
  const selector = selectorOption(call, o.selector);
  const similar = similarOption(call, o.similar, dim);
  let fields: CorrelationField[] = [...CORRELATION_FIELDS];
  if (o.fields !== undefined) {
    if (!Array.isArray(o.fields)) throw bad(call, `fields must be a list of ${CORRELATION_FIELDS.join(', ')}`);
    for (const f of o.fields as unknown[]) {
      if (!(CORRELATION_FIELDS as readonly unknown[]).includes(f)) {
        throw bad(call, `fields: unknown field ${describe(f)}; the fields are ${CORRELATION_FIELDS.join(', ')}`);
      }
    }
    fields = CORRELATION_FIELDS.filter((f) => f === 'timestamp' || (o.fields as unknown[]).includes(f));
  }
  const orderBy = (o.orderBy ?? (similar === null ? 'timestamp' : 'score')) as QueryOrder;
  if (!ORDERS.includes(orderBy)) throw bad(call, `orderBy must be one of ${ORDERS.join(', ')}, got ${describe(o.orderBy)}`);
  if (orderBy === 'score' && similar === null) throw bad(call, "orderBy: 'score' needs similar");
  const limit = limitOption(call, 'limit', o.limit);
  const format = o.format ?? 'records';
  if (format !== 'records' && format !== 'arrow') throw bad(call, `format must be 'records' or 'arrow', got ${describe(format)}`);
  return { selector, from, to, similar, fields, orderBy, limit, format };
}

// ---------------------------------------------------------------------------------------------
// Aggregations

/** A numeric field an aggregation measures. */
export type MeasureField = 'confidence' | 'severity' | 'eventCount' | 'timeWindow';
const MEASURE_FIELDS: readonly MeasureField[] = ['confidence', 'severity', 'eventCount', 'timeWindow'];
export type MeasureFn = 'count' | 'sum' | 'avg' | 'min' | 'max';
export interface Measure {
  name: string;
  fn: MeasureFn;
  field: MeasureField | null;
}

/** Options of `correlations.aggregate`. */
export interface AggregateQuery {
  selector?: string | Selector;
  from?: Date | number;
  to?: Date | number;
  /** Group keys: 'type', 'severity', or a resource type ('resources.nodes' or 'nodes'); a finding with several names of that type counts in each name's group. */
  groupBy?: string[];
  /** Also group by time: buckets of this duration ('5m', '1h'), aligned to the epoch; each group gets a `bucket` Date. */
  bucket?: string | number;
  /** 'count', or sum / avg / min / max of confidence, severity, eventCount or timeWindow, e.g. 'avg(confidence)'. Default ['count']. */
  measures?: string[];
}

export interface AggregatePlanInput {
  selector: Selector | null;
  from: number;
  to: number;
  groupBy: string[];
  bucket: number | null;
  measures: Measure[];
}

const AGGREGATE_KEYS = ['selector', 'from', 'to', 'groupBy', 'bucket', 'measures'];
const MEASURE_TEXT = /^(count|sum|avg|min|max)(?:\((\w+)\))?$/;

/** The name a group key has in results: 'type', 'severity' or 'resources.<type>'. */
export function groupKeyName(call: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) throw bad(call, `a group key must be 'type', 'severity' or a resource type, got ${describe(key)}`);
  if (key === 'type' || key === 'severity') return key;
  const type = key.startsWith('resources.') ? key.slice('resources.'.length) : key;
  if (!/^[a-z][a-z0-9_-]*$/.test(type)) {
    throw bad(call, `unknown group key ${describe(key)}: group by 'type', 'severity' or a resource type such as 'resources.nodes'`);
  }
  return `resources.${type}`;
}

/** Checks `correlations.aggregate` options. */
export function checkAggregate(call: string, q: unknown): AggregatePlanInput {
  const o = options(call, q, AGGREGATE_KEYS);
  const { from, to } = rangeOptions(call, o);
  const selector = selectorOption(call, o.selector);
  const groupBy: string[] = [];
  if (o.groupBy !== undefined) {
    if (!Array.isArray(o.groupBy)) throw bad(call, `groupBy must be a list of group keys, got ${describe(o.groupBy)}`);
    for (const k of o.groupBy as unknown[]) {
      const name = groupKeyName(call, k);
      if (groupBy.includes(name)) throw bad(call, `groupBy names ${name} twice`);
      groupBy.push(name);
    }
  }
  let bucket: number | null = null;
  if (o.bucket !== undefined) {
    if (typeof o.bucket === 'number') bucket = o.bucket;
    else if (typeof o.bucket === 'string') {
      try {
        bucket = parseDuration(o.bucket);
      } catch (err) {
        throw bad(call, `bucket: ${(err as Error).message}`);
      }
    }
    if (bucket === null || !Number.isSafeInteger(bucket) || bucket < 1) {
      throw bad(call, `bucket must be a duration such as '5m' or '1h' (or milliseconds >= 1), got ${describe(o.bucket)}`);
    }
  }
  const texts = o.measures === undefined ? ['count'] : o.measures;
  if (!Array.isArray(texts) || texts.length === 0) throw bad(call, `measures must be a non-empty list such as ['count', 'avg(confidence)']`);
  const measures: Measure[] = [];
  for (const t of texts as unknown[]) {
    const m = typeof t === 'string' ? MEASURE_TEXT.exec(t.replace(/\s+/g, '')) : null;
    const fn = m?.[1] as MeasureFn | undefined;
    const field = (m?.[2] ?? null) as MeasureField | null;
    const ok = m !== null && (fn === 'count' ? field === null : field !== null && MEASURE_FIELDS.includes(field));
    if (!ok) {
      throw bad(call, `unknown measure ${describe(t)}: use 'count', or sum, avg, min or max of ${MEASURE_FIELDS.join(', ')} (e.g. 'avg(confidence)')`);
    }
    const name = fn === 'count' ? 'count' : `${fn}(${field})`;
    if (!measures.some((x) => x.name === name)) measures.push({ name, fn: fn!, field });
  }
  return { selector, from, to, groupBy, bucket, measures };
}

/** Options of `correlations.topValues`. */
export interface TopValuesQuery {
  selector?: string | Selector;
  from?: Date | number;
  to?: Date | number;
}

/** Checks `correlations.topValues` arguments. */
export function checkTopValues(
  call: string,
  field: unknown,
  n: unknown,
  q: unknown,
): { key: string; n: number; selector: Selector | null; from: number; to: number } {
  const key = groupKeyName(call, field);
  const count = limitOption(call, 'n', n ?? 10);
  const o = options(call, q, ['selector', 'from', 'to']);
  const { from, to } = rangeOptions(call, o);
  return { key, n: count, selector: selectorOption(call, o.selector), from, to };
}
