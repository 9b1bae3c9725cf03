/**
 * `tapio-storage findings verify` and `findings stats`: read-only checks of a correlation store
 * (they take no lock and change nothing, so they run beside a store that is open): the manifest's
 * checksum, every segment's and side file's size and CRC32C against the manifest, each Parquet
 * footer's row count, and files the manifest does not name.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { TapioError } from '../errors.js';
import { readManifest, type Manifest } from './manifest.js';
import { decodeEmbeddingHeader, readWhole, SegmentReader } from './segment-file.js';
import { fileCrc } from './segment-merge.js';

export interface FindingsProblem {
  file: string;
  problem: string;
}

export interface FindingsVerifyReport {
  dir: string;
  ok: boolean;
  segments: number;
  rows: number;
  bytes: number;
  problems: FindingsProblem[];
  /** Files under segments/ the manifest does not name (the next open removes them). */
  unlisted: string[];
}

/** The manifest of the store at `dir`; ERR_NO_STORE when there is none. */
export async function manifestOf(dir: string): Promise<Manifest> {
  const m = await readManifest(dir);
  if (m === null)
    throw new TapioError('ERR_NO_STORE', `no correlation store at ${dir} (no MANIFEST); open the storage once to create it`, { details: { path: dir } });
  return m;
}

export async function verifyFindings(dir: string, progress?: (done: number, total: number) => void): Promise<FindingsVerifyReport> {
  const problems: FindingsProblem[] = [];
  let m: Manifest;
  try {
    m = await manifestOf(dir);
  } catch (err) {
    if (err instanceof TapioError && err.code === 'ERR_SEGMENT_CORRUPT') {
      return { dir, ok: false, segments: 0, rows: 0, bytes: 0, problems: [{ file: join(dir, 'MANIFEST'), problem: err.message }], unlisted: [] };
    }
    throw err;
  }
  let rows = 0;
  let bytes = 0;
  for (const [i, s] of m.segments.entries()) {
    progress?.(i, m.segments.length);
    rows += s.rows;
    bytes += s.bytes + s.embeddingBytes;
    for (const [name, size, crc] of [
      [s.file, s.bytes, s.crc],
      [s.embeddings, s.embeddingBytes, s.embeddingCrc],
    ] as const) {
      const path = join(dir, name);
      const st = await fsp.stat(path).catch((err: NodeJS.ErrnoException) => err);
      if (st instanceof Error) {
        problems.push({ file: path, problem: `cannot be read (${st.code ?? st.message})` });
        continue;
      }
      if (st.size !== size) {
        problems.push({ file: path, problem: `holds ${st.size} bytes, the manifest says ${size}` });
        continue;
      }
      const actual = await fileCrc(path);
      if (actual !== crc) problems.push({ file: path, problem: `CRC32C ${hex(actual)}, the manifest says ${hex(crc)}` });
    }
    if (problems.some((p) => p.file === join(dir, s.file))) continue;
    try {
      const reader = await SegmentReader.open(join(dir, s.file));
      const footerRows = Number(reader.file.metadata().fileMetadata().numRows());
      reader.close();
      if (footerRows !== s.rows) problems.push({ file: join(dir, s.file), problem: `its footer counts ${footerRows} rows, the manifest ${s.rows}` });
    } catch (err) {
      problems.push({ file: join(dir, s.file), problem: (err as Error).message });
    }
    const header = decodeEmbeddingHeader((await readWhole(join(dir, s.embeddings)).catch(() => new Uint8Array(0))).subarray(0, 64));
    if (typeof header === 'string') problems.push({ file: join(dir, s.embeddings), problem: header });
    else if (header.rows !== s.rows || header.dim !== m.embeddingDim) {
      problems.push({
        file: join(dir, s.embeddings),
        problem: `its header says ${header.rows} rows of ${header.dim} values, the manifest ${s.rows} of ${m.embeddingDim}`,
      });
    }
  }
  progress?.(m.segments.length, m.segments.length);
  const listed = new Set(m.segments.flatMap((s) => [s.file, s.embeddings]));
  const unlisted: string[] = [];
  for (const day of await fsp.readdir(join(dir, 'segments')).catch(() => [] as string[])) {
    for (const name of await fsp.readdir(join(dir, 'segments', day)).catch(() => [] as string[])) {
      if (!listed.has(`segments/${day}/${name}`)) unlisted.push(`segments/${day}/${name}`);
    }
  }
  return { dir, ok: problems.length === 0, segments: m.segments.length, rows, bytes, problems, unlisted };
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
