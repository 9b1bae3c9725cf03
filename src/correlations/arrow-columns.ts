/**
 * Batch columns to Arrow and back. The Arrow schema is the segment's Parquet schema
 * (docs/FORMAT.md, "Correlation segments"): one top-level column per field, one
 * `resources.<type>` column of lists of dictionary-encoded strings per resource type, and the
 * embedding as a fixed-size list of float32.
 */
import { isAscii } from 'node:buffer';

import * as arrow from 'apache-arrow';

import { emptyColumns, gatherColumns, type BatchColumns } from './batch-columns.js';
import type { SegmentEntry } from './manifest.js';
import { MAX_INT32, REQUIRED_FIELDS, type ColumnProblem } from './record.js';

/** The Arrow column name of a resource type. */
export const resourceColumn = (type: string) => `resources.${type}`;

/** The segment columns a field list needs (`resources` stands for every resource column of the segment). */
export function segmentColumns(fields: Iterable<string>, entry: SegmentEntry): string[] {
  const out: string[] = [];
  for (const f of fields) {
    if (f === 'resources') out.push(...entry.resourceTypes.map(resourceColumn));
    else if (f.startsWith('resources.')) {
      if (entry.resourceTypes.includes(f.slice('resources.'.length))) out.push(f);
    } else out.push(f);
  }
  return [...new Set(out)];
}
const RESOURCE_PREFIX = 'resources.';

const encoder = new TextEncoder();

function utf8Data(values: readonly string[]): arrow.Data<arrow.Utf8> {
  const offsets = new Int32Array(values.length + 1);
  const parts: Uint8Array[] = new Array<Uint8Array>(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const bytes = encoder.encode(values[i]!);
    parts[i] = bytes;
    total += bytes.length;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < values.length; i++) data.set(parts[i]!, offsets[i]!);
  return arrow.makeData({ type: new arrow.Utf8(), length: values.length, valueOffsets: offsets, data });
}

function binaryData(values: readonly Uint8Array[]): arrow.Data<arrow.Binary> {
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    total += values[i]!.length;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < values.length; i++) data.set(values[i]!, offsets[i]!);
  return arrow.makeData({ type: new arrow.Binary(), length: values.length, valueOffsets: offsets, data });
}

function dictionaryData(codes: Uint8Array, names: readonly string[]): arrow.Data<arrow.Dictionary<arrow.Utf8, arrow.Int8>> {
  const dictionary = new arrow.Vector([utf8Data(names)]);
  const type = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int8());
  return arrow.makeData({ type, length: codes.length, data: new Int8Array(codes.buffer, codes.byteOffset, codes.length), dictionary });
}

/** A list<dictionary<int32, utf8>> column: null where a row has no such resource type. */
function resourceData(column: ReadonlyArray<string[] | null>): arrow.Data<arrow.List<arrow.Dictionary<arrow.Utf8, arrow.Int32>>> {
  const rows = column.length;
  const offsets = new Int32Array(rows + 1);
  const validity = new Uint8Array((rows + 7) >> 3);
  const ids = new Map<string, number>();
  const dictionary: string[] = [];
  let count = 0;
  let nulls = 0;
  for (let i = 0; i < rows; i++) {
    const names = column[i];
    if (names === null || names === undefined) nulls++;
    else {
      validity[i >> 3]! |= 1 << (i & 7);
      count += names.length;
    }
    offsets[i + 1] = count;
  }
  const indices = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    const names = column[i];
    if (names === null || names === undefined) continue;
    for (const name of names) {
      let id = ids.get(name);
      if (id === undefined) {
        id = dictionary.length;
        ids.set(name, id);
        dictionary.push(name);
      }
      indices[at++] = id;
    }
  }
  const valueType = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const child = arrow.makeData({ type: valueType, length: count, data: indices, dictionary: new arrow.Vector([utf8Data(dictionary)]) });
  const type = new arrow.List(new arrow.Field('item', valueType, false));
  return arrow.makeData({ type, length: rows, valueOffsets: offsets, child, nullCount: nulls, nullBitmap: nulls === 0 ? null : validity });
}

