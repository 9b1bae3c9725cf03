// The on-disk constants exist twice, in native/core/wal_format.h and src/transit/format.ts.
// This test parses the header and proves every constant has the same value in both.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import * as format from '../../src/transit/format.js';

const headerText = readFileSync(new URL('../../native/core/wal_format.h', import.meta.url), 'utf8');

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
