// The segment index's cache of entries, on both paths: at most MAX_CACHED_SEGMENTS sealed
// segments' entries stay in memory, also when some were rebuilt by a scan (an index file deleted,
// or not yet written when a segment sealed with the cache full) and those index files are
// written again; and close() waits for what a read started before it failed, so that no segment
// file is open and no index file is written once it resolved.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { MAX_CACHED_SEGMENTS, WalIndex } from '../../src/transit/wal-index.js';
import { openFilesIn } from './wal-helpers.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-index-cache-'));
  dirs.push(d);
  return d;
}

function segmentsIn(wal: string): string[] {
  return readdirSync(wal)
    .filter((n) => /^[0-9a-f]{16}\.wal$/.test(n))
    .sort();
}

const firstSeqOf = (wal: string, name: string): number => Number(readFileSync(join(wal, name)).readBigUInt64LE(24));
const numberOf = (name: string): number => Number.parseInt(name.slice(0, 16), 16);
const indexFile = (wal: string, name: string): string => join(wal, name.replace(/\.wal$/, '.idx'));

describe.each(paths)('the index cache on the %s path', (path) => {
  function open(dataDir: string, segment: string, ring: string): Promise<TapioStorage> {
    return TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: segment, ring_capacity: ring }, metadata: { in_memory: true } } },
      { transit: { path } },
    );
  }

  /** A store of 300 segments of 1 MiB (ten records of 100 KB each), reopened; the index it reads through. */
  async function manySegments(): Promise<{ storage: TapioStorage; wal: string; index: () => WalIndex; restore: () => void }> {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    let storage = await open(dataDir, '1MiB', '4MiB');
    const record = new Uint8Array(100_000).fill(0x61);
    for (let i = 0; i < 300; i++) await storage.transit.append(Array.from({ length: 10 }, () => record));
    await storage.close();
    expect(segmentsIn(wal).length).toBeGreaterThan(MAX_CACHED_SEGMENTS + 20);
    storage = await open(dataDir, '1MiB', '4MiB');
    let index: WalIndex | null = null;
    const { segmentsFrom } = WalIndex.prototype;
    const spy = vi.spyOn(WalIndex.prototype, 'segmentsFrom').mockImplementation(function (this: WalIndex, seq, last) {
      index = this;
      return segmentsFrom.call(this, seq, last);
    });
    return { storage, wal, index: () => index!, restore: () => spy.mockRestore() };
  }

  /** Reads two records in segment `name`. */
  async function readIn(storage: TapioStorage, wal: string, name: string): Promise<void> {
    let n = 0;
    for await (const _ of storage.transit.read({ fromSeq: firstSeqOf(wal, name) + 3, limit: 2 })) n++;
    expect(n).toBe(2);
  }

  /** The sealed segments whose entries are in memory. */
  function cached(index: WalIndex, wal: string, names: string[]): string[] {
    return names.filter((n) => index.entryAfter(numberOf(n), firstSeqOf(wal, n)) !== null);
  }

  it('keeps the entries of at most MAX_CACHED_SEGMENTS segments, also those rebuilt by a scan, and writes their index files again', async () => {
    const { storage, wal, index, restore } = await manySegments();
    try {
      const names = segmentsIn(wal);
      const sealed = names.slice(0, -2);
      const rebuilt = sealed.slice(0, 40);
      for (const n of sealed) await readIn(storage, wal, n); // the first 40 are pushed out by the others
      for (const n of rebuilt) unlinkSync(indexFile(wal, n));
      for (const n of rebuilt) await readIn(storage, wal, n); // entries rebuilt by a scan
      for (let round = 0; round < 2; round++) for (const n of sealed.slice(40)) await readIn(storage, wal, n);
      expect(cached(index(), wal, names.slice(0, -1)).length).toBeLessThanOrEqual(MAX_CACHED_SEGMENTS);
      expect(cached(index(), wal, rebuilt)).toEqual([]);
    } finally {
      restore();
      await storage.close();
    }
    // The rebuilt entries were written down again.
    for (const n of segmentsIn(wal).slice(0, 40)) expect(existsSync(indexFile(wal, n)), n).toBe(true);
  }, 300_000);

  it('keeps at most MAX_CACHED_SEGMENTS when a segment seals with the cache full and is read before its index file is written', async () => {
    const { storage, wal, index, restore } = await manySegments();
    try {
      const sealed = segmentsIn(wal).slice(0, -1);
      for (const n of sealed) await readIn(storage, wal, n);
      const before = segmentsIn(wal);
      const active = before.at(-1)!;
      const record = new Uint8Array(100_000).fill(0x62);
      while (segmentsIn(wal).length === before.length) await storage.transit.append([record]);
      await readIn(storage, wal, active); // sealed just now
      for (let round = 0; round < 2; round++) for (const n of sealed.slice(0, 280)) await readIn(storage, wal, n);
      expect(cached(index(), wal, segmentsIn(wal).slice(0, -1)).length).toBeLessThanOrEqual(MAX_CACHED_SEGMENTS);
    } finally {
      restore();
      await storage.close();
    }
  }, 300_000);

  it('close() waits for the index file load a read started before it failed', async () => {
    const dataDir = newDataDir();
    const wal = join(dataDir, 'wal');
    let storage = await open(dataDir, '32MiB', '8MiB');
    const record = new Uint8Array(1000).fill(0x61);
    while (segmentsIn(wal).length < 6) await storage.transit.append(Array.from({ length: 2000 }, () => record));
    await storage.close();
    const names = segmentsIn(wal);
    // A damaged index file: loading it scans the segment and writes the file again.
    const damaged = indexFile(wal, names[3]!);
    const bytes = readFileSync(damaged);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(damaged, bytes);
    storage = await open(dataDir, '32MiB', '8MiB');
    const reader = storage.transit.read({ fromSeq: firstSeqOf(wal, names[2]!) + 5, limit: 10 })[Symbol.asyncIterator]();
    // Retention takes the segments the read starts in: it fails (the records are gone) right
    // after it started loading the index file of the oldest segment left.
    const old = Date.now() / 1000 - 7200;
    for (const n of names.slice(0, 3)) utimesSync(join(wal, n), old, old);
    await storage.transit.applyRetention();
    await expect(reader.next()).rejects.toMatchObject({ code: 'ERR_WAL_RETENTION' });
    await storage.close();
    const atClose = statSync(damaged, { throwIfNoEntry: false })?.mtimeMs;
    expect(openFilesIn(wal)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(statSync(damaged, { throwIfNoEntry: false })?.mtimeMs).toBe(atClose);
  }, 120_000);
});