/** The Arrow schema of a segment with these resource types (sorted). */
export function segmentSchema(dim: number, resourceTypes: readonly string[]): arrow.Schema {
  const fields: arrow.Field[] = [
    new arrow.Field('timestamp', new arrow.TimestampMillisecond(), false),
    new arrow.Field('id', new arrow.Utf8(), false),
    new arrow.Field('type', new arrow.Dictionary(new arrow.Utf8(), new arrow.Int8()), false),
    new arrow.Field('severity', new arrow.Int8(), false),
    new arrow.Field('confidence', new arrow.Float32(), false),
    new arrow.Field('eventCount', new arrow.Int32(), false),
    new arrow.Field('timeWindow', new arrow.Int32(), false),
    new arrow.Field('pattern', new arrow.Binary(), false),
  ];
  for (const t of resourceTypes) {
    const valueType = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
    fields.push(new arrow.Field(resourceColumn(t), new arrow.List(new arrow.Field('item', valueType, false)), true));
  }
  fields.push(new arrow.Field('embedding', new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), false)), false));
  return new arrow.Schema(fields);
}

function bigIntTimes(ms: Float64Array): BigInt64Array {
  const out = new BigInt64Array(ms.length);
  for (let i = 0; i < ms.length; i++) out[i] = BigInt(ms[i]!);
  return out;
}

/**
 * `cols` as an Arrow table; `types` names the type codes (finding_types). `resourceTypes` (sorted)
 * fixes the resource columns, null on every row where `cols` has no such column (so every batch
 * of a streamed file has one schema); by default, the columns `cols` has.
 */
