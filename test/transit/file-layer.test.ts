// The TypeScript file layer under the WAL writer and its fault-injecting twin for tests (the
// native one is tested in native/test/wal_file_test.cc): counting, failing on command, and
// forgetting what no fdatasync covered, as a device that lost its cache would.
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { FaultyFileLayer, posixFileLayer } from '../../src/transit/file-layer.js';
import { cleanupDirs, payload, tempDir } from './wal-helpers.js';

afterEach(cleanupDirs);

/** A file of `size` zero bytes. */
async function zeroFile(size: number): Promise<string> {
  const path = join(await tempDir(), 'f');
  await writeFile(path, new Uint8Array(0));
  await truncate(path, size);
  return path;
}

describe('FaultyFileLayer', () => {
  it('dropUnsyncedData leaves exactly what the last fdatasync covered, also where later writes overlapped it', async () => {
    const path = await zeroFile(20_000);
    const layer = new FaultyFileLayer({});
    const fh = await open(path, 'r+');
    const a = payload(1, 5000);
    const b = payload(2, 3000);
    const c = payload(3, 2000);
    try {
      await layer.write(fh, path, a, 0);
      await layer.sync(fh, path);
      await layer.write(fh, path, b, 4000); // rewrites the end of what was synced
      await layer.write(fh, path, c, 15_000);
      expect(await readFile(path)).not.toEqual(await expected());
      await layer.dropUnsyncedData();
      expect(await readFile(path)).toEqual(await expected());
      // Nothing is left to forget.
      await layer.dropUnsyncedData();
      expect(await readFile(path)).toEqual(await expected());
    } finally {
      await fh.close();
    }
    expect([layer.writes, layer.syncs]).toEqual([3, 1]);

    async function expected(): Promise<Buffer> {
      const want = Buffer.alloc(20_000);
      want.set(a, 0);
      return want;
    }
  });

  it('after an injected fdatasync failure the file forgets what was not synced, loses later writes and fails later fdatasyncs', async () => {
    const path = await zeroFile(10_000);
    const layer = new FaultyFileLayer({ failSyncAt: 2 });
    const fh = await open(path, 'r+');
    const first = payload(1, 5000);
    try {
      await layer.write(fh, path, first, 0);
      await layer.sync(fh, path);
      await layer.write(fh, path, payload(2, 3000), 1000);
      await expect(layer.sync(fh, path)).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
      await layer.write(fh, path, payload(3, 10), 0); // taken, and lost
      await expect(layer.sync(fh, path)).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      await fh.close();
    }
    const want = Buffer.alloc(10_000);
    want.set(first, 0);
    expect(await readFile(path)).toEqual(want);
    expect([layer.writes, layer.syncs]).toEqual([3, 3]);
  });

  it('an injected write failure writes nothing; other files keep working', async () => {
    const path = await zeroFile(4096);
    const other = await zeroFile(4096);
    const layer = new FaultyFileLayer({ failWriteAt: 1 });
    const fh = await open(path, 'r+');
    const fo = await open(other, 'r+');
    try {
      await expect(layer.write(fh, path, payload(1, 100), 0)).rejects.toMatchObject({ code: 'EIO', syscall: 'write' });
      await layer.write(fo, other, payload(2, 100), 0);
      await layer.sync(fo, other);
    } finally {
      await fh.close();
      await fo.close();
    }
    expect(await readFile(path)).toEqual(Buffer.alloc(4096));
    expect((await readFile(other)).subarray(0, 100)).toEqual(Buffer.from(payload(2, 100)));
  });

  it('the system layer writes every byte and syncs', async () => {
    const path = await zeroFile(0);
    const fh = await open(path, 'r+');
    const bytes = payload(9, 100_000);
    try {
      await posixFileLayer.write(fh, path, bytes, 10);
      await posixFileLayer.sync(fh, path);
    } finally {
      await fh.close();
    }
    expect((await readFile(path)).subarray(10)).toEqual(Buffer.from(bytes));
  });
});
