/**
 * The data directory marker: a small JSON file that says which format wrote the directory, so
 * a directory of another format version is refused before anything in it is touched, and a
 * directory that holds something else is never taken for a store.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

import { TapioError } from './errors.js';
import { writeFileAtomic } from './fs/durable.js';

export const DATA_DIR_MARKER = 'TAPIO_STORAGE';
/** The fixed name the marker is written under before its rename; a leftover from a crash is overwritten. */
export const DATA_DIR_MARKER_TEMP = `${DATA_DIR_MARKER}.tmp`;
export const DATA_DIR_FORMAT = 'tapio-storage';
export const DATA_DIR_VERSION = 1;

export interface Marker {
  format: string;
  version: number;
}

const MARKER_TEXT = `{"format":"${DATA_DIR_FORMAT}","version":${DATA_DIR_VERSION}}`;

/** A JSON value as a message shows it: its type, and short values themselves. */
function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}

function notAMarker(file: string, dataDir: string, problem: string, cause?: unknown): TapioError {
  return new TapioError(
    'ERR_FORMAT_VERSION',
    `${file} is not a tapio-storage marker: ${problem} (a marker holds ${MARKER_TEXT}). If ${dataDir} is a tapio-storage data directory, the file was damaged: write ${MARKER_TEXT} into it again; otherwise the directory belongs to something else: point dataDir at a new or empty directory. Nothing was changed.`,
    { ...(cause === undefined ? {} : { cause }), details: { path: dataDir, file } },
  );
}

/**
 * Reads the marker of `dataDir`; null when there is none. Throws ERR_FORMAT_VERSION, saying what
 * is wrong, for a file that is not a marker (not JSON, not an object, a member missing or of the
 * wrong type) and for a marker of another format or version; ERR_DATA_DIR when it cannot be read.
 */
export async function readMarker(dataDir: string): Promise<Marker | null> {
  const file = join(dataDir, DATA_DIR_MARKER);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TapioError('ERR_DATA_DIR', `cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { path: dataDir, file } });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw notAMarker(file, dataDir, 'it does not hold JSON', err);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw notAMarker(file, dataDir, `it holds ${describeJson(value)}, not a JSON object`);
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  if (!('format' in o)) problems.push('it has no "format" member');
  else if (typeof o.format !== 'string') problems.push(`its "format" is ${describeJson(o.format)}, not a string`);
  if (!('version' in o)) problems.push('it has no "version" member');
  else if (typeof o.version !== 'number' || !Number.isSafeInteger(o.version) || o.version < 1)
    problems.push(`its "version" is ${describeJson(o.version)}, not a whole number`);
  if (problems.length > 0) throw notAMarker(file, dataDir, problems.join('; '));
  const marker = { format: o.format as string, version: o.version as number };
  if (marker.format !== DATA_DIR_FORMAT) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${dataDir} belongs to another program: its ${DATA_DIR_MARKER} names format ${JSON.stringify(marker.format)}, not "${DATA_DIR_FORMAT}". Point dataDir at a new or empty directory. Nothing was changed.`,
      { details: { path: dataDir, found: marker } },
    );
  }
  if (marker.version !== DATA_DIR_VERSION) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${dataDir} was written in tapio-storage data directory version ${marker.version}; this tapio-storage reads version ${DATA_DIR_VERSION}. Open it with the version that wrote it, or point dataDir at a new or empty directory. Nothing was changed.`,
      { details: { path: dataDir, found: marker } },
    );
  }
  return marker;
}

/** What a data directory holds, seen before anything is created. */
export interface DataDirState {
  /** The directory exists. */
  exists: boolean;
  /** Its marker, or null when there is none (or no directory). */
  marker: Marker | null;
  /** Its entries other than the marker and the marker's temporary file; directories end with '/'. Sorted. */
  entries: string[];
}

/**
 * Looks at `dataDir` without creating or changing anything. Throws ERR_DATA_DIR when it is not a
 * directory or cannot be read, ERR_FORMAT_VERSION for a bad marker (see readMarker).
 */
export async function inspectDataDir(dataDir: string): Promise<DataDirState> {
  let isDir: boolean;
  try {
    isDir = (await fsp.stat(dataDir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { exists: false, marker: null, entries: [] };
    if (code !== 'ENOTDIR')
      throw new TapioError('ERR_DATA_DIR', `the data directory ${dataDir} cannot be examined (${code ?? String(err)}): check its permissions`, {
        cause: err,
        details: { path: dataDir },
      });
    isDir = false;
  }
  if (!isDir) {
    throw new TapioError(
      'ERR_DATA_DIR',
      `the data directory ${dataDir} cannot be used: a file stands where a directory is needed (at ${dataDir} or one of its parents); remove it or choose another path`,
      {
        details: { path: dataDir },
      },
    );
  }
  const marker = await readMarker(dataDir);
  let dirents;
  try {
    dirents = await fsp.readdir(dataDir, { withFileTypes: true });
  } catch (err) {
    throw new TapioError(
      'ERR_DATA_DIR',
      `the data directory ${dataDir} cannot be listed (${(err as NodeJS.ErrnoException).code ?? String(err)}): give this process read permission on it`,
      {
        cause: err,
        details: { path: dataDir },
      },
    );
  }
  const entries = dirents
    .filter((d) => d.name !== DATA_DIR_MARKER && d.name !== DATA_DIR_MARKER_TEMP)
    .map((d) => (d.isDirectory() ? `${d.name}/` : d.name))
    .sort();
  return { exists: true, marker, entries };
}

/** The nearest directory above `dir` that holds a marker (a store `dir` would be inside), or null. */
export async function enclosingStore(dir: string): Promise<string | null> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const found = await fsp.lstat(join(d, DATA_DIR_MARKER)).then(
      () => true,
      () => false,
    );
    if (found) return d;
    if (dirname(d) === d) return null;
  }
}

/** Checks the marker and writes it when the directory has none yet. */
export async function claimDataDir(dataDir: string): Promise<void> {
  if ((await readMarker(dataDir)) !== null) return;
  await writeFileAtomic(join(dataDir, DATA_DIR_MARKER), `${MARKER_TEXT}\n`, { temp: join(dataDir, DATA_DIR_MARKER_TEMP) });
}