export function columnsToArrow(
  cols: BatchColumns,
  types: readonly string[],
  resourceTypes: readonly string[] = [...cols.resources.keys()].sort(),
): arrow.Table {
  const rows = cols.rows;
  const schema = segmentSchema(cols.dim, resourceTypes);
  const children: arrow.Data[] = [
    arrow.makeData({ type: new arrow.TimestampMillisecond(), length: rows, data: bigIntTimes(cols.timestamp) }),
    utf8Data(cols.id),
    dictionaryData(cols.type, types),
    arrow.makeData({ type: new arrow.Int8(), length: rows, data: new Int8Array(cols.severity.buffer, cols.severity.byteOffset, rows) }),
    arrow.makeData({ type: new arrow.Float32(), length: rows, data: cols.confidence }),
    arrow.makeData({ type: new arrow.Int32(), length: rows, data: cols.eventCount }),
    arrow.makeData({ type: new arrow.Int32(), length: rows, data: cols.timeWindow }),
    binaryData(cols.pattern),
  ];
  for (const t of resourceTypes) children.push(resourceData(cols.resources.get(t) ?? new Array<null>(rows).fill(null)));
  const values = arrow.makeData({ type: new arrow.Float32(), length: rows * cols.dim, data: cols.embedding });
  children.push(arrow.makeData({ type: schema.fields.at(-1)!.type as arrow.FixedSizeList<arrow.Float32>, length: rows, child: values }));
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: rows, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

/**
 * A table of the segment schema (as read back from Parquet: any subset of its columns, in any
 * chunking) as batch columns. Columns not in the table are left empty (zero, '' or null).
 * `types` is finding_types, to turn the type dictionary back into codes.
 */
export function arrowToColumns(
  table: arrow.Table,
  dim: number,
  types: readonly string[],
  only: Uint32Array | null = null,
  lean = false,
  transient = false,
): BatchColumns {
  if (table.batches.length === 1) return batchToColumns(table.batches[0]!, dim, types, only, lean, transient);
  const parts = table.batches.map((b) => batchToColumns(b, dim, types, null, lean, transient));
  return gatherColumns(parts, null, dim);
}

/**
 * One record batch as columns. With `only` (ascending row numbers), the per-row objects (ids,
 * patterns, resource lists) are made for those rows alone and left empty elsewhere: a query that
 * kept a few rows of a row group does not build strings for all of it.
 */
// Indexing: a slice of an Arrow column (Table.slice, RecordBatch.slice) has its value and offset
// buffers cut to the slice (apache-arrow's Data.slice; a fixed-size list's child too) and keeps
// `offset` for the validity bitmap alone, which getValid() applies: values and offsets are read
// from index 0 here, never at `offset`.
function batchToColumns(
  batch: arrow.RecordBatch,
  dim: number,
  types: readonly string[],
  only: Uint32Array | null,
  lean: boolean,
  transient: boolean,
): BatchColumns {
  const rows = batch.numRows;
  const has = (name: string) => batch.schema.fields.some((f) => f.name === name);
  // A caller's table without patterns gets empty ones on every row. A segment read (`lean`) makes
  // no id or pattern arrays for columns it did not read, and with `only`, sparse arrays holding
  // the selected rows alone.
  const full = (name: string) => (lean ? has(name) && only === null : true);
  // A segment read makes only the fixed-width columns it read; the others are shared zeros.
  const cols = emptyColumns(rows, dim, has('embedding'), full('id'), full('pattern'), lean ? has : null);
  const code = new Map(types.map((t, i) => [t, i]));
  for (const field of batch.schema.fields) {
    const vector = batch.getChild(field.name)!;
    const data = vector.data[0]!;
    switch (field.name) {
      case 'timestamp':
        copyNumbers(vector, cols.timestamp);
        break;
      case 'id':
        if (only === null && transient && vector.data.length === 1) textRange(vector, data as arrow.Data<arrow.Utf8>, 0, rows, cols.id, 0);
        else if (only === null) for (let i = 0; i < rows; i++) cols.id[i] = vector.get(i) as string;
        else for (const i of only) cols.id[i] = vector.get(i) as string;
        break;
      case 'type': {
        if (data.dictionary === undefined) {
          // Plain strings (a caller's table): 255 marks a name not in finding_types.
          const names = new Array<string | null>(rows);
          if (transient && vector.data.length === 1) textRange(vector, data as arrow.Data<arrow.Utf8>, 0, rows, names, 0);
          else for (let i = 0; i < rows; i++) names[i] = vector.get(i) as string | null;
          for (let i = 0; i < rows; i++) cols.type[i] = code.get(names[i]!) ?? 255;
          break;
        }
        const dict = data.dictionary.toArray() as string[];
        const map = dict.map((t) => code.get(t) ?? 255);
        const keys = data.values as ArrayLike<number>;
        for (let i = 0; i < rows; i++) cols.type[i] = map[keys[i]!]!;
        break;
      }
      case 'severity':
        copyNumbers(vector, cols.severity);
        break;
      case 'confidence':
        copyNumbers(vector, cols.confidence);
        break;
      case 'eventCount':
        copyNumbers(vector, cols.eventCount);
        break;
      case 'timeWindow':
        copyNumbers(vector, cols.timeWindow);
        break;
      case 'pattern':
        // Transient: views of the table's bytes (the batch record copies them); else copies. A
        // null (a caller's table) is an empty pattern, as an absent one is in insert().
        if (only === null) for (let i = 0; i < rows; i++) cols.pattern[i] = patternAt(vector, i, transient);
        else for (const i of only) cols.pattern[i] = patternAt(vector, i, transient);
        break;
      case 'embedding': {
        const child = data.children[0]!;
        const values = child.values as Float32Array;
        cols.embedding.set(values.subarray(0, rows * dim));
        break;
      }
      default:
        if (field.name.startsWith(RESOURCE_PREFIX))
          cols.resources.set(field.name.slice(RESOURCE_PREFIX.length), listColumn(data as arrow.Data<arrow.List>, rows, only, transient));
    }
  }
  return cols;
}

const NO_BYTES = new Uint8Array(0);

function patternAt(vector: arrow.Vector, i: number, view: boolean): Uint8Array {
  const p = vector.get(i) as Uint8Array | null;
  return p === null ? NO_BYTES : view ? p : p.slice();
}

function copyNumbers(vector: arrow.Vector, into: Float64Array | Float32Array | Int32Array | Uint8Array): void {
  const data = vector.data[0]!;
  const values = data.values as ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> };
  if (vector.data.length === 1 && values.subarray !== undefined) {
    const src = values.subarray(0, into.length);
    if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
      for (let i = 0; i < into.length; i++) into[i] = Number(src[i]!); // int64 columns, timestamps
    } else into.set(src as ArrayLike<number>);
    return;
  }
  for (let i = 0; i < into.length; i++) into[i] = Number(vector.get(i));
}

