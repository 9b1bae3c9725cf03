import { readFile } from 'node:fs/promises';

import { parse } from 'yaml';

import { loadConfig, type TapioConfigInput } from '../config/index.js';

/**
 * The raw object of a YAML configuration file, for callers that override a key (--data-dir).
 * A file that does not parse is handed to loadConfig, whose error names the line and column.
 */
export async function readConfigInput(file: string): Promise<TapioConfigInput> {
  try {
    const value: unknown = parse(await readFile(file, 'utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as TapioConfigInput;
  } catch {
    // fall through: loadConfig reports the problem properly
  }
  await loadConfig(file);
  return {};
}
