import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import type { TapioConfig } from '../config/index.js';
import { TapioStorage } from '../storage.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

/**
 * What the global options name, as TapioStorage.open takes it: --config FILE (a path), --data-dir
 * DIR, both (the file's settings with that data directory), or ./data.
 */
export async function configFromOptions(opts: GlobalOptions): Promise<string | { dataDir: string; [key: string]: unknown }> {
  if (opts.config && opts.dataDir) {
    const { readConfigInput } = await import('./config-input.js');
    return { ...(await readConfigInput(opts.config)), dataDir: opts.dataDir };
  }
  if (opts.config) return opts.config;
  return { dataDir: opts.dataDir ?? './data' };
}

/** Opens the storage the global options name (see configFromOptions). */
export async function openFromOptions(opts: GlobalOptions): Promise<TapioStorage> {
  return TapioStorage.open(await configFromOptions(opts));
}

/** The resolved configuration the global options name, without opening anything. */
export async function resolvedConfigFromOptions(opts: GlobalOptions): Promise<TapioConfig> {
  const { loadConfig, resolveConfig } = await import('../config/index.js');
  const input = await configFromOptions(opts);
  return typeof input === 'string' ? loadConfig(input) : resolveConfig(input);
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
