import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { compareKeys, prefixEnd } from '../../src/metadata/keys.js';
import { BatchSizer, MAX_BATCH_WRITES, type KvStore } from '../../src/metadata/kv.js';
import { openLmdbKv } from '../../src/metadata/kv-lmdb.js';
import { openMemoryKv } from '../../src/metadata/kv-memory.js';
import { cleanup, tempDir, turns } from './helpers.js';

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('key order', () => {
  it('compareKeys orders strings by their UTF-8 bytes', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 8 });
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(utf8Order(a, b)));
      }),
      { numRuns: 5000 },
    );
    expect(compareKeys('\uffee', '😀')).toBeLessThan(0); // code unit order would say the opposite
    expect(compareKeys('a', 'ab')).toBeLessThan(0);
  });

  it('prefixEnd bounds exactly the keys that start with the prefix', () => {
    expect(prefixEnd('users:')).toBe('users;');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 6 }), (rest) => {
        expect(compareKeys(`users:${rest}`, prefixEnd('users:'))).toBeLessThan(0);
      }),
    );
  });
});

type Op =
  | { kind: 'put'; key: string; value: number }
  | { kind: 'remove'; key: string }
  | { kind: 'txn'; puts: Array<[string, number]>; removes: string[]; fail: boolean }
  | { kind: 'range'; prefix: string; after: string | undefined; limit: number };

const keyArb = fc
  .tuple(fc.constantFrom('a:', 'b:', 'ab:'), fc.string({ unit: fc.constantFrom('x', 'y', 'é', '€', '😀', '\uffee', ':'), maxLength: 3 }))
  .map(([p, s]) => p + s);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArb, value: fc.integer() }),
  fc.record({ kind: fc.constant('remove' as const), key: keyArb }),
  fc.record({
    kind: fc.constant('txn' as const),
    puts: fc.array(fc.tuple(keyArb, fc.integer()), { maxLength: 4 }),
    removes: fc.array(keyArb, { maxLength: 3 }),
    fail: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('range' as const),
    prefix: fc.constantFrom('a:', 'b:', 'ab:'),
    after: fc.option(keyArb, { nil: undefined }),
    limit: fc.integer({ min: 1, max: 6 }),
  }),
);

/** Runs a batch of ops without awaiting between them (one commit), and returns every outcome. */
async function runBatch(kv: KvStore, ops: Op[]): Promise<unknown[]> {
  const pending = ops.map((op): Promise<unknown> | unknown => {
    switch (op.kind) {
      case 'put':
        return kv.put(op.key, { v: op.value });
      case 'remove':
        return kv.remove(op.key);
      case 'range':
        return kv.range(op.prefix, op.after, op.limit);
      case 'txn':
        return kv
          .transaction((tx) => {
            const seen: unknown[] = [];
            for (const [k, v] of op.puts) {
              tx.put(k, { v });
              seen.push(tx.get(k));
            }
            for (const k of op.removes) seen.push(tx.remove(k));
            seen.push(tx.range(op.removes[0]?.slice(0, 2) ?? 'a:', undefined, 5));
            if (op.fail) throw new Error('rollback');
            return seen;
          })
          .catch((err: Error) => `rejected: ${err.message}`);
    }
  });
  return Promise.all(pending);
}

describe('lmdb and in-memory backends', () => {
  let dir: string;
  let lmdb: KvStore;
  let memory: KvStore;

  beforeAll(async () => {
    dir = await tempDir();
    lmdb = openLmdbKv({ path: dir, compression: false });
    memory = openMemoryKv();
  });

  afterAll(async () => {
    await lmdb.close();
    await memory.close();
    await cleanup(dir);
  });

  it('give the same results for any sequence of batches of puts, removes, transactions and ranges', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }), async (batches) => {
        // A fresh key space per run: clear both stores.
        round++;
        for (const kv of [lmdb, memory]) {
          await kv.transaction((tx) => {
            for (const p of ['a:', 'ab:', 'b:']) for (const { key } of tx.range(p, undefined, 10_000)) tx.remove(key);
          });
        }
        for (const batch of batches) {
          const [fromLmdb, fromMemory] = await Promise.all([runBatch(lmdb, batch), runBatch(memory, batch)]);
          expect(fromMemory, `round ${round}`).toEqual(fromLmdb);
        }
        for (const p of ['a:', 'ab:', 'b:']) expect(memory.range(p, undefined, 10_000)).toEqual(lmdb.range(p, undefined, 10_000));
      }),
      { numRuns: 60 },
    );
  });

  it('both report the first key, or undefined when empty', async () => {
    const fresh = openMemoryKv();
    expect(fresh.firstKey()).toBeUndefined();
    await fresh.put('b:1', 1);
    await fresh.put('a:1', 1);
    expect(fresh.firstKey()).toBe('a:1');
    await fresh.close();
  });

  it('both hand out copies: changing a returned value changes nothing stored', async () => {
    for (const kv of [lmdb, memory]) {
      await kv.put('a:copy', { list: [1, 2] });
      const got = kv.get('a:copy') as { list: number[] };
      got.list.push(3);
      expect(kv.get('a:copy')).toEqual({ list: [1, 2] });
    }
  });
});

