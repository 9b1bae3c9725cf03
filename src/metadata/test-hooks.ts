/**
 * Hooks for fault-injection tests, and a clock tests can move. Not exported from the package:
 * tests import this module directly. A store without a hook pays one WeakMap lookup per
 * transaction, and one per reading of the time.
 */

import type { KvStore, KvWriter } from './kv.js';

/** Called before every write a transaction makes; throwing aborts the transaction. */
export type WriteHook = (op: 'put' | 'remove', key: string) => void;

const writeHooks = new WeakMap<object, WriteHook>();
const kvOf = new WeakMap<object, KvStore>();
const clocks = new WeakMap<object, () => number>();

/** Installs (or, with undefined, removes) a write hook on a store. */
export function setWriteHook(store: object, hook: WriteHook | undefined): void {
  if (hook === undefined) writeHooks.delete(store);
  else writeHooks.set(store, hook);
}

export function writeHookOf(store: object): WriteHook | undefined {
  return writeHooks.get(store);
}

/**
 * Sets (or, with undefined, removes) the clock a store reads instead of Date.now: the time of
 * expiry checks and of every timestamp it writes. Tests move it to an exact instant, so none
 * waits on the wall clock.
 */
export function setClock(store: object, now: (() => number) | undefined): void {
  if (now === undefined) clocks.delete(store);
  else clocks.set(store, now);
}

/** The time now for `store`: its clock when a test set one, else Date.now(). */
export function timeOf(store: object): number {
  const clock = clocks.get(store);
  return clock === undefined ? Date.now() : clock();
}

export function registerKv(store: object, kv: KvStore): void {
  kvOf.set(store, kv);
}

/** The raw key-value store under a metadata store, for tests that plant damaged values. */
export function rawKvOf(store: object): KvStore {
  const kv = kvOf.get(store);
  if (kv === undefined) throw new Error('not a metadata store');
  return kv;
}

export function hookedWriter(tx: KvWriter, hook: WriteHook): KvWriter {
  return {
    get: (key) => tx.get(key),
    range: (prefix, after, limit) => tx.range(prefix, after, limit),
    put: (key, value) => {
      hook('put', key);
      tx.put(key, value);
    },
    remove: (key) => {
      hook('remove', key);
      return tx.remove(key);
    },
  };
}
