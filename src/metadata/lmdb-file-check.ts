/**
 * A check of an lmdb data file's two meta pages, run before the file is handed to lmdb.
 *
 * lmdb maps the file into memory and trusts it: a file that is not lmdb, or is truncated, makes
 * it crash the process (SIGSEGV or SIGBUS) instead of returning an error. Checking the meta
 * pages turns the common cases (a foreign file, another lmdb data version, a truncated copy)
 * into a refusal the caller can read. Damage inside the B-tree pages is not detected here.
 *
 * Layout (lmdb data version 2, 64-bit): each meta page starts with a 24-byte page header,
 * followed by MDB_meta:
 *   +0 magic u32 (0xBEEFC0DE)   +4 version u32 (2)   +8 fixed map address   +16 map size
 *   +24 free-space tree (MDB_db, 48 bytes; its first u32 holds the page size)
 *   +72 main tree (MDB_db)      +120 last page number   +128 txnid
 * An MDB_db's root page number is at +40 within it. Page 0 and page 1 are the two meta pages.
 */

import { open as openFile } from 'node:fs/promises';

const PAGE_HEADER = 24;
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const NO_PAGE = 0xffffffffffffffffn;

const OFF_MAGIC = PAGE_HEADER + 0;
const OFF_VERSION = PAGE_HEADER + 4;
const OFF_PAGE_SIZE = PAGE_HEADER + 24;
const OFF_FREE_ROOT = PAGE_HEADER + 24 + 40;
const OFF_MAIN_ROOT = PAGE_HEADER + 72 + 40;
const OFF_LAST_PAGE = PAGE_HEADER + 120;
const META_END = PAGE_HEADER + 136;

/** Why the file was refused, or null when it looks like an lmdb data file lmdb can open. */
export async function checkLmdbDataFile(file: string): Promise<string | null> {
  const handle = await openFile(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size === 0) return null; // created but never written: lmdb initialises it
    const first = Buffer.alloc(META_END);
    const { bytesRead } = await handle.read(first, 0, META_END, 0);
    if (bytesRead < META_END) return `it is ${size} bytes long, shorter than an lmdb meta page`;
    const problem = checkMeta(first, 0, size, undefined);
    if (typeof problem === 'string') return problem;
    const second = Buffer.alloc(META_END);
    const read2 = await handle.read(second, 0, META_END, problem);
    if (read2.bytesRead < META_END) return `it is ${size} bytes long, shorter than two lmdb meta pages`;
    const problem2 = checkMeta(second, 1, size, problem);
    return typeof problem2 === 'string' ? problem2 : null;
  } finally {
    await handle.close();
  }
}

/** The page size when the meta page is sound, else the reason. */
function checkMeta(page: Buffer, index: number, fileSize: number, pageSize: number | undefined): number | string {
  const magic = page.readUInt32LE(OFF_MAGIC);
  if (magic !== MAGIC) return `meta page ${index} does not start with the lmdb magic number (it is not an lmdb file)`;
  const version = page.readUInt32LE(OFF_VERSION);
  if (version !== DATA_VERSION) return `meta page ${index} has lmdb data version ${version}, this build reads version ${DATA_VERSION}`;
  const psize = page.readUInt32LE(OFF_PAGE_SIZE);
  if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) return `meta page ${index} has an impossible page size ${psize}`;
  if (pageSize !== undefined && psize !== pageSize) return `the two meta pages disagree on the page size (${pageSize} and ${psize})`;
  const pages = BigInt(Math.floor(fileSize / psize));
  if (pages < 2n) return `it is ${fileSize} bytes long, shorter than two ${psize}-byte meta pages`;
  const lastPage = page.readBigUInt64LE(OFF_LAST_PAGE);
  for (const [what, offset] of [
    ['main tree', OFF_MAIN_ROOT],
    ['free-space tree', OFF_FREE_ROOT],
  ] as const) {
    const root = page.readBigUInt64LE(offset);
    if (root === NO_PAGE) continue;
    if (root > lastPage || root >= pages) {
      return `meta page ${index} puts the ${what} root at page ${root}, beyond the end of the file (${pages} pages): the file is truncated or damaged`;
    }
  }
  return psize;
}
