/**
 * One process at a time per directory, held by locks the operating system drops when the
 * process ends (a crash and a SIGKILL included), so a lock is never stale and nothing is ever
 * "taken over". The transit keeps its WAL directory this way (wal-lock.ts); any store that owns
 * a folder can do the same.
 *
 * Every opener takes, in this order:
 * 1. A Unix socket bound to an abstract name (Linux) made of the directory's device and inode
 *    numbers, `\0tapio-storage-lock:<dev>:<ino>`. Binding a name that is bound already fails
 *    with EADDRINUSE, atomically, and the kernel unbinds it when the socket's process is gone.
 *    Node.js has no flock, so this is the lock of the TypeScript path, and processes with and
 *    without the addon see each other through it. Abstract names belong to a network
 *    namespace: two containers sharing the directory but not the network namespace do not see
 *    each other's socket.
 * 2. With the addon: flock(LOCK_EX | LOCK_NB) on the lock file, its descriptor kept open while
 *    the lock is held (native/core/file_lock.h). It covers the file system, network namespaces
 *    included.
 *
 * The lock file itself is created when missing and never removed (removing a flock'd file lets
 * two openers lock two different inodes); it holds the owner's process id, for messages only.
 * A file left by an older version (its process id, written under the old O_EXCL protocol) is
 * reused as it is.
 *
 * Where neither lock exists (no abstract sockets, that is not Linux, and no addon), the lock
 * file is created with O_EXCL and holds the owner's process id. Nothing can tell a stale file
 * from a live one without a race, so such a file is never deleted by another opener: the
 * message says to delete it by hand once its process is gone.
 */
import { constants, promises as fsp } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

import { TapioError } from '../errors.js';
import { loadNative, type NativeAddon, type NativeFileLockHandle } from '../native/loader.js';

/** The addon functions the lock uses. */
export type DirLockAddon = Pick<NativeAddon, 'lockFile' | 'unlockFile'>;

/** How a lock is held: OS locks that end with the process, or the O_EXCL file of the fallback. */
export type DirLockMechanism = 'socket' | 'flock' | 'pid-file';

export interface DirLockOptions {
  /** The lock file's name inside the directory, e.g. `LOCK`. */
  fileName: string;
  /** What the directory is, for messages: `transit WAL directory`. */
  what: string;
  /** The addon whose flock to take; null for none. Default: the addon when it loads. */
  native?: DirLockAddon | null;
  /** Whether abstract Unix socket names exist here. Default: on Linux. */
  abstractSockets?: boolean;
}

/** A directory held by this process. */
export interface DirLock {
  readonly dir: string;
  /** The lock file (kept when the lock is released, except the fallback's own O_EXCL file). */
  readonly file: string;
  /** The locks held, in the order taken. */
  readonly mechanisms: readonly DirLockMechanism[];
  /** Releases every lock; later calls do nothing. */
  release(): Promise<void>;
}

/** The directories this process (this JavaScript thread) holds, by `<dev>:<ino>`. */
const held = new Set<string>();

/** The abstract socket name of a directory (exported for tests). */
export function lockSocketName(dev: bigint, ino: bigint): string {
  return `\0tapio-storage-lock:${dev}:${ino}`;
}

