/**
 * The manifest: the one source of truth for the live segments of a correlation store
 * (docs/FORMAT.md, "Correlation manifest"). It is replaced whole and atomically (temporary file,
 * fdatasync, rename, directory fsync), and carries a CRC32C of its text, so a torn or edited
 * manifest is refused rather than half-read.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

import { crc32c } from '../crc32c.js';
import { TapioError } from '../errors.js';
import { writeFileAtomic } from '../fs/durable.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION } from './limits.js';

/**
 * A row group's facts: its time range and row count, then (segments written by this version on)
 * a bit per type code present (-1 when a code is above 30) and a bit per severity present.
 */
export type RowGroupFacts = [minTs: number, maxTs: number, rows: number, types?: number, severities?: number];

/** The type and severity bits of rows [start, end) of columns (RowGroupFacts' last two). */
export function groupMasks(type: Uint8Array, severity: Uint8Array, start: number, end: number): [types: number, severities: number] {
  let types = 0;
  let severities = 0;
  for (let i = start; i < end; i++) {
    const t = type[i]!;
    types = types === -1 || t > 30 ? -1 : types | (1 << t);
    severities |= 1 << severity[i]!;
  }
  return [types, severities];
}

/** One live segment. Paths are relative to the store directory. */
export interface SegmentEntry {
  /** The Parquet file, e.g. `segments/day=2026-12-06/L0-000001.parquet`. */
  file: string;
  /** The embedding side file beside it. */
  embeddings: string;
  /** 0 for a flush, 1 and 2 for compactions. */
  level: number;
  /** The UTC day of every row (YYYY-MM-DD): segments never span two days. */
  day: string;
  rows: number;
  bytes: number;
  embeddingBytes: number;
  /** CRC32C of each whole file (checked by `findings verify`). */
  crc: number;
  embeddingCrc: number;
  minTs: number;
  maxTs: number;
  /** Per row group, in file order. */
  groups: RowGroupFacts[];
  /** The type codes present. */
  types: number[];
  /** Bit s set when severity s is present. */
  severities: number;
  /** The resource types (columns) the segment has. */
  resourceTypes: string[];
  /** name-filter.ts's filter of its `<type>=<name>` keys, base64. */
  names: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  /** 32 hex digits, set at creation. */
  storeId: string;
  embeddingDim: number;
  /** The finding_types the store knows, in code order (a configuration may add names at the end). */
  findingTypes: string[];
  /** Every WAL record with a sequence number at or below this is in a segment listed here. */
  walSeq: number;
  /** WAL records past walSeq that are in segments too (an insert after a gap had reached the part a flush wrote first). */
  walExtra: number[];
  /**
   * The highest source position (insert's `sourceSeq`) of the batches in segments; absent in
   * manifests written before source positions existed (read as 0).
   */
  sourceSeq?: number;
  /** The number the next segment file gets. */
  nextSegment: number;
  /** Compactions completed since the store was created. */
  compactions: number;
  segments: SegmentEntry[];
}

/**
 * The number a segment's file was given when it was made (`L<level>-<number>.parquet`): segments
 * made earlier have lower numbers, so among rows with the same timestamp, the rows of a lower
 * number were inserted first.
 */
export function segmentNumber(entry: Pick<SegmentEntry, 'file'>): number {
  const m = /L\d+-(\d+)\.parquet$/.exec(entry.file);
  return m === null ? 0 : Number(m[1]);
}

const CRC_LINE = '\ncrc32c ';
const encoder = new TextEncoder();

/** The manifest's bytes: its JSON, then a line with the CRC32C of the JSON. */
export function encodeManifest(m: Manifest): string {
  const json = JSON.stringify(m);
  return `${json}${CRC_LINE}${crc32c(encoder.encode(json)).toString(16).padStart(8, '0')}\n`;
}

/** Parses a manifest's text; throws ERR_SEGMENT_CORRUPT naming `path` when it is damaged. */
export function decodeManifest(text: string, path: string): Manifest {
  const bad = (why: string) =>
    new TapioError('ERR_SEGMENT_CORRUPT', `the correlation manifest ${path} is damaged (${why}); \`tapio-storage findings verify\` reports the store's state`, {
      details: { file: path },
    });
  const at = text.lastIndexOf(CRC_LINE);
  if (at < 0) throw bad('it has no checksum line');
  const json = text.slice(0, at);
  const want = Number.parseInt(text.slice(at + CRC_LINE.length).trim(), 16);
  if (crc32c(encoder.encode(json)) !== want) throw bad('its checksum does not match its text');
  let m: Manifest;
  try {
    m = JSON.parse(json) as Manifest;
  } catch (err) {
    throw bad(`its text does not parse: ${(err as Error).message}`);
  }
  if (m.format !== MANIFEST_FORMAT) throw bad(`format ${JSON.stringify(m.format)}, not ${MANIFEST_FORMAT}`);
  if (m.version !== MANIFEST_VERSION) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `the correlation manifest ${path} is version ${m.version}; this version of tapio-storage reads version ${MANIFEST_VERSION}`,
      {
        details: { file: path },
      },
    );
  }
  if (!Array.isArray(m.segments) || !Number.isInteger(m.walSeq) || !Array.isArray(m.findingTypes) || !Array.isArray(m.walExtra))
    throw bad('a field is missing');
  return m;
}

/** Reads the manifest of store `dir`, or null when there is none. */
export async function readManifest(dir: string): Promise<Manifest | null> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TapioError('ERR_SEGMENT_IO', `could not read ${path}: ${(err as Error).message}`, { cause: err, details: { file: path } });
  }
  return decodeManifest(text, path);
}

/** Replaces the manifest of store `dir` atomically. */
export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const path = join(dir, MANIFEST_FILE);
  try {
    await writeFileAtomic(path, encodeManifest(m), { temp: join(dir, `${MANIFEST_FILE}.tmp`) });
  } catch (err) {
    throw new TapioError('ERR_SEGMENT_IO', `could not write ${path}: ${(err as Error).message}`, { cause: err, details: { file: path } });
  }
}
