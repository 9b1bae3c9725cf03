// Reading Arrow tables into batch columns: the transient form (one decode of a column's ASCII
// text, sliced per row; views of binary values) must give exactly what the per-row form gives.
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { arrowToColumns, columnsToArrow } from '../../src/correlations/arrow-columns.js';
import { columnsFromFindings, type BatchColumns } from '../../src/correlations/batch-columns.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { newDataDir, paths } from './helpers.js';

const TYPES = ['anomaly', 'attack', 'misconfiguration'];
const DIM = 4;

/** The columns as plain values (arrays of strings and numbers), for a deep comparison. */
function plainColumns(c: BatchColumns) {
  return {
    rows: c.rows,
    timestamp: [...c.timestamp],
    id: [...c.id],
    type: [...c.type],
    severity: [...c.severity],
    pattern: c.pattern.map((p) => [...p]),
    resources: [...c.resources].map(([k, v]) => [k, v.map((names) => (names === null ? null : [...names]))]),
    embedding: [...c.embedding],
  };
}

function utf8List(values: Array<string[] | null>): arrow.Vector {
  const builder = arrow.makeBuilder({ type: new arrow.List(new arrow.Field('item', new arrow.Utf8(), true)), nullValues: [null] });
  for (const v of values) builder.append(v as never);
  return builder.finish().toVector();
}

/** A caller's table: plain utf8 ids and types, list<utf8> resources, binary patterns. */
function callerTable(ids: Array<string | null>, names: Array<string[] | null>, types: string[]): arrow.Table {
  const rows = ids.length;
  const patterns = arrow.makeBuilder({ type: new arrow.Binary() });
  for (let i = 0; i < rows; i++) patterns.append(Uint8Array.of(i, i + 1, 0xff));
  return new arrow.Table({
    timestamp: arrow.makeVector(Float64Array.from({ length: rows }, (_, i) => 1_700_000_000_000 + i)),
    id: arrow.vectorFromArray(ids, new arrow.Utf8()),
    type: arrow.vectorFromArray(types, new arrow.Utf8()),
    severity: arrow.makeVector(Int8Array.from({ length: rows }, (_, i) => 1 + (i % 5))),
    pattern: patterns.finish().toVector(),
    'resources.pods': utf8List(names),
  });
}

describe('Arrow tables to columns, transient text', () => {
  it('gives what the per-row reading gives: ASCII and other text, nulls, empty lists, sliced and chunked tables', () => {
    const ids = ['a-1', 'é-2', null, 'pod-😀', 'plain-id-of-some-length-5', '', 'x\u0001y'];
    const names: Array<string[] | null> = [['web-1', 'web-2'], null, [], ['ünï'], ['db-0'], ['a', 'b', 'c'], null];
    const types = ['attack', 'anomaly', 'nope', 'misconfiguration', 'attack', 'anomaly', 'attack'];
    const ascii = callerTable(
      ids.map((id, i) => (id === null ? null : `id-${i}`)),
      names.map((n) => (n === null ? null : n.map((x, j) => `n${j}-${x.length}`))),
      types,
    );
    const mixed = callerTable(ids, names, types);
    const tables = [
      ascii,
      mixed,
      ascii.slice(2, 6), // an offset into every column's buffers
      mixed.slice(1, 5),
      ascii.concat(mixed), // two chunks
      new arrow.Table(ascii.batches[0]!.slice(3, 7)),
    ];
    for (const table of tables) {
      const perRow = plainColumns(arrowToColumns(table, DIM, TYPES));
      const transient = plainColumns(arrowToColumns(table, DIM, TYPES, null, false, true));
      expect(transient).toEqual(perRow);
      expect(perRow.rows).toBe(table.numRows);
    }
    // The per-row reading itself, once, as the values were given.
    const whole = arrowToColumns(mixed, DIM, TYPES, null, false, true);
    expect(whole.id).toEqual(ids);
    expect(whole.resources.get('pods')).toEqual(names);
    expect([...whole.type]).toEqual([1, 0, 255, 2, 1, 0, 1]);
  });

  it('reads dictionary-encoded columns (segments, query results) the same either way', () => {
    const gen = new FindingGenerator({ seed: 5, embeddingDim: DIM });
    const rules = { types: TYPES, embeddingDim: DIM };
    const table = columnsToArrow(columnsFromFindings('test', gen.next(300), rules), TYPES);
    for (const t of [table, table.slice(17, 250)]) {
      expect(plainColumns(arrowToColumns(t, DIM, TYPES, null, false, true))).toEqual(plainColumns(arrowToColumns(t, DIM, TYPES)));
    }
  });
});

