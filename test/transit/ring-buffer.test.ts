import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { transformWithEsbuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENTRY_HEADER_SIZE, RingBuffer, ringEntrySize } from '../../src/transit/ring-buffer.js';

/** Bytes 0..n of a pattern that depends on `tag`, so misplaced bytes show. */
function pattern(n: number, tag: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + tag * 7 + 1) & 0xff);
}

/** Puts a fresh ring at position `pos` (head = tail = pos), as if `pos` bytes had passed through it. */
function ringAt(capacity: number, pos: bigint): RingBuffer {
  const ring = RingBuffer.create(capacity);
  const control = new BigInt64Array(ring.buffer, 0, 16);
  control[0] = pos; // head
  control[8] = pos; // tail
  return ring;
}

function drainAll(ring: RingBuffer): Array<{ ticket: bigint; producerId: number; records: Uint8Array[] }> {
  const out: Array<{ ticket: bigint; producerId: number; records: Uint8Array[] }> = [];
  ring.drain((e) => {
    out.push({ ticket: e.ticket, producerId: e.producerId, records: e.records.map((r) => r.slice()) });
    return true;
  });
  return out;
}

function sameRecords(a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x).equals(b[i]!));
}

function dataIsZero(ring: RingBuffer): boolean {
  return Buffer.from(ring.buffer, 256).equals(Buffer.alloc(ring.capacity));
}

describe('RingBuffer', () => {
  it('pushes and drains entries in order with their records, producer ids and tickets', () => {
    const ring = RingBuffer.create(4096);
    expect(ring.push([pattern(3, 1), pattern(0, 2), pattern(17, 3)], 5)).toBe('ok');
    expect(ring.lastPushTicket).toBe(0n);
    expect(ring.push([pattern(8, 4)], 6)).toBe('ok');
    expect(ring.lastPushTicket).toBe(BigInt(ringEntrySize([pattern(3, 1), pattern(0, 2), pattern(17, 3)])));
    expect(ring.usedBytes()).toBe(ringEntrySize([pattern(3, 1), pattern(0, 2), pattern(17, 3)]) + ringEntrySize([pattern(8, 4)]));
    const got = drainAll(ring);
    expect(got.map((e) => e.producerId)).toEqual([5, 6]);
    expect(got[0]!.records).toEqual([pattern(3, 1), pattern(0, 2), pattern(17, 3)]);
    expect(got[1]!.records).toEqual([pattern(8, 4)]);
    expect(ring.usedBytes()).toBe(0);
    expect(dataIsZero(ring)).toBe(true);
  });

  it("answers 'too-large' above half the capacity and 'full' when there is no room", () => {
    const ring = RingBuffer.create(4096);
    const half = 2048 - ENTRY_HEADER_SIZE - 4; // one record filling exactly half the ring
    expect(ringEntrySize([new Uint8Array(half)])).toBe(2048);
    expect(ring.push([new Uint8Array(half + 1)])).toBe('too-large');
    expect(ring.push([new Uint8Array(half)])).toBe('ok');
    expect(ring.push([new Uint8Array(half)])).toBe('ok');
    expect(ring.push([new Uint8Array(0)])).toBe('full');
    expect(drainAll(ring)).toHaveLength(2);
    expect(ring.push([new Uint8Array(half)])).toBe('ok');
  });

  it('lets the consumer stop before an entry and keeps it for the next drain', () => {
    const ring = RingBuffer.create(4096);
    for (let i = 0; i < 5; i++) ring.push([pattern(10 + i, i)], i);
    let seen = 0;
    expect(ring.drain(() => ++seen <= 2)).toBe(2);
    expect(drainAll(ring).map((e) => e.producerId)).toEqual([2, 3, 4]);
  });

  it('stops at an entry that is reserved but not committed', () => {
    const ring = RingBuffer.create(4096);
    const control = new BigInt64Array(ring.buffer, 0, 16);
    control[0] = 32n; // a producer reserved 32 bytes and has not committed them yet
    expect(ring.push([pattern(5, 1)], 1)).toBe('ok');
    expect(ring.hasCommitted()).toBe(false);
    expect(drainAll(ring)).toEqual([]);
    // The producer commits: its length word becomes visible, and both entries drain in order.
    const words = new Int32Array(ring.buffer, 256);
    words[1] = 0;
    words[2] = 9;
    new BigInt64Array(ring.buffer, 256)[2] = 0n;
    Atomics.store(words, 0, 32);
    expect(drainAll(ring).map((e) => e.producerId)).toEqual([9, 1]);
  });

  it('wraps correctly from every start offset', () => {
    const capacity = 4096;
    const sizes = [0, 1, 5, 8, 100, 333, 1000];
    for (let start = 0; start < capacity; start += 8) {
      const ring = ringAt(capacity, BigInt(capacity * 3 + start));
      for (const [k, n] of sizes.entries()) {
        const records = [pattern(n, start + k), pattern((n * 3) % 200, k)];
        expect(ring.push(records, k)).toBe('ok');
        const ticket = ring.lastPushTicket;
        const got = drainAll(ring);
        expect(got).toHaveLength(1);
        expect(got[0]!.ticket).toBe(ticket);
        expect(got[0]!.producerId).toBe(k);
        expect(sameRecords(got[0]!.records, records)).toBe(true);
      }
      // Several entries in flight across the wrap, then one drain.
      const batch = sizes.map((n, k) => [pattern(n, k + 50)]);
      for (const [k, r] of batch.entries()) expect(ring.push(r, k)).toBe('ok');
      const drained = drainAll(ring);
      expect(drained).toHaveLength(batch.length);
      expect(drained.every((e, k) => sameRecords(e.records, batch[k]!))).toBe(true);
      expect(ring.usedBytes()).toBe(0);
      expect(dataIsZero(ring)).toBe(true);
    }
  });

  it('refuses a buffer that no ring was created in, and bad capacities', () => {
    expect(() => RingBuffer.attach(new SharedArrayBuffer(4096 + 256))).toThrow(/ring/);
    expect(() => RingBuffer.create(5000)).toThrow(/power of two/);
    expect(() => RingBuffer.create(1024)).toThrow(/power of two/);
  });
});