describe.each(['lmdb', 'memory'] as const)('write batches of the %s backend', (backend) => {
  let dir: string;
  let kv: KvStore;
  beforeAll(async () => {
    dir = await tempDir();
    kv = backend === 'lmdb' ? openLmdbKv({ path: dir, compression: false }) : openMemoryKv();
  });
  afterAll(async () => {
    await kv.close(); // the last test closed it already: a second close is harmless
    await cleanup(dir);
  });

  it('runs 3,000 concurrent transactions in call order, in several turns of at most MAX_BATCH_WRITES callbacks, all committed', async () => {
    const clock = turns();
    const perTurn = new Map<number, number>();
    const order: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 3000 }, (_, i) =>
        kv.transaction((tx) => {
          perTurn.set(clock.now(), (perTurn.get(clock.now()) ?? 0) + 1);
          order.push(i);
          tx.put(`t:${String(i).padStart(4, '0')}`, i);
          return i;
        }),
      ),
    );
    clock.stop();
    expect(results).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(order).toEqual(results);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MAX_BATCH_WRITES);
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.ceil(3000 / MAX_BATCH_WRITES));
    expect(kv.range('t:', undefined, 10_000)).toHaveLength(3000);
  });

  it('sizes batches by the whole turn their callbacks take, the work of the store between them included', async () => {
    const recorded: Array<{ writes: number; ms: number }> = [];
    const record = vi.spyOn(BatchSizer.prototype, 'record').mockImplementation(function (this: BatchSizer, writes: number, ms: number) {
      recorded.push({ writes, ms });
    });
    try {
      const spans: Array<[number, number]> = [];
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          kv.transaction((tx) => {
            const start = performance.now();
            tx.put(`span:${String(i).padStart(3, '0')}`, i);
            spans.push([start, performance.now()]);
          }),
        ),
      );
      // With the sizer's first guess, these go in batches; each reported time covers at least
      // the span from the first of its callbacks' start to the last one's end.
      expect(recorded.reduce((n, r) => n + r.writes, 0)).toBe(200);
      let at = 0;
      for (const { writes, ms } of recorded) {
        const batch = spans.slice(at, at + writes);
        at += writes;
        expect(ms).toBeGreaterThanOrEqual(batch.at(-1)![1] - batch[0]![0]);
      }
    } finally {
      record.mockRestore();
    }
  });

  it('keeps call order between puts and transactions that wait for later batches', async () => {
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2500; i++) pending.push(kv.transaction((tx) => tx.put('o:x', `txn ${i}`)));
    pending.push(kv.put('o:x', 'put after the transactions'));
    const seen = kv.transaction((tx) => tx.get('o:x'));
    pending.push(kv.transaction((tx) => tx.put('o:y', 'last')));
    pending.push(kv.put('o:y', 'put after the last transaction'));
    await Promise.all(pending);
    expect(await seen).toBe('put after the transactions');
    expect(kv.get('o:x')).toBe('put after the transactions');
    expect(kv.get('o:y')).toBe('put after the last transaction');
  });

  it('a put that waits behind transactions stores the value as it was when put was called', async () => {
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2500; i++) pending.push(kv.transaction((tx) => tx.put('m:n', i)));
    const value = { state: 'as called', list: [1] };
    pending.push(kv.put('m:v', value));
    value.state = 'changed afterwards';
    value.list.push(2);
    await Promise.all(pending);
    expect(kv.get('m:v')).toEqual({ state: 'as called', list: [1] });
  });

  it('accepts or refuses a value the same whether a put goes at once or waits behind transactions', async () => {
    // A Proxy: MessagePack (lmdb) encodes it as the object it shows, structuredClone (memory) refuses it.
    const outcome = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'stored',
        (err: unknown) => `refused ${(err as { code?: string }).code ?? ''}`,
      );
    const alone = await outcome(kv.put('p:alone', new Proxy({ a: 1 }, {})));
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2500; i++) pending.push(kv.transaction((tx) => tx.put('p:n', i)));
    const queued = outcome(kv.put('p:queued', new Proxy({ a: 1 }, {})));
    await Promise.all(pending);
    expect(await queued).toBe(alone);
    expect(kv.get('p:queued')).toEqual(kv.get('p:alone'));
  });

  it('a failing transaction in a later batch rejects alone; close() waits for every queued write', async () => {
    const pending = Array.from({ length: 2500 }, (_, i) =>
      kv.transaction((tx) => {
        tx.put(`c:${String(i).padStart(4, '0')}`, i);
        if (i === 2400) throw new Error('refused on purpose');
        return i;
      }),
    );
    const outcomes = Promise.allSettled(pending);
    await kv.close();
    const settled = await outcomes;
    expect(settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason.message)).toEqual(['refused on purpose']);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2499);
    if (backend === 'lmdb') {
      const reopened = openLmdbKv({ path: dir, compression: false });
      expect(reopened.range('c:', undefined, 10_000)).toHaveLength(2499);
      expect(reopened.get('c:2400')).toBeUndefined();
      await reopened.close();
    }
  });
});
