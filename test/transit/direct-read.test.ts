// Direct reads (src/transit/direct-read.ts, native/core/direct_reader.h): the native path reads
// the segments its O_DIRECT writer appends with direct I/O too, and gives the same records and
// bytes as a buffered read; the TypeScript path, whose writer goes through the page cache, reads
// buffered. The byte-range reads are checked against the file's bytes at unaligned offsets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { loadNative, nativeStatus } from '../../src/native/loader.js';
import { lazyDirectSource } from '../../src/transit/direct-read.js';
import { readCounters } from '../../src/transit/wal-reader.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-direct-'));
  dirs.push(d);
  return d;
}

function payload(seq: number): Uint8Array {
  const b = Buffer.alloc(150 + (seq % 97), 0x41 + (seq % 26));
  b.write(`#${seq}#`, 0, 'latin1');
  return b;
}

describe.skipIf(!nativeStatus().native)('lazyDirectSource (native only: the TypeScript path reads buffered)', () => {
  it('copies any range of the file, stopping at its end', async () => {
    const file = join(newDir(), 'data');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 777);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(file, bytes);
    let buffered = 0;
    const src = lazyDirectSource(file, 4096, () => {
      buffered++;
      return Promise.resolve(0);
    });
    expect(src).not.toBeNull();
    try {
      for (const [at, n] of [
        [0, 1],
        [1, 4095],
        [4095, 4097],
        [12345, 1 << 20],
        [7, 2 * 1024 * 1024 + 3],
        [bytes.length - 5, 5],
      ] as const) {
        const into = Buffer.alloc(n, 0xee);
        await expect(src!.read(into, at)).resolves.toBe(n);
        expect(into.equals(bytes.subarray(at, at + n))).toBe(true);
      }
      const into = Buffer.alloc(100);
      await expect(src!.read(into, bytes.length - 40)).resolves.toBe(40);
      await expect(src!.read(into, bytes.length + 4096)).resolves.toBe(0);
      // Every read was direct (the file system of the temporary folder takes O_DIRECT here).
      expect(buffered, `the file system of ${tmpdir()} refuses O_DIRECT; direct reads cannot be tested here`).toBe(0);
    } finally {
      src!.close();
    }
    await expect(src!.read(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(src!.direct).toBe(true);
    // A file it cannot open for direct reads: read through the fallback, and says so.
    let fallbackBytes = 0;
    const refused = lazyDirectSource(join(file, '..', 'missing'), 4096, (into) => {
      fallbackBytes += into.length;
      return Promise.resolve(into.length);
    })!;
    await expect(refused.read(Buffer.alloc(100), 0)).resolves.toBe(100);
    expect(fallbackBytes).toBe(100);
    expect(refused.direct).toBe(false);
    refused.close();
  });

  it('refuses reads after close, bad arguments and files it cannot open with stable codes', async () => {
    const addon = loadNative()!;
    const file = join(newDir(), 'data');
    writeFileSync(file, Buffer.alloc(8192, 1));
    const handle = addon.openDirectReader(file, 4096);
    expect(handle).not.toBeNull();
    expect(() => addon.directRead(handle!, Buffer.alloc(8), -1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => addon.directRead(handle!, new Float32Array(2) as unknown as Uint8Array, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    addon.closeDirectReader(handle!);
    expect(() => addon.directRead(handle!, Buffer.alloc(8), 0)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => addon.openDirectReader(join(file, '..', 'missing'), 4096)).toThrow(expect.objectContaining({ code: 'ERR_WAL_IO' }));
    expect(() => addon.openDirectReader(file, 3000)).toThrow(expect.objectContaining({ code: 'ERR_WAL_IO' }));
  });
});

describe.each(paths)('transit reads on the %s path', (path) => {
  it('read long stretches with direct I/O exactly where the writer wrote with it, short ones through the page cache, and give the same records either way', async () => {
    const dataDir = newDir();
    const storage = await TapioStorage.open(
      { dataDir, storage: { transit: { segment_size: '4MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } } },
      { transit: { path } },
    );
    const direct = path === 'native' && storage.transit.stats().directIo;
    const total = 60_000;
    try {
      for (let done = 0; done < total; done += 1000) {
        await storage.transit.append(Array.from({ length: 1000 }, (_, i) => payload(done + i + 1)));
      }
      readCounters.directBytesRead = 0;
      readCounters.bytesRead = 0;
      let seq = 1;
      for await (const r of storage.transit.read({})) {
        expect(r.seq).toBe(seq);
        expect(Buffer.from(r.data).equals(Buffer.from(payload(seq)))).toBe(true);
        seq++;
      }
      expect(seq).toBe(total + 1);
      // Each segment's first reads are short (64 KiB, doubling): the rest of a long read is direct.
      if (direct) expect(readCounters.directBytesRead).toBeGreaterThan(readCounters.bytesRead / 2);
      else expect(readCounters.directBytesRead).toBe(0);
      // A page of records from the middle of a segment: one short read, through the page cache.
      readCounters.directBytesRead = 0;
      readCounters.bytesRead = 0;
      let n = 0;
      for await (const r of storage.transit.read({ fromSeq: 32_345, limit: 1000 })) {
        expect(Buffer.from(r.data).equals(Buffer.from(payload(32_345 + n)))).toBe(true);
        n++;
      }
      expect(n).toBe(1000);
      expect(readCounters.bytesRead).toBeGreaterThan(0);
      expect(readCounters.directBytesRead).toBe(0);
      // A batch of 10,000 records (2 MiB) is one long read: direct on the native path.
      readCounters.directBytesRead = 0;
      n = 0;
      for await (const r of storage.transit.read({ fromSeq: 5_000, limit: 10_000 })) {
        expect(Buffer.from(r.data).equals(Buffer.from(payload(5_000 + n)))).toBe(true);
        n++;
      }
      expect(n).toBe(10_000);
      if (direct) expect(readCounters.directBytesRead).toBeGreaterThan(1024 * 1024);
      else expect(readCounters.directBytesRead).toBe(0);
    } finally {
      await storage.close();
    }
    // The segment files hold what a buffered read gives: the same records after a reopen on the other path.
    const other = path === 'native' ? 'typescript' : 'native';
    if (!paths.includes(other)) return;
    const again = await TapioStorage.open({ dataDir, storage: { metadata: { in_memory: true } } }, { transit: { path: other } });
    try {
      let count = 0;
      for await (const r of again.transit.read({ fromSeq: total - 999 })) {
        expect(Buffer.from(r.data).equals(Buffer.from(payload(total - 999 + count)))).toBe(true);
        count++;
      }
      expect(count).toBe(1000);
    } finally {
      await again.close();
    }
  });
});
