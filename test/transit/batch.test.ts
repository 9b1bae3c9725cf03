// What an append accepts as a record, on both paths: strings, Uint8Array and Buffer, and any
// other kind of bytes (ArrayBuffer, SharedArrayBuffer, DataView, other typed arrays) as the bytes
// they hold or view; anything else is refused with a message that names what it got.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { toBatch } from '../../src/transit/batch.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('toBatch', () => {
  it('takes the bytes a view or buffer holds, without copying them', () => {
    const backing = new ArrayBuffer(16);
    new Uint8Array(backing).set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const [whole, dataView, words] = toBatch([backing, new DataView(backing, 4, 3), new Uint16Array(backing, 8, 2)], 'append');
    expect([...whole!]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect([...dataView!]).toEqual([4, 5, 6]);
    expect([...words!]).toEqual([8, 9, 10, 11]);
    expect(dataView!.buffer).toBe(backing);
  });

  it('names what a refused record is', () => {
    const refused = (record: unknown, text: RegExp): void => {
      expect(() => toBatch(['ok', record as never], 'transit.append')).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(text) }),
      );
    };
    refused(42, /^transit\.append\(records\): record 1 is number; each record must be a string or bytes \(Uint8Array, Buffer, ArrayBuffer, DataView/);
    refused(null, /record 1 is null;/);
    refused(undefined, /record 1 is undefined;/);
    refused(new Map(), /record 1 is a Map;/);
    refused({ length: 3 }, /record 1 is an object;/);
    refused(Object.create(null), /record 1 is an object;/);
    refused([1, 2, 3], /record 1 is an Array;/);
    expect(() => toBatch(new Uint8Array(3) as never, 'append')).toThrow(/records must be an array of strings or bytes .* got a Uint8Array/);
  });
});

describe.each(paths)('records of every kind of bytes on the %s path', (path) => {
  it('stores an ArrayBuffer, a SharedArrayBuffer, a DataView and typed arrays as the bytes they hold or view', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tapio-batch-'));
    dirs.push(dataDir);
    const storage = await TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' } } }, { transit: { path } });
    try {
      const backing = new ArrayBuffer(12);
      new Uint8Array(backing).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      const shared = new SharedArrayBuffer(2);
      new Uint8Array(shared).set([0xee, 0xff]);
      const floats = new Float64Array([1.5]);
      const result = await storage.transit.append([
        backing,
        new DataView(backing, 2, 4),
        new Int16Array(backing, 6, 2),
        shared,
        floats,
        'text',
        Buffer.from('buf'),
      ]);
      expect(result).toEqual({ firstSeq: 1, lastSeq: 7 });
      const got: number[][] = [];
      for await (const r of storage.transit.read({ fromSeq: 1 })) got.push([...r.data]);
      expect(got).toEqual([
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        [3, 4, 5, 6],
        [7, 8, 9, 10],
        [0xee, 0xff],
        [...new Uint8Array(floats.buffer)],
        [...Buffer.from('text')],
        [...Buffer.from('buf')],
      ]);
    } finally {
      await storage.close();
    }
  });
});
