/**
 * Files of a transit WAL directory other than segment contents: the WAL_ID identity file, the
 * recovery checkpoint, the list of segments, directory fsync, and the error values that name a file.
 * The native twin (native/core/wal_dir.cc) reads and writes the same bytes; docs/FORMAT.md
 * describes them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { TapioError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../fs/durable.js';
import { storeIdFromHex } from './codec.js';
import { reasonError, reasonText } from './reasons.js';
import {
  CHECKPOINT_FILE_NAME,
  CHECKPOINT_FORMAT_NAME,
  FORMAT_VERSION,
  ID_FILE_NAME,
  LOCK_FILE_NAME,
  MAX_SMALL_FILE_BYTES,
  MAX_SMALL_FILE_NESTING,
  WAL_FORMAT_NAME,
  parseSegmentFileName,
  segmentFileName,
} from './format.js';

/** The temporary name WAL_ID is written under before the rename. */
export const WAL_ID_TEMP_NAME = `${ID_FILE_NAME}.tmp`;

/**
 * WAL_ID's or CHECKPOINT's text as the object it must hold, or null when it holds other JSON (an
 * array, a value, or a member nesting arrays and objects deeper than MAX_SMALL_FILE_NESTING
 * levels, which the native JSON reader refuses too). Throws JSON.parse's error for text that is not JSON.
 */
export function parseSmallFileObject(text: string): Record<string, unknown> | null {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const deeper = (value: unknown, levels: number): boolean => {
    if (typeof value !== 'object' || value === null) return false;
    if (levels === 0) return true;
    for (const v of Array.isArray(value) ? value : Object.values(value)) if (deeper(v, levels - 1)) return true;
    return false;
  };
  return Object.values(parsed).some((v) => deeper(v, MAX_SMALL_FILE_NESTING)) ? null : (parsed as Record<string, unknown>);
}

/** A store identity read from WAL_ID. */
export interface WalIdentity {
  /** 32 lowercase hex digits. */
  storeId: string;
  /** The same id as the 16 bytes segment headers carry. */
  storeIdBytes: Uint8Array;
}

/** A segment file found in the directory. */
export interface SegmentFile {
  number: number;
  /** The file name, e.g. 0000000000000001.wal. */
  name: string;
  path: string;
}

/** The exact bytes of WAL_ID for `storeId`: one JSON object, no whitespace, no newline. */
export function encodeWalId(storeId: string): string {
  return JSON.stringify({ format: WAL_FORMAT_NAME, version: FORMAT_VERSION, storeId });
}

/**
 * Reads WAL_ID. Returns null when it does not exist. Throws ERR_FORMAT_VERSION when it names
 * another format or version, ERR_WAL_CORRUPT when it cannot be parsed; either way it names the
 * file and touches nothing.
 */
export async function readWalId(dir: string): Promise<WalIdentity | null> {
  const file = join(dir, ID_FILE_NAME);
  let text: string | null;
  try {
    text = await readSmallFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw dirError(`cannot read ${file}`, err);
  }
  if (text === null) throw notWalIdObject(file, undefined);
  let parsed: Record<string, unknown> | null;
  try {
    parsed = parseSmallFileObject(text);
  } catch (err) {
    throw notWalIdObject(file, err);
  }
  if (parsed === null) throw notWalIdObject(file, undefined);
  const o = parsed;
  if (o.format !== WAL_FORMAT_NAME || o.version !== FORMAT_VERSION) {
    throw reasonError('wal-id-version', { file, format: String(JSON.stringify(o.format)), version: String(JSON.stringify(o.version)) });
  }
  // Either case is read (the writer writes lowercase); the id is kept in lowercase.
  const bytes = typeof o.storeId === 'string' ? storeIdFromHex(o.storeId.toLowerCase()) : null;
  if (bytes === null) throw reasonError('wal-id-store', { file, storeId: String(JSON.stringify(o.storeId)) });
  return { storeId: (o.storeId as string).toLowerCase(), storeIdBytes: bytes };
}

function notWalIdObject(file: string, cause: unknown): TapioError {
  return reasonError('wal-id-not-object', { file }, cause !== undefined ? { cause } : undefined);
}

/**
 * Checks, without creating or changing anything, that `dir` can be this store's WAL directory:
 * it does not exist, or holds a WAL_ID of this format (its identity is returned), or holds no
 * WAL_ID and nothing else but the writer's lock and WAL_ID's temporary file (null). A directory
 * that holds other files but no WAL_ID is refused.
 */
export async function checkWalDir(dir: string): Promise<WalIdentity | null> {
  const existing = await readWalId(dir);
  if (existing !== null) return existing;
  const entries = (await listDir(dir)).filter((n) => n !== WAL_ID_TEMP_NAME && n !== LOCK_FILE_NAME).sort(); // the writer's lock (wal-lock.ts)
  if (entries.some(isSegmentName)) throw reasonError('wal-id-missing', { file: join(dir, ID_FILE_NAME) });
  if (entries.length > 0) throw reasonError('not-wal-dir', { dir, found: `${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}` });
  return null;
}

/**
 * Reads WAL_ID, creating the directory and a new identity when the directory is new or empty
 * (write WAL_ID.tmp, fdatasync, rename, fsync the directory). A directory that holds other
 * files but no WAL_ID is refused, untouched.
 */