/** A caller's table with the columns callerTable leaves out. */
function withEmbedding(t: arrow.Table): arrow.Table {
  return t.assign(
    new arrow.Table({
      embedding: arrow.makeVector(
        arrow.makeData({
          type: new arrow.FixedSizeList(DIM, new arrow.Field('item', new arrow.Float32(), false)),
          length: t.numRows,
          child: arrow.makeData({ type: new arrow.Float32(), length: t.numRows * DIM, data: new Float32Array(t.numRows * DIM).fill(0.5) }),
        }),
      ),
      confidence: arrow.makeVector(new Float32Array(t.numRows).fill(0.5)),
      eventCount: arrow.makeVector(new Int32Array(t.numRows).fill(3)),
      timeWindow: arrow.makeVector(new Int32Array(t.numRows).fill(60)),
    }),
  );
}

describe.each(paths)('insertArrow of a caller table on the %s path', (path) => {
  it('stores text and patterns as given, refuses control characters, and keeps nothing of the caller’s buffers', async () => {
    const s = await TapioStorage.open({ dataDir: newDataDir(), storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    const good = withEmbedding(callerTable(['a-1', 'é-2', 'pod-😀'], [['web-1', 'web-2'], null, ['ünï']], ['attack', 'anomaly', 'attack']));
    expect(await s.correlations.insertArrow(good)).toEqual({ inserted: 3 });
    // The caller reuses its buffers after the insert: what was stored does not change.
    const patternBytes = good.getChild('pattern')!.data[0]!.values;
    patternBytes.fill(0);
    const got = (await s.correlations.query()).sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
    expect(got.map((r) => r.id)).toEqual(['a-1', 'é-2', 'pod-😀']);
    expect(got.map((r) => r.resources)).toEqual([{ pods: ['web-1', 'web-2'] }, {}, { pods: ['ünï'] }]);
    expect(got.map((r) => [...r.pattern])).toEqual([
      [0, 1, 0xff],
      [1, 2, 0xff],
      [2, 3, 0xff],
    ]);
    const control = withEmbedding(callerTable(['ok', 'b\u0001d'], [['web'], ['x']], ['attack', 'attack']));
    await expect(s.correlations.insertArrow(control)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: /record 1 \(id\)/ });
    const badName = withEmbedding(callerTable(['ok2', 'ok3'], [['web'], ['x\u007f']], ['attack', 'attack']));
    await expect(s.correlations.insertArrow(badName)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: /record 1 \(resources/ });
    expect((await s.correlations.query()).length).toBe(3);
    // A slice of a table (its buffers cut, its offset kept for the validity bitmap) is stored with
    // the values of its own rows: once refused with a RangeError, or stored shifted.
    const gen = new FindingGenerator({ seed: 9, embeddingDim: DIM });
    const t = await s.correlations.insert(gen.next(50)).then(() => s.correlations.query({ format: 'arrow' }));
    const all = await s.correlations.query();
    const other = await TapioStorage.open({ dataDir: newDataDir(), storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    expect(await other.correlations.insertArrow(t.slice(11, 37))).toEqual({ inserted: 26 });
    expect(await other.correlations.insertArrow(t.batches[0]!.slice(40, 45))).toEqual({ inserted: 5 });
    const back = await other.correlations.query();
    expect(back).toEqual([...all.slice(11, 37), ...all.slice(40, 45)]);
    await other.close();
    await s.close();
  });

  it('refuses a column whose values it cannot store as they are (a type, a null, a whole number that would wrap or be cut), naming it; stores nothing', async () => {
    const s = await TapioStorage.open({ dataDir: newDataDir(), storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    const good = withEmbedding(callerTable(['a', 'b'], [['web'], null], ['attack', 'anomaly']));
    const change = (columns: Record<string, arrow.Vector>) => good.assign(new arrow.Table(columns));
    const refused: Array<[string, arrow.Table, RegExp]> = [
      [
        'a utf8 timestamp (read as its bytes before)',
        change({ timestamp: arrow.vectorFromArray(['x', 'y'], new arrow.Utf8()) }),
        /column timestamp was refused: expected a timestamp\[ms\] column, or int64/,
      ],
      [
        'a timestamp in seconds',
        change({ timestamp: arrow.vectorFromArray([new Date(1.7e12), new Date(1.7e12 + 1000)], new arrow.TimestampSecond()) }),
        /column timestamp .*in seconds/,
      ],
      [
        'an int32 severity of 257 (wrapped to 1 before)',
        change({ severity: arrow.makeVector(Int32Array.of(2, 257)) }),
        /record 1 \(severity\) .*whole number from 1 to 5/,
      ],
      ['a float severity of 2.5 (cut to 2 before)', change({ severity: arrow.makeVector(Float64Array.of(2.5, 3)) }), /record 0 \(severity\)/],
      ['a float timeWindow of 1.5', change({ timeWindow: arrow.makeVector(Float64Array.of(60, 1.5)) }), /record 1 \(timeWindow\)/],
      ['an int64 eventCount past int32', change({ eventCount: arrow.makeVector(BigInt64Array.of(1n, 2n ** 31n)) }), /record 1 \(eventCount\) .*2147483647/],
      ['a null severity', change({ severity: arrow.vectorFromArray([2, null], new arrow.Int8()) }), /record 1 \(severity\) .*null/],
      ['a null id', change({ id: arrow.vectorFromArray(['a', null], new arrow.Utf8()) }), /record 1 \(id\) .*null/],
      [
        'a resource column that is not a list (a bare TypeError before)',
        change({ 'resources.pods': arrow.vectorFromArray(['a', 'b'], new arrow.Utf8()) }),
        /column resources.pods .*list of utf8/,
      ],
      ['a utf8 pattern', change({ pattern: arrow.vectorFromArray(['a', 'b'], new arrow.Utf8()) }), /column pattern .*binary/],
      [
        'a half-float timeWindow (read as its bit patterns before)',
        change({ timeWindow: arrow.vectorFromArray([60, 30], new arrow.Float16()) }),
        /column timeWindow .*float32 or float64/,
      ],
      [
        'a null inside an embedding',
        change({
          embedding: arrow.makeVector(
            arrow.makeData({
              type: new arrow.FixedSizeList(DIM, new arrow.Field('item', new arrow.Float32(), true)),
              length: 2,
              child: arrow.makeData({
                type: new arrow.Float32(),
                length: 2 * DIM,
                nullCount: 1,
                nullBitmap: Uint8Array.of(0b1110_1111),
                data: new Float32Array(2 * DIM).fill(0.5),
              }),
            }),
          ),
        }),
        /record 1 \(embedding\) .*null/,
      ],
    ];
    for (const [what, table, message] of refused) {
      await expect(s.correlations.insertArrow(table), what).rejects.toMatchObject({ code: 'ERR_VALIDATION', message });
    }
    expect(await s.correlations.query()).toEqual([]);
    // Wider or other numeric types are read as numbers when every value fits; a null pattern is an empty one.
    const nullPattern = arrow.makeBuilder({ type: new arrow.Binary(), nullValues: [null] });
    nullPattern.append(Uint8Array.of(7));
    nullPattern.append(null);
    const wide = change({
      timestamp: arrow.makeVector(BigInt64Array.of(1_700_000_000_000n, 1_700_000_000_001n)),
      severity: arrow.makeVector(Float64Array.of(5, 1)),
      eventCount: arrow.makeVector(BigInt64Array.of(0n, 2n ** 31n - 1n)),
      timeWindow: arrow.makeVector(Uint16Array.of(65_535, 0)),
      pattern: nullPattern.finish().toVector(),
    });
    expect(await s.correlations.insertArrow(wide)).toEqual({ inserted: 2 });
    const got = await s.correlations.query();
    expect(got.map((r) => [r.timestamp.getTime(), r.severity, r.eventCount, r.timeWindow, [...r.pattern]])).toEqual([
      [1_700_000_000_000, 5, 0, 65_535, [7]],
      [1_700_000_000_001, 1, 2 ** 31 - 1, 0, []],
    ]);
    await s.close();
  });
});
