/**
 * A correlation finding: what `correlations.insert` takes, what `query` returns, and the check
 * of a batch on its way in. A fast predicate decides; zod describes a refusal (the metadata
 * store does the same). A checked batch comes out as columns (batch-columns.ts), which is the
 * form the WAL, the active part and the segment writer all use.
 */
import { z } from 'zod';

import { TapioError } from '../errors.js';
import { textOk } from '../text-check.js';
import { CORRELATION_LIMITS } from './limits.js';

/** A finding as a caller passes it to `insert`. */
export interface CorrelationInput {
  /** A non-empty string, unique within a batch. */
  id: string;
  /** A Date or epoch milliseconds (a whole number). */
  timestamp: Date | number;
  /** One of the store's `finding_types` (default anomaly, attack, misconfiguration). */
  type: string;
  /** A whole number from 1 to 5. */
  severity: number;
  /** From 0 to 1. */
  confidence: number;
  /** A whole number from 0 to 2^31 - 1. */
  eventCount: number;
  /** Seconds, a whole number from 0 to 2^31 - 1. */
  timeWindow: number;
  /** Resource type (pods, nodes, ...) to names. Absent and empty lists are kept apart. */
  resources?: Record<string, readonly string[]>;
  /** Opaque bytes (default empty). */
  pattern?: Uint8Array;
  /** The store's `embedding_dim` finite values. */
  embedding: Float32Array | readonly number[];
}

/** A finding as `query` returns it. */
export interface CorrelationRecord {
  id: string;
  timestamp: Date;
  type: string;
  severity: number;
  confidence: number;
  eventCount: number;
  timeWindow: number;
  /** Only the resource types the finding had; each list as inserted (possibly empty). */
  resources: Record<string, string[]>;
  pattern: Uint8Array;
  embedding: Float32Array;
}

/** The field names of a finding, in the order of the Parquet columns. */
export const CORRELATION_FIELDS = [
  'timestamp',
  'id',
  'type',
  'severity',
  'confidence',
  'eventCount',
  'timeWindow',
  'pattern',
  'resources',
  'embedding',
] as const;
export type CorrelationField = (typeof CORRELATION_FIELDS)[number];

const INPUT_KEYS = new Set<string>(CORRELATION_FIELDS);
export const MAX_INT32 = 2 ** 31 - 1;
/** The fields every finding has (the others: `pattern` empty and `resources` none when absent). */
export const REQUIRED_FIELDS: readonly string[] = ['id', 'timestamp', 'type', 'severity', 'confidence', 'eventCount', 'timeWindow', 'embedding'];
/** A column or value that cannot be stored as it is: its row (-1: the whole column), name and what it should be. */
export interface ColumnProblem {
  index: number;
  field: string;
  expected: string;
}
/** The resource type name: a column name (resources.<type>) and a selector key without quoting. */
export const RESOURCE_TYPE_NAME = /^[a-z][a-z0-9_-]*$/;

/** What a store checks findings against. */
export interface FindingRules {
  embeddingDim: number;
  /** finding_types, as configured. */
  types: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// The fast predicate: returns null when the finding is fine, else the offending field.

function intIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function timestampOk(v: unknown): boolean {
  if (v instanceof Date) return intIn(v.getTime(), 0, CORRELATION_LIMITS.maxTimestamp);
  return intIn(v, 0, CORRELATION_LIMITS.maxTimestamp);
}

function embeddingOk(v: unknown, dim: number): boolean {
  if (v instanceof Float32Array) {
    if (v.length !== dim) return false;
    // The sum (in float64) is finite exactly when every value is: a NaN or an infinity makes it
    // NaN or infinite, and finite float32 values (at most 3.4e38 each) cannot add up to float64's
    // overflow in any embedding_dim. One check instead of one per value.
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += v[i]!;
    return Number.isFinite(sum);
  }
  if (!Array.isArray(v) || v.length !== dim) return false;
  for (let i = 0; i < dim; i++) {
    const x: unknown = v[i];
    // A number that overflows float32 would be stored as Infinity.
    if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) return false;
  }
  return true;
}

