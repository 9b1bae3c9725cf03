// Bursts of API key calls on both backends: thousands of creates or verifies issued in one loop
// complete, correctly, over several event-loop turns instead of in one long turn.
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PREFIX } from '../../src/metadata/keys.js';
import { MAX_BATCH_WRITES } from '../../src/metadata/kv.js';
import type { MetadataStore } from '../../src/metadata/index.js';
import { setWriteHook } from '../../src/metadata/test-hooks.js';
import { MAX_JOBS_PER_TURN } from '../../src/metadata/turn-budget.js';
import { cleanup, openStore, tempDir, turns } from './helpers.js';

/** Awaits `promises`, counting how many settled in each turn of `clock`. */
async function settledPerTurn<T>(promises: Array<Promise<T>>, clock: { now(): number }): Promise<{ values: T[]; perTurn: number[] }> {
  const counts = new Map<number, number>();
  const values = await Promise.all(
    promises.map((p) =>
      p.then((v) => {
        counts.set(clock.now(), (counts.get(clock.now()) ?? 0) + 1);
        return v;
      }),
    ),
  );
  return { values, perTurn: [...counts.values()] };
}

describe.each([{ inMemory: false }, { inMemory: true }])('bursts of API key calls (in_memory: $inMemory)', ({ inMemory }) => {
  let dir: string;
  let store: MetadataStore;

  beforeEach(async () => {
    dir = await tempDir();
    store = await openStore(join(dir, 'metadata'), inMemory);
  });

  afterEach(async () => {
    await store.close();
    await cleanup(dir);
  });

  it('3,000 concurrent apiKeys.create run in turns of at most MAX_BATCH_WRITES, and every key verifies', async () => {
    const user = await store.users.create({ name: 'burst', roles: [] });
    const clock = turns();
    // The write hook runs inside each create's transaction callback: count them per turn.
    const perTurn = new Map<number, number>();
    setWriteHook(store, (op, key) => {
      if (op === 'put' && key.startsWith(PREFIX.apiKeys)) perTurn.set(clock.now(), (perTurn.get(clock.now()) ?? 0) + 1);
    });
    const created = await Promise.all(Array.from({ length: 3000 }, (_, i) => store.apiKeys.create(user.id, { name: `k${i}` })));
    clock.stop();
    setWriteHook(store, undefined);
    expect([...perTurn.values()].reduce((a, b) => a + b, 0)).toBe(3000);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MAX_BATCH_WRITES);
    expect(new Set(created.map((k) => k.id)).size).toBe(3000);
    expect(created.map((k) => k.name)).toEqual(Array.from({ length: 3000 }, (_, i) => `k${i}`));
    for (const k of created) expect(store.apiKeys.verifySync(k.key)).toBe(user.id);
  });

  it('10,000 concurrent apiKeys.verify settle over turns of at most MAX_JOBS_PER_TURN, each with the right answer', async () => {
    const user = await store.users.create({ name: 'burst', roles: [] });
    const keys = await Promise.all(Array.from({ length: 20 }, (_, i) => store.apiKeys.create(user.id, { name: `k${i}` })));
    const revoked = keys[3]!;
    await store.apiKeys.revoke(revoked.id);
    const asked = Array.from({ length: 10_000 }, (_, i) => (i % 500 === 0 ? 'tap_not_a_key' : keys[i % keys.length]!.key));
    const clock = turns();
    const { values, perTurn } = await settledPerTurn(
      asked.map((key) => store.apiKeys.verify(key)),
      clock,
    );
    clock.stop();
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(MAX_JOBS_PER_TURN);
    expect(values).toEqual(asked.map((key) => (key === 'tap_not_a_key' || key === revoked.key ? null : user.id)));
  });
});
