// The query commands as a user runs them: query (table, JSON lines, Arrow), aggregate, explain and
// similarity by id over imported findings; bad input exits 1 with the error's code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';

import { libPath } from '../built-lib.js';

const cli = libPath('cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-query-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], native: string): { code: number; out: string; err: string; bytes: Buffer } {
  const r = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, TAPIO_NATIVE: native }, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8'), bytes: r.stdout };
}

describe.each([
  ['native', '1'],
  ['typescript', '0'],
])('query commands (%s)', (_, native) => {
  const dataDir = join(root, `d${native}`);
  const jsonLines = (out: string) =>
    out
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('query, aggregate, explain and similarity over imported findings', () => {
    expect(run(['--data-dir', dataDir, 'init'], native).code).toBe(0);
    const gen = run(['--data-dir', dataDir, 'gen', '--count', '2000', '--seed', '9', '--dim', '128'], native);
    const file = join(root, `f${native}.jsonl`);
    writeFileSync(file, gen.out);
    expect(run(['--data-dir', dataDir, 'findings', 'import', file], native).code).toBe(0);

    const attacks = run(['--data-dir', dataDir, 'query', 'type=attack', '--since', '2d', '--format', 'json'], native);
    expect(attacks.code, attacks.err).toBe(0);
    const rows = jsonLines(attacks.out);
    expect(rows.length).toBeGreaterThan(100);
    expect(rows.every((r) => r.type === 'attack')).toBe(true);

    const agg = run(['--data-dir', dataDir, '--json', 'aggregate', '--since', '2d', '--group-by', 'type', '--measures', 'count,avg(confidence)'], native);
    expect(agg.code, agg.err).toBe(0);
    const groups = JSON.parse(agg.out) as Array<{ type: string; count: number }>;
    expect(groups.reduce((n, g) => n + g.count, 0)).toBe(2000);
    expect(groups.find((g) => g.type === 'attack')!.count).toBe(rows.length);

    const table = run(['--data-dir', dataDir, 'aggregate', '--since', '2d', '--group-by', 'severity'], native);
    expect(table.out.split('\n')[0]).toMatch(/^severity\s+count$/);

    const id = rows[0]!.id as string;
    const alike = run(['--data-dir', dataDir, 'query', '--similar-to', id, '-k', '3', '--fields', 'id,type', '--format', 'json'], native);
    expect(alike.code, alike.err).toBe(0);
    const top = jsonLines(alike.out);
    expect(top).toHaveLength(3);
    expect(top[0]).toMatchObject({ id });
    expect(top[0]!.score as number).toBeCloseTo(1, 5);
    expect(Object.keys(top[0]!).sort()).toEqual(['id', 'score', 'timestamp', 'type']);

    const arrow = run(['--data-dir', dataDir, 'query', 'severity>=4', '--since', '2d', '--format', 'arrow'], native);
    expect(arrow.code, arrow.err).toBe(0);
    const t = tableFromIPC(arrow.bytes);
    expect(t.numRows).toBeGreaterThan(0);
    expect([...t.getChild('severity')!].every((s) => (s as number) >= 4)).toBe(true);

    const explain = run(['--data-dir', dataDir, '--json', 'explain', 'type=attack,severity>=3', '--since', '2d'], native);
    expect(explain.code, explain.err).toBe(0);
    expect(JSON.parse(explain.out)).toMatchObject({
      query: expect.stringContaining('selector severity>=3,type=attack'),
      segments: { total: 1 },
      rows: { scanned: 2000 },
    });
    const human = run(['--data-dir', dataDir, 'query', 'type=attack', '--since', '2d', '--limit', '2'], native);
    expect(human.out.split('\n')[0]).toMatch(/^timestamp\s+id\s+type\s+sev\s+conf\s+events\s+resources$/);
    expect(human.out.trim().split('\n')).toHaveLength(3);
  }, 120_000);

  it('refuses bad input with the code and a message that says what to fix', () => {
    const bad = run(['--data-dir', dataDir, 'query', 'pods in (a,b'], native);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('error ERR_SELECTOR_SYNTAX');
    expect(bad.err).toContain('  pods in (a,b\n              ^');
    const threshold = run(['--data-dir', dataDir, 'query', '--threshold', '0.8'], native);
    expect(threshold.code).toBe(1);
    expect(threshold.err).toMatch(/--threshold and -k rank by similarity/);
    const unknown = run(['--data-dir', dataDir, 'query', '--similar-to', 'no-such-id'], native);
    expect(unknown.err).toContain('error ERR_NOT_FOUND');
    const since = run(['--data-dir', dataDir, 'query', '--since', 'yesterday'], native);
    expect(since.err).toContain('error ERR_INVALID_ARGUMENT');
    const measure = run(['--data-dir', dataDir, 'aggregate', '--measures', 'median(confidence)'], native);
    expect(measure.err).toMatch(/unknown measure/);
  }, 60_000);
});
