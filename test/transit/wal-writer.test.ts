import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { crc32cTs } from '../../src/native/crc32c.js';
import type { AppendResult } from '../../src/transit/backend.js';
import { maxPayload } from '../../src/transit/format.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { backends, cleanupDirs, firstDifference, options, payload, readAll, readAt, segPath, tempDir } from './wal-helpers.js';
import { injectFaults } from '../../src/transit/test-hooks.js';
import { turns } from '../turns.js';

afterEach(cleanupDirs);

describe.each(backends)('transit WAL writer (%s)', (name, openWal) => {
  it('appends, reopens, reads back byte-identical records numbered from 1, and continues after reopen', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir));
    expect(wal.recovery).toMatchObject({ segments: 0, firstSeq: 0, lastSeq: 0, tornBytes: 0, salvaged: [] });
    const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 1 + (b % 5) }, (_, i) => payload(b * 10 + i, (b * 37 + i * 11) % 300)));
    const results = await Promise.all(batches.map((batch) => wal.append(batch)));
    let next = 1;
    for (const [b, r] of results.entries()) {
      expect(r).toEqual({ firstSeq: next, lastSeq: next + batches[b]!.length - 1 });
      next = r.lastSeq + 1;
    }
    expect(wal.stats().durableSeq).toBe(next - 1);
    await wal.close();

    const all = batches.flat();
    const back = await readAll(dir);
    expect(back.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    expect(
      firstDifference(
        back.map((r) => r.data),
        all,
      ),
    ).toBeNull();

    const again = await openWal(options(dir));
    expect(again.recovery).toMatchObject({ segments: 1, firstSeq: 1, lastSeq: all.length, tornBytes: 0 });
    expect(await again.append([payload(999, 10)])).toEqual({ firstSeq: all.length + 1, lastSeq: all.length + 1 });
    await again.close();
    const back2 = await readAll(dir, { fromSeq: all.length });
    expect(back2.map((r) => r.seq)).toEqual([all.length, all.length + 1]);
    expect(back2[1]!.data).toEqual(payload(999, 10));
  });

  it('tells the newest durable sequence number alone (lastDurableSeq) as stats() does: new, after appends, after a reopen and after close', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir));
    expect(wal.lastDurableSeq()).toBe(0);
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, b) => {
        const r = await wal.append(Array.from({ length: b + 1 }, (_, i) => payload(b * 10 + i, 20)));
        // Durable when acknowledged: the answer never lags behind an acknowledgement.
        expect(wal.lastDurableSeq()).toBeGreaterThanOrEqual(r.lastSeq);
        seen.push(wal.lastDurableSeq());
      }),
    );
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(wal.lastDurableSeq()).toBe(36);
    expect(wal.lastDurableSeq()).toBe(wal.stats().durableSeq);
    await wal.close();
    expect(wal.lastDurableSeq()).toBe(36);
    expect(wal.stats().durableSeq).toBe(36);
    const again = await openWal(options(dir));
    expect(again.lastDurableSeq()).toBe(36);
    await again.append([payload(1, 1)]);
    expect(again.lastDurableSeq()).toBe(37);
    await again.close();
  });

  it('writes exactly the documented bytes', async () => {
    const dir = await tempDir();
    const before = Date.now();
    const wal = await openWal(options(dir));
    const records = [payload(1, 0), payload(2, 1), payload(3, 8), payload(4, 13)];
    await wal.append(records.slice(0, 2));
    await wal.append(records.slice(2));
    await wal.close();
    const after = Date.now();

    const id = JSON.parse(await readFile(join(dir, 'WAL_ID'), 'utf8')) as { storeId: string };
    expect(await readFile(join(dir, 'WAL_ID'), 'utf8')).toBe(`{"format":"tapio-wal","version":1,"storeId":"${id.storeId}"}`);
    const file = await readFile(segPath(dir, 1));
    expect(file.length).toBe(1 << 20);

    // The expected file, built from the format description with plain Buffer calls.
    const expected = Buffer.alloc(1 << 20);
    expected.write('TAPIOWAL', 0, 'latin1');
    expected.writeUInt32LE(1, 8);
    expected.writeUInt32LE(64, 12);
    expected.writeBigUInt64LE(1n, 16);
    expected.writeBigUInt64LE(1n, 24);
    Buffer.from(id.storeId, 'hex').copy(expected, 32);
    const created = file.readBigUInt64LE(48);
    expect(Number(created)).toBeGreaterThanOrEqual(before);
    expect(Number(created)).toBeLessThanOrEqual(after);
    expected.writeBigUInt64LE(created, 48);
    expected.writeUInt32LE(1 << 20, 56);
    expected.writeUInt32LE(crc32cTs(expected.subarray(0, 60)), 60);
    let at = 4096;
    for (const [i, r] of records.entries()) {
      expected.writeUInt32LE(r.length, at + 4);
      expected.writeBigUInt64LE(BigInt(i + 1), at + 8);
      expected.set(r, at + 16);
      expected.writeUInt32LE(crc32cTs(expected.subarray(at + 4, at + 16 + r.length)), at);
      at += Math.ceil((16 + r.length) / 8) * 8;
    }
    expect(file.equals(expected)).toBe(true);
  });

  it('rolls to a new segment when a record does not fit, splitting a batch if needed', async () => {
    const dir = await tempDir();
    const size = 100_000; // 10 records fit in a 1 MiB segment
    const wal = await openWal(options(dir, { ringCapacity: 8 << 20 }));
    const single = Array.from({ length: 25 }, (_, i) => payload(i + 1, size));
    for (const p of single) await wal.append([p]);
    // One batch of 25 records spans three segments; it resolves once, with contiguous numbers.
    const batch = Array.from({ length: 25 }, (_, i) => payload(i + 100, size));
    expect(await wal.append(batch)).toEqual({ firstSeq: 26, lastSeq: 50 });
    // The largest record a segment can hold fills a segment of its own.
    const biggest = payload(7, maxPayload(1 << 20));
    expect(await wal.append([biggest])).toEqual({ firstSeq: 51, lastSeq: 51 });
    expect(await wal.append([payload(8, 5)])).toEqual({ firstSeq: 52, lastSeq: 52 });
    await wal.close();

    const names = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
    expect(names).toHaveLength(7);
    const firstSeqs = await Promise.all(names.map(async (_, i) => Number((await readAt(segPath(dir, i + 1), 24, 8)).readBigUInt64LE(0))));
    expect(firstSeqs).toEqual([1, 11, 21, 31, 41, 51, 52]);
    const back = await readAll(dir);
    expect(back.map((r) => r.seq)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    expect(
      firstDifference(
        back.map((r) => r.data),
        [...single, ...batch, biggest, payload(8, 5)],
      ),
    ).toBeNull();

    const again = await openWal(options(dir));
    expect(again.recovery).toMatchObject({ segments: 7, firstSeq: 1, lastSeq: 52, tornBytes: 0 });
    expect(await again.append([payload(9, 5)])).toEqual({ firstSeq: 53, lastSeq: 53 });
    await again.close();
    expect(await readAll(dir, { fromSeq: 45, toSeq: 52 })).toHaveLength(8);
  });

  it('commits concurrent appends in shared groups (one write and one fdatasync each)', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 8 << 20, maxGroupBytes: 4 << 20, segmentSize: 64 << 20 }));
    const appenders = 64;
    const rounds = 20;
    const batch = Array.from({ length: 16 }, (_, i) => payload(i, 200));
    const results: AppendResult[] = [];
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        for (let r = 0; r < rounds; r++) results.push(await wal.append(batch));
      }),
    );
    const stats = wal.stats();
    await wal.close();
    const appends = appenders * rounds;
    expect(stats.records).toBe(appends * 16);
    expect(stats.groups).toBeLessThanOrEqual(appends / 8);
    expect(stats.syncLatencyUs.reduce((n, b) => n + b.count, 0)).toBe(stats.groups);
    expect(stats.syncLatencyUs.map((b) => b.le)).toEqual([50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, Infinity]);
    // Every sequence number was handed out exactly once.
    const seqs = results.flatMap((r) => Array.from({ length: r.lastSeq - r.firstSeq + 1 }, (_, i) => r.firstSeq + i)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: appends * 16 }, (_, i) => i + 1));
    expect((await readAll(dir)).length).toBe(appends * 16);
  });

  it('waits for ring space instead of dropping, and tryAppend returns null when the ring is full', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    const batch = Array.from({ length: 16 }, (_, i) => payload(i, 200));
    // Fill the ring synchronously. The TypeScript writer cannot drain before this loop ends, so
    // at most 19 entries of 3344 bytes fit; the native writer thread drains meanwhile.
    const accepted: Array<Promise<AppendResult>> = [];
    for (;;) {
      const p = wal.tryAppend(batch);
      if (p === null) break;
      accepted.push(p);
    }
    expect(accepted.length).toBeGreaterThan(5);
    if (name === 'typescript') {
      expect(accepted.length).toBeLessThan(20);
      expect(wal.stats().ringUsedBytes).toBeGreaterThan(32 * 1024);
    }
    // append() waits instead.
    const waiting = Array.from({ length: 500 }, (_, i) => wal.append([payload(i, 100 + (i % 50)), ...batch]));
    await Promise.all([...accepted, ...waiting]);
    const total = accepted.length * 16 + 500 * 17;
    expect(wal.stats().durableSeq).toBe(total);
    const later = wal.tryAppend([payload(1, 1)]);
    expect(later).not.toBeNull();
    await later;
    await wal.close();
    const back = await readAll(dir);
    expect(back.length).toBe(total + 1);
    const firstOfWaiting = await Promise.all(waiting.map(async (p) => (await p).firstSeq));
    expect(back[firstOfWaiting[3]! - 1]!.data).toEqual(payload(3, 103));
  });

  it('appends that wait for ring space keep their call order, and tryAppend does not go ahead of them', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    const batch = Array.from({ length: 16 }, (_, i) => payload(i, 200));
    const accepted: Array<Promise<AppendResult>> = [];
    for (let p = wal.tryAppend(batch); p !== null; p = wal.tryAppend(batch)) accepted.push(p);
    const waiting = Array.from({ length: 500 }, (_, i) => wal.append([payload(i, 100 + (i % 50)), ...batch]));
    expect(wal.tryAppend(batch)).toBeNull();
    await Promise.all([...accepted, ...waiting]);
    await wal.close();
    const firstOfWaiting = await Promise.all(waiting.map(async (p) => (await p).firstSeq));
    expect(firstOfWaiting).toEqual([...firstOfWaiting].sort((a, b) => a - b));
  });

  it('a batch that waits for ring space is not overtaken by smaller later ones, nor by appends made as earlier ones settle', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    const batch = Array.from({ length: 16 }, (_, i) => payload(i, 200));
    const accepted: Array<Promise<AppendResult>> = [];
    for (let p = wal.tryAppend(batch); p !== null; p = wal.tryAppend(batch)) accepted.push(p);
    // About 20 times the ring: these wait while earlier ones settle.
    const filler = Array.from({ length: 400 }, () => wal.append(batch));
    // Close to half the ring, so it fits only once the ring is about half empty; each small
    // record behind it would fit much sooner.
    const bigBatch = Array.from({ length: 8 }, (_, i) => payload(1000 + i, 3500));
    const big = wal.append(bigBatch);
    const smallRecords = Array.from({ length: 100 }, (_, i) => payload(2000 + i, 10));
    const small = smallRecords.map((r) => wal.append([r]));
    // Each settled append makes another append and a tryAppend, after all of the above.
    const late: Array<Promise<AppendResult>> = [];
    const reactions = [...accepted, ...filler].map((p) =>
      p.then(() => {
        late.push(wal.append([payload(3000, 10)]));
        const t = wal.tryAppend([payload(3001, 10)]);
        if (t !== null) late.push(t);
      }),
    );
    const queued = await Promise.all([...filler, big, ...small]);
    await Promise.all(reactions);
    const after = await Promise.all(late);
    await wal.close();
    const firsts = queued.map((r) => r.firstSeq);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    // No append made later got a sequence number between them: they follow each other.
    for (let i = 1; i < queued.length; i++) expect(queued[i]!.firstSeq).toBe(queued[i - 1]!.lastSeq + 1);
    const lastQueued = queued.at(-1)!.lastSeq;
    expect(after.length).toBeGreaterThanOrEqual(accepted.length + filler.length);
    expect(after.filter((r) => r.firstSeq <= lastQueued)).toEqual([]);
    const back = await readAll(dir, { fromSeq: queued[0]!.firstSeq, toSeq: lastQueued });
    expect(
      firstDifference(
        back.map((r) => r.data),
        [...filler.flatMap(() => batch), ...bigBatch, ...smallRecords],
      ),
    ).toBeNull();
  });

  it('refuses appends made while close() is under way, and still settles the ones made before', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    const before = Array.from({ length: 50 }, (_, i) => wal.append([payload(i, 1000)]));
    const closing = wal.close();
    await expect(wal.append([payload(1, 1)])).rejects.toMatchObject({ code: 'ERR_CLOSED', message: /closing/ });
    await expect(wal.tryAppend([payload(1, 1)])!).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(() => wal.producerHandle()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }) as Error);
    await closing;
    expect((await Promise.all(before)).at(-1)).toEqual({ firstSeq: 50, lastSeq: 50 });
    expect((await readAll(dir)).length).toBe(50);
  });

  it('close() waits for every accepted append; appends after close are refused', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    const pending = Array.from({ length: 200 }, (_, i) => wal.append([payload(i, 1000)]));
    await wal.close();
    const results = await Promise.all(pending);
    expect(results.at(-1)).toEqual({ firstSeq: 200, lastSeq: 200 });
    await expect(wal.append([payload(1, 1)])).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await wal.close();
    expect((await readAll(dir)).length).toBe(200);
  });

  it('refuses bad input with clear errors', async () => {
    const dir = await tempDir();
    const wal = await openWal(options(dir, { ringCapacity: 64 * 1024 }));
    await expect(wal.append('abc' as unknown as Uint8Array[])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /array/ });
    await expect(wal.append([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /empty/ });
    await expect(wal.append([new Uint8Array(1), 'x' as unknown as Uint8Array])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: /records\[1\] must be a Uint8Array/,
    });
    await expect(wal.append([new Uint8Array(maxPayload(1 << 20) + 1)])).rejects.toMatchObject({ code: 'ERR_RECORD_TOO_LARGE', message: /segment_size/ });
    await expect(wal.append([new Uint8Array(40 * 1024)])).rejects.toMatchObject({ code: 'ERR_RECORD_TOO_LARGE', message: /ring_capacity/ });
    await expect(wal.tryAppend([])!).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(await wal.append([Buffer.from('still fine')])).toEqual({ firstSeq: 1, lastSeq: 1 });
    await wal.close();

    await expect(openWal(options(dir, { segmentSize: 1000 }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /segmentSize/ });
    await expect(openWal(options(dir, { ringCapacity: 100_000 }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /ringCapacity/ });
    await expect(openWal(options(dir, { recovery: 'maybe' as 'strict' }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /recovery/ });
  });

  describe('fault injection', () => {
    const sized = (i: number): Uint8Array => payload(i, 3000); // with maxGroupBytes 4096, one append per group

    it('a failed write fails the pending append and every later one; reopen recovers exactly the acknowledged prefix', async () => {
      const dir = await tempDir();
      injectFaults(dir, { failWriteAt: 3 });
      const wal = await openWal(options(dir, { maxGroupBytes: 4096 }));
      const settled = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => wal.append([sized(i + 1)])));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected', 'rejected']);
      const err = (settled[2] as PromiseRejectedResult).reason as { code: string; message: string; details: Record<string, unknown> };
      expect(err.code).toBe('ERR_WAL_IO');
      expect(err.message).toContain(segPath(dir, 1));
      expect(err.message).toMatch(/write/);
      expect(err.message).toMatch(/EIO/);
      expect(err.details).toMatchObject({ operation: 'write', code: 'EIO', file: segPath(dir, 1) });
      await expect(wal.append([sized(9)])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      await expect(wal.tryAppend([sized(9)])!).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      expect(wal.stats().failed).toMatch(/EIO/);
      expect(wal.stats().durableSeq).toBe(2);
      // Durable, not accepted: the four refused appends were taken into the ring, none was synced.
      expect(wal.lastDurableSeq()).toBe(2);
      await wal.close();

      const again = await openWal(options(dir));
      expect(again.recovery).toMatchObject({ lastSeq: 2, tornBytes: 0 });
      await again.close();
      expect((await readAll(dir)).map((r) => r.data)).toEqual([sized(1), sized(2)]);
    });

    it('a roll that cannot create the next segment fails the writer; reopen recovers what was acknowledged', async () => {
      const dir = await tempDir();
      const wal = await openWal(options(dir, { ringCapacity: 4 << 20 }));
      const first = Array.from({ length: 10 }, (_, i) => payload(i, 100_000)); // fills segment 1
      for (const p of first) await wal.append([p]);
      // Something else took the next segment's name: its O_EXCL creation fails.
      await writeFile(segPath(dir, 2), 'not ours');
      await expect(wal.append([payload(10, 100_000)])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      await expect(wal.append([payload(11, 10)])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      await wal.close();
      await unlink(segPath(dir, 2));
      const again = await openWal(options(dir));
      expect(again.recovery).toMatchObject({ segments: 1, lastSeq: 10 });
      expect(await again.append([payload(12, 10)])).toEqual({ firstSeq: 11, lastSeq: 11 });
      await again.close();
      expect(
        firstDifference(
          (await readAll(dir)).map((r) => r.data),
          [...first, payload(12, 10)],
        ),
      ).toBeNull();
    });

    it('a failure rejects the appends that wait for ring space with ERR_WAL_IO and its details', async () => {
      const dir = await tempDir();
      injectFaults(dir, { failWriteAt: 2 });
      const wal = await openWal(options(dir, { ringCapacity: 64 * 1024, maxGroupBytes: 4096 }));
      // Five times the ring: most of these wait for space when the second group's write fails.
      const appends = Array.from({ length: 100 }, (_, i) => wal.append([sized(i + 1)]));
      expect(wal.tryAppend([sized(0)])).toBeNull();
      const settled = await Promise.allSettled(appends);
      expect(settled[0]).toEqual({ status: 'fulfilled', value: { firstSeq: 1, lastSeq: 1 } });
      for (const s of settled.slice(1)) {
        expect(s).toMatchObject({ status: 'rejected', reason: { code: 'ERR_WAL_IO', details: { operation: 'write', code: 'EIO', file: segPath(dir, 1) } } });
      }
      await expect(wal.append([sized(9)])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      expect(wal.stats().durableSeq).toBe(1);
      await wal.close();
      expect((await readAll(dir)).map((r) => r.data)).toEqual([sized(1)]);
    });

    it('a failed fdatasync is never retried: the pending and later appends fail; reopen keeps the acknowledged prefix', async () => {
      const dir = await tempDir();
      injectFaults(dir, { failSyncAt: 2 });
      const wal = await openWal(options(dir, { maxGroupBytes: 4096 }));
      const settled = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => wal.append([sized(i + 1)])));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
      expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({
        code: 'ERR_WAL_IO',
        message: expect.stringMatching(/fdatasync/),
        details: { operation: 'fdatasync', code: 'EIO' },
      });
      await expect(wal.append([sized(9)])).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      expect(wal.stats().durableSeq).toBe(1);
      await wal.close();

      // The injected failure drops what no fdatasync covered, as a device that lost its cache
      // would: the log holds the acknowledged prefix. The native writer writes the next group
      // while the fdatasync of the one before runs; a write that ended before that fdatasync began
      // is made durable by it, though its own append fails with the next fdatasync (seen under
      // load). Such records follow the prefix whole and in order. The TypeScript writer writes
      // only after each fdatasync, so its log is exactly the prefix.
      const kept = (await readAll(dir)).map((r) => r.data);
      expect(kept).toEqual([sized(1), sized(2), sized(3), sized(4)].slice(0, Math.max(1, kept.length)));
      if (name === 'typescript') expect(kept).toHaveLength(1);
      const again = await openWal(options(dir));
      expect(again.recovery).toMatchObject({ lastSeq: kept.length, tornBytes: 0 });
      expect(await again.append([sized(5)])).toEqual({ firstSeq: kept.length + 1, lastSeq: kept.length + 1 });
      await again.close();
    });
  });
});

