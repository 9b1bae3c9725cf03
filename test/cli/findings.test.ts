// The correlation store's commands, run as a user runs them: gen writes JSON lines that import
// loads; stats and verify read the manifest and the segments; a damaged segment makes verify
// exit 1 naming the file; a bad line refuses its batch naming the line, and nothing is stored.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { libPath } from '../built-lib.js';

const cli = libPath('cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-findings-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', ...(input === undefined ? {} : { input }), maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe.each([
  ['native', '1'],
  ['typescript', '0'],
])('findings commands (%s WAL)', (_, native) => {
  it('gen, import, stats and verify; verify exits 1 naming a damaged segment', () => {
    process.env.TAPIO_NATIVE = native;
    const dataDir = join(root, `d${native}`);
    expect(run(['--data-dir', dataDir, 'init']).code).toBe(0);
    const lines = run(['--data-dir', dataDir, 'gen', '--count', '3000', '--seed', '4']);
    expect(lines.code).toBe(0);
    expect(lines.out.trim().split('\n')).toHaveLength(3000);
    expect(run(['--data-dir', dataDir, 'gen', '--count', '3000', '--seed', '4']).out).toBe(lines.out); // seeded
    const file = join(root, `f${native}.jsonl`);
    writeFileSync(file, lines.out);
    const imported = run(['--data-dir', dataDir, '--json', 'findings', 'import', file]);
    expect(imported.code, imported.err).toBe(0);
    expect(JSON.parse(imported.out)).toMatchObject({ imported: 3000, lines: 3000 });
    const stats = JSON.parse(run(['--data-dir', dataDir, '--json', 'findings', 'stats']).out) as {
      rows: number;
      levels: Array<{ level: number; rows: number }>;
    };
    expect(stats.rows).toBe(3000);
    expect(stats.levels).toMatchObject([{ level: 0, rows: 3000 }]);
    const ok = run(['--data-dir', dataDir, 'findings', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/\nok\n$/);
    // Flip one byte in the middle of the segment.
    const manifest = readFileSync(join(dataDir, 'correlations', 'MANIFEST'), 'utf8');
    const segment = /"file":"([^"]+)"/.exec(manifest)![1]!;
    const path = join(dataDir, 'correlations', segment);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(path, bytes);
    const bad = run(['--data-dir', dataDir, 'findings', 'verify']);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`DAMAGE ${path}: CRC32C`);
  });

  it('import refuses a bad line with the batch it is in, naming the line, and stores nothing of that batch', () => {
    process.env.TAPIO_NATIVE = native;
    const dataDir = join(root, `e${native}`);
    expect(run(['--data-dir', dataDir, 'init']).code).toBe(0);
    const good = run(['--data-dir', dataDir, 'gen', '--count', '5']).out.trim().split('\n');
    const broken = JSON.parse(good[3]!) as Record<string, unknown>;
    broken.severity = 9;
    const input = [...good.slice(0, 3), JSON.stringify(broken), good[4]].join('\n');
    const r = run(['--data-dir', dataDir, 'findings', 'import', '-'], input);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error ERR_VALIDATION: standard input line 4: correlations.insert: record 3 was refused \(severity: a whole number from 1 to 5\)/);
    const notJson = run(['--data-dir', dataDir, 'findings', 'import', '-'], `${good[0]}\n{oops\n`);
    expect(notJson.err).toMatch(/^error ERR_VALIDATION: standard input line 2 is not JSON/);
    expect(JSON.parse(run(['--data-dir', dataDir, '--json', 'findings', 'stats']).out)).toMatchObject({ rows: 0 });
    const noStore = run(['--data-dir', join(root, 'nothing-here'), 'findings', 'stats']);
    expect(noStore.code).toBe(1);
    expect(noStore.err).toMatch(/^error ERR_NO_STORE/);
  });
});

// The command's wiring (the merge itself is tested on both paths in test/correlations/compaction.test.ts).
describe('findings compact', () => {
  it('compact runs what the sizes call for, and with --all merges each day into one segment, keeping every finding', () => {
    delete process.env.TAPIO_NATIVE;
    const dataDir = join(root, 'compact');
    expect(run(['--data-dir', dataDir, 'init']).code).toBe(0);
    // Two imports, two flushes at close: L0 segments over the same days.
    const lines = run(['--data-dir', dataDir, 'gen', '--count', '1000', '--seed', '1']).out.trim().split('\n');
    for (const [i, part] of [lines.filter((_, j) => j % 2 === 0), lines.filter((_, j) => j % 2 === 1)].entries()) {
      const file = join(root, `compact-${i}.jsonl`);
      writeFileSync(file, `${part.join('\n')}\n`);
      expect(run(['--data-dir', dataDir, 'findings', 'import', file]).code).toBe(0);
    }
    const stats = () =>
      JSON.parse(run(['--data-dir', dataDir, '--json', 'findings', 'stats']).out) as {
        rows: number;
        segments: number;
        levels: Array<{ level: number; rows: number }>;
      };
    const before = stats();
    expect(before.rows).toBe(1000);
    const policy = run(['--data-dir', dataDir, '--json', 'findings', 'compact']);
    expect(policy.code, policy.err).toBe(0);
    expect(JSON.parse(policy.out)).toMatchObject({ compactions: 0, segmentsBefore: before.segments, segmentsAfter: before.segments });
    const all = run(['--data-dir', dataDir, '--json', 'findings', 'compact', '--all']);
    expect(all.code, all.err).toBe(0);
    const result = JSON.parse(all.out) as { compactions: number; segmentsBefore: number; segmentsAfter: number };
    expect(result.compactions).toBeGreaterThan(0);
    expect(result.segmentsAfter).toBeLessThan(result.segmentsBefore);
    const after = stats();
    expect(after.rows).toBe(1000);
    expect(after.segments).toBe(result.segmentsAfter);
    expect(after.levels.filter((l) => l.level === 0 && l.rows > 0)).toEqual([]);
    expect(run(['--data-dir', dataDir, 'findings', 'verify']).code).toBe(0);
  });
});
