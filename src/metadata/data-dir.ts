/**
 * The metadata directory: created when missing (each new directory's parent fsynced), checked to
 * be a writable directory, and checked to hold nothing but a metadata store, all before lmdb is
 * given the path. lmdb itself is not asked to create directories: given a path it cannot create
 * it may spin instead of failing.
 */

import { fsyncDir as fsyncDirectory } from '../fs/durable.js';
import { constants } from 'node:fs';
import { access, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TapioError } from '../errors.js';
import { checkLmdbDataFile } from './lmdb-file-check.js';

export const DATA_FILE = 'data.mdb';
export const LOCK_FILE = 'lock.mdb';
export const DEFAULT_SECRET_FILE = 'hmac.key';

export interface PreparedDir {
  /** data.mdb existed before this open. */
  hadDataFile: boolean;
  /** lock.mdb existed before this open (lmdb creates it on open; a refused open removes it again). */
  hadLockFile: boolean;
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a component of the path is not a directory',
  ENOENT: 'a component of the path does not exist and cannot be created',
  ENOSPC: 'no space left on the device',
  EEXIST: 'it exists and is not a directory',
};

function dirError(path: string, problem: string, cause?: unknown): TapioError {
  return new TapioError(
    'ERR_DATA_DIR',
    `Metadata directory ${path} ${problem}. Create it or fix its permissions so this process can read and write it, or set storage.metadata.path to another directory.`,
    cause === undefined ? { details: { path } } : { cause, details: { path } },
  );
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && REASONS[code]) || (code ?? (err instanceof Error ? err.message : String(err)));
}

/** fsync a directory, so entries created in it survive a crash. */
export { fsyncDir as fsyncDirectory } from '../fs/durable.js';

/**
 * `mkdir -p` one level at a time (mode 0700), then fsync the parent of every new directory so
 * the entries survive a crash. Node's recursive mkdir is not used: on some paths (under /proc)
 * it never returns.
 */
async function makeDirectories(path: string): Promise<void> {
  const missing: string[] = [];
  let dir = path;
  for (;;) {
    const found = await stat(dir).then(
      (s) => s,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw dirError(path, `cannot be created (${reasonOf(err)})`, err);
      },
    );
    if (found !== null) {
      if (!found.isDirectory()) throw dirError(path, `cannot be created (${dir} is not a directory)`);
      break;
    }
    missing.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dirError(path, `cannot be created (${reasonOf(err)})`, err);
    }
    try {
      await fsyncDirectory(dirname(d));
    } catch (err) {
      throw dirError(path, `was created but its parent could not be synced (${reasonOf(err)})`, err);
    }
  }
}

/**
 * Makes `path` a usable metadata directory or says why it is not. `ownFiles` are further file
 * names that belong to the store (the secret file when it lives inside the directory). With
 * `create: false`, a missing directory or a directory without data.mdb is refused with
 * ERR_NO_STORE and nothing is created.
 */
export async function prepareMetadataDir(path: string, ownFiles: readonly string[], options: { create?: boolean } = {}): Promise<PreparedDir> {
  const create = options.create ?? true;
  let found = await inspectMetadataDir(path, ownFiles);
  if (found === null) {
    if (!create) throw noMetadataStore(path, 'the directory does not exist');
    await makeDirectories(path);
    found = await inspectMetadataDir(path, ownFiles);
    if (found === null) throw dirError(path, 'disappeared just after it was created');
  }
  if (!create && !found.hadDataFile) throw noMetadataStore(path, `it holds no ${DATA_FILE}`);
  return found;
}

function noMetadataStore(path: string, why: string): TapioError {
  return new TapioError(
    'ERR_NO_STORE',
    `There is no metadata store at ${path} (${why}), and this open was asked not to create one. Check storage.metadata.path, or create the store with \`tapio-storage init\`. Nothing was created.`,
    {
      details: { path },
    },
  );
}

/**
 * Checks an existing metadata directory without creating or changing anything: a writable
 * directory that holds nothing but a metadata store, whose data.mdb (when there is one) lmdb can
 * open. Null when `path` does not exist. Throws ERR_DATA_DIR or ERR_FORMAT_VERSION saying why not.
 */
export async function inspectMetadataDir(path: string, ownFiles: readonly string[]): Promise<PreparedDir | null> {
  const existing = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw dirError(path, `cannot be examined (${reasonOf(err)})`, err);
  });
  if (existing === null) return null;
  if (!existing.isDirectory()) throw dirError(path, 'exists and is not a directory');
  try {
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw dirError(path, `is not readable and writable by this process (${reasonOf(err)})`, err);
  }

  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    throw dirError(path, `cannot be listed (${reasonOf(err)})`, err);
  }
  const allowed = new Set([DATA_FILE, LOCK_FILE, ...ownFiles]);
  const foreign = names.filter((n) => !allowed.has(n)).sort();
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? ` and ${foreign.length - 5} more` : '');
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `Metadata directory ${path} holds files that do not belong to a metadata store (${shown}). Point storage.metadata.path at an empty directory or at an existing metadata directory. Nothing was changed.`,
      { details: { path, files: foreign } },
    );
  }

  const hadDataFile = names.includes(DATA_FILE);
  if (hadDataFile) {
    const dataFile = join(path, DATA_FILE);
    let problem: string | null;
    try {
      const s = await stat(dataFile);
      problem = s.isFile() ? await checkLmdbDataFile(dataFile) : 'it is not a regular file';
    } catch (err) {
      throw dirError(path, `has a ${DATA_FILE} that cannot be read (${reasonOf(err)})`, err);
    }
    if (problem !== null) {
      throw new TapioError(
        'ERR_FORMAT_VERSION',
        `${dataFile} is not a metadata store this version can open: ${problem}. Restore it from a copy, or point storage.metadata.path at an empty directory. Nothing was changed.`,
        { details: { path: dataFile } },
      );
    }
  }
  return { hadDataFile, hadLockFile: names.includes(LOCK_FILE) };
}

/** Removes the lock file an open created, when the open is then refused. */
export async function removeCreatedLockFile(path: string, prepared: PreparedDir): Promise<void> {
  if (!prepared.hadLockFile) await unlink(join(path, LOCK_FILE)).catch(() => undefined);
}