export async function openWalId(dir: string): Promise<WalIdentity> {
  const firstCreated = await ensureDir(dir);
  const existing = await checkWalDir(dir);
  if (existing !== null) return existing;
  const storeId = randomBytes(16).toString('hex');
  try {
    await writeFileAtomic(join(dir, ID_FILE_NAME), encodeWalId(storeId), { temp: join(dir, WAL_ID_TEMP_NAME) });
    // A directory created just now: make its entry (and those of new parents) durable too.
    for (let d = dir; firstCreated !== undefined; d = dirname(d)) {
      await fsyncDir(dirname(d));
      if (d === firstCreated || dirname(d) === d) break;
    }
  } catch (err) {
    throw dirError(`cannot create ${join(dir, ID_FILE_NAME)}`, err);
  }
  return { storeId, storeIdBytes: storeIdFromHex(storeId)! };
}

/** What CHECKPOINT says: segments up to `sealed` are whole and synced; `sealed` holds firstSeq..lastSeq. */
export interface WalCheckpoint {
  sealed: number;
  firstSeq: number;
  lastSeq: number;
}

/** The exact bytes of CHECKPOINT: one JSON object, no whitespace, no newline. */
export function encodeCheckpoint(storeId: string, cp: WalCheckpoint): string {
  return JSON.stringify({ format: CHECKPOINT_FORMAT_NAME, version: FORMAT_VERSION, storeId, sealed: cp.sealed, firstSeq: cp.firstSeq, lastSeq: cp.lastSeq });
}

/**
 * Reads CHECKPOINT: null when there is none; `{ ignored }` with the reason when it exists but
 * cannot be used (recovery then scans every segment).
 */
export async function readCheckpoint(dir: string, storeId: string): Promise<WalCheckpoint | { ignored: string } | null> {
  const file = join(dir, CHECKPOINT_FILE_NAME);
  let text: string;
  try {
    const got = await readSmallFile(file);
    if (got === null) return { ignored: reasonText('small-file-not-object', { name: CHECKPOINT_FILE_NAME }) };
    text = got;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return { ignored: reasonText('small-file-unreadable', { name: CHECKPOINT_FILE_NAME, errno: code ?? 'unknown error' }) };
  }
  let o: Record<string, unknown> | null;
  try {
    o = parseSmallFileObject(text);
  } catch {
    o = null;
  }
  const name = CHECKPOINT_FILE_NAME;
  if (o === null) return { ignored: reasonText('small-file-not-object', { name }) };
  if (o.format !== CHECKPOINT_FORMAT_NAME || o.version !== FORMAT_VERSION) return { ignored: reasonText('small-file-format', { name }) };
  const id = typeof o.storeId === 'string' && storeIdFromHex(o.storeId.toLowerCase()) !== null ? o.storeId.toLowerCase() : null;
  if (id === null) return { ignored: reasonText('small-file-no-store', { name }) };
  if (id !== storeId) return { ignored: reasonText('small-file-other-store', { name, storeId: id, walStoreId: storeId }) };
  const { sealed, firstSeq, lastSeq } = o;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!ok(sealed) || !ok(firstSeq) || !ok(lastSeq) || sealed < 1 || firstSeq < 1 || lastSeq + 1 < firstSeq) {
    return { ignored: reasonText('checkpoint-range', {}) };
  }
  return { sealed, firstSeq, lastSeq };
}

/** Writes CHECKPOINT through `CHECKPOINT.tmp`: fdatasync, rename, fsync of the directory. */
export async function writeCheckpoint(dir: string, storeId: string, cp: WalCheckpoint): Promise<void> {
  const file = join(dir, CHECKPOINT_FILE_NAME);
  await writeFileAtomic(file, encodeCheckpoint(storeId, cp), { temp: `${file}.tmp` });
}

/** The text of WAL_ID or CHECKPOINT, or null when it is larger than either can be. */
async function readSmallFile(file: string): Promise<string | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SMALL_FILE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) break;
    }
    return got > MAX_SMALL_FILE_BYTES ? null : buf.subarray(0, got).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * True for the name of a segment file: 16 lowercase hex digits and .wal, numbered from 1 to
 * Number.MAX_SAFE_INTEGER (no writer gives out other numbers; native ListSegments agrees).
 */
function isSegmentName(name: string): boolean {
  const n = parseSegmentFileName(name);
  return n !== null && n >= 1n && n <= BigInt(Number.MAX_SAFE_INTEGER);
}

/** The segment files of `dir`, by number; other files are ignored. An absent directory has none. */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const out: SegmentFile[] = [];
  for (const name of await listDir(dir)) {
    if (!isSegmentName(name)) continue;
    const n = parseSegmentFileName(name)!;
    out.push({ number: Number(n), name, path: join(dir, name) });
  }
  out.sort((a, b) => a.number - b.number);
  return out;
}

/** The path of segment `n` in `dir`. */
export function segmentPath(dir: string, n: number): string {
  return join(dir, segmentFileName(n));
}

/** fsync a directory, so entries created, renamed or removed in it are durable. */
export { fsyncDir } from '../fs/durable.js';

/** Removes a file and makes the removal durable. */
export async function unlinkDurably(path: string): Promise<void> {
  await unlink(path);
  await fsyncDir(dirname(path));
}

/** The entries of `dir`, [] when it does not exist. */
async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw dirError(`cannot list ${dir}`, err);
  }
}

/** Creates `dir` (and parents) when missing; returns the first directory created, if any. */
async function ensureDir(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw dirError(`cannot create the transit WAL directory ${dir}`, err);
  }
}

function dirError(what: string, err: unknown): TapioError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
  return new TapioError(
    'ERR_DATA_DIR',
    `${what} (${code}): ${(err as Error).message}; check that the path exists and that this process may read and write it`,
    {
      cause: err,
    },
  );
}
