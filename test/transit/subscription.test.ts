// Subscriptions on both paths: failures that are reported, batch handlers, one read per run of
// available records, where a new subscription starts, and the checks of the options of read()
// and subscribe().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { TapioError, TapioStorage, type TransitRecord } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { readCounters, WalReader } from '../../src/transit/wal-reader.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-subscription-'));
  dirs.push(d);
  return d;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));
const texts = (n: number, from = 1): string[] => Array.from({ length: n }, (_, i) => `e${from + i}`);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(paths)('subscriptions on the %s path', (path) => {
  async function open(dataDir: string): Promise<TapioStorage> {
    return TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' } } }, { transit: { path } });
  }

  it('a handler that throws stops the subscription and says so: an error event, the state in stats(), a rejected done', async () => {
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(['a', 'b', 'c']);
      const errors: unknown[] = [];
      t.on('error', (err) => errors.push(err));
      const cause = new Error('cannot parse b');
      const sub = t.subscribe(
        'parser',
        (r) => {
          if (r.seq === 2) throw cause;
        },
        { batchSize: 1 },
      );
      const failure = await sub.done.then(
        () => null,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(TapioError);
      expect(failure).toMatchObject({ code: 'ERR_SUBSCRIBER_HANDLER', cause, details: { subscription: 'parser', seq: 2, checkpoint: 1 } });
      expect((failure as Error).message).toMatch(/subscription "parser" stopped: its handler failed on record 2: cannot parse b/);
      expect(errors).toEqual([failure]);
      expect(sub.state).toBe('failed');
      expect(sub.error).toBe(failure);
      expect(sub.position).toBe(1);
      expect(t.stats().subscriptions).toEqual([
        { name: 'parser', handler: 'record', state: 'failed', position: 1, checkpoint: 1, delivered: 2, batches: 1, error: (failure as Error).message },
      ]);
      expect((await storage.metadata.checkpoints.get('parser'))?.seq).toBe(1);
      // Subscribing again under the same name resumes with the record that failed.
      const again: number[] = [];
      const sub2 = t.subscribe('parser', (r) => {
        again.push(r.seq);
      });
      while (sub2.position < 3) await tick();
      await sub2.close();
      expect(again).toEqual([2, 3]);
      expect(t.stats().subscriptions).toMatchObject([{ name: 'parser', state: 'closed', position: 3, checkpoint: 3, error: null }]);
    } finally {
      await storage.close();
    }
  });

  it('without an error listener, a failed subscription is a process warning, once while the message repeats', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(['a', 'b']);
      for (let i = 0; i < 2; i++) {
        const sub = t.subscribe('poison', async () => {
          throw new Error('always fails');
        });
        await expect(sub.done).rejects.toMatchObject({ code: 'ERR_SUBSCRIBER_HANDLER' });
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/subscription "poison" stopped: its handler failed on record 1: always fails/);
      expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'ERR_SUBSCRIBER_HANDLER' });
    } finally {
      warn.mockRestore();
      await storage.close();
    }
  });

  it('other failures are reported the same way, with the subscription named', async () => {
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(['a']);
      await storage.metadata.checkpoints.set('moved', 50);
      const errors: TapioError[] = [];
      t.on('error', (err: TapioError) => errors.push(err));
      const sub = t.subscribe('moved', () => undefined);
      await expect(sub.done).rejects.toMatchObject({ code: 'ERR_CHECKPOINT_AHEAD', details: { subscription: 'moved', checkpoint: 50, lastSeq: 1 } });
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/^subscription "moved" stopped: /);
      expect(t.stats().subscriptions[0]).toMatchObject({ name: 'moved', state: 'failed' });
    } finally {
      await storage.close();
    }
  });

  it('subscribeBatches hands over arrays in order; the checkpoint of each batch is stored before the next batch is handed over', async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir);
    const batches: Array<{ seqs: number[]; checkpoint: number | undefined }> = [];
    await storage.transit.append(texts(250));
    let sub = storage.transit.subscribeBatches(
      'batches',
      async (records: TransitRecord[]) => {
        for (const r of records) expect(Buffer.from(r.data).toString()).toBe(`e${r.seq}`);
        batches.push({ seqs: records.map((r) => r.seq), checkpoint: (await storage.metadata.checkpoints.get('batches'))?.seq });
      },
      { batchSize: 40 },
    );
    while (sub.position < 250) await tick();
    await storage.transit.append(texts(5, 251));
    while (sub.position < 255) await tick();
    await sub.close();
    expect(batches.flatMap((b) => b.seqs)).toEqual(range(1, 255));
    for (const [i, b] of batches.entries()) {
      expect(b.seqs.length).toBeLessThanOrEqual(40);
      expect(b.checkpoint).toBe(i === 0 ? 0 : batches[i - 1]!.seqs.at(-1));
    }
    expect(batches.slice(0, 6).map((b) => b.seqs.length)).toEqual([40, 40, 40, 40, 40, 40]);
    expect(storage.transit.stats().subscriptions).toMatchObject([
      { name: 'batches', handler: 'batch', state: 'closed', position: 255, checkpoint: 255, delivered: 255 },
    ]);
    await storage.close();

    storage = await open(dataDir);
    try {
      // A batch that fails: the checkpoint stays at the batch before it.
      await storage.transit.append(texts(30, 256));
      storage.transit.on('error', () => undefined);
      sub = storage.transit.subscribeBatches(
        'batches',
        (records) => {
          if (records[0]!.seq > 270) throw new Error('batch refused');
        },
        { batchSize: 15 },
      );
      await expect(sub.done).rejects.toMatchObject({
        code: 'ERR_SUBSCRIBER_HANDLER',
        details: { subscription: 'batches', firstSeq: 271, lastSeq: 285, checkpoint: 270 },
      });
      expect((await storage.metadata.checkpoints.get('batches'))?.seq).toBe(270);
    } finally {
      await storage.close();
    }
  });

  it('batches default to 10,000 records, for subscribe and subscribeBatches alike', async () => {
    const storage = await open(newDataDir());
    try {
      for (let from = 1; from <= 12_000; from += 1000) await storage.transit.append(texts(1000, from));
      const sizes: number[] = [];
      const batches = storage.transit.subscribeBatches('arrays', (records) => {
        sizes.push(records.length);
      });
      const records = storage.transit.subscribe('records', () => undefined);
      while (batches.position < 12_000 || records.position < 12_000) await tick();
      await batches.close();
      await records.close();
      expect(sizes).toEqual([10_000, 2000]);
      expect(storage.transit.stats().subscriptions).toMatchObject([
        { name: 'arrays', batches: 2 },
        { name: 'records', batches: 2 },
      ]);
    } finally {
      await storage.close();
    }
  });

  it('hands a per-record handler the records of a batch as they are read, and stores the checkpoint once per batch', async () => {
    const storage = await open(newDataDir());
    try {
      // 12,000 records of 300 B: a batch of 10,000 is 3 MB, a read of it whole about as much.
      const record = (seq: number): string => `e${seq}`.padEnd(300, '.');
      for (let from = 1; from <= 12_000; from += 1000) await storage.transit.append(Array.from({ length: 1000 }, (_, i) => record(from + i)));
      readCounters.bytesRead = 0;
      let bytesAtFirst = -1;
      const seen: number[] = [];
      const checkpoints = new Map<number, number | undefined>();
      const sub = storage.transit.subscribe('chunks', async (r) => {
        expect(Buffer.from(r.data).toString()).toBe(record(r.seq));
        if (r.seq === 1) bytesAtFirst = readCounters.bytesRead;
        seen.push(r.seq);
        // Where the stored checkpoint is, at the first and last record of each part of the batch.
        if (r.seq % 512 === 1 || r.seq % 512 === 0 || r.seq % 10_000 <= 1) checkpoints.set(r.seq, (await storage.metadata.checkpoints.get('chunks'))?.seq);
      });
      while (sub.position < 12_000) await tick();
      await sub.close();
      expect(seen).toEqual(range(1, 12_000));
      // The first record was handed over before its batch was read whole (3 MB).
      expect(bytesAtFirst).toBeGreaterThan(0);
      expect(bytesAtFirst).toBeLessThan(1024 * 1024);
      // Within a batch the checkpoint is the end of the batch before it, never a part's end.
      for (const [seq, at] of checkpoints) expect(at).toBe(seq <= 10_000 ? 0 : 10_000);
      expect((await storage.metadata.checkpoints.get('chunks'))?.seq).toBe(12_000);
      expect(storage.transit.stats().subscriptions).toMatchObject([{ name: 'chunks', handler: 'record', position: 12_000, checkpoint: 12_000, batches: 2 }]);
    } finally {
      await storage.close();
    }
  });

  it('cuts a batch short once its payloads reach 4 MiB', async () => {
    const storage = await open(newDataDir());
    try {
      for (let i = 0; i < 100; i++) await storage.transit.append([new Uint8Array(100_000).fill(i)]);
      const sizes: number[] = [];
      const sub = storage.transit.subscribeBatches('big', (records) => {
        for (const r of records) expect(r.data[0]).toBe((r.seq - 1) & 0xff);
        sizes.push(records.length);
      });
      while (sub.position < 100) await tick();
      await sub.close();
      // 42 records of 100,000 bytes are the first to reach 4 MiB (4,194,304 bytes).
      expect(sizes).toEqual([42, 42, 16]);
    } finally {
      await storage.close();
    }
  });

  it('close() stops a batch handler after the batch in progress and stores its checkpoint', async () => {
    const storage = await open(newDataDir());
    try {
      await storage.transit.append(texts(100));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen: number[][] = [];
      const sub = storage.transit.subscribeBatches(
        'stops',
        async (records) => {
          seen.push(records.map((r) => r.seq));
          if (seen.length === 2) await gate;
        },
        { batchSize: 10 },
      );
      while (seen.length < 2) await tick();
      const closing = sub.close();
      release();
      await closing;
      expect(seen).toEqual([range(1, 10), range(11, 20)]);
      expect(sub.state).toBe('closed');
      expect((await storage.metadata.checkpoints.get('stops'))?.seq).toBe(20);
    } finally {
      await storage.close();
    }
  });

  it('keeps one read while records are there to read: a new one only after waiting for an append', async () => {
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(texts(1000));
      // Every read is a WalReader whose batches() the subscription takes records from.
      const reads = vi.spyOn(WalReader.prototype, 'batches');
      const got: number[] = [];
      const sub = t.subscribe(
        'reader',
        (r) => {
          got.push(r.seq);
        },
        { batchSize: 10 },
      );
      while (sub.position < 1000) await tick();
      expect(reads).toHaveBeenCalledTimes(1);
      for (let i = 0; i < 3; i++) {
        const { lastSeq } = await t.append(texts(20, 1001 + i * 20));
        while (sub.position < lastSeq) await tick();
      }
      await sub.close();
      expect(got).toEqual(range(1, 1060));
      expect(reads).toHaveBeenCalledTimes(4);
      expect(reads.mock.contexts.map((c) => (c as unknown as { fromSeq: number }).fromSeq)).toEqual([1, 1001, 1021, 1041]);
      reads.mockRestore();
    } finally {
      await storage.close();
    }
  });

  it("start: 'latest' delivers only what is appended after the first subscribe, and a restart skips nothing", async () => {
    const dataDir = newDataDir();
    let storage = await open(dataDir);
    await storage.transit.append(texts(5));
    const got: number[] = [];
    let sub = storage.transit.subscribe(
      'tail',
      (r) => {
        got.push(r.seq);
      },
      { start: 'latest' },
    );
    await storage.transit.append(texts(2, 6));
    while (sub.position < 7) await tick();
    await sub.close();
    expect(got).toEqual([6, 7]);
    // Subscribed once, closed before anything new: the records appended meanwhile still come.
    sub = storage.transit.subscribe('quiet', () => undefined, { start: 'latest' });
    await sub.close();
    expect((await storage.metadata.checkpoints.get('quiet'))?.seq).toBe(7);
    await storage.transit.append(texts(3, 8));
    await storage.close();

    storage = await open(dataDir);
    try {
      const quiet: number[] = [];
      sub = storage.transit.subscribe(
        'quiet',
        (r) => {
          quiet.push(r.seq);
        },
        { start: 'latest' },
      );
      while (sub.position < 10) await tick();
      await sub.close();
      expect(quiet).toEqual([8, 9, 10]);
      // 'latest' is only where a name without a checkpoint starts: 'tail' resumes after 7.
      const tail: number[] = [];
      sub = storage.transit.subscribe(
        'tail',
        (r) => {
          tail.push(r.seq);
        },
        { start: 'latest' },
      );
      while (sub.position < 10) await tick();
      await sub.close();
      expect(tail).toEqual([8, 9, 10]);
    } finally {
      await storage.close();
    }
  });

  it('keeps its internal hooks off the transit object', async () => {
    const storage = await open(newDataDir());
    try {
      for (const hook of ['wakeOnAppend', 'noteBehind', 'retentionSettled']) expect(hook in storage.transit, hook).toBe(false);
    } finally {
      await storage.close();
    }
  });

  it('refuses unknown options and names the type of a wrong value, in read(), subscribe() and subscribeBatches()', async () => {
    const storage = await open(newDataDir());
    try {
      const t = storage.transit;
      await t.append(['a', 'b', 'c']);
      const bad = (p: () => unknown, text: RegExp): void => {
        expect(p).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(text) }));
      };
      bad(() => t.read({ limt: 2 } as never), /^transit\.read\(options\): unknown option 'limt'; did you mean 'limit'\?\. The options are fromSeq, limit$/);
      bad(() => t.read({ from: 2 } as never), /unknown option 'from'.*The options are fromSeq, limit/);
      bad(() => t.read({ fromSeq: '1' } as never), /fromSeq must be a whole number >= 1, got the string '1'$/);
      bad(() => t.read({ fromSeq: 1n } as never), /fromSeq must be a whole number >= 1, got the bigint 1n$/);
      bad(() => t.read({ fromSeq: 1.5 }), /got the number 1\.5$/);
      bad(() => t.read({ limit: '2' } as never), /limit must be a whole number >= 1, got the string '2'$/);
      bad(() => t.read({ limit: 2n } as never), /got the bigint 2n$/);
      bad(() => t.read([] as never), /options must be an object.*got an array/);
      for (const call of ['subscribe', 'subscribeBatches'] as const) {
        const sub = (options: unknown): unknown => t[call]('s', () => undefined, options as never);
        bad(
          () => sub({ batchsize: 10 }),
          new RegExp(
            `^transit\\.${call}\\(name, handler, options\\): unknown option 'batchsize'; did you mean 'batchSize'\\?\\. The options are batchSize, start$`,
          ),
        );
        bad(() => sub({ strat: 'latest' }), /did you mean 'start'/);
        bad(() => sub({ batchSize: '10' }), /batchSize must be a whole number >= 1, got the string '10'$/);
        bad(() => sub({ batchSize: 10n }), /got the bigint 10n$/);
        bad(() => sub({ start: 'newest' }), /start must be 'oldest' or 'latest', got the string 'newest'$/);
        bad(() => t[call]('s', 'handler' as never), /handler must be a function, got the string 'handler'/);
      }
      // Nothing was started by the refused calls.
      expect(t.stats().subscriptions).toEqual([]);
      const limited: number[] = [];
      for await (const r of t.read({ fromSeq: 2, limit: 1 })) limited.push(r.seq);
      expect(limited).toEqual([2]);
    } finally {
      await storage.close();
    }
  });
});
