// The transit facade on both paths: appends, reads, subscriptions, retention, back-pressure,
// failures, bad input and the directory lock.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { TapioStorage, type TapioConfigInput } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libPath } from '../built-lib.js';
import { openFilesIn } from './wal-helpers.js';
import { injectFaults } from '../../src/transit/test-hooks.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-transit-'));
  dirs.push(d);
  return d;
}

type Transit = TapioStorage['transit'];

/** Appends `count` records of 100 KB, about ten to a 1 MiB segment. */
async function appendBig(t: Transit, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await t.append([new Uint8Array(100_000)]);
}

/** A full garbage collection, run on demand (V8's gc function, exposed for the test). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The segment files of the WAL in `dir`, oldest first. */
function segmentsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
}

/** Makes the segment files `names` in `dir` look last written two hours ago. */
function age(dir: string, names: string[]): void {
  const old = Date.now() / 1000 - 7200;
  for (const n of names) utimesSync(join(dir, n), old, old);
}

describe.each(paths)('transit on the %s path', (path) => {
  async function open(
    dataDir: string,
    transit: NonNullable<TapioConfigInput['storage']>['transit'] = {},
    extra: Record<string, unknown> = {},
  ): Promise<TapioStorage> {
    return TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB', ...transit } } }, { transit: { path, ...extra } });
  }

  async function readAll(t: Transit, fromSeq = 1): Promise<Array<{ seq: number; text: string }>> {
    const out = [];
    for await (const r of t.read({ fromSeq })) out.push({ seq: r.seq, text: Buffer.from(r.data).toString() });
    return out;
  }

  it('appends strings and bytes, numbers them from 1 and reads them back after a reopen', async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir);
    expect(storage.transit.path).toBe(path);
    const a = await storage.transit.append(['one', new TextEncoder().encode('two')]);
    const b = await storage.transit.append([Buffer.from('three')]);
    expect(a).toEqual({ firstSeq: 1, lastSeq: 2 });
    expect(b).toEqual({ firstSeq: 3, lastSeq: 3 });
    expect(storage.transit.lastSeq).toBe(3);
    await storage.close();
    storage = await open(dataDir);
    try {
      expect(storage.transit.recovery.lastSeq).toBe(3);
      expect(await readAll(storage.transit)).toEqual([
        { seq: 1, text: 'one' },
        { seq: 2, text: 'two' },
        { seq: 3, text: 'three' },
      ]);
      expect(await readAll(storage.transit, 3)).toEqual([{ seq: 3, text: 'three' }]);
      expect((await storage.transit.append(['four'])).firstSeq).toBe(4);
      const limited = [];
      for await (const r of storage.transit.read({ fromSeq: 2, limit: 2 })) limited.push(r.seq);
      expect(limited).toEqual([2, 3]);
    } finally {
      await storage.close();
    }
  });

  it('refuses bad input with ERR_INVALID_ARGUMENT or ERR_RECORD_TOO_LARGE and writes nothing', async () => {
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(['kept']);
      const bad = (p: () => unknown, code: string, text: RegExp): void => {
        expect(p).toThrow(expect.objectContaining({ code, message: expect.stringMatching(text) }));
      };
      const rejects = async (p: Promise<unknown>, code: string, text: RegExp): Promise<void> => {
        await expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(text) });
      };
      await rejects(t.append('abc' as never), 'ERR_INVALID_ARGUMENT', /must be an array/);
      await rejects(t.append([]), 'ERR_INVALID_ARGUMENT', /empty/);
      await rejects(t.append([42 as never]), 'ERR_INVALID_ARGUMENT', /record 0 is number/);
      await rejects(t.append(['ok', null as never]), 'ERR_INVALID_ARGUMENT', /record 1 is null/);
      await rejects(t.append([new Uint8Array(1024 * 1024)]), 'ERR_RECORD_TOO_LARGE', /segment/);
      await rejects(t.append(Array.from({ length: 40 }, () => new Uint8Array(16 * 1024))), 'ERR_RECORD_TOO_LARGE', /half of its/);
      bad(() => t.tryAppend([]), 'ERR_INVALID_ARGUMENT', /empty/);
      bad(() => t.read({ fromSeq: -1 }), 'ERR_INVALID_ARGUMENT', /whole number >= 1/);
      bad(() => t.read({ fromSeq: 1.5 }), 'ERR_INVALID_ARGUMENT', /whole number >= 1/);
      bad(() => t.read({ fromSeq: 99 }), 'ERR_INVALID_ARGUMENT', /in the future/);
      bad(() => t.read(null as never), 'ERR_INVALID_ARGUMENT', /options must be an object/);
      bad(() => t.read({ limit: 0.5 }), 'ERR_INVALID_ARGUMENT', /limit must be a whole number/);
      bad(() => t.read({ limit: '1' as never }), 'ERR_INVALID_ARGUMENT', /limit must be a whole number/);
      bad(() => t.subscribe('bad name!', () => undefined), 'ERR_INVALID_ARGUMENT', /name must be/);
      bad(() => t.subscribe('s', () => undefined, null as never), 'ERR_INVALID_ARGUMENT', /options must be an object/);
      bad(() => t.subscribe('s', () => undefined, { start: 'bogus' as never }), 'ERR_INVALID_ARGUMENT', /start must be 'oldest' or 'latest'/);
      expect(t.lastSeq).toBe(1);
      expect(await readAll(t)).toEqual([{ seq: 1, text: 'kept' }]);
    } finally {
      await storage.close();
    }
  });

  it('applies back-pressure: tryAppend returns false when the ring is full, append waits, nothing is dropped', async () => {
    const storage = await open(newDataDir(), { ring_capacity: '64KiB' });
    try {
      const t = storage.transit;
      const record = new Uint8Array(8 * 1024).fill(7);
      const accepted: Array<Promise<unknown>> = [];
      let refused = 0;
      for (let i = 0; i < 200 && refused === 0; i++) {
        const r = t.tryAppend([record, record]);
        if (r === false) refused++;
        else accepted.push(r);
      }
      expect(refused).toBe(1);
      const waited = Array.from({ length: 50 }, () => t.append([record, record]));
      await Promise.all([...accepted, ...waited]);
      expect(t.lastSeq).toBe((accepted.length + 50) * 2);
      let n = 0;
      for await (const r of t.read({ fromSeq: 1 })) {
        expect(r.data).toEqual(record);
        n++;
      }
      expect(n).toBe(t.lastSeq);
    } finally {
      await storage.close();
    }
  });

  it('subscribes at least once, in order, and resumes from the stored checkpoint after a reopen', async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir);
    const seen: number[] = [];
    await storage.transit.append(Array.from({ length: 250 }, (_, i) => `e${i + 1}`));
    let sub = storage.transit.subscribe(
      'correlator',
      async (r) => {
        expect(Buffer.from(r.data).toString()).toBe(`e${r.seq}`);
        seen.push(r.seq);
      },
      { batchSize: 50 },
    );
    while (sub.position < 250) await new Promise((r) => setTimeout(r, 2));
    await storage.transit.append(['e251']);
    while (sub.position < 251) await new Promise((r) => setTimeout(r, 2));
    await sub.close();
    expect(seen).toEqual(Array.from({ length: 251 }, (_, i) => i + 1));
    expect((await storage.metadata.checkpoints.get('correlator'))?.seq).toBe(251);
    expect(() => storage.transit.subscribe('x', () => undefined) && storage.transit.subscribe('x', () => undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }),
    );
    await storage.close();

    storage = await open(dataDir);
    try {
      await storage.transit.append(['e252', 'e253']);
      const after: number[] = [];
      sub = storage.transit.subscribe('correlator', (r) => {
        after.push(r.seq);
      });
      while (sub.position < 253) await new Promise((r) => setTimeout(r, 2));
      await sub.close();
      expect(after).toEqual([252, 253]);
    } finally {
      await storage.close();
    }
  });

  it('a handler that throws stops its subscription without moving the checkpoint past the failed record', async () => {
    const storage = await open(newDataDir());
    try {
      await storage.transit.append(['a', 'b', 'c']);
      const sub = storage.transit.subscribe(
        'fails',
        (r) => {
          if (r.seq === 2) throw new Error('handler failed');
        },
        { batchSize: 1 },
      );
      await expect(sub.done).rejects.toThrow('handler failed');
      expect(sub.position).toBe(1);
      expect((await storage.metadata.checkpoints.get('fails'))?.seq).toBe(1);
    } finally {
      await storage.close();
    }
  });

  it('deletes whole segments older than the retention, tells readers and subscribers that fell behind', async () => {
    const dataDir = newDataDir();
    const storage = await open(dataDir, { retention: '1m' });
    try {
      const t = storage.transit;
      const record = new Uint8Array(100 * 1024).fill(1);
      for (let i = 0; i < 30; i++) await t.append([record]);
      const walDir = join(dataDir, 'wal');
      const segments = () =>
        readdirSync(walDir)
          .filter((n) => n.endsWith('.wal'))
          .sort();
      const before = segments();
      expect(before.length).toBeGreaterThan(2);
      const old = Date.now() / 1000 - 3600;
      for (const s of before.slice(0, -1)) utimesSync(join(walDir, s), old, old);
      const behind: unknown[] = [];
      t.on('behind', (e) => behind.push(e));
      const early = t.read({ fromSeq: 1 }); // made before retention runs, read after
      // Every segment is old now; the two newest stay.
      expect(await t.applyRetention()).toBe(before.length - 2);
      expect(segments()).toEqual(before.slice(-2));
      expect(t.oldestSeq).toBeGreaterThan(1);
      expect(() => t.read({ fromSeq: 1 })).toThrow(expect.objectContaining({ code: 'ERR_WAL_RETENTION' }));
      await expect(early.next()).rejects.toMatchObject({ code: 'ERR_WAL_RETENTION', details: { fromSeq: 1, oldestSeq: t.oldestSeq } });
      const got: number[] = [];
      const sub = t.subscribe('late', (r) => {
        got.push(r.seq);
      });
      while (sub.position < t.lastSeq) await new Promise((r) => setTimeout(r, 2));
      await sub.close();
      expect(got[0]).toBe(t.oldestSeq);
      expect(behind).toEqual([]); // a new subscriber starts at the oldest record; nothing skipped
      // A subscriber whose checkpoint is older than the oldest record is told.
      await storage.metadata.checkpoints.set('old-reader', 1);
      const sub2 = t.subscribe('old-reader', () => undefined);
      while (sub2.position < t.lastSeq) await new Promise((r) => setTimeout(r, 2));
      await sub2.close();
      expect(behind).toEqual([{ name: 'old-reader', from: 2, oldest: t.oldestSeq }]);
      expect(t.stats().subscribersBehindRetention).toBe(1);
      expect(t.stats().segmentsDeleted).toBe(before.length - 2);
    } finally {
      await storage.close();
    }
  });

  it('when only an empty newest segment is left, the oldest sequence number is the next one and a subscriber behind it is told', async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir, { retention: '1h' });
    for (let i = 0; i < 10; i++) await storage.transit.append([`r${i}`]);
    await storage.metadata.checkpoints.set('slow', 10);
    await appendBig(storage.transit, 31);
    await storage.close();
    const walDir = join(dataDir, 'wal');
    const segments = () => segmentsIn(walDir);
    // As after a crash right after a roll: nothing of the newest segment's records reached the disk.
    const newest = segments().at(-1)!;
    const fd = openSync(join(walDir, newest), 'r+');
    writeSync(fd, Buffer.alloc(200_000), 0, 200_000, 4096);
    closeSync(fd);
    storage = await open(dataDir, { retention: '1h' });
    const lastSeq = storage.transit.lastSeq;
    await storage.close();
    // Retention keeps the segment before the newest; here the older ones are gone all the same
    // (removed by hand, or by an earlier version).
    for (const n of segments().slice(0, -1)) unlinkSync(join(walDir, n));
    storage = await open(dataDir, { retention: '1h' });
    try {
      const t = storage.transit;
      expect(segments()).toEqual([newest]);
      expect(t.recovery.firstSeq).toBe(0);
      expect(t.lastSeq).toBe(lastSeq);
      expect(t.oldestSeq).toBe(lastSeq + 1);
      expect(t.stats().oldestSeq).toBe(lastSeq + 1);
      expect(() => t.read({ fromSeq: 11 })).toThrow(expect.objectContaining({ code: 'ERR_WAL_RETENTION' }));
      const behind: unknown[] = [];
      t.on('behind', (e) => behind.push(e));
      const got: number[] = [];
      const sub = t.subscribe('slow', (r) => {
        got.push(r.seq);
      });
      const appended = await t.append(['n1', 'n2']);
      while (sub.position < appended.lastSeq) await new Promise((r) => setTimeout(r, 2));
      await sub.close();
      expect(behind).toEqual([{ name: 'slow', from: 11, oldest: lastSeq + 1 }]);
      expect(got).toEqual([appended.firstSeq, appended.lastSeq]);
      expect(appended.firstSeq).toBe(lastSeq + 1);
    } finally {
      await storage.close();
    }
  });

  it('a subscriber whose segment retention deletes while it reads is told and goes on', async () => {
    const storage = await open(newDataDir(), { retention: '1h' });
    try {
      const t = storage.transit;
      // About eight segments: the reader holds the one it reads and the next two it reads ahead
      // open (their records are still delivered after the files are deleted), and must be told
      // of the ones after them.
      await appendBig(t, 80);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const behind: Array<{ from: number; oldest: number }> = [];
      t.on('behind', (e: { from: number; oldest: number }) => behind.push(e));
      const got: number[] = [];
      const sub = t.subscribe(
        'slow',
        async (r) => {
          got.push(r.seq);
          if (r.seq === 2) await gate;
        },
        // A batch is read whole before its handler runs: batches of one keep the read going
        // across the deletion.
        { batchSize: 1 },
      );
      while (got.length < 2) await new Promise((r) => setTimeout(r, 2));
      age(t.dir, segmentsIn(t.dir));
      expect(await t.applyRetention()).toBeGreaterThan(0);
      release();
      while (sub.position < t.lastSeq) await new Promise((r) => setTimeout(r, 2));
      await sub.close();
      expect(behind).toHaveLength(1);
      expect(behind[0]!.oldest).toBe(t.oldestSeq);
      // Everything retained was delivered, in order, after what the subscriber had seen.
      const tail = got.filter((s) => s >= t.oldestSeq);
      expect(tail).toEqual(Array.from({ length: t.lastSeq - t.oldestSeq + 1 }, (_, i) => t.oldestSeq + i));
      expect((await storage.metadata.checkpoints.get('slow'))?.seq).toBe(t.lastSeq);
    } finally {
      await storage.close();
    }
  });

  it('a checkpoint past the end of the WAL fails the subscription with ERR_CHECKPOINT_AHEAD', async () => {
    const storage = await open(newDataDir());
    try {
      await storage.transit.append(['a', 'b', 'c']);
      await storage.metadata.checkpoints.set('moved', 1000);
      const sub = storage.transit.subscribe('moved', () => undefined);
      await expect(sub.done).rejects.toMatchObject({ code: 'ERR_CHECKPOINT_AHEAD', details: { checkpoint: 1000, lastSeq: 3 } });
      expect((await storage.metadata.checkpoints.get('moved'))?.seq).toBe(1000);
    } finally {
      await storage.close();
    }
  });

  it('a failing retention run of the timer does not end the process: it is reported once and the store goes on', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    // The retention timer runs when the test moves the fake clock, not on the wall clock.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    // Retention of 4 s: the timer runs every second.
    const storage = await open(newDataDir(), { retention: '4s' });
    try {
      const t = storage.transit;
      const runs = vi.spyOn(t, 'applyRetention');
      /** Moves the clock one timer period on and waits for the one run it starts to end. */
      const timerRun = async (): Promise<void> => {
        const before = runs.mock.results.length;
        vi.advanceTimersByTime(1000);
        expect(runs.mock.results.length).toBe(before + 1);
        await (runs.mock.results[before]!.value as Promise<number>).catch(() => undefined);
      };
      await appendBig(t, 25);
      const segments = segmentsIn(t.dir);
      expect(segments.length).toBeGreaterThan(2);
      age(t.dir, segments.slice(0, 1));
      // The segment that becomes the oldest has a damaged header: the run cannot tell where the log starts.
      const fd = openSync(join(t.dir, segments[1]!), 'r+');
      writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, 0);
      closeSync(fd);
      await timerRun();
      expect(t.stats().retentionError).toMatch(/header of .* is damaged/);
      expect(t.stats().segmentsDeleted).toBe(1);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/retention failed/);
      // Two more runs fail the same way and are not reported again.
      await timerRun();
      await timerRun();
      expect(t.stats().retentionError).toMatch(/header of .* is damaged/);
      expect(warn).toHaveBeenCalledTimes(1);
      expect((await t.append(['after'])).lastSeq).toBe(26);
    } finally {
      vi.useRealTimers();
      warn.mockRestore();
      await storage.close();
    }
  });

  it('close() waits for a retention run under way; the reopened store agrees with it', async () => {
    const dataDir = newDataDir();
    const storage = await open(dataDir, { retention: '1h' });
    const t = storage.transit;
    await appendBig(t, 25);
    const segments = segmentsIn(t.dir);
    age(t.dir, segments);
    let emitted = false;
    t.on('retention', () => (emitted = true));
    const run = t.applyRetention();
    await storage.close();
    expect(emitted).toBe(true);
    expect(await run).toBe(segments.length - 2);
    const again = await open(dataDir, { retention: '1h' });
    try {
      const first = await again.transit.read().next();
      expect(first.done).toBe(false);
      expect(first.value!.seq).toBe(again.transit.oldestSeq);
    } finally {
      await again.close();
    }
  });

  it('close() ends a read its caller left unfinished: its files are closed and its next step says ERR_CLOSED', async () => {
    const dataDir = newDataDir();
    /** The files of the store this process holds open (Linux; elsewhere the count is not checked). */
    const fds = (): number => (process.platform === 'linux' ? openFilesIn(dataDir) : 0);
    const storage = await open(dataDir);
    const t = storage.transit;
    await appendBig(t, 25);
    await t.append(Array.from({ length: 600 }, (_, i) => `small ${i}`));
    // Started and dropped: no loop to its end, no return().
    const left = t.read();
    expect((await left.next()).value!.seq).toBe(1);
    const alsoLeft = t.read({ fromSeq: t.lastSeq - 599 });
    expect((await alsoLeft.next()).value!.seq).toBe(t.lastSeq - 599);
    if (process.platform === 'linux') expect(fds()).toBeGreaterThanOrEqual(2);
    await storage.close();
    expect(fds()).toBe(0);
    // What was already in memory may still come (one array of records at most); then the read
    // says why it stopped.
    for (const read of [left, alsoLeft]) {
      let steps = 0;
      const drain = async (): Promise<void> => {
        for (;;) {
          const r = await read.next();
          expect(r.done).toBe(false);
          steps++;
        }
      };
      await expect(drain()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      expect(steps).toBeLessThan(512);
    }
  });

  it('a read that handed out its last record ends cleanly after close(); one that failed is not kept by the store', async () => {
    const storage = await open(newDataDir());
    const t = storage.transit;
    await appendBig(t, 25);
    const last = t.lastSeq;
    // Closed inside the loop at the last record: the loop ends as it would have.
    let seen = 0;
    for await (const r of t.read({ fromSeq: last - 2 })) {
      seen++;
      if (r.seq === last) await storage.close();
    }
    expect(seen).toBe(3);
    // A read that failed (a damaged record in the second segment) is dropped by the store at
    // once, not kept until close() with its buffers: once its caller lets go of it, the garbage
    // collector takes it.
    const again = await open(storage.transit.dir.replace(/[/\\]wal$/, ''));
    try {
      const segs = segmentsIn(again.transit.dir);
      const fd = openSync(join(again.transit.dir, segs[1]!), 'r+');
      writeSync(fd, Buffer.from([0xff, 0xfe, 0xfd]), 0, 3, 300_000);
      closeSync(fd);
      const codes: unknown[] = [];
      const failed = async (): Promise<WeakRef<object>> => {
        const read = again.transit.read();
        try {
          for (;;) if ((await read.next()).done === true) break;
        } catch (err) {
          codes.push((err as { code?: unknown }).code);
        }
        return new WeakRef(read);
      };
      const refs = [await failed(), await failed()];
      const gc = collector();
      for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        gc();
      }
      expect(codes).toEqual(['ERR_WAL_CORRUPT', 'ERR_WAL_CORRUPT']);
      expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true]);
    } finally {
      await again.close();
    }
  });

  it('close() during a retention run stops a busy subscription cleanly', async () => {
    const storage = await open(newDataDir(), { retention: '1h' });
    const t = storage.transit;
    await appendBig(t, 25);
    age(t.dir, segmentsIn(t.dir));
    let handled = 0;
    const sub = t.subscribe(
      'busy',
      async () => {
        handled++;
        await new Promise((r) => setImmediate(r));
      },
      { batchSize: 1 },
    );
    while (handled < 2) await new Promise((r) => setTimeout(r, 1));
    const run = t.applyRetention();
    await storage.close();
    await expect(sub.done).resolves.toBeUndefined();
    expect(await run).toBeGreaterThan(0);
  });

  it('retention runs never overlap', async () => {
    const storage = await open(newDataDir(), { retention: '1h' });
    try {
      const t = storage.transit;
      await appendBig(t, 25);
      const segments = segmentsIn(t.dir);
      expect(segments.length).toBeGreaterThan(2);
      age(t.dir, segments);
      // Two runs at once: one deletes, the other finds nothing left to delete.
      const counts = await Promise.all([t.applyRetention(), t.applyRetention()]);
      expect(counts.sort()).toEqual([0, segments.length - 2]);
      expect(t.stats().retentionError).toBeNull();
      expect((await t.append(['after'])).lastSeq).toBe(26);
    } finally {
      await storage.close();
    }
  });

  it('a failing fdatasync fails the pending and every later append with ERR_WAL_IO; a reopen keeps the acknowledged prefix', async () => {
    const dataDir = newDataDir();
    injectFaults(join(dataDir, 'wal'), { failSyncAt: 3 });
    let storage = await open(dataDir);
    const acked = [];
    acked.push(await storage.transit.append(['a1']));
    acked.push(await storage.transit.append(['a2']));
    await expect(storage.transit.append(['lost'])).rejects.toMatchObject({ code: 'ERR_WAL_IO', message: expect.stringMatching(/fdatasync/) });
    await expect(storage.transit.append(['after'])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
    expect(storage.transit.stats().failed).toMatch(/fdatasync/);
    await storage.close();
    storage = await open(dataDir);
    try {
      const texts = (await readAll(storage.transit)).map((r) => r.text);
      expect(texts.slice(0, 2)).toEqual(['a1', 'a2']);
      expect(texts).not.toContain('after');
      expect((await storage.transit.append(['again'])).firstSeq).toBe(texts.length + 1);
    } finally {
      await storage.close();
    }
  });

  it('a failing write fails the append with ERR_WAL_IO and a reopen finds exactly the acknowledged prefix', async () => {
    const dataDir = newDataDir();
    injectFaults(join(dataDir, 'wal'), { failWriteAt: 2 });
    let storage = await open(dataDir);
    await storage.transit.append(['w1']);
    await expect(storage.transit.append(['w2'])).rejects.toMatchObject({ code: 'ERR_WAL_IO', message: expect.stringMatching(/write/) });
    await expect(storage.transit.append(['w3'])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
    await storage.close();
    storage = await open(dataDir);
    try {
      expect((await readAll(storage.transit)).map((r) => r.text)).toEqual(['w1']);
    } finally {
      await storage.close();
    }
  });

  it('reports stats: records, bytes, groups, the fdatasync histogram, ring fill and direct I/O', async () => {
    const storage = await open(newDataDir());
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => storage.transit.append([`r${i}`, `s${i}`])));
      const s = storage.transit.stats();
      expect(s.path).toBe(path);
      expect(s.records).toBe(40);
      expect(s.bytes).toBe(100); // payload bytes: r0..r9 and s0..s9 are 2 bytes, r10.. and s10.. 3
      expect(s.appends).toBe(20);
      expect(s.groups).toBeGreaterThanOrEqual(1);
      expect(s.groups).toBeLessThanOrEqual(20);
      expect(s.meanGroupRecords).toBeCloseTo(40 / s.groups);
      expect(s.syncLatencyUs.reduce((a, b) => a + b.count, 0)).toBe(s.groups);
      expect(s.ringCapacity).toBe(1024 * 1024);
      // Every append was acknowledged: the writer took all of it out of the ring.
      expect(s.ringUsedBytes).toBe(0);
      expect(s.ringFill).toBe(0);
      expect(typeof s.directIo).toBe('boolean');
      if (path === 'typescript') expect(s.directIo).toBe(false);
      expect(s.durableSeq).toBe(40);
    } finally {
      await storage.close();
    }
  });

  it('lets one store at a time open a WAL directory (ERR_LOCKED), and is not kept out by the LOCK file of a dead process', async () => {
    const dataDir = newDataDir();
    const storage = await open(dataDir);
    await expect(open(dataDir)).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await storage.close();
    const again = await open(dataDir);
    await again.close();
    // A LOCK file naming a process that no longer exists (as an older version left it) does
    // not block: the lock is the OS lock taken on the file, not the file's contents.
    const { writeFileSync } = await import('node:fs');
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    writeFileSync(join(dataDir, 'wal', 'LOCK'), `${dead}\n`);
    const third = await open(dataDir);
    await third.close();
  });

  it('refuses use after close with ERR_CLOSED, and still reports the final stats', async () => {
    const storage = await open(newDataDir());
    await storage.transit.append(['a', 'bc']);
    // stats() answers all through close(), on both paths.
    let closed = false;
    const closing = storage.close().then(() => (closed = true));
    let failure: unknown = null;
    while (!closed) {
      try {
        storage.transit.stats();
      } catch (err) {
        failure = err;
      }
      await new Promise((r) => setImmediate(r));
    }
    await closing;
    expect(failure).toBeNull();
    await expect(storage.transit.append(['x'])).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(() => storage.transit.tryAppend(['x'])).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => storage.transit.producerHandle()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => storage.transit.read()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => storage.transit.subscribe('s', () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(storage.transit.lastSeq).toBe(2);
    expect(storage.transit.stats()).toMatchObject({ records: 2, bytes: 3, durableSeq: 2 });
  });
});

describe('the TypeScript path when the addon is switched off', () => {
  it('TAPIO_NATIVE=0 runs the whole store on the TypeScript twins and says so', () => {
    const cli = libPath('cli', 'main.js');
    const dataDir = newDataDir();
    // status reads an existing store only: init creates it, on the TypeScript path too.
    execFileSync(process.execPath, [cli, '--data-dir', dataDir, 'init'], { env: { ...process.env, TAPIO_NATIVE: '0' }, encoding: 'utf8' });
    const out = execFileSync(process.execPath, [cli, '--data-dir', dataDir, '--json', 'status'], {
      env: { ...process.env, TAPIO_NATIVE: '0' },
      encoding: 'utf8',
    });
    const status = JSON.parse(out) as { capabilities: { native: boolean; nativeReason: string; crc32c: string; simd: string } };
    expect(status.capabilities.native).toBe(false);
    expect(status.capabilities.nativeReason).toMatch(/TAPIO_NATIVE=0/);
    expect(status.capabilities.crc32c).toBe('typescript');
    expect(status.capabilities.simd).toBe('scalar');
  });
});
