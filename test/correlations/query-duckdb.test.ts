// The query layer against an oracle: random time ranges, selectors and aggregations over generated
// findings give the rows and groups DuckDB gives for the equivalent SQL over the same Parquet files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { paths } from './helpers.js';

const DIM = 8;
const START = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;

/** One requirement as selector text and as the SQL that means the same over the segment columns. */
type Req = { text: string; sql: string };

const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
const list = (type: string) => `"resources.${type}"`;

function resourceReq(type: string, op: string, values: string[]): Req {
  const col = list(type);
  const any = `coalesce(list_has_any(${col}, [${values.map(q).join(', ')}]), false)`;
  switch (op) {
    case '=':
      return { text: `${type}=${values[0]}`, sql: any };
    case '!=':
      return { text: `${type}!=${values[0]}`, sql: `not ${any}` };
    case 'in':
      return { text: `${type} in (${values.join(',')})`, sql: any };
    case 'notin':
      return { text: `${type} notin (${values.join(',')})`, sql: `not ${any}` };
    case 'exists':
      return { text: type, sql: `coalesce(len(${col}), 0) > 0` };
    case '!':
      return { text: `!${type}`, sql: `coalesce(len(${col}), 0) = 0` };
    default: {
      const re = values[0]!;
      const hit = `coalesce(len(list_filter(${col}, x -> regexp_full_match(x, ${q(re)}))), 0) > 0`;
      return op === '=~' ? { text: `${type}=~"${re}"`, sql: hit } : { text: `${type}!~"${re}"`, sql: `not (${hit})` };
    }
  }
}

