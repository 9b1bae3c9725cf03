import { createReadStream, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import type { TapioConfig, TapioConfigInput } from '../config/index.js';
import { TapioError } from '../errors.js';
import { MetadataStore } from '../metadata/index.js';
import { TapioStorage } from '../storage.js';
import { checkStoreDirs, type StoreName } from '../store-dirs.js';
import type { TransitOpenOptions } from '../transit/index.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

/** A configuration as TapioStorage.open takes it, with the directory its relative paths are resolved against. */
export interface ConfigSource {
  input: string | TapioConfigInput;
  baseDir?: string;
}

/**
 * What the global options name: --config FILE (a path; relative paths in it are resolved against
 * the file's directory), --data-dir DIR (relative to the current directory), both (the file's
 * settings with that data directory), or ./data.
 */
export async function configFromOptions(opts: GlobalOptions): Promise<ConfigSource> {
  if (opts.config && opts.dataDir) {
    const { readConfigInput } = await import('./config-input.js');
    return { input: { ...(await readConfigInput(opts.config)), dataDir: resolve(opts.dataDir) }, baseDir: dirname(resolve(opts.config)) };
  }
  if (opts.config) return { input: opts.config };
  return { input: { dataDir: opts.dataDir ?? './data' } };
}

/**
 * Opens the storage the global options name (see configFromOptions). Only commands that exist to
 * create a store pass `create: true`; the others get ERR_NO_STORE where there is none.
 */
export async function openFromOptions(opts: GlobalOptions, options: { create: boolean; force?: boolean; transit?: TransitOpenOptions }): Promise<TapioStorage> {
  const { input, baseDir } = await configFromOptions(opts);
  return TapioStorage.open(input, {
    ...(baseDir === undefined ? {} : { baseDir }),
    ...(options.transit === undefined ? {} : { transit: options.transit }),
    create: options.create,
    force: options.force ?? false,
  });
}

/** The resolved configuration the global options name, without opening anything. */
export async function resolvedConfigFromOptions(opts: GlobalOptions): Promise<TapioConfig> {
  const { loadConfig, resolveConfig } = await import('../config/index.js');
  const { input, baseDir } = await configFromOptions(opts);
  const options = baseDir === undefined ? {} : { baseDir };
  return typeof input === 'string' ? loadConfig(input, options) : resolveConfig(input, options);
}

/**
 * The configuration the global options name, once checked to be an existing store (ERR_NO_STORE
 * otherwise), with `stores` checked to exist too. Nothing is opened, created or locked.
 */
export async function existingStoreConfig(opts: GlobalOptions, stores: readonly StoreName[]): Promise<TapioConfig> {
  const config = await resolvedConfigFromOptions(opts);
  await checkStoreDirs(config, { create: false, stores });
  return config;
}

/**
 * Runs `fn` with the metadata store of an existing data directory, opened alone: no WAL, no
 * lock, so it works beside a process that has the store open (lmdb allows several processes).
 */
export async function withMetadata<T>(opts: GlobalOptions, fn: (metadata: MetadataStore) => Promise<T>): Promise<T> {
  const config = await resolvedConfigFromOptions(opts);
  if (config.storage.metadata.in_memory) {
    throw new TapioError(
      'ERR_NO_STORE',
      'this configuration keeps the metadata store in memory (storage.metadata.in_memory: true), so there is no stored user or key to administer; set in_memory: false',
    );
  }
  await checkStoreDirs(config, { create: false, stores: ['metadata'] });
  const metadata = await MetadataStore.open(config.storage.metadata, { create: false });
  try {
    return await fn(metadata);
  } finally {
    await metadata.close();
  }
}

/** Prints `data` as JSON with --json, else the human lines. */
export function printJsonOrLines(opts: GlobalOptions, data: unknown, lines: string[]): void {
  if (opts.json) console.log(JSON.stringify(data, null, 2));
  else for (const line of lines) console.log(line);
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await fsp.stat(p)).blocks * 512;
  }
  return total;
}

/** Bytes on disk of each store (allocated blocks, so preallocated files count as they occupy). */
export async function storeSizes(config: TapioConfig): Promise<Array<{ store: string; path: string; bytes: number; human: string }>> {
  const stores: Array<[string, string]> = [
    ['metadata', config.storage.metadata.in_memory ? '(in memory)' : config.storage.metadata.path],
    ['transit', config.storage.transit.wal_path],
    ['correlations', config.storage.correlations.path],
  ];
  return storeSizesOf(stores);
}

/** Bytes on disk of each [store, path] pair ("(in memory)" paths count 0). */
export async function storeSizesOf(stores: Array<[string, string]>): Promise<Array<{ store: string; path: string; bytes: number; human: string }>> {
  const out = [];
  for (const [store, path] of stores) {
    const bytes = path.startsWith('(') ? 0 : await dirSize(path);
    out.push({ store, path, bytes, human: humanBytes(bytes) });
  }
  return out;
}

/** 1536 -> "1.5 KiB": a rounded size for people (formatSize is exact, for configuration). */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

/**
 * A file of lines to load (`-` or nothing: standard input): its name for messages, its size for
 * progress (0 when unknown) and a stream of it.
 */
export async function lineInput(file: string | undefined): Promise<{ source: string; total: number; input: NodeJS.ReadableStream }> {
  if (file === undefined || file === '-') return { source: 'standard input', total: 0, input: process.stdin };
  return { source: file, total: (await fsp.stat(file)).size, input: createReadStream(file) };
}
