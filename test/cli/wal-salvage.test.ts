// `tapio-storage wal salvage`, run as a user runs it (a child process of lib/cli/main.js), on
// both paths: it refuses a log with nothing to salvage, sets damage aside for good, and after it
// verify, dump and a strict open accept what it set aside.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libPath } from '../built-lib.js';

const cli = libPath('cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-salvage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const SIZE = 104; // footprint 120 bytes
const at = (k: number): number => 4096 + (k - 1) * 120;
const text = (k: number): string => `record ${k} `.padEnd(SIZE, '.');

describe.each(paths)('tapio-storage wal salvage (%s path)', (path) => {
  const env = path === 'typescript' ? { TAPIO_NATIVE: '0' } : {};
  function run(args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  it('refuses a clean log, sets damage aside for good, and verify, dump and a strict open accept it', async () => {
    const dataDir = join(root, path);
    const config = join(root, `${path}.yaml`);
    writeFileSync(config, `dataDir: ${dataDir}\nstorage:\n  transit:\n    segment_size: 1MiB\n    ring_capacity: 1MiB\n`);
    const open = (): Promise<TapioStorage> => TapioStorage.open(config, { transit: { path } });
    let storage = await open();
    await storage.transit.append(Array.from({ length: 50 }, (_, i) => text(i + 1)));
    await storage.close();

    const clean = run(['--config', config, 'wal', 'salvage']);
    expect(clean.code).toBe(1);
    expect(clean.err).toMatch(/^error ERR_NOTHING_TO_SALVAGE: nothing to salvage in /);

    const segment = join(dataDir, 'wal', '0000000000000001.wal');
    const fd = openSync(segment, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at(20) + 40);
    writeSync(fd, Uint8Array.of(b[0]! ^ 0xff), 0, 1, at(20) + 40);
    closeSync(fd);

    const damaged = run(['--config', config, 'wal', 'verify']);
    expect(damaged.code).toBe(1);
    expect(damaged.out).toContain('damaged: run `tapio-storage wal salvage`');
    expect(run(['--config', config, 'wal', 'dump']).err).toMatch(/ERR_WAL_CORRUPT.*tapio-storage wal salvage/);

    const salvage = run(['--config', config, 'wal', 'salvage']);
    expect(salvage.err).toBe('');
    expect(salvage.code).toBe(0);
    expect(salvage.out).toContain('set aside 1 stretch(es)');
    expect(salvage.out).toContain(`0000000000000001.wal at byte offset ${at(20)} (120 bytes)`);
    expect(salvage.out).toContain('lost sequence numbers: 20\n');

    const verify = run(['--config', config, 'wal', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.out).toContain(`set aside by salvage: 0000000000000001.wal bytes ${at(20)}..${at(21)}, seq 20..20 lost (accepted)`);
    expect(verify.out).toMatch(/\nok\n$/);
    const dump = run(['--config', config, 'wal', 'dump', '--limit', '100']);
    expect(dump.code).toBe(0);
    const seqs = dump.out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1).filter((k) => k !== 20));
    const stats = run(['--config', config, '--json', 'wal', 'stats']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out)).toMatchObject({ ok: true, firstSeq: 1, lastSeq: 50, records: 49 });

    const again = run(['--config', config, 'wal', 'salvage']);
    expect(again.code).toBe(1);
    expect(again.err).toContain('beyond the 1 stretch(es) already set aside');

    storage = await open();
    try {
      expect(storage.transit.recovery.setAside).toEqual([{ segment: '0000000000000001.wal', offset: at(20), bytes: 120, lostFrom: 20, lostCount: 1 }]);
      expect((await storage.transit.append([text(51)])).firstSeq).toBe(51);
    } finally {
      await storage.close();
    }
  });
});
