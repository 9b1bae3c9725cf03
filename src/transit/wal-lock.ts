/**
 * One writer per WAL directory: a LOCK file holding the owner's process id, created with
 * O_EXCL. A lock whose process is gone (a crash, a SIGKILL) is stale and taken over.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { TapioError } from '../errors.js';
import { LOCK_FILE_NAME } from './format.js';

/** The locks this process holds, so a second open in the same process is refused too. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `dir`; returns the function that releases it. */
export async function lockWalDir(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, LOCK_FILE_NAME);
  if (held.has(file)) {
    throw new TapioError('ERR_LOCKED', `${dir} is already open in this process; close the other store first`, { details: { path: dir, pid: process.pid } });
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      held.add(file);
      return async () => {
        held.delete(file);
        await fsp.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TapioError('ERR_DATA_DIR', `cannot create ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    const owner = Number.parseInt((await fsp.readFile(file, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new TapioError('ERR_LOCKED', `${dir} is in use by process ${owner}; close that store first (if process ${owner} is not a tapio-storage, delete ${file})`, {
        details: { path: dir, pid: owner },
      });
    }
    // Stale: its process is gone. Remove it and try once more.
    await fsp.rm(file, { force: true });
  }
  throw new TapioError('ERR_LOCKED', `${dir} is being opened by another process at the same moment; try again`, { details: { path: dir } });
}
