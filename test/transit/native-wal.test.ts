// NativeAppender's staging and its waiting for ring space, against a stand-in for the addon's
// producer whose ring each test fills and drains itself, so every interleaving of appends and
// writer events is exact. (wal-writer.test.ts runs both backends against their real writers.) The
// last suite calls the real addon's pushBatches with staged arrays that do not add up.
import { afterEach, describe, expect, it } from 'vitest';

import type { TapioError } from '../../src/errors.js';
import { loadNative } from '../../src/native/loader.js';
import { ACK_RECORDS_PER_TURN, type AppendResult } from '../../src/transit/backend.js';
import { NativeAppender, NativeWal, type NativeWalAddon } from '../../src/transit/native-wal.js';
import { reasonError } from '../../src/transit/reasons.js';
import { cleanupDirs, firstDifference, nativeLoaded, options, payload, tempDir } from './wal-helpers.js';
import { turns as countTurns } from '../turns.js';

type OnEvents = (acks: Float64Array, failure: TapioError | undefined, space: boolean) => void;

/** A ring entry's size as the stand-in counts it: a header, and each record with its length. */
const entrySize = (lengths: number[]): number => 16 + lengths.reduce((n, l) => n + 8 + l, 0);

/** The producer of a writer whose ring holds `capacity` bytes of batches until drain() takes them. */
class RingStandIn {
  static capacity = 4096;
  static last: RingStandIn | undefined;
  readonly id = 1;
  readonly onEvents: OnEvents;
  used = 0;
  nextSeq = 1;
  referenced = false;
  /** Batches in the ring, oldest first. */
  readonly ring: Array<{ ticket: number; records: Uint8Array[]; size: number }> = [];
  /** Every record the writer took, in sequence order. */
  readonly written: Uint8Array[] = [];

  constructor(_writerId: number, onEvents: OnEvents) {
    this.onEvents = onEvents;
    RingStandIn.last = this;
  }

  pushBatches(bytes: Uint8Array, lengths: Uint32Array, batches: Float64Array, count: number, status: Uint8Array): number {
    let at = 0;
    let l = 0;
    for (let b = 0; b < count; b++) {
      const n = batches[2 * b + 1]!;
      const own = Array.from(lengths.subarray(l, l + n));
      const size = entrySize(own);
      if (this.used + size > RingStandIn.capacity) {
        status[b] = 1;
        return b;
      }
      const records = own.map((length) => bytes.slice(at, (at += length)));
      l += n;
      this.ring.push({ ticket: batches[2 * b]!, records, size });
      this.used += size;
      status[b] = 0;
    }
    return count;
  }

  ref(): void {
    this.referenced = true;
  }

  unref(): void {
    this.referenced = false;
  }

  detach(): void {}

  /**
   * The writer takes the oldest `k` batches, numbers them, frees their space and acknowledges
   * them, in one event; with `space` false, that event carries the acknowledgements only (the
   * space event comes later, on its own).
   */
  drain(k = this.ring.length, space = true): void {
    const acks: number[] = [];
    for (const e of this.ring.splice(0, k)) {
      acks.push(e.ticket, this.nextSeq, this.nextSeq + e.records.length - 1);
      this.nextSeq += e.records.length;
      this.used -= e.size;
      this.written.push(...e.records);
    }
    this.onEvents(Float64Array.from(acks), undefined, space);
  }
}

const addon = { NativeProducer: RingStandIn } as unknown as NativeWalAddon;

function open(): { appender: NativeAppender; ring: RingStandIn } {
  const appender = new NativeAppender(addon, 1);
  return { appender, ring: RingStandIn.last! };
}

/** Lets the microtasks of the current task run (the appender pushes its stage in one). */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  RingStandIn.capacity = 4096;
});