function listColumn(data: arrow.Data<arrow.List>, rows: number, only: Uint32Array | null, transient: boolean): Array<string[] | null> {
  // With `only`, the other rows are holes (read as absent) rather than a 16,384-entry array of nulls.
  const out: Array<string[] | null> = only === null ? new Array<string[] | null>(rows).fill(null) : [];
  const offsets = data.valueOffsets;
  const child = data.children[0]!;
  const plain = child.dictionary === undefined ? new arrow.Vector([child]) : null; // a caller's list<utf8>
  // Dictionary entries are decoded as rows need them (a query that keeps a few rows of a row group
  // decodes a few of its thousands of pod names), once per dictionary (see dictionaryText).
  const dictionary = child.dictionary === undefined ? null : transient ? allText(child.dictionary) : dictionaryText(child.dictionary);
  const dictionaryVector = child.dictionary ?? null;
  const keys = child.values as Int32Array;
  const count = only === null ? rows : only.length;
  for (let j = 0; j < count; j++) {
    const i = only === null ? j : only[j]!;
    if (!data.getValid(i)) continue;
    const start = offsets[i]!;
    const end = offsets[i + 1]!;
    const names = new Array<string>(end - start);
    if (plain !== null && transient) textRange(plain, child as arrow.Data<arrow.Utf8>, start, end - start, names, 0);
    else if (plain !== null) for (let j = start; j < end; j++) names[j - start] = plain.get(j) as string;
    else {
      for (let j = start; j < end; j++) {
        const k = keys[j]!;
        names[j - start] = dictionary![k] ?? (dictionary![k] = dictionaryVector!.get(k) as string);
      }
    }
    out[i] = names;
  }
  return out;
}

/**
 * The entries of dictionaries decoded so far (holes where none was asked for yet): a row group's
 * column that the query cache keeps is read again by later queries, and its dictionary
 * (thousands of pod names) need not be decoded again. Keyed by the dictionary vector, so an entry
 * lives exactly as long as its table.
 */
const decodedDictionaries = new WeakMap<arrow.Vector, Array<string | undefined>>();

function dictionaryText(dictionary: arrow.Vector): Array<string | undefined> {
  let text = decodedDictionaries.get(dictionary);
  if (text === undefined) {
    text = new Array<string | undefined>(dictionary.length);
    decodedDictionaries.set(dictionary, text);
  }
  return text;
}

/** Every string of a utf8 vector (a dictionary), as toArray() gives them, for transient use (textRange). */
function allText(vector: arrow.Vector): string[] {
  if (vector.data.length !== 1) return vector.toArray() as string[];
  const out = new Array<string>(vector.length);
  textRange(vector, vector.data[0] as arrow.Data<arrow.Utf8>, 0, vector.length, out, 0);
  return out;
}

/**
 * The strings of entries [first, first + count) of a plain utf8 vector of one chunk (`data`), into
 * `into` from `at`, null where an entry is null, as vector.get gives them. When those entries'
 * bytes are all ASCII (ids and Kubernetes names nearly always are) it decodes them in one call and
 * slices the result, instead of one decode per entry: 5-10 times less work for short strings. The
 * slices share the decoded text, so this is for strings that do not outlive the caller's work
 * (an insert's encoding, a merge's row group), not for values handed out.
 */
