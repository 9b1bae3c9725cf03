// The constants both paths share exist twice: the on-disk format in native/core/wal_format.h and
// src/transit/format.ts, the limits in native/core/limits.h and src/transit/limits.ts, and the
// reasons a failure or damage is reported with in native/core/reason.h and
// src/transit/reasons.ts. This test parses the headers and proves each constant and each reason
// has the same value in both, and that neither side has one the other lacks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import type { TapioErrorCode } from '../../src/errors.js';
import * as format from '../../src/transit/format.js';
import * as limits from '../../src/transit/limits.js';
import { reasonError, reasonTable, reasonText } from '../../src/transit/reasons.js';

const headerText = readFileSync(new URL('../../native/core/wal_format.h', import.meta.url), 'utf8');
const limitsText = readFileSync(new URL('../../native/core/limits.h', import.meta.url), 'utf8');
const reasonsText = readFileSync(new URL('../../native/core/reason.h', import.meta.url), 'utf8');

/** kSegmentHeaderSize -> SEGMENT_HEADER_SIZE */
function tsName(cppName: string): string {
  return cppName
    .slice(1)
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

/** Evaluates the integer expressions the header uses: 4096, 64ull << 20, 1ull << 30. */
function evalInteger(expr: string): number {
  const e = expr.trim();
  const shift = /^(\d+)(?:ull|ul|u)?\s*<<\s*(\d+)$/i.exec(e);
  if (shift) return Number(BigInt(shift[1]!) << BigInt(shift[2]!));
  const plain = /^(\d+)(?:ull|ul|u)?$/i.exec(e);
  if (plain) return Number(plain[1]);
  throw new Error(`cannot evaluate ${expr}`);
}

function parseHeader(text: string): Map<string, number | string> {
  const out = new Map<string, number | string>();
  for (const m of text.matchAll(/constexpr\s+(?:uint32_t|uint64_t|size_t|int)\s+(k\w+)\s*=\s*([^;]+);/g)) {
    out.set(m[1]!, evalInteger(m[2]!));
  }
  for (const m of text.matchAll(/constexpr\s+const\s+char\s*\*\s*(k\w+)\s*=\s*"([^"]*)";/g)) out.set(m[1]!, m[2]!);
  for (const m of text.matchAll(/constexpr\s+char\s+(k\w+)\[\d+\]\s*=\s*\{([^}]*)\};/g)) {
    out.set(m[1]!, [...m[2]!.matchAll(/'(.)'/g)].map((c) => c[1]).join(''));
  }
  return out;
}

const cpp = parseHeader(headerText);

describe('transit WAL format constants', () => {
  it('finds the constants in the C++ header', () => {
    expect(cpp.size).toBeGreaterThanOrEqual(24);
    expect(cpp.get('kMagic')).toBe('TAPIOWAL');
  });

  it.each([...cpp.entries()])('%s equals its TypeScript twin', (name, value) => {
    const exported = (format as Record<string, unknown>)[tsName(name)];
    expect(exported, `src/transit/format.ts exports ${tsName(name)}`).toBeDefined();
    expect(exported).toBe(value);
  });

  it('has no TypeScript constant without a C++ twin', () => {
    const cppNames = new Set([...cpp.keys()].map(tsName));
    const tsConstants = Object.entries(format)
      .filter(([, v]) => typeof v !== 'function')
      .map(([k]) => k);
    expect(tsConstants.filter((k) => !cppNames.has(k))).toEqual([]);
  });

  it('computes RecordFootprint and MaxPayload like the header', () => {
    // The header's formulas: (kRecordHeaderSize + payload + kRecordAlign - 1) & ~(kRecordAlign - 1)
    // and segment_size - kSegmentHeaderSize - kRecordHeaderSize.
    expect(headerText).toMatch(/\(kRecordHeaderSize \+ payload \+ kRecordAlign - 1\) & ~static_cast<uint64_t>\(kRecordAlign - 1\)/);
    expect(headerText).toMatch(/segment_size - kSegmentHeaderSize - kRecordHeaderSize/);
    for (const n of [0, 1, 7, 8, 9, 200, 4095, 1 << 20]) {
      expect(format.recordFootprint(n)).toBe(Math.ceil((16 + n) / 8) * 8);
    }
    expect(format.maxPayload(1 << 20)).toBe((1 << 20) - 4096 - 16);
  });

  it('gives index entries by the same rule as the header, and names index files like segments', () => {
    expect(headerText).toMatch(/offset \/ kIndexSpacing != \(offset \+ footprint\) \/ kIndexSpacing/);
    const S = format.INDEX_SPACING;
    expect(format.indexesRecord(4096, 24)).toBe(false);
    expect(format.indexesRecord(S - 24, 24)).toBe(true); // ends exactly at the boundary
    expect(format.indexesRecord(S - 24, 16)).toBe(false);
    expect(format.indexesRecord(S, 24)).toBe(false); // starts on it: the record before had the entry
    expect(format.indexesRecord(S - 8, 2 * S)).toBe(true);
    expect(format.indexFileName(1)).toBe('0000000000000001.idx');
    expect(format.parseSegmentFileName(format.indexFileName(1))).toBeNull();
  });

  it('names segment files with 16 lowercase hex digits', () => {
    expect(format.segmentFileName(1)).toBe('0000000000000001.wal');
    expect(format.segmentFileName(0xabcn)).toBe('0000000000000abc.wal');
    expect(format.parseSegmentFileName('0000000000000abc.wal')).toBe(0xabcn);
    expect(format.parseSegmentFileName('0000000000000ABC.wal')).toBeNull();
    expect(format.parseSegmentFileName('0000000000000001.wal.broken')).toBeNull();
  });
});

