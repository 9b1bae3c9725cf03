/**
 * The errors of the native WAL writer, with the details the TypeScript twin gives.
 *
 * A failure of the writer thread reaches JavaScript as the core's status message, of the form
 * `<operation> <file> failed: <system text> (<ERRNO>)` (native/core/wal_file.cc ErrnoStatus).
 * nativeWalIoError turns it into the ERR_WAL_IO the twin throws, with the same details:
 * `{ file, operation, code }`. Errors of the open (recovery) need nothing here: the binding
 * attaches their details (segment, file, offset, bytes, reason) itself.
 */
import { TapioError } from '../errors.js';

/** The facts of one failed system call, as the twin's ERR_WAL_IO details give them. */
export interface NativeIoFailure {
  file: string;
  /** The twin's name of the operation: write, fdatasync, open, read, fsync, fallocate, ... */
  operation: string;
  /** The errno name (EIO, ENOSPC, ...), or `errno <n>` when the core has no name for it. */
  code: string;
}

/** The core's operation words, longest first, and the twin's name for each. */
const OPERATIONS: ReadonlyArray<[RegExp, string]> = [
  [/^write to /, 'write'],
  [/^read from /, 'read'],
  [/^fdatasync /, 'fdatasync'],
  [/^fsync of directory /, 'fsync'],
  [/^fsync /, 'fsync'],
  [/^posix_fallocate of /, 'fallocate'],
  [/^ftruncate of /, 'ftruncate'],
  [/^fstat of /, 'fstat'],
  [/^open \(O_DIRECT\) /, 'open'],
  [/^open directory /, 'open'],
  [/^open /, 'open'],
  [/^read directory /, 'readdir'],
  [/^create a probe file in /, 'create'],
  [/^fcntl\(F_NOCACHE\) /, 'fcntl'],
  [/^rename to .+? of /, 'rename'],
  [/^unlink /, 'unlink'],
  [/^mkdir /, 'mkdir'],
  [/^stat /, 'stat'],
];

/**
 * The file, operation and errno name in a native failure message, or null when the message is
 * not of that form (then it is kept as it is).
 *
 * @example
 * ```ts
 * parseNativeIoFailure('write to /data/wal/0000000000000001.wal failed: Input/output error (EIO)');
 * // { file: '/data/wal/0000000000000001.wal', operation: 'write', code: 'EIO' }
 * ```
 */
export function parseNativeIoFailure(message: string): NativeIoFailure | null {
  const tail = / failed: .* \((E[A-Z0-9]+|errno -?\d+)\)$/s.exec(message);
  if (tail === null) return null;
  const head = message.slice(0, tail.index);
  for (const [pattern, operation] of OPERATIONS) {
    const m = pattern.exec(head);
    if (m !== null && head.length > m[0].length) return { file: head.slice(m[0].length), operation, code: tail[1]! };
  }
  return null;
}

/**
 * The ERR_WAL_IO for a failure the native writer reported (`failure` is its message): the same
 * message form and details as the twin's, so callers can tell a full disk from a dead one
 * without reading text.
 *
 * @example
 * ```ts
 * if (failure !== undefined) this.#failure = nativeWalIoError(failure);
 * ```
 */
export function nativeWalIoError(failure: string): TapioError {
  const facts = parseNativeIoFailure(failure);
  const what = facts === null ? 'the transit WAL writer failed' : `transit WAL ${facts.operation} of ${facts.file} failed (${facts.code})`;
  return new TapioError(
    'ERR_WAL_IO',
    `${what}: ${failure}. The writer is in a failed state and refuses every append (fdatasync is never retried); fix the cause, then close and reopen the store to recover the synced prefix.`,
    facts === null ? undefined : { details: { ...facts } },
  );
}