describe('RingBuffer across worker threads', () => {
  let dir: string;
  let moduleUrl: string;

  beforeAll(async () => {
    // Worker threads cannot load TypeScript: compile the ring (it imports nothing) to a module.
    dir = await mkdtemp(join(os.tmpdir(), 'tapio-ring-'));
    const source = await readFile(new URL('../../src/transit/ring-buffer.ts', import.meta.url), 'utf8');
    const { code } = await transformWithEsbuild(source, 'ring-buffer.ts', { format: 'esm', target: 'node20' });
    const file = join(dir, 'ring-buffer.mjs');
    await writeFile(file, code);
    moduleUrl = pathToFileURL(file).href;
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const workerSource = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.moduleUrl).then(({ RingBuffer }) => {
      const ring = RingBuffer.attach(workerData.buffer);
      const { producerId, entries } = workerData;
      for (let i = 0; i < entries; i++) {
        const records = [];
        for (let k = 0; k < 1 + (i % 4); k++) {
          const b = new Uint8Array(8 + ((i * 7 + k * 13) % 61));
          const v = new DataView(b.buffer);
          v.setUint32(0, producerId, true);
          v.setUint32(4, i, true);
          records.push(b);
        }
        while (ring.push(records, producerId) === 'full') ring.waitForSpaceSync(20);
      }
      parentPort.postMessage('done');
    });
  `;

  it("delivers every entry of every producer exactly once, in each producer's order", async () => {
    const producers = 4;
    const entries = 4000;
    const ring = RingBuffer.create(16 * 1024);
    const workers = Array.from(
      { length: producers },
      (_, p) => new Worker(workerSource, { eval: true, workerData: { moduleUrl, buffer: ring.buffer, producerId: p + 1, entries } }),
    );
    const done = Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', () => resolve());
            w.once('error', reject);
          }),
      ),
    );
    const next = new Array<number>(producers + 1).fill(0);
    let received = 0;
    let problems = 0;
    while (received < producers * entries) {
      ring.drain((e) => {
        const i = next[e.producerId]!;
        if (e.records.length !== 1 + (i % 4)) problems++;
        for (const [k, r] of e.records.entries()) {
          const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
          if (r.length !== 8 + ((i * 7 + k * 13) % 61) || v.getUint32(0, true) !== e.producerId || v.getUint32(4, true) !== i) problems++;
        }
        next[e.producerId] = i + 1;
        received++;
        return true;
      });
      if (received < producers * entries) await ring.waitForData(20);
    }
    await done;
    await Promise.all(workers.map((w) => w.terminate()));
    expect(problems).toBe(0);
    expect(next.slice(1)).toEqual(new Array(producers).fill(entries));
    expect(ring.usedBytes()).toBe(0);
    expect(ring.hasCommitted()).toBe(false);
  });
});