function textRange(vector: arrow.Vector, data: arrow.Data<arrow.Utf8>, first: number, count: number, into: Array<string | null>, at: number): void {
  // Plain utf8 only (a dictionary column, large utf8 or utf8 view is read per entry).
  const plain = arrow.DataType.isUtf8(data.type);
  const offsets = data.valueOffsets;
  const start = plain ? offsets[first]! : 0;
  const bytes = plain ? data.values.subarray(start, offsets[first + count]!) : null;
  if (bytes === null || !isAscii(bytes)) {
    for (let i = 0; i < count; i++) into[at + i] = vector.get(first + i) as string | null;
    return;
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const nulls = data.nullCount > 0;
  for (let i = 0; i < count; i++) {
    into[at + i] = nulls && !data.getValid(first + i) ? null : text.slice(offsets[first + i]! - start, offsets[first + i + 1]! - start);
  }
}

const isText = (t: arrow.DataType): boolean =>
  arrow.DataType.isUtf8(t) ||
  arrow.DataType.isLargeUtf8(t) ||
  (arrow.DataType.isDictionary(t) && (arrow.DataType.isUtf8(t.dictionary) || arrow.DataType.isLargeUtf8(t.dictionary)));
// Half floats are refused: apache-arrow holds them as their 16-bit patterns, not as numbers.
const isNumber = (t: arrow.DataType): boolean => arrow.DataType.isInt(t) || (arrow.DataType.isFloat(t) && t.precision !== arrow.Precision.HALF);

/** The columns every row must have a value in (a null pattern is an empty one, a null resource list an absent type). */
const REQUIRED_COLUMNS = new Set(REQUIRED_FIELDS);
/** The whole-number columns: the range every value must fall in before it is narrowed to its column's width. */
const WHOLE_NUMBERS: Record<string, [number, number]> = { severity: [1, 5], eventCount: [0, MAX_INT32], timeWindow: [0, MAX_INT32] };

/**
 * Checks the columns of a caller's table (insertArrow) before they are read: each known column of
 * a type its values can be read from, no null in a required column, and the whole-number columns
 * whole and in range before they are narrowed (an int32 severity of 257 would otherwise wrap to
 * 1, a float 2.5 to 2, a utf8 timestamp read as its bytes). Columns the store does not know are
 * left alone; the embedding's type is checked by the caller. Null when every column is fine.
 */
export function arrowTableProblem(table: arrow.Table): ColumnProblem | null {
  for (const field of table.schema.fields) {
    const name = field.name;
    const t = field.type as arrow.DataType;
    let expected: string | null = null;
    if (name === 'timestamp') {
      if (arrow.DataType.isTimestamp(t)) {
        if (t.unit !== arrow.TimeUnit.MILLISECOND) expected = `a timestamp[ms] column (this one is in ${arrow.TimeUnit[t.unit]!.toLowerCase()}s)`;
      } else if (!isNumber(t)) expected = 'a timestamp[ms] column, or int64 / float64 epoch milliseconds';
    } else if (name === 'id' || name === 'type') {
      if (!isText(t)) expected = 'a utf8 (or dictionary of utf8) column';
    } else if (name === 'severity' || name === 'eventCount' || name === 'timeWindow' || name === 'confidence') {
      if (!isNumber(t)) expected = 'a numeric column (int, float32 or float64)';
    } else if (name === 'pattern') {
      if (!arrow.DataType.isBinary(t)) expected = 'a binary column';
    } else if (name.startsWith(RESOURCE_PREFIX)) {
      const item = arrow.DataType.isList(t) ? (t.children[0]?.type as arrow.DataType | undefined) : undefined;
      if (item === undefined || !isText(item)) expected = 'a list of utf8 (or of dictionary of utf8) column';
    }
    if (expected !== null) return { index: -1, field: name, expected: `${expected}, got ${String(t)}` };
    const required = REQUIRED_COLUMNS.has(name);
    const range = WHOLE_NUMBERS[name];
    if (!required && range === undefined) continue;
    let row = 0;
    for (const data of table.getChild(name)!.data) {
      if (required && data.nullCount > 0) {
        for (let i = 0; i < data.length; i++) if (!data.getValid(i)) return { index: row + i, field: name, expected: 'a value (the column holds a null here)' };
      }
      // The embedding's values too: a null inside a vector would be stored as whatever bytes it covers.
      const values = name === 'embedding' ? data.children[0] : undefined;
      if (values !== undefined && values.nullCount > 0) {
        const width = values.length / Math.max(data.length, 1);
        for (let v = 0; v < values.length; v++) {
          if (!values.getValid(v)) return { index: row + Math.floor(v / width), field: name, expected: 'finite float32 values (the vector holds a null)' };
        }
      }
      if (range !== undefined) {
        const values = data.values as ArrayLike<number | bigint>;
        for (let i = 0; i < data.length; i++) {
          const v = Number(values[i]!);
          if (!(Number.isInteger(v) && v >= range[0] && v <= range[1]))
            return { index: row + i, field: name, expected: `a whole number from ${range[0]} to ${range[1]}` };
        }
      }
      row += data.length;
    }
  }
  return null;
}