describe('NativeAppender waiting for ring space', () => {
  it('accepts waiting appends in call order: a smaller later one does not overtake, nor does an append or tryAppend made as earlier ones settle', async () => {
    const { appender, ring } = open();
    const first = appender.tryAppend([payload(1, 2000)])!;
    const big = appender.append([payload(2, 3000)]);
    await tick(); // pushed: the ring has no room for it
    expect(ring.ring).toHaveLength(1);
    // Made while the push is blocked.
    const bigger = appender.append([payload(3, 3000)]);
    const small = appender.append([payload(4, 10)]);
    expect(appender.tryAppend([payload(5, 10)])).toBeNull();
    let late: Promise<AppendResult> | undefined;
    let lateTry: Promise<AppendResult> | null | undefined;
    void first.then(() => {
      late = appender.append([payload(6, 10)]);
      lateTry = appender.tryAppend([payload(7, 10)]);
    });

    ring.drain(); // room for `big` and `small`, not for `bigger`
    await tick();
    expect(ring.ring.map((e) => e.records[0]!.length)).toEqual([3000]);
    expect(lateTry).toBeNull();
    ring.drain();
    await tick();
    ring.drain();
    const results = await Promise.all([first, big, bigger, small, late!]);
    expect(results.map((r) => r.firstSeq)).toEqual([1, 2, 3, 4, 5]);
    expect(ring.written).toEqual([payload(1, 2000), payload(2, 3000), payload(3, 3000), payload(4, 10), payload(6, 10)]);
  });

  it('keeps the stage intact while the ring stays full: every record arrives once, in order', async () => {
    RingStandIn.capacity = 8192;
    const { appender, ring } = open();
    const batches = Array.from({ length: 300 }, (_, b) => Array.from({ length: 1 + (b % 4) }, (_, i) => payload(b * 10 + i, (b * 131 + i * 17) % 900)));
    const results = batches.map((batch) => appender.append(batch));
    await tick();
    for (let round = 0; ring.ring.length > 0; round++) {
      ring.drain(1 + (round % 3));
      await tick();
    }
    const firsts = (await Promise.all(results)).map((r) => r.firstSeq);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    expect(firstDifference(ring.written, batches.flat())).toBeNull();
  });

  it('keeps the event loop alive while an append waits for space, and lets it go once all settled', async () => {
    const { appender, ring } = open();
    const first = appender.tryAppend([payload(1, 3000)])!;
    const waiting = appender.append([payload(2, 3000)]);
    await tick();
    ring.drain(1, false);
    await first;
    // Only `waiting` is pending, and it is not in the ring yet.
    expect(ring.ring).toHaveLength(0);
    expect(ring.referenced).toBe(true);
    let settled = false;
    void appender.settled().then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    ring.onEvents(new Float64Array(0), undefined, true);
    expect(ring.ring).toHaveLength(1);
    ring.drain();
    expect(await waiting).toEqual({ firstSeq: 2, lastSeq: 2 });
    await tick();
    expect(settled).toBe(true);
    expect(ring.referenced).toBe(false);
  });

  it("a writer failure rejects the appends in the ring and those waiting for space with the twin's ERR_WAL_IO", async () => {
    const { appender, ring } = open();
    const inRing = appender.tryAppend([payload(1, 3000)])!;
    const waiting = [appender.append([payload(2, 3000)]), appender.append([payload(3, 10)])];
    await tick();
    const file = '/d/0000000000000001.wal';
    // As the binding delivers the writer's failed state: built by reasonError from the core's reason and details.
    const failure = reasonError('writer-failed', { cause: 'io', operation: 'write', file, errno: 'EIO' });
    ring.onEvents(Float64Array.from([ring.ring[0]!.ticket, -1, -1]), failure, false);
    const expected = { code: 'ERR_WAL_IO', message: failure.message, details: { file, operation: 'write', code: 'EIO' } };
    for (const p of [inRing, ...waiting]) await expect(p).rejects.toMatchObject(expected);
    await expect(appender.append([payload(4, 10)])).rejects.toMatchObject(expected);
    await expect(appender.tryAppend([payload(5, 10)])!).rejects.toMatchObject(expected);
    await appender.settled();
    expect(ring.referenced).toBe(false);
  });
});

/**
 * A producer on `wal` whose acknowledgement events land in `events`. A push asks for a space
 * event before it tries, so a space event with no acknowledgements may come first when the
 * writer frees ring space meanwhile: only events that carry acknowledgements are kept.
 */
function ackingProducer(addon: NativeWalAddon, wal: NativeWal, events: Float64Array[]): InstanceType<NativeWalAddon['NativeProducer']> {
  return new addon.NativeProducer(wal.writerId, (acks) => {
    if (acks.length > 0) events.push(acks);
  });
}

