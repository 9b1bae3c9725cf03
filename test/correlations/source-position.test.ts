// Source positions: insert(findings, { sourceSeq }) stores the position a batch came from in the
// batch's WAL record, so it is durable exactly with the findings; correlations.sourceSeq is where a
// pipeline resumes, through replay, flush, reopen and compaction.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioStorage, type CorrelationInput } from '../../src/index.js';
import { newDataDir, paths } from './helpers.js';

const DIM = 4;
const NOON = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * 3_600_000;

function finding(id: string, at = NOON): CorrelationInput {
  return {
    id,
    timestamp: at,
    type: 'anomaly',
    severity: 2,
    confidence: 0.5,
    eventCount: 3,
    timeWindow: 60,
    resources: { nodes: ['n1'] },
    embedding: [1, 0, 0, 0],
  };
}

describe.each(paths)('source positions on the %s path', (path) => {
  const open = (dataDir: string) => TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });

  it('keeps the highest position through replay, flush and reopen, and stores a position without findings', async () => {
    const dataDir = newDataDir();
    let s = await open(dataDir);
    expect(s.correlations.sourceSeq).toBe(0);
    expect(await s.correlations.insert([finding('a')], { sourceSeq: 10 })).toEqual({ inserted: 1 });
    expect(await s.correlations.insert([], { sourceSeq: 25 })).toEqual({ inserted: 0 });
    expect(s.correlations.sourceSeq).toBe(25);
    // Not closed: the next open replays the WAL (as after a crash).
    const dir = s.config.storage.correlations.path;
    await s.correlations.flush(); // one flush, then one more position in the WAL only
    await s.correlations.insert([finding('b')], { sourceSeq: 30 });
    await s.close();
    const manifest = readFileSync(join(dir, 'MANIFEST'), 'utf8');
    expect(JSON.parse(manifest.slice(0, manifest.lastIndexOf('\ncrc32c '))).sourceSeq).toBe(30);
    s = await open(dataDir);
    expect(s.correlations.sourceSeq).toBe(30);
    expect((await s.correlations.query()).map((r) => r.id)).toEqual(['a', 'b']);
    await s.close();
  });

  it('replays positions from the WAL after an unclean stop, including a position without findings', async () => {
    const dataDir = newDataDir();
    const s = await open(dataDir);
    await s.correlations.insert([finding('a')], { sourceSeq: 7 });
    await s.correlations.flush();
    await s.correlations.insert([finding('b')], { sourceSeq: 8 });
    await s.correlations.insert([], { sourceSeq: 9 });
    // A copy taken while the store is open reads as the directory after a crash would.
    const copy = newDataDir();
    await cp(dataDir, copy, { recursive: true });
    await s.close();
    for (const lock of ['correlations/LOCK', 'correlations/wal/LOCK', 'wal/LOCK']) writeFileSync(join(copy, lock), '');
    const again = await open(copy);
    expect(again.correlations.stats().replayedRows).toBe(1);
    expect(again.correlations.sourceSeq).toBe(9);
    expect((await again.correlations.query()).map((r) => r.id)).toEqual(['a', 'b']);
    await again.close();
  });

  it('refuses a position that is not past the last one, and gives back the position of a refused batch', async () => {
    const dataDir = newDataDir();
    const s = await open(dataDir);
    await s.correlations.insert([finding('a')], { sourceSeq: 5 });
    await expect(s.correlations.insert([finding('b')], { sourceSeq: 5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { sourceSeq: 5 } });
    await expect(s.correlations.insert([finding('b')], { sourceSeq: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.insert([finding('b')], { sourceSeq: 6.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.correlations.insert([finding('b')], { other: 1 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    // A bad finding refuses the batch; its position can be used again once fixed.
    await expect(s.correlations.insert([{ ...finding('c'), confidence: 2 }], { sourceSeq: 8 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    expect(s.correlations.sourceSeq).toBe(5);
    await s.correlations.insert([finding('c')], { sourceSeq: 8 });
    expect(s.correlations.sourceSeq).toBe(8);
    expect((await s.correlations.query()).map((r) => r.id)).toEqual(['a', 'c']);
    await s.close();
  });

  it('keeps the position through compaction', async () => {
    const dataDir = newDataDir();
    const config = { dataDir, storage: { correlations: { embedding_dim: DIM, compaction: { l0_size: '1KB', l1_size: '2GB' } } } };
    let s = await TapioStorage.open(config, { correlations: { path } });
    for (let i = 1; i <= 4; i++) {
      await s.correlations.insert([finding(`f${i}`, NOON + i)], { sourceSeq: i * 100 });
      await s.correlations.flush();
    }
    await s.correlations.compactionSettled();
    expect(s.correlations.stats().levels.map((l) => l.level)).toEqual([1]);
    await s.close();
    s = await TapioStorage.open(config, { correlations: { path } });
    expect(s.correlations.sourceSeq).toBe(400);
    expect((await s.correlations.query()).length).toBe(4);
    await s.close();
  });
});

describe.each(paths)('a correlation WAL behind its manifest on the %s path', (path) => {
  const open = (dataDir: string) => TapioStorage.open({ dataDir, storage: { correlations: { embedding_dim: DIM } } }, { correlations: { path } });

  it('keeps inserts made after the WAL was replaced through a crash', async () => {
    const dataDir = newDataDir();
    let s = await open(dataDir);
    for (let i = 0; i < 5; i++) {
      await s.correlations.insert([finding(`old-${i}`, NOON + i)]);
      await s.correlations.flush();
    }
    await s.close();
    // The WAL directory is replaced by an empty one (a restore that missed it).
    const walDir = join(dataDir, 'correlations', 'wal');
    rmSync(walDir, { recursive: true, force: true });
    mkdirSync(walDir, { mode: 0o700 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      s = await open(dataDir);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.some((w) => w.includes('the correlation WAL ends at record 0 but the MANIFEST covers records up to 5'))).toBe(true);
    await s.correlations.insert([finding('new-1', NOON + 10)]);
    await s.correlations.insert([finding('new-2', NOON + 11)]);
    // A crash now: the copy is the directory as a killed process leaves it.
    const copy = newDataDir();
    await cp(dataDir, copy, { recursive: true });
    await s.close();
    for (const lock of ['correlations/LOCK', 'correlations/wal/LOCK', 'wal/LOCK']) writeFileSync(join(copy, lock), '');
    const again = await open(copy);
    expect((await again.correlations.query({ fields: ['id'] })).map((r) => r.id)).toEqual(['old-0', 'old-1', 'old-2', 'old-3', 'old-4', 'new-1', 'new-2']);
    await again.close();
  });
});
