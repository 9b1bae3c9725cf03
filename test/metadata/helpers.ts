import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'vitest';

import { TapioError, type TapioErrorCode } from '../../src/errors.js';
import { MetadataStore, type MetadataOpenOptions, type MetadataStoreConfig } from '../../src/metadata/index.js';

/** A fresh directory under the OS temp dir; remove it with `cleanup`. */
export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tapio-metadata-test-'));
}

export async function cleanup(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function config(path: string, inMemory: boolean, compression = true): MetadataStoreConfig {
  return { type: 'badger', path, in_memory: inMemory, compression };
}

export async function openStore(path: string, inMemory: boolean, options?: MetadataOpenOptions & { compression?: boolean }): Promise<MetadataStore> {
  const { compression, ...rest } = options ?? {};
  return MetadataStore.open(config(path, inMemory, compression ?? true), rest);
}

/** Asserts that `promise` rejects (or `fn` throws) a TapioError with `code` and a message matching `message`. */
export async function expectTapioError(promiseOrFn: Promise<unknown> | (() => unknown), code: TapioErrorCode, message?: RegExp): Promise<TapioError> {
  let caught: unknown;
  try {
    if (typeof promiseOrFn === 'function') await promiseOrFn();
    else await promiseOrFn;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a TapioError ${code}`).toBeInstanceOf(TapioError);
  const err = caught as TapioError;
  expect(err.code, err.message).toBe(code);
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

export { turns } from '../turns.js';