describe('NativeAppender settling acknowledgements', () => {
  it('settles the first writer event of a turn at once and holds the later ones for the next turn, in order', async () => {
    RingStandIn.capacity = 1 << 20;
    const { appender, ring } = open();
    const results = [1, 2, 3].map((k) => appender.append([payload(k, 100)]));
    await tick();
    const turns = countTurns();
    const settledIn: number[] = [];
    results.forEach((r, k) => void r.then(() => (settledIn[k] = turns.now())));
    // Three events in one turn, as Node delivers a writer's events one after another.
    ring.drain(1);
    ring.drain(1);
    ring.drain(1);
    expect((await Promise.all(results)).map((r) => r.firstSeq)).toEqual([1, 2, 3]);
    turns.stop();
    expect(settledIn[1]).toBeGreaterThan(settledIn[0]!);
    expect(settledIn[2]).toBeGreaterThanOrEqual(settledIn[1]!);
  });

  it("settles one event's acknowledgements up to ACK_RECORDS_PER_TURN records a turn (the first always), the rest in the next turns", async () => {
    RingStandIn.capacity = 1 << 20;
    const { appender, ring } = open();
    // Records of 8 bytes: 5,000 + 5,000 cross 8,192, so the third waits a turn.
    const sizes = [5_000, 5_000, 5_000, 10];
    const results = sizes.map((n, k) => appender.append(Array.from({ length: n }, (_, i) => payload(k * 10_000 + i, 8))));
    await tick();
    const turns = countTurns();
    const settledIn: number[] = [];
    results.forEach((r, k) => void r.then(() => (settledIn[k] = turns.now())));
    ring.drain(); // one event acknowledging all four
    expect((await Promise.all(results)).map((r) => r.firstSeq)).toEqual([1, 5_001, 10_001, 15_001]);
    turns.stop();
    expect(ACK_RECORDS_PER_TURN).toBe(8192);
    expect(settledIn[1]).toBe(settledIn[0]);
    expect(settledIn[2]).toBeGreaterThan(settledIn[1]!);
    expect(settledIn[3]).toBe(settledIn[2]);
  });
});

describe.skipIf(!nativeLoaded)("the addon's pushBatches", () => {
  afterEach(cleanupDirs);

  it('refuses staged arrays that do not add up before it queues any batch', async () => {
    const addon = loadNative() as unknown as NativeWalAddon;
    const wal = await NativeWal.open(options(await tempDir()));
    const events: Float64Array[] = [];
    const producer = ackingProducer(addon, wal, events);
    try {
      const bytes = new Uint8Array(40).fill(7);
      const status = new Uint8Array(2);
      // Batch 1 (ticket 1, two records of 10 bytes) is sound; batch 2 claims 30 bytes of the 20 left.
      const lengths = Uint32Array.from([10, 10, 30]);
      expect(() => producer.pushBatches(bytes, lengths, Float64Array.from([1, 2, 2, 1]), 2, status)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/record lengths exceed/) }),
      );
      // Batch 2 names more records than there are lengths.
      expect(() => producer.pushBatches(bytes, Uint32Array.from([10, 10]), Float64Array.from([1, 2, 2, 5]), 2, status)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/more records than were given/) }),
      );
      // Nothing was queued: a sound push still works, and its records are the first the writer
      // numbers and the only ones it wrote (anything queued before would have come first).
      producer.ref();
      expect(producer.pushBatches(bytes, Uint32Array.from([10, 10]), Float64Array.from([9, 2]), 1, status)).toBe(1);
      while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(Array.from(events[0]!)).toEqual([9, 1, 2]);
      expect(wal.stats()).toMatchObject({ records: 2, bytes: 20, durableSeq: 2 });
      // A ticket must be a whole JavaScript number.
      for (const ticket of [Infinity, -1, NaN, 2 ** 64]) {
        expect(() => producer.pushBatches(bytes, Uint32Array.from([10]), Float64Array.from([ticket, 1]), 1, status)).toThrow(
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/ticket/) }),
        );
      }
    } finally {
      producer.detach();
      await wal.close();
    }
  });

  it('queues what it checked even when the status array shares memory with the lengths', async () => {
    const addon = loadNative() as unknown as NativeWalAddon;
    const dir = await tempDir();
    const wal = await NativeWal.open(options(dir));
    const events: Float64Array[] = [];
    const producer = ackingProducer(addon, wal, events);
    try {
      producer.ref();
      const tooLarge = 2 << 20; // beyond a 1 MiB segment: refused with status 2
      const bytes = new Uint8Array(tooLarge + 16).fill(5);
      const shared = new ArrayBuffer(16);
      const lengths = new Uint32Array(shared, 0, 2);
      lengths.set([tooLarge, 16]);
      // status[0] is the third byte of lengths[1]: writing 2 there makes it 131088 once it was checked.
      const status = new Uint8Array(shared, 6, 2);
      expect(producer.pushBatches(bytes, lengths, Float64Array.from([1, 1, 2, 1]), 2, status)).toBe(2);
      while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(Array.from(events[0]!)).toEqual([2, 1, 1]);
      expect(wal.stats().bytes).toBe(16);
    } finally {
      producer.detach();
      await wal.close();
    }
  });
});
