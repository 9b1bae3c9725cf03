/**
 * Hooks for fault-injection tests. Not exported from the package: tests import this module
 * directly. A store without a hook pays one WeakMap lookup per transaction.
 */

import type { KvStore, KvWriter } from './kv.js';

/** Called before every write a transaction makes; throwing aborts the transaction. */
export type WriteHook = (op: 'put' | 'remove', key: string) => void;

const writeHooks = new WeakMap<object, WriteHook>();
const kvOf = new WeakMap<object, KvStore>();

/** Installs (or, with undefined, removes) a write hook on a store. */
export function setWriteHook(store: object, hook: WriteHook | undefined): void {
  if (hook === undefined) writeHooks.delete(store);
  else writeHooks.set(store, hook);
}

export function writeHookOf(store: object): WriteHook | undefined {
  return writeHooks.get(store);
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