describe('limits both paths enforce', () => {
  const cppLimits = parseHeader(limitsText);

  it('finds the limits in the C++ header', () => {
    expect(cppLimits.size).toBeGreaterThanOrEqual(10);
    expect(cppLimits.get('kMaxRingCapacity')).toBe(1 << 30);
  });

  it.each([...cppLimits.entries()])('%s equals its TypeScript twin', (name, value) => {
    const exported = (limits as Record<string, unknown>)[tsName(name)];
    expect(exported, `src/transit/limits.ts exports ${tsName(name)}`).toBeDefined();
    expect(exported).toBe(value);
  });

  it('has no TypeScript limit without a C++ twin', () => {
    const cppNames = new Set([...cppLimits.keys()].map(tsName));
    expect(Object.keys(limits).filter((k) => !cppNames.has(k))).toEqual([]);
  });

  it('has a ring maximum the ring index arithmetic and the configuration allow', () => {
    // The TypeScript ring keeps its capacity in an Int32 and masks positions with 32-bit operations.
    expect(limits.MAX_RING_CAPACITY).toBeLessThanOrEqual(2 ** 30);
    expect(limits.MAX_RING_CAPACITY & (limits.MAX_RING_CAPACITY - 1)).toBe(0);
  });
});

describe('reasons both paths report', () => {
  /** The StatusCode each reason belongs to in reason.h, and the TapioError code it stands for. */
  const STATUS_CODE_ERRORS: Record<string, TapioErrorCode> = {
    kInvalidArgument: 'ERR_INVALID_ARGUMENT',
    kIoError: 'ERR_WAL_IO',
    kCorrupt: 'ERR_WAL_CORRUPT',
    kTooLarge: 'ERR_RECORD_TOO_LARGE',
    kClosed: 'ERR_CLOSED',
    kFormatVersion: 'ERR_FORMAT_VERSION',
    kInternal: 'ERR_NATIVE',
  };
  const cppReasons = new Map<string, { enumerator: string; code: string }>();
  for (const m of reasonsText.matchAll(/X\((k\w+),\s*"([a-z0-9-]+)",\s*(k\w+)\)/g)) cppReasons.set(m[2]!, { enumerator: m[1]!, code: m[3]! });
  const table = reasonTable();

  it('finds the reasons in the C++ header', () => {
    expect(cppReasons.size).toBeGreaterThanOrEqual(50);
    expect(cppReasons.get('record-checksum')).toEqual({ enumerator: 'kRecordChecksum', code: 'kCorrupt' });
  });

  it.each([...cppReasons.entries()])('%s has a TypeScript twin with the same TapioError code', (name, { code }) => {
    const twin = table.find((r) => r.reason === name);
    expect(twin, `src/transit/reasons.ts words ${name}`).toBeDefined();
    expect(twin!.native).toBe(true);
    expect(twin!.error).toBe(STATUS_CODE_ERRORS[code]);
  });

  it('has no TypeScript reason without a C++ twin but those only the TypeScript path gives', () => {
    expect(table.filter((r) => r.native && !cppReasons.has(r.reason)).map((r) => r.reason)).toEqual([]);
    expect(
      table
        .filter((r) => !r.native)
        .map((r) => r.reason)
        .sort(),
    ).toEqual(['checkpoint-mismatch', 'creation-unfinished', 'missing-before', 'read-damaged', 'read-gap', 'unusable-header', 'wal-id-absent']);
  });

  it('words every reason, whatever details it is handed', () => {
    for (const { reason, error } of table) {
      expect(reasonText(reason, {}), reason).not.toBe('');
      expect(reasonError(reason, {}).code, reason).toBe(error);
    }
  });
});