/**
 * Takes the lock of `dir` (which must exist) or throws: ERR_LOCKED when another process, or
 * another store of this one, holds it; ERR_DATA_DIR when the lock file cannot be created or
 * written.
 *
 * @example
 * ```ts
 * const lock = await lockDir('/data/wal', { fileName: 'LOCK', what: 'transit WAL directory' });
 * try {
 *   // ... the directory is ours ...
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export async function lockDir(dir: string, options: DirLockOptions): Promise<DirLock> {
  const file = join(dir, options.fileName);
  let st;
  try {
    st = await fsp.stat(dir, { bigint: true });
  } catch (err) {
    throw new TapioError('ERR_DATA_DIR', `cannot lock the ${options.what} ${dir}: ${(err as Error).message}; create the directory first`, {
      cause: err,
      details: { path: dir },
    });
  }
  const key = `${st.dev}:${st.ino}`;
  if (held.has(key)) {
    throw new TapioError('ERR_LOCKED', `the ${options.what} ${dir} is already open in this process; close the other store first`, {
      details: { path: dir, pid: process.pid },
    });
  }
  // Claimed before the first await, so two opens in this process cannot both pass the check.
  held.add(key);
  try {
    const native = options.native === undefined ? loadNative() : options.native;
    const sockets = options.abstractSockets ?? process.platform === 'linux';
    const lock =
      sockets || native !== null ? await lockWithOs(dir, file, st.dev, st.ino, native, sockets, options.what) : await lockWithPidFile(dir, file, options.what);
    let released = false;
    return {
      dir,
      file,
      mechanisms: lock.mechanisms,
      release: async () => {
        if (released) return;
        released = true;
        try {
          await lock.release();
        } finally {
          held.delete(key);
        }
      },
    };
  } catch (err) {
    held.delete(key);
    throw err;
  }
}

interface Held {
  mechanisms: DirLockMechanism[];
  release(): Promise<void>;
}

async function lockWithOs(dir: string, file: string, dev: bigint, ino: bigint, native: DirLockAddon | null, sockets: boolean, what: string): Promise<Held> {
  const mechanisms: DirLockMechanism[] = [];
  let server: Server | null = null;
  if (sockets) {
    server = await bindAbstract(lockSocketName(dev, ino), dir, what);
    if (server === null) throw await lockedError(dir, file, what);
    mechanisms.push('socket');
  }
  const ownerText = `${process.pid}\n`;
  let handle: NativeFileLockHandle | null = null;
  try {
    if (native !== null) {
      try {
        handle = native.lockFile(file, ownerText);
      } catch (err) {
        throw dataDirError(dir, file, what, err);
      }
      if (handle === null) throw await lockedError(dir, file, what);
      mechanisms.push('flock');
    } else {
      await writeOwner(dir, file, what, ownerText);
    }
  } catch (err) {
    if (server !== null) await closeServer(server);
    throw err;
  }
  return {
    mechanisms,
    release: async () => {
      if (handle !== null) native!.unlockFile(handle);
      if (server !== null) await closeServer(server);
    },
  };
}

/** Binds `name`; null when another socket has it (EADDRINUSE). */
function bindAbstract(name: string, dir: string, what: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    // Nobody is meant to connect; anyone who does is hung up on at once.
    const server = createServer((socket) => socket.destroy());
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        resolve(null);
        return;
      }
      reject(
        new TapioError(
          'ERR_DATA_DIR',
          `cannot lock the ${what} ${dir}: binding its lock socket failed (${err.code ?? err.message}); the process lock needs Unix sockets with abstract names (Linux)`,
          {
            cause: err,
            details: { path: dir, operation: 'bind', errno: err.code },
          },
        ),
      );
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      server.on('error', () => undefined); // nothing after listening concerns the lock
      server.unref(); // the lock never keeps the process alive
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // exclusive: in a cluster worker, bind here rather than share the primary's handle.
    server.listen({ path: name, exclusive: true });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Replaces the lock file's contents with the owner's process id (informational). */
async function writeOwner(dir: string, file: string, what: string, text: string): Promise<void> {
  try {
    const handle = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT, 0o600);
    try {
      await handle.truncate(0);
      await handle.write(text, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw dataDirError(dir, file, what, err);
  }
}

async function lockWithPidFile(dir: string, file: string, what: string): Promise<Held> {
  let handle;
  try {
    handle = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dataDirError(dir, file, what, err);
    const owner = await readOwner(file);
    const who = owner === null ? 'another process' : `process ${owner}`;
    const gone = owner !== null && owner !== process.pid && !alive(owner);
    throw new TapioError(
      'ERR_LOCKED',
      `the ${what} ${dir} is locked by ${who} (its lock file ${file} exists). ` +
        (gone ? `Process ${owner} is no longer running, so the lock is stale. ` : `Close the store in ${who} first. `) +
        `This platform has no lock that ends with its process, and taking a lock file over would race with other openers: once no process uses the directory, delete ${file} by hand and open again.`,
      { details: { path: dir, file, ...(owner === null ? {} : { pid: owner }) } },
    );
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(file, { force: true });
    throw dataDirError(dir, file, what, err);
  }
  await handle.close();
  return {
    mechanisms: ['pid-file'],
    // Only this process created the file (O_EXCL) and nobody else removes it, so it is ours.
    release: () => fsp.rm(file, { force: true }),
  };
}

/** The process id a lock file names, or null when it names none (empty, unreadable, other text). */
async function readOwner(file: string): Promise<number | null> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = m === null ? 0 : Number(m[1]);
  return pid > 0 ? pid : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The ERR_LOCKED of a lock another process (or another thread of this one) holds. */
async function lockedError(dir: string, file: string, what: string): Promise<TapioError> {
  // The holder writes its id right after taking the lock, so the file may still name an
  // earlier owner that is gone: only a running process is named.
  const owner = await readOwner(file);
  let who = 'another process';
  if (owner === process.pid) who = 'another thread of this process';
  else if (owner !== null && alive(owner)) who = `process ${owner}`;
  return new TapioError(
    'ERR_LOCKED',
    `the ${what} ${dir} is in use by ${who}; close the store there first (or stop that process). ` +
      'The lock is held by the operating system and ends with its process, so there is no lock file to delete.',
    { details: { path: dir, ...(who.startsWith('process') ? { pid: owner } : {}) } },
  );
}

function dataDirError(dir: string, file: string, what: string, err: unknown): TapioError {
  const details = (err as { details?: { operation?: string; errno?: string } }).details;
  const code = details?.errno ?? (err as NodeJS.ErrnoException).code ?? 'unknown error';
  const operation = details?.operation ?? (err as NodeJS.ErrnoException).syscall ?? 'open';
  return new TapioError(
    'ERR_DATA_DIR',
    `cannot lock the ${what} ${dir}: ${operation} of its lock file ${file} failed (${code}); make the directory and the file writable by this process`,
    { cause: err, details: { path: dir, file, operation, errno: code } },
  );
}
