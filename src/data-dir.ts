/**
 * The data directory marker: a small JSON file that says which format wrote the directory, so
 * a directory of another format version is refused before anything in it is touched.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { TapioError } from './errors.js';
import { writeFileAtomic } from './fs/durable.js';

export const DATA_DIR_MARKER = 'TAPIO_STORAGE';
export const DATA_DIR_FORMAT = 'tapio-storage';
export const DATA_DIR_VERSION = 1;

interface Marker {
  format: string;
  version: number;
}

/** Reads the marker of `dataDir`; null when there is none. Throws ERR_FORMAT_VERSION for a foreign one. */
export async function readMarker(dataDir: string): Promise<Marker | null> {
  const file = join(dataDir, DATA_DIR_MARKER);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TapioError('ERR_DATA_DIR', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let marker: Marker;
  try {
    marker = JSON.parse(text) as Marker;
  } catch (err) {
    throw new TapioError('ERR_FORMAT_VERSION', `${file} is not a tapio-storage marker (not JSON); this directory belongs to something else. Point dataDir at an empty directory.`, { cause: err });
  }
  if (marker.format !== DATA_DIR_FORMAT || marker.version !== DATA_DIR_VERSION) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${dataDir} was written by format ${String(marker.format)} version ${String(marker.version)}; this tapio-storage reads ${DATA_DIR_FORMAT} version ${DATA_DIR_VERSION}. Open it with the version that wrote it, or point dataDir at an empty directory. Nothing was changed.`,
      { details: { path: dataDir, found: marker } },
    );
  }
  return marker;
}

/** Checks the marker and writes it when the directory has none yet. */
export async function claimDataDir(dataDir: string): Promise<void> {
  if ((await readMarker(dataDir)) !== null) return;
  await writeFileAtomic(join(dataDir, DATA_DIR_MARKER), `${JSON.stringify({ format: DATA_DIR_FORMAT, version: DATA_DIR_VERSION })}\n`);
}