function resourcesOk(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const { resourceType, resourceName, namesPerType } = CORRELATION_LIMITS;
  for (const key in v) {
    if (key.length > resourceType || !RESOURCE_TYPE_NAME.test(key)) return false;
    const names = (v as Record<string, unknown>)[key];
    if (!Array.isArray(names) || names.length > namesPerType) return false;
    for (let i = 0; i < names.length; i++) if (!textOk(names[i], resourceName)) return false;
  }
  return true;
}

function keysOk(v: object): boolean {
  for (const key in v) if (!INPUT_KEYS.has(key)) return false;
  return true;
}

/** True when `v` is a finding the store takes as it is. */
export function findingOk(v: unknown, rules: FindingRules): v is CorrelationInput {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const f = v as Record<string, unknown>;
  return (
    textOk(f.id, CORRELATION_LIMITS.id) &&
    timestampOk(f.timestamp) &&
    typeof f.type === 'string' &&
    rules.types.includes(f.type) &&
    intIn(f.severity, 1, 5) &&
    typeof f.confidence === 'number' &&
    f.confidence >= 0 &&
    f.confidence <= 1 &&
    intIn(f.eventCount, 0, MAX_INT32) &&
    intIn(f.timeWindow, 0, MAX_INT32) &&
    (f.pattern === undefined || (f.pattern instanceof Uint8Array && f.pattern.length <= CORRELATION_LIMITS.patternBytes)) &&
    resourcesOk(f.resources) &&
    embeddingOk(f.embedding, rules.embeddingDim) &&
    keysOk(f)
  );
}

// ---------------------------------------------------------------------------------------------
// The description of a refusal (only built when the predicate said no).

function schemaFor(rules: FindingRules) {
  const L = CORRELATION_LIMITS;
  const wholeNumber = (min: number, max: number) =>
    z
      .number({ error: `a whole number from ${min} to ${max}` })
      .int()
      .min(min)
      .max(max);
  const text = (max: number, what: string) =>
    z.custom<string>((v) => textOk(v, max), {
      error: `${what}: a non-empty string of at most ${max} characters, without control characters or lone surrogates`,
    });
  return z.strictObject(
    {
      id: text(L.id, 'an id'),
      timestamp: z.custom((v) => timestampOk(v), {
        error: `a Date or epoch milliseconds: a whole number from 0 to ${L.maxTimestamp}`,
      }),
      type: z.custom((v) => typeof v === 'string' && rules.types.includes(v), {
        error: `one of ${rules.types.join(', ')} (storage.correlations.finding_types)`,
      }),
      severity: wholeNumber(1, 5),
      confidence: z.number({ error: 'a number from 0 to 1' }).min(0).max(1),
      eventCount: wholeNumber(0, MAX_INT32),
      timeWindow: wholeNumber(0, MAX_INT32),
      pattern: z
        .custom<Uint8Array>((v) => v instanceof Uint8Array && v.length <= L.patternBytes, {
          error: `a Uint8Array (or Buffer) of at most ${L.patternBytes} bytes`,
        })
        .optional(),
      resources: z
        .custom((v) => resourcesOk(v), {
          error: `a plain object of resource type (lowercase letters, digits, '_' and '-', starting with a letter, at most ${L.resourceType} characters) to a list of at most ${L.namesPerType} names (non-empty strings of at most ${L.resourceName} characters, no control characters)`,
        })
        .optional(),
      embedding: z.custom((v) => embeddingOk(v, rules.embeddingDim), {
        error: `a Float32Array or an array of ${rules.embeddingDim} finite float32 values (storage.correlations.embedding_dim)`,
      }),
    },
    { error: 'a finding: an object with id, timestamp, type, severity, confidence, eventCount, timeWindow, embedding and optionally resources and pattern' },
  );
}