// The TypeScript writer runs on the event loop: it encodes a group a slice of time at a time and
// acknowledges a few appends per turn. The clock is a stand-in advancing 0.5 ms per look, so the
// slices do not depend on this machine's speed.
describe('the TypeScript writer on the event loop', () => {
  /** Runs `run` with performance.now() a stand-in that advances `stepMs` at every look. */
  async function withStandInClock<T>(stepMs: number, run: () => Promise<T>): Promise<T> {
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => (now += stepMs));
    try {
      return await run();
    } finally {
      clock.mockRestore();
    }
  }

  /** The log in `dir` holds exactly `records`, in order, numbered from 1. */
  async function expectLog(dir: string, records: Uint8Array[]): Promise<void> {
    const back = await readAll(dir);
    expect(back.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    expect(
      firstDifference(
        back.map((r) => r.data),
        records,
      ),
    ).toBeNull();
  }

  it('encodes a large append in slices with turns of the event loop between them, and writes it as one group', async () => {
    const dir = await tempDir();
    const wal = await TsWalWriter.open(options(dir, { segmentSize: 16 << 20, ringCapacity: 8 << 20, maxGroupBytes: 8 << 20 }));
    const records = Array.from({ length: 20_000 }, (_, i) => payload(i, 100));
    // Turns of the loop that ran while the append's records were still in the ring, being encoded.
    let turnsWhileEncoding = 0;
    let ticking = true;
    const tick = (): void => {
      if (wal.stats().ringUsedBytes > 0) turnsWhileEncoding++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const result = await withStandInClock(0.5, () => wal.append(records)).finally(() => (ticking = false));
    expect(result).toEqual({ firstSeq: 1, lastSeq: 20_000 });
    // 20,000 records at 256 per look at the clock and two looks per slice: about 78 slices.
    expect(turnsWhileEncoding).toBeGreaterThan(20);
    expect(wal.stats()).toMatchObject({ groups: 1, records: 20_000 });
    await wal.close();
    await expectLog(dir, records);
  });

  it('goes on with every slice even when making the views of one large entry takes longer than a slice', async () => {
    // A clock that has run out at every look: each slice must still place records.
    const dir = await tempDir();
    const wal = await TsWalWriter.open(options(dir, { segmentSize: 16 << 20, ringCapacity: 16 << 20, maxGroupBytes: 8 << 20 }));
    const one = [payload(0, 10)];
    const many = Array.from({ length: 200_000 }, (_, i) => payload(i + 1, 1));
    await withStandInClock(5, async () => {
      // A small append and a large one in the same turn, then a large one alone.
      const [a, b] = await Promise.all([wal.append(one), wal.append(many.slice(0, 40_000))]);
      expect([a, b]).toEqual([
        { firstSeq: 1, lastSeq: 1 },
        { firstSeq: 2, lastSeq: 40_001 },
      ]);
      expect(await wal.append(many.slice(40_000))).toEqual({ firstSeq: 40_002, lastSeq: 200_001 });
    });
    await wal.close();
    await expectLog(dir, [...one, ...many]);
  });

  it('an append that fills the segment in the middle of a slice goes on in the next segment, whole and in order', async () => {
    const dir = await tempDir();
    const wal = await TsWalWriter.open(options(dir, { segmentSize: 1 << 20, ringCapacity: 8 << 20, maxGroupBytes: 8 << 20 }));
    const records = Array.from({ length: 30_000 }, (_, i) => payload(i, 100)); // about 3.5 MB: four segments
    expect(await withStandInClock(0.3, () => wal.append(records))).toEqual({ firstSeq: 1, lastSeq: 30_000 });
    await wal.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.wal')).length).toBeGreaterThanOrEqual(4);
    await expectLog(dir, records);
  });

  it('acknowledges appends of a group a few thousand records per turn, in order', async () => {
    const dir = await tempDir();
    const wal = await TsWalWriter.open(options(dir, { segmentSize: 16 << 20, ringCapacity: 8 << 20, maxGroupBytes: 8 << 20 }));
    const turn = turns();
    const settledIn: number[] = [];
    const appends = Array.from({ length: 4 }, (_, k) =>
      wal.append(Array.from({ length: 10_000 }, (_, i) => payload(k * 10_000 + i, 50))).then((r) => {
        settledIn.push(turn.now());
        return r;
      }),
    );
    const results = await Promise.all(appends);
    turn.stop();
    expect(results.map((r) => r.firstSeq)).toEqual([1, 10_001, 20_001, 30_001]);
    // At least two of them shared a group (the first may have gone alone), and with 10,000 records
    // each (more than 8,192), one append is acknowledged per turn (the first of a turn always goes).
    expect(wal.stats().groups).toBeLessThan(4);
    expect(new Set(settledIn).size).toBe(4);
    expect([...settledIn].sort((a, b) => a - b)).toEqual(settledIn);
    await wal.close();
  });
});
