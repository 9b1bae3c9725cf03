// `tapio-storage wal stats` answers from the segment headers and the newest segment, on a WAL
// written by either path, beside the store that has it open: it reads a bounded number of bytes
// (counted, not timed) and agrees with `wal verify`, which reads everything.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libPath } from '../built-lib.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const cli = libPath('cli', 'main.js');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cliJson(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [cli, '--json', ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe.each(paths)('wal stats on a WAL of the %s path', (path) => {
  it('reads two headers and the newest segment only, and agrees with wal verify, while the store is open', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-walstats-'));
    dirs.push(dataDir);
    const wal = join(dataDir, 'wal');
    const storage = await TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '4MiB' }, metadata: { in_memory: true } } },
      { transit: { path } },
    );
    try {
      for (let i = 0; i < 20; i++) await storage.transit.append(Array.from({ length: 500 }, (_, j) => `record ${i}-${j} `.padEnd(900, '.')));
      const segments = readdirSync(wal).filter((n) => n.endsWith('.wal'));
      expect(segments.length).toBeGreaterThan(8);
      const stats = cliJson(['wal', 'stats', '--path', wal]);
      const verify = cliJson(['wal', 'verify', '--path', wal]);
      expect(stats).toMatchObject({ segments: segments.length, records: 10_000, firstSeq: 1, lastSeq: 10_000, ok: true });
      expect(verify).toMatchObject({ records: 10_000, firstSeq: 1, lastSeq: 10_000, ok: true });
      // At most the newest segment and two headers; verify reads every segment.
      const newest = statSync(join(wal, segments.sort().at(-1)!)).size;
      expect(stats.bytesScanned as number).toBeLessThanOrEqual(newest + 2 * 64);
      expect(verify.bytesScanned as number).toBeGreaterThan(5 * newest);
    } finally {
      await storage.close();
    }
  });
});
