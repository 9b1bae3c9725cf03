/**
 * The per-store HMAC secret. API keys are stored only as HMAC-SHA256(secret, `tap_<keyId>_<secret>`):
 * a copy of the metadata directory without this secret cannot be used to test guessed keys.
 *
 * On disk it is a file of exactly 32 random bytes, created with O_CREAT|O_EXCL and mode 0600,
 * fsynced, and its directory fsynced, before any API key can depend on it. A file that other
 * users can read, or of another size, is refused.
 */

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open as openFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TapioError } from '../errors.js';
import { fsyncDirectory } from './data-dir.js';

export const SECRET_FILE_BYTES = 32;
const CHECK_MESSAGE = 'tapio-metadata secret check v1';

const BLOCK = 64; // SHA-256 block size
const MAX_MESSAGE = 256;

/**
 * An HMAC-SHA256 key (RFC 2104): HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), with K zero-
 * padded to the 64-byte block. The two padded keys are computed once; a digest is two one-shot
 * `crypto.hash` calls over preallocated buffers, with both results taken as strings. Nothing is
 * allocated outside the JavaScript heap: no Hmac object and no Buffer per call, which keeps
 * verification fast and the garbage collector quiet. A test checks every digest against
 * `crypto.createHmac`. Messages are ASCII (API key bodies) of at most 256 characters.
 * Not reentrant across threads; each worker thread has its own instances.
 */
export class HmacKey {
  readonly #inner: Buffer; // K ^ ipad, then room for the message
  readonly #outer: Buffer; // K ^ opad, then room for the inner digest
  readonly #mine = Buffer.alloc(32);
  readonly #theirs = Buffer.alloc(32);

  constructor(bytes: Uint8Array) {
    if (bytes.length > BLOCK) throw new RangeError(`an HMAC key of more than ${BLOCK} bytes must be hashed first`);
    this.#inner = Buffer.alloc(BLOCK + MAX_MESSAGE);
    this.#outer = Buffer.alloc(BLOCK + 32);
    for (let i = 0; i < BLOCK; i++) {
      const k = i < bytes.length ? (bytes[i] as number) : 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  static random(): HmacKey {
    const bytes = randomBytes(SECRET_FILE_BYTES);
    const key = new HmacKey(bytes);
    bytes.fill(0);
    return key;
  }

  /** HMAC-SHA256 of an ASCII message (each character's low byte is hashed), as base64 (44 characters). */
  digestBase64(message: string): string {
    if (message.length > MAX_MESSAGE) throw new RangeError(`HMAC messages here are at most ${MAX_MESSAGE} characters`);
    const n = this.#inner.write(message, BLOCK, 'latin1');
    this.#outer.write(hash('sha256', this.#inner.subarray(0, BLOCK + n), 'binary'), BLOCK, 'binary');
    return hash('sha256', this.#outer, 'base64');
  }

  digest(message: string): Buffer {
    return Buffer.from(this.digestBase64(message), 'base64');
  }

  /**
   * Whether HMAC(message) equals `expected` (a 44-character base64 digest), compared with
   * crypto.timingSafeEqual so the time taken does not depend on where they differ.
   */
  verifyBase64(message: string, expected: string): boolean {
    this.#mine.write(this.digestBase64(message), 0, 'base64');
    if (expected.length !== 44 || this.#theirs.write(expected, 0, 'base64') !== 32) return false;
    return timingSafeEqual(this.#mine, this.#theirs);
  }

  /** A fingerprint stored in meta:format, so a store can tell its own secret from another. */
  check(): Buffer {
    return this.digest(CHECK_MESSAGE);
  }

  matches(check: Uint8Array): boolean {
    return check.length === 32 && timingSafeEqual(this.check(), check);
  }
}

function secretError(file: string, problem: string, cause?: unknown): TapioError {
  return new TapioError('ERR_METADATA_SECRET', `Metadata secret file ${file} ${problem}.`, cause === undefined ? undefined : { cause });
}

/** The secret in `file`, or null when the file does not exist. */
export async function readSecretFile(file: string): Promise<HmacKey | null> {
  let handle;
  try {
    handle = await openFile(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw secretError(file, 'is a symbolic link; point options.secretPath at the file itself');
    throw secretError(file, `cannot be opened (${code ?? String(err)}); make it readable by this process's user`, err);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw secretError(file, 'is not a regular file');
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw secretError(file, `has mode ${(stat.mode & 0o777).toString(8)}, so other users can read it; run chmod 600 on it`);
    }
    if (stat.size !== SECRET_FILE_BYTES) {
      throw secretError(file, `is ${stat.size} bytes long, a secret file holds exactly ${SECRET_FILE_BYTES}; restore the file that belongs to this store`);
    }
    const bytes = Buffer.alloc(SECRET_FILE_BYTES);
    const { bytesRead } = await handle.read(bytes, 0, SECRET_FILE_BYTES, 0);
    if (bytesRead !== SECRET_FILE_BYTES) throw secretError(file, 'could not be read whole');
    const key = new HmacKey(bytes);
    bytes.fill(0);
    return key;
  } finally {
    await handle.close();
  }
}

/**
 * Creates `file` with a new random secret: O_EXCL, mode 0600, written, fsynced, then its
 * directory fsynced. When the file appears meanwhile (another process won the race), that file
 * is read instead.
 */
export async function createSecretFile(file: string): Promise<HmacKey> {
  let handle;
  try {
    handle = await openFile(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const existing = await readSecretFile(file);
      if (existing !== null) return existing;
    }
    throw secretError(file, `cannot be created (${code ?? String(err)}); make its directory writable, or set options.secretPath`, err);
  }
  const bytes = randomBytes(SECRET_FILE_BYTES);
  try {
    await handle.chmod(0o600); // the mode given to open is reduced by the umask, never widened; make it exact
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(file).catch(() => undefined); // a partial file would be refused on every later open
    throw secretError(file, `could not be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  await handle.close();
  await fsyncDirectory(dirname(file));
  const key = new HmacKey(bytes);
  bytes.fill(0);
  return key;
}
