/**
 * One store per WAL directory: the directory lock of src/fs/dir-lock.ts on the WAL's LOCK file
 * (an OS lock that ends with its process; docs/FORMAT.md says what the file holds).
 */
import { lockDir } from '../fs/dir-lock.js';
import { LOCK_FILE_NAME } from './format.js';

/** Takes the lock of the WAL directory `dir`; returns the function that releases it. */
export async function lockWalDir(dir: string): Promise<() => Promise<void>> {
  const lock = await lockDir(dir, { fileName: LOCK_FILE_NAME, what: 'transit WAL directory' });
  return () => lock.release();
}
