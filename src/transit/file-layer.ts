/**
 * The writes and fdatasyncs the TypeScript WAL writer makes on its segment files, behind one
 * small interface, so that a test can put a layer under the writer that fails on command or
 * forgets what was not synced, as a device that lost its cache would. Segment creation does not
 * go through it. The native twin is native/core/file_layer.{h,cc}; both count and forget alike.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface FileLayer {
  /** Writes all of `bytes` at `offset` of `fh` (`path` names it). */
  write(fh: FileHandle, path: string, bytes: Uint8Array, offset: number): Promise<void>;
  /** fdatasync of `fh`: covers every write that completed before it started. */
  sync(fh: FileHandle, path: string): Promise<void>;
}

/** The real system calls. */
export const posixFileLayer: FileLayer = {
  async write(fh, _path, bytes, offset) {
    let done = 0;
    while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, offset + done)).bytesWritten;
  },
  async sync(fh) {
    await fh.datasync();
  },
};

/** What a FaultyFileLayer injects: the Nth write or fdatasync through it (1-based) fails with EIO. */
export interface FaultInjector {
  failWriteAt?: number;
  failSyncAt?: number;
}

/** What one write replaced: the bytes at `offset` before it. */
interface Undo {
  generation: number;
  offset: number;
  before: Buffer;
}

interface FileState {
  /** Oldest first: writes no successful fdatasync covered yet. */
  undo: Undo[];
}

/**
 * A layer for tests over the real one. It counts writes and fdatasyncs, and the one the injector
 * names fails: a failed write writes nothing. It keeps what each write replaced until an fdatasync
 * covers the write, so it can put back the bytes of the last successful fdatasync of every file:
 * after an injected fdatasync failure, as a device that dropped its cache (its later writes are
 * lost: they succeed and change nothing; its later fdatasyncs fail), and on dropUnsyncedData()
 * (power loss).
 */
export class FaultyFileLayer implements FileLayer {
  writes = 0;
  syncs = 0;
  #generation = 0;
  /** An injected fdatasync failed: the device is gone. */
  #failed = false;
  readonly #files = new Map<string, FileState>();

  constructor(private readonly faults: FaultInjector) {}

  async write(fh: FileHandle, path: string, bytes: Uint8Array, offset: number): Promise<void> {
    const file = this.#file(path);
    const injected = ++this.writes === this.faults.failWriteAt;
    if (injected) throw injectedEio('write');
    if (this.#failed) return; // lost: the device takes writes it never keeps
    // Read through a handle of its own: the writer's may be write-only.
    const before = Buffer.alloc(bytes.length);
    const reader = await open(path, 'r');
    let bytesRead: number;
    try {
      ({ bytesRead } = await reader.read(before, 0, before.length, offset));
    } finally {
      await reader.close();
    }
    const undo: Undo = { generation: ++this.#generation, offset, before: before.subarray(0, bytesRead) };
    await posixFileLayer.write(fh, path, bytes, offset);
    file.undo.push(undo);
  }

  async sync(fh: FileHandle, path: string): Promise<void> {
    const file = this.#file(path);
    const injected = ++this.syncs === this.faults.failSyncAt;
    if (this.#failed) throw injectedEio('fdatasync');
    if (injected) {
      // The device lost what it had not made durable, in every file, and is not trusted again.
      this.#failed = true;
      await this.dropUnsyncedData();
      throw injectedEio('fdatasync');
    }
    const covered = this.#generation; // writes that completed before this fdatasync started
    await fh.datasync();
    file.undo = file.undo.filter((u) => u.generation > covered);
  }

  /**
   * Puts back, in every file written through this layer, the bytes its last successful fdatasync
   * covered: what was written since is forgotten.
   */
  async dropUnsyncedData(): Promise<void> {
    for (const [path, state] of this.#files) await drop(path, state);
  }

  #file(path: string): FileState {
    let state = this.#files.get(path);
    if (state === undefined) {
      state = { undo: [] };
      this.#files.set(path, state);
    }
    return state;
  }
}

/** Puts back what each write since the last covering fdatasync replaced, newest first. */
async function drop(path: string, file: FileState): Promise<void> {
  if (file.undo.length === 0) return;
  const fh = await open(path, 'r+');
  try {
    for (let i = file.undo.length - 1; i >= 0; i--) {
      const u = file.undo[i]!;
      if (u.before.length > 0) await posixFileLayer.write(fh, path, u.before, u.offset);
    }
    file.undo = [];
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function injectedEio(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: i/o error, ${syscall} (injected by a FaultyFileLayer)`), { code: 'EIO', errno: -5, syscall });
}