describe.each(paths)('queries agree with DuckDB over the same Parquet files on the %s path', (path) => {
  let s: TapioStorage;
  let c: DuckDBConnection;
  let names: { pods: string[]; nodes: string[]; namespaces: string[] };
  let table: string;
  let dataDir: string;

  beforeAll(async () => {
    // One directory for the whole suite (newDataDir's go after each test).
    dataDir = mkdtempSync(join(tmpdir(), 'tapio-oracle-'));
    s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });
    const gen = new FindingGenerator({ seed: 33, embeddingDim: DIM, ratePerSecond: 0.05, start: START, pods: 30, nodes: 5, namespaces: 4 });
    const findings = gen.next(8000);
    for (let i = 0; i < findings.length; i += 1000) {
      await s.correlations.insert(findings.slice(i, i + 1000));
      await s.correlations.flush();
    }
    const count = (xs: string[]) => {
      const n = new Map<string, number>();
      for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1);
      return [...n].sort((a, b) => b[1] - a[1]).map(([x]) => x);
    };
    names = {
      pods: count(findings.flatMap((f) => f.resources?.pods ?? [])),
      nodes: count(findings.flatMap((f) => f.resources?.nodes ?? [])),
      namespaces: count(findings.flatMap((f) => f.resources?.namespaces ?? [])),
    };
    const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', threads: '1' });
    c = await db.connect();
    table = `read_parquet('${join(s.correlations.dir, 'segments', '*', '*.parquet')}', union_by_name = true, hive_partitioning = true)`;
  }, 120_000);
  afterAll(async () => {
    c?.closeSync();
    await s?.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  const rows = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjectsJson();

  function reqArb(): fc.Arbitrary<Req> {
    const pick = (xs: string[]) => fc.constantFrom(...xs.slice(0, 4), xs.at(-1)!, 'absent-name');
    return fc.oneof(
      fc.tuple(fc.constantFrom('=', '!='), fc.constantFrom('anomaly', 'attack', 'misconfiguration')).map(([op, v]) => ({
        text: `type${op}${v}`,
        sql: `type ${op === '=' ? '=' : '<>'} ${q(v)}`,
      })),
      fc.tuple(fc.constantFrom('=', '!=', '>', '<', '>=', '<='), fc.integer({ min: 0, max: 6 })).map(([op, v]) => ({
        text: `severity${op}${v}`,
        sql: `severity ${op === '!=' ? '<>' : op} ${v}`,
      })),
      fc.tuple(fc.constantFrom('in', 'notin'), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 })).map(([op, v]) => ({
        text: `severity ${op} (${v.join(',')})`,
        sql: `severity ${op === 'in' ? 'in' : 'not in'} (${v.join(', ')})`,
      })),
      fc
        .tuple(fc.constantFrom('pods', 'nodes', 'namespaces'), fc.constantFrom('=', '!=', 'in', 'notin'))
        .chain(([type, op]) =>
          (op === 'in' || op === 'notin'
            ? fc.array(pick(names[type as keyof typeof names]), { minLength: 1, maxLength: 3 })
            : pick(names[type as keyof typeof names]).map((v) => [v])
          ).map((values) => resourceReq(type, op, values)),
        ),
      fc.tuple(fc.constantFrom('nodes', 'deployments'), fc.constantFrom('exists', '!')).map(([type, op]) => resourceReq(type, op, [])),
      fc
        .tuple(fc.constantFrom('nodes', 'pods'), fc.constantFrom('=~', '!~'), fc.constantFrom('node-00[0-2].*', '.*[a-f]-.*', '[b-k].*', 'x?y*'))
        .map(([type, op, re]) => resourceReq(type, op, [re])),
    );
  }

  const timeArb = fc.tuple(fc.integer({ min: START - 3_600_000, max: START + 2 * 86_400_000 }), fc.integer({ min: 0, max: 2 * 86_400_000 }));

  it('gives the rows DuckDB gives for random selectors and time ranges', async () => {
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(reqArb(), { maxLength: 3 }), timeArb, async (reqs, [from, span]) => {
        const to = from + span;
        const selector = reqs.map((r) => r.text).join(',');
        const where = [`epoch_ms(timestamp) >= ${from}`, `epoch_ms(timestamp) < ${to}`, ...reqs.map((r) => `(${r.sql})`)].join(' and ');
        const want = (await rows(`select id from ${table} where ${where} order by id`)).map((r) => r.id as string);
        const got = (await s.correlations.query({ selector, from, to, fields: ['id'] })).map((r) => r.id).sort();
        expect(got, `${selector} [${from}, ${to})`).toEqual(want.sort());
        if (want.length > 0) nonEmpty++;
      }),
      { numRuns: 60, seed: 4 },
    );
    // Most runs compare rows, not two empty answers.
    expect(nonEmpty).toBeGreaterThan(30);
  }, 240_000);

  it('gives the groups DuckDB gives for random aggregations', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(reqArb(), { maxLength: 2 }),
        timeArb,
        fc.constantFrom<string[]>(['type'], ['severity'], ['type', 'severity']),
        async (reqs, [from, span], groupBy) => {
          const to = from + span;
          const selector = reqs.map((r) => r.text).join(',');
          const where = [`epoch_ms(timestamp) >= ${from}`, `epoch_ms(timestamp) < ${to}`, ...reqs.map((r) => `(${r.sql})`)].join(' and ');
          const keys = groupBy.join(', ');
          const want = await rows(
            `select ${keys}, count(*)::INTEGER n, avg(confidence)::DOUBLE a, sum(eventCount)::BIGINT::VARCHAR s, max(severity)::INTEGER m from ${table} where ${where} group by ${keys} order by ${keys}`,
          );
          const got = await s.correlations.aggregate({
            selector,
            from,
            to,
            groupBy,
            measures: ['count', 'avg(confidence)', 'sum(eventCount)', 'max(severity)'],
          });
          expect(got.length, selector).toBe(want.length);
          got.forEach((g, i) => {
            const w = want[i]!;
            for (const k of groupBy) expect(g[k], k).toEqual(k === 'severity' ? Number(w[k]) : w[k]);
            expect(g.count).toBe(w.n);
            expect(g['avg(confidence)'] as number).toBeCloseTo(w.a as number, 9);
            expect(g['sum(eventCount)']).toBe(Number(w.s));
            expect(g['max(severity)']).toBe(w.m);
          });
        },
      ),
      { numRuns: 30, seed: 5 },
    );
  }, 240_000);

  it('counts per node name (several per finding) and per hour as DuckDB does with unnest', async () => {
    const got = await s.correlations.aggregate({ groupBy: ['resources.nodes'], bucket: '1h', selector: 'type=attack' });
    const want = await rows(
      `select (epoch_ms(timestamp) // 3600000 * 3600000)::BIGINT::VARCHAR b, n, count(*)::INTEGER c from (
         select timestamp, unnest(case when coalesce(len("resources.nodes"), 0) = 0 then [NULL] else list_distinct("resources.nodes") end) n from ${table} where type = 'attack'
       ) group by all order by b, n nulls last`,
    );
    expect(got.map((g) => [(g.bucket as Date).getTime(), g['resources.nodes'], g.count])).toEqual(want.map((w) => [Number(w.b), w.n ?? null, w.c]));
  }, 60_000);
});
