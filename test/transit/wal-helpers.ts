// Helpers shared by the transit WAL suites: temp directories, option sets, payloads, and
// byte-level edits of segment files for the corruption cases.
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';

import { crc32cTs } from '../../src/native/crc32c.js';
import { loadNative } from '../../src/native/loader.js';
import type { RecoveryMode, RecoveryReport, WalBackend, WalOpenOptions } from '../../src/transit/backend.js';
import { segmentFileName } from '../../src/transit/format.js';
import { NativeWal } from '../../src/transit/native-wal.js';
import type { Transit } from '../../src/transit/transit.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { readRecords, recoverWal, type WalRecord } from '../../src/transit/wal-recovery.js';

/** The files under `dir` this process holds open (Linux only: it reads /proc/self/fd). */
export function openFilesIn(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(join('/proc/self/fd', fd)).startsWith(join(dir, '/'))) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Opens a WAL backend. */
export type WalOpener = (o: WalOpenOptions) => Promise<WalBackend>;

/** Which implementation: the C++ addon or the TypeScript twin. */
export type WalPath = 'native' | 'typescript';

/** True when the native addon is loaded, so the native backend runs too. */
export const nativeLoaded = loadNative() !== null;

/** Each path's opener, by name. */
export const openers: Partial<Record<WalPath, WalOpener>> = {
  typescript: (o) => TsWalWriter.open(o),
  ...(nativeLoaded ? { native: (o: WalOpenOptions) => NativeWal.open(o) } : {}),
};

/** The backends every WAL suite runs against: the TypeScript twin, and the native one when the addon loads. */
export const backends: Array<[WalPath, WalOpener]> = (['typescript', 'native'] as const).flatMap((name) => {
  const open = openers[name];
  return open === undefined ? [] : [[name, open] as [WalPath, WalOpener]];
});

/**
 * Runs the recovery of `path` over `dir` and returns its report. TypeScript: recoverWal, which
 * changes nothing but what recovery changes. Native: the addon's open (recovery, then the
 * writer, which creates segment 1 in an empty log) and close.
 */
export async function recoverVia(path: WalPath, dir: string, mode: RecoveryMode = 'strict'): Promise<RecoveryReport> {
  if (path === 'typescript') return (await recoverWal(dir, { recovery: mode })).report;
  const wal = await NativeWal.open(options(dir, { recovery: mode, directIo: 'off' }));
  await wal.close();
  return wal.recovery;
}

const made: string[] = [];

/** A new empty temporary directory, removed by cleanupDirs(). */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'tapio-wal-'));
  made.push(dir);
  return dir;
}

export async function cleanupDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export function options(dir: string, extra: Partial<WalOpenOptions> = {}): WalOpenOptions {
  return { dir, segmentSize: 1 << 20, ringCapacity: 1 << 20, directIo: 'auto', recovery: 'strict', maxGroupBytes: 1 << 20, ...extra };
}

/** A deterministic payload of `n` bytes for record `i`. */
export function payload(i: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (i * 2654435761) >>> 0 || 1;
  for (let k = 0; k < n; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[k] = x & 0xff;
  }
  return out;
}

/** Every record of `dir`. */
export async function readAll(dir: string, opts: Parameters<typeof readRecords>[1] = {}): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of readRecords(dir, opts)) out.push(r);
  return out;
}

/**
 * Writes `count` records of `size` bytes, one append each (so one group each), and closes; with
 * the TypeScript twin unless `open` names another backend.
 */
export async function writeLog(
  dir: string,
  count: number,
  size: number,
  extra: Partial<WalOpenOptions> = {},
  open: WalOpener = (o) => TsWalWriter.open(o),
): Promise<Uint8Array[]> {
  const wal = await open(options(dir, extra));
  const written: Uint8Array[] = [];
  for (let i = 1; i <= count; i++) {
    const p = payload(i, size);
    written.push(p);
    await wal.append([p]);
  }
  await wal.close();
  return written;
}

export function segPath(dir: string, n: number): string {
  return join(dir, segmentFileName(n));
}

/** Overwrites bytes of a file at `offset`. */
export async function patch(file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

export async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}

/** Rewrites field(s) of a segment header and fixes its checksum. */
export async function editHeader(file: string, edit: (h: Buffer) => void): Promise<void> {
  const h = await readAt(file, 0, 64);
  edit(h);
  h.writeUInt32LE(crc32cTs(h.subarray(0, 60)), 60);
  await patch(file, 0, h);
}

/** Rewrites the sequence number of the record at `offset` and fixes its checksum. */
export async function setRecordSeq(file: string, offset: number, seq: number): Promise<void> {
  const head = await readAt(file, offset, 16);
  const length = head.readUInt32LE(4);
  const rec = await readAt(file, offset, 16 + length);
  rec.writeBigUInt64LE(BigInt(seq), 8);
  rec.writeUInt32LE(crc32cTs(rec.subarray(4)), 0);
  await patch(file, offset, rec);
}

export async function snapshot(dir: string, names: string[]): Promise<Buffer[]> {
  return Promise.all(names.map((n) => readFile(join(dir, n))));
}

/** True when both lists hold the same bytes, file by file. */
export function sameBytes(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((x, i) => x.equals(b[i]!));
}

export { writeFile };

/**
 * The index of the first record that differs between the two lists ('length' when their
 * lengths differ), or null when they hold the same bytes. Faster than a deep equal on large
 * typed arrays.
 */
export function firstDifference(actual: Uint8Array[], expected: Uint8Array[]): number | 'length' | null {
  if (actual.length !== expected.length) return 'length';
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(e)) return i;
  }
  return null;
}

/** Runs a subscription named `name` until it has delivered up to `last`; returns the sequence numbers it saw. */
export async function subscribeAll(t: Transit, name: string, last: number): Promise<number[]> {
  const seen: number[] = [];
  const sub = t.subscribe(
    name,
    (r) => {
      seen.push(r.seq);
    },
    { batchSize: 500 },
  );
  let failed: unknown = null;
  sub.done.catch((err: unknown) => {
    failed = err;
  });
  const give = Date.now() + 60_000; // liveness only
  while (sub.position < last && failed === null && Date.now() < give) await new Promise((r) => setTimeout(r, 5));
  await sub.close().catch(() => undefined);
  if (failed !== null) throw failed;
  return seen;
}