function describe(v: unknown, rules: FindingRules): Array<{ path: string; message: string }> {
  const result = schemaFor(rules).safeParse(v);
  if (result.success) return [{ path: '', message: 'not accepted' }];
  return result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return { path, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` };
    if (issue.code === 'invalid_type' && issue.input === undefined)
      return { path, message: `missing; expected ${issue.message.replace(/^Invalid input: /, '')}` };
    return { path, message: issue.message };
  });
}

/** The ERR_VALIDATION error for `batch[index]`, naming the record index, the field and the expectation. */
export function findingError(call: string, batch: readonly unknown[], index: number, rules: FindingRules): TapioError {
  const issues = describe(batch[index], rules);
  const text = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  return new TapioError('ERR_VALIDATION', `${call}: record ${index} was refused (${text}); nothing of the batch of ${batch.length} was stored.`, {
    details: { index, issues },
  });
}

/** What {@link columnProblem} checks a bulk insert's columns against, beyond the finding rules. */
export interface ColumnFacts {
  rows: number;
  /** The columns the caller's table had. */
  present: ReadonlySet<string>;
}

/**
 * The first problem of a bulk insert's columns (as `{ index, field, expected }`), or null: the
 * same rules as a finding's, checked column by column (no object per row).
 */
export function columnProblem(
  cols: {
    id: string[];
    timestamp: Float64Array;
    type: Uint8Array;
    severity: Uint8Array;
    confidence: Float32Array;
    eventCount: Int32Array;
    timeWindow: Int32Array;
    resources: Map<string, Array<string[] | null>>;
    embedding: Float32Array;
    dim: number;
  },
  facts: ColumnFacts,
  rules: FindingRules,
): ColumnProblem | null {
  for (const field of REQUIRED_FIELDS) {
    if (!facts.present.has(field)) return { index: -1, field, expected: 'a column of this name' };
  }
  const L = CORRELATION_LIMITS;
  const ids = new Map<string, number>();
  for (let i = 0; i < facts.rows; i++) {
    if (!textOk(cols.id[i], L.id)) return { index: i, field: 'id', expected: `a non-empty string of at most ${L.id} characters, without control characters` };
    const first = ids.get(cols.id[i]!);
    if (first !== undefined) return { index: i, field: 'id', expected: `an id unique within the batch (record ${first} has it too)` };
    ids.set(cols.id[i]!, i);
    if (!intIn(cols.timestamp[i], 0, L.maxTimestamp))
      return { index: i, field: 'timestamp', expected: `epoch milliseconds: a whole number from 0 to ${L.maxTimestamp}` };
    if (cols.type[i]! >= rules.types.length)
      return { index: i, field: 'type', expected: `one of ${rules.types.join(', ')} (storage.correlations.finding_types)` };
    if (!(cols.severity[i]! >= 1 && cols.severity[i]! <= 5)) return { index: i, field: 'severity', expected: 'a whole number from 1 to 5' };
    const c = cols.confidence[i]!;
    if (!(c >= 0 && c <= 1)) return { index: i, field: 'confidence', expected: 'a number from 0 to 1' };
    if (cols.eventCount[i]! < 0) return { index: i, field: 'eventCount', expected: `a whole number from 0 to ${MAX_INT32}` };
    if (cols.timeWindow[i]! < 0) return { index: i, field: 'timeWindow', expected: `a whole number from 0 to ${MAX_INT32}` };
  }
  const e = cols.embedding;
  for (let j = 0; j < e.length; j++)
    if (!Number.isFinite(e[j]!)) return { index: Math.floor(j / cols.dim), field: 'embedding', expected: 'finite float32 values' };
  for (const [type, column] of cols.resources) {
    if (type.length > L.resourceType || !RESOURCE_TYPE_NAME.test(type))
      return { index: -1, field: `resources.${type}`, expected: "a resource type of lowercase letters, digits, '_' and '-', starting with a letter" };
    for (let i = 0; i < column.length; i++) {
      const names = column[i];
      if (names === null || names === undefined) continue;
      if (names.length > L.namesPerType) return { index: i, field: `resources.${type}`, expected: `at most ${L.namesPerType} names` };
      for (const name of names)
        if (!textOk(name, L.resourceName))
          return { index: i, field: `resources.${type}`, expected: `names: non-empty strings of at most ${L.resourceName} characters, no control characters` };
    }
  }
  return null;
}
