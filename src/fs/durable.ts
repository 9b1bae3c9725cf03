/**
 * File-system steps of the durability contract (docs/FORMAT.md): new files are written,
 * fdatasync'ed and then made visible by a rename and an fsync of the directory.
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';

import { TapioError } from '../errors.js';

/** fsyncs a directory so a create, rename or unlink inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const handle = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file beside it, fdatasync, rename, fsync of
 * the directory. A crash leaves either the old file or the new one, never a mix. With `temp`,
 * the temporary file has that fixed name (a leftover from a crash is overwritten), as the
 * native code names it, so both leave the same files.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number; temp?: string } = {}): Promise<void> {
  const tmp = options.temp ?? join(dirname(path), `.${Date.now().toString(36)}-${process.pid}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | (options.temp === undefined ? constants.O_EXCL : constants.O_TRUNC);
  const handle = await fsp.open(tmp, flags, options.mode ?? 0o600);
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, path);
  await fsyncDir(dirname(path));
}

/**
 * Creates `dir` (and its parents) when missing and checks the process can write there.
 * Throws ERR_DATA_DIR saying what to fix.
 */
export async function ensureWritableDir(dir: string, role: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 }); // only the directories created now get the mode
    const stat = await fsp.stat(dir);
    if (!stat.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    await fsp.access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const fix =
      code === 'EACCES' || code === 'EPERM'
        ? 'give this process read and write permission on it'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file stands where a directory is needed; remove it or choose another path'
          : code === 'EROFS'
            ? 'the file system is read-only; choose a writable path'
            : code === 'ENOSPC'
              ? 'the disk is full; free space'
              : 'check the path';
    throw new TapioError('ERR_DATA_DIR', `the ${role} directory ${dir} cannot be used (${code}): ${fix}`, { cause: err, details: { path: dir, role } });
  }
}
