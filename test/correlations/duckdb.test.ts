// Other engines read the store: DuckDB (read_parquet over the data directory's segment files,
// union_by_name for segments with different resource columns) gives the same count, per-type
// counts, severity sum and resource values on each row as the store itself.
import { join } from 'node:path';

import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { FindingGenerator } from '../../src/correlations/generator.js';
import { newDataDir, paths } from './helpers.js';

describe.each(paths)('DuckDB reads the segments written on the %s path', (path) => {
  it('gives the same count, per-type counts, severity sum, embeddings and resources as the store', async () => {
    const dataDir = newDataDir();
    const s = await TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: 32 } } }, { correlations: { path } });
    const gen = new FindingGenerator({ seed: 11, embeddingDim: 32, ratePerSecond: 0.05 }); // several days
    const findings = gen.next(6000);
    // One batch without nodes at all, so segments differ in their resource columns.
    for (const f of findings.slice(0, 500)) delete f.resources!.nodes;
    for (let i = 0; i < findings.length; i += 1000) {
      await s.correlations.insert(findings.slice(i, i + 1000));
      await s.correlations.flush();
    }
    const records = await s.correlations.query();
    const glob = join(s.correlations.dir, 'segments', '*', '*.parquet');
    await s.close();

    const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', threads: '1' });
    const c = await db.connect();
    const rows = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjectsJson();
    const from = `read_parquet('${glob}', union_by_name = true, hive_partitioning = true)`;
    const [total] = await rows(`select count(*)::INTEGER n, sum(severity)::INTEGER sev, count(distinct "day")::INTEGER ndays from ${from}`);
    const types = await rows(`select type, count(*)::INTEGER n from ${from} group by type order by type`);
    const want = new Map<string, number>();
    for (const r of records) want.set(r.type, (want.get(r.type) ?? 0) + 1);
    expect(total).toEqual({
      n: records.length,
      sev: records.reduce((n, r) => n + r.severity, 0),
      ndays: new Set(records.map((r) => r.timestamp.toISOString().slice(0, 10))).size,
    });
    expect(types).toEqual([...want].sort().map(([type, n]) => ({ type, n })));
    // Every value on its row: resources (including a column some segments lack) and embeddings.
    const sample = records.filter((_, i) => i % 97 === 0);
    const got = await rows(
      `select id, epoch_ms(timestamp)::BIGINT::VARCHAR ts, "resources.pods" pods, "resources.nodes" nodes, embedding[1] e1, embedding[32] e32 from ${from} where id in (${sample.map((r) => `'${r.id}'`).join(', ')}) order by timestamp, id`,
    );
    const byId = new Map(got.map((g) => [g.id as string, g]));
    for (const r of sample) {
      const g = byId.get(r.id)!;
      expect(g, r.id).toBeDefined();
      expect(Number(g.ts)).toBe(r.timestamp.getTime());
      expect(g.pods).toEqual(r.resources.pods ?? null);
      expect(g.nodes).toEqual(r.resources.nodes ?? null);
      expect(g.e1).toBeCloseTo(r.embedding[0]!, 6);
      expect(g.e32).toBeCloseTo(r.embedding[31]!, 6);
    }
    c.closeSync();
  }, 120_000);
});
