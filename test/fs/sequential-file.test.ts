// Sequential files (the segment files a compaction writes), on both paths: the file holds
// exactly the bytes appended, whatever the sizes of the appends against the block and the
// alignment; the native path writes them with direct I/O where the folder takes it; failures
// are the same TapioError on both paths, and a file given up is removed.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { isTapioError } from '../../src/errors.js';
import { createSequentialFile, directAlignment } from '../../src/fs/sequential-file.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libPath } from '../built-lib.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-seqfile-'));
  dirs.push(d);
  return d;
}

/** Bytes whose every position differs from its neighbours' (a byte written at the wrong offset shows). */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe.each(paths)('sequential files (%s path)', (path) => {
  const dir = newDir();
  const alignment = directAlignment(dir, path);

  it('probes direct I/O on the native path only', () => {
    if (path === 'typescript') expect(alignment).toBe(0);
    else expect(alignment === 0 || (alignment >= 512 && (alignment & (alignment - 1)) === 0)).toBe(true);
  });

  it('hold exactly the bytes appended, for any sizes of appends against the block and the alignment', async () => {
    const d = newDir();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 12 }), fc.constantFrom(8192, 16384, 65536), async (sizes, blockBytes) => {
        const file = join(d, `f${n++}`);
        const w = await createSequentialFile(file, { path, alignment, blockBytes });
        const parts = sizes.map((s, i) => pattern(s, i + 1));
        for (const p of parts) await w.append(p);
        const total = sizes.reduce((a, b) => a + b, 0);
        expect(w.size).toBe(total);
        const done = await w.finish();
        expect(done.bytes).toBe(total);
        expect(done.direct).toBe(path === 'native' && alignment > 0);
        expect(statSync(file).size).toBe(total);
        expect(Buffer.compare(readFileSync(file), Buffer.concat(parts))).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('write an empty file, a file of whole blocks, and appends of one byte', async () => {
    const d = newDir();
    const empty = await createSequentialFile(join(d, 'empty'), { path, alignment, blockBytes: 8192 });
    expect(await empty.finish()).toEqual({ bytes: 0, direct: path === 'native' && alignment > 0 });
    expect(statSync(join(d, 'empty')).size).toBe(0);
    const whole = await createSequentialFile(join(d, 'whole'), { path, alignment, blockBytes: 8192 });
    const bytes = pattern(3 * 8192, 9);
    await whole.append(bytes);
    await whole.finish();
    expect(Buffer.compare(readFileSync(join(d, 'whole')), Buffer.from(bytes))).toBe(0);
    const ones = await createSequentialFile(join(d, 'ones'), { path, alignment, blockBytes: 8192 });
    const small = pattern(9000, 3);
    for (let i = 0; i < small.length; i++) await ones.append(small.subarray(i, i + 1));
    await ones.finish();
    expect(Buffer.compare(readFileSync(join(d, 'ones')), Buffer.from(small))).toBe(0);
  });

  it('refuse a path that exists (ERR_WAL_IO, the file left as it was), and calls after finish or abort (ERR_CLOSED); abort removes the file', async () => {
    const d = newDir();
    const there = join(d, 'there');
    writeFileSync(there, 'kept');
    const err = await thrown(() => createSequentialFile(there, { path, alignment, blockBytes: 8192 }));
    expect(isTapioError(err) && err.code).toBe('ERR_WAL_IO');
    expect((err as { details?: Record<string, unknown> }).details).toMatchObject({ file: there, operation: 'open', errno: 'EEXIST' });
    expect(readFileSync(there, 'utf8')).toBe('kept');

    const w = await createSequentialFile(join(d, 'done'), { path, alignment, blockBytes: 8192 });
    await w.append(pattern(100, 1));
    await w.finish();
    for (const call of [() => w.append(pattern(1, 1)), () => w.finish()]) {
      const e = await thrown(call);
      expect(isTapioError(e) && e.code).toBe('ERR_CLOSED');
    }
    await w.abort(); // after finish: nothing
    expect(existsSync(join(d, 'done'))).toBe(true);

    const given = await createSequentialFile(join(d, 'given-up'), { path, alignment, blockBytes: 8192 });
    await given.append(pattern(20_000, 2));
    await given.abort();
    expect(existsSync(join(d, 'given-up'))).toBe(false);
    const e = await thrown(() => given.append(pattern(1, 1)));
    expect(isTapioError(e) && e.code).toBe('ERR_CLOSED');
  });

  it('refuse a block size that is not a multiple of the unit and an alignment that is not a power of two, with the same error on both paths', async () => {
    const d = newDir();
    for (const options of [
      { alignment, blockBytes: 1000 },
      { alignment, blockBytes: 2 ** 31 },
      { alignment: 3000, blockBytes: 6000 },
    ]) {
      const e = await thrown(() => createSequentialFile(join(d, 'x'), { path, ...options }));
      expect(isTapioError(e) && e.code).toBe('ERR_INVALID_ARGUMENT');
      expect(existsSync(join(d, 'x'))).toBe(false);
    }
  });

  it('give up a file while an append is under way: abort() waits for it, then removes the file', async () => {
    const d = newDir();
    const file = join(d, 'busy');
    const w = await createSequentialFile(file, { path, alignment, blockBytes: 1 << 20 });
    const appending = w.append(pattern(32 << 20, 4));
    await w.abort();
    // The append ran to its end first (on both paths), then the file went.
    await expect(appending).resolves.toBeUndefined();
    expect(existsSync(file)).toBe(false);
    const e = await thrown(() => w.append(pattern(1, 1)));
    expect(isTapioError(e) && e.code).toBe('ERR_CLOSED');
  });
});

describe('sequential files on the TypeScript path after a failed write', () => {
  it('keep the first failure: later appends and finish fail with it, and the file is removed', async () => {
    const d = newDir();
    const file = join(d, 'full');
    const w = await createSequentialFile(file, { path: 'typescript', alignment: 0, blockBytes: 8192 });
    // The second block's write fails as a full disk's would; the writes after it would succeed.
    const probe = await open(join(d, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    let writes = 0;
    const { write } = proto;
    const spy = vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (++writes === 2) return Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
      return write.apply(this, args);
    });
    try {
      const first = await thrown(() => w.append(pattern(20_000, 1)));
      expect(first).toMatchObject({ code: 'ERR_WAL_IO', details: { errno: 'ENOSPC' } });
      expect(w.size).toBe(0);
      await expect(w.append(pattern(100, 2))).rejects.toBe(first);
      await expect(w.finish()).rejects.toBe(first);
    } finally {
      spy.mockRestore();
    }
    expect(existsSync(file)).toBe(false);
  });
});

describe.skipIf(!nativeStatus().native)('sequential files in a worker (native path)', () => {
  it('end cleanly when the worker ends while a write is under way: the process does not abort', () => {
    const dir = newDir();
    const lib = pathToFileURL(libPath('fs', 'sequential-file.js')).href;
    // Each worker starts a 128 MiB append (a libuv pool thread copies and writes it) and is
    // terminated at once or a few milliseconds in; the promise is then settled while the
    // worker's environment goes away.
    const worker = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.lib).then(async ({ createSequentialFile }) => {
        const f = await createSequentialFile(workerData.dir + '/f' + Math.random(), { path: 'native', alignment: 0, blockBytes: 4 << 20 });
        const p = f.append(new Uint8Array(128 << 20).fill(5));
        parentPort.postMessage('started');
        await p;
      });`;
    const main = `
      const { Worker } = require('node:worker_threads');
      (async () => {
        for (let i = 0; i < 8; i++) {
          const w = new Worker(${JSON.stringify(worker)}, { eval: true, workerData: { lib: ${JSON.stringify(lib)}, dir: ${JSON.stringify(dir)} } });
          await new Promise((resolve) => w.once('message', resolve));
          await new Promise((resolve) => setTimeout(resolve, i % 4));
          await w.terminate();
        }
        console.log('ended');
      })();`;
    const r = spawnSync(process.execPath, ['-e', main], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toContain('FATAL ERROR');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('ended');
  }, 150_000);
});
