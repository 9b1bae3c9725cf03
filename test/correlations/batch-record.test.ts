// The batch record insert() writes to the WAL: checked and encoded in one pass, with the ids and
// resources written byte by byte while their text is plain. The JSON section must be exactly
// JSON.stringify's text of the caller's values (UTF-8), plain or not, and the record must give
// back every finding.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { decodeBatch, encodeFindings, rowRecord } from '../../src/correlations/batch-columns.js';
import type { CorrelationInput } from '../../src/correlations/record.js';
import { textOk } from '../../src/text-check.js';

const TYPES = ['anomaly', 'attack', 'misconfiguration'];
const DIM = 3;
const rules = { embeddingDim: DIM, types: TYPES };

/** The JSON section of a batch record, as text. */
function jsonOf(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonBytes = view.getUint32(20, true);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(bytes.length - jsonBytes));
}

/** What JSON.stringify writes for the batch's ids and resources. */
function expectedJson(findings: readonly CorrelationInput[]): string {
  return JSON.stringify({ id: findings.map((f) => f.id), resources: findings.map((f) => f.resources ?? null) });
}

function finding(i: number, id: string, resources?: Record<string, string[]>, pattern?: Uint8Array): CorrelationInput {
  return {
    id,
    timestamp: 1_700_000_000_000 + i,
    type: TYPES[i % 3]!,
    severity: 1 + (i % 5),
    confidence: 0.5,
    eventCount: i,
    timeWindow: 60,
    ...(resources === undefined ? {} : { resources }),
    ...(pattern === undefined ? {} : { pattern }),
    embedding: Float32Array.of(i, 1, -1),
  };
}

/** The findings back from a batch record, in the caller's form. */
function readBack(bytes: Uint8Array) {
  const cols = decodeBatch(bytes, DIM, 'test');
  return Array.from({ length: cols.rows }, (_, i) => rowRecord(cols, i, TYPES));
}

function asStored(f: CorrelationInput) {
  return {
    id: f.id,
    timestamp: new Date(f.timestamp),
    type: f.type,
    severity: f.severity,
    confidence: f.confidence,
    eventCount: f.eventCount,
    timeWindow: f.timeWindow,
    resources: f.resources ?? {},
    pattern: f.pattern ?? new Uint8Array(0),
    embedding: Float32Array.from(f.embedding),
  };
}

// Text of every kind a finding may hold: plain ASCII with, per batch, at most one kind of character
// the writer must not write as it is (the two JSON escapes, two-byte and four-byte UTF-8, a
// surrogate pair), so that each is met alone; kept to what textOk accepts.
const batchText = (extra: string) =>
  fc
    .array(fc.oneof(fc.string({ unit: fc.constantFrom(...'abcxyz019-._/ ~'), minLength: 1, maxLength: 12 }), fc.constant(extra)), {
      minLength: 1,
      maxLength: 4,
    })
    .map((parts) => parts.join(''))
    .filter((s) => s !== '' && textOk(s, 200));
const batchOf = (extra: string) => {
  const text = batchText(extra);
  const resources = fc.option(
    fc.dictionary(fc.constantFrom('pods', 'nodes', 'namespaces', 'svc_2'), fc.array(text, { maxLength: 3 }), { noNullPrototype: true }),
    { nil: undefined },
  );
  return fc.tuple(fc.uniqueArray(text, { minLength: 1, maxLength: 30 }), fc.array(resources, { minLength: 30, maxLength: 30 }));
};
const anyBatch = fc.constantFrom('', '"', '\\', 'é', '日本', '😀', '\u2028').chain(batchOf);

describe('the batch record of insert()', () => {
  it('holds JSON.stringify’s text of the ids and resources and gives every finding back, whatever the text (property)', () => {
    fc.assert(
      fc.property(anyBatch, ([ids, res]) => {
        const findings = ids.map((id, i) => finding(i, id, res[i], i % 4 === 0 ? Uint8Array.of(i, 255, 0) : undefined));
        const batch = encodeFindings('test', findings, rules);
        expect(batch).not.toBeNull();
        expect(jsonOf(batch!.bytes)).toBe(expectedJson(findings));
        expect(readBack(batch!.bytes)).toEqual(findings.map(asStored));
        expect([batch!.minTs, batch!.maxTs]).toEqual([1_700_000_000_000, 1_700_000_000_000 + findings.length - 1]);
      }),
      { numRuns: 300 },
    );
  });

  it('starts each batch afresh: after a batch with text to escape, after a refused batch, and after one that outgrew the writers', () => {
    const plain = [finding(0, 'a', { pods: ['p-1', 'p-2'], nodes: [] }), finding(1, 'b')];
    const escaped = [finding(0, 'x"y', { pods: ['back\\slash'] }), finding(1, 'z')];
    const refused = [finding(0, 'ok', { pods: ['fine'] }), finding(1, 'bad\u0001id')];
    // About 3 MiB of JSON: beyond what the writers keep between batches.
    const long = 'n'.repeat(250);
    const huge = Array.from({ length: 1500 }, (_, i) =>
      finding(i, `id-${i}`, { pods: Array.from({ length: 8 }, (_, j) => `${long.slice(0, 240)}-${i}-${j}`) }),
    );
    const runs: Array<readonly CorrelationInput[]> = [plain, escaped, plain, huge, plain, escaped, huge, escaped, plain];
    for (const findings of runs) {
      const batch = encodeFindings('test', findings, rules)!;
      expect(jsonOf(batch.bytes)).toBe(expectedJson(findings));
      expect(readBack(batch.bytes)).toEqual(findings.map(asStored));
      let err: unknown;
      try {
        encodeFindings('test', refused, rules);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TapioError);
      expect((err as TapioError).code).toBe('ERR_VALIDATION');
      expect((err as TapioError).message).toMatch(/^test: record 1 was refused \(id: /);
    }
  });

  it('encodes a batch whose finding’s getter encodes another batch meanwhile: each record stays its own', () => {
    // Plain text and other values than the outer batch's rows 0 and 1, so that sharing the
    // writers or the sections would show.
    const inner = [finding(7, 'inner-1', { pods: ['ip'] }), finding(8, 'inner-2')];
    let innerBatch: ReturnType<typeof encodeFindings> = null;
    const outer = [finding(0, 'outer-1', { pods: ['op-1'] }), finding(1, 'outer-2'), finding(2, 'outer-3', { nodes: ['n'] })];
    let calls = 0;
    Object.defineProperty(outer[1]!, 'confidence', {
      enumerable: true,
      get: () => {
        // Once, from inside the outer batch's check or encoding.
        if (calls++ === 0) innerBatch = encodeFindings('inner', inner, rules);
        return 0.25;
      },
    });
    const batch = encodeFindings('outer', outer, rules)!;
    expect(calls).toBeGreaterThan(0);
    expect(jsonOf(batch.bytes)).toBe(expectedJson(outer));
    expect(readBack(batch.bytes).map((r) => [r.id, r.confidence])).toEqual([
      ['outer-1', 0.5],
      ['outer-2', 0.25],
      ['outer-3', 0.5],
    ]);
    expect(jsonOf(innerBatch!.bytes)).toBe(expectedJson(inner));
    expect(readBack(innerBatch!.bytes)).toEqual(inner.map(asStored));
    // The shared writers work as before afterwards.
    const after = [finding(0, 'after', { pods: ['x'] })];
    expect(jsonOf(encodeFindings('after', after, rules)!.bytes)).toBe(expectedJson(after));
  });

  it('stores the checked names whatever toJSON the caller’s arrays carry, plain text or not', () => {
    class Names extends Array<string> {
      toJSON(): unknown[] {
        return ['EVIL\u0001', 42];
      }
    }
    for (const [otherId, makeNames] of [
      ['plain', () => Object.defineProperty(['p1'], 'toJSON', { value: () => ['EVIL\u0001'], enumerable: false })],
      ['not-plain-é', () => Object.defineProperty(['p1'], 'toJSON', { value: () => ['EVIL\u0001'], enumerable: false })],
      ['plain', () => Names.from(['p1'])],
      ['not-plain-é', () => Names.from(['p1'])],
    ] as const) {
      const names = makeNames() as string[];
      const findings = [finding(0, 'with-tojson', { pods: names }), finding(1, otherId)];
      const batch = encodeFindings('test', findings, rules)!;
      expect(readBack(batch.bytes)[0]!.resources).toEqual({ pods: ['p1'] });
      expect(jsonOf(batch.bytes)).toBe(JSON.stringify({ id: ['with-tojson', otherId], resources: [{ pods: ['p1'] }, null] }));
    }
  });

  it('is null for an empty batch, and refuses what is not an array or is too long before looking at a finding', () => {
    expect(encodeFindings('test', [], rules)).toBeNull();
    expect(() => encodeFindings('test', { length: 1 }, rules)).toThrow(/test: expected an array of findings, got object/);
    expect(() => encodeFindings('test', null, rules)).toThrow(/got null/);
  });

  it('refuses an id given twice, naming both records, and takes the same id again in the next batch', () => {
    const twice = [finding(0, 'same'), finding(1, 'other'), finding(2, 'same')];
    expect(() => encodeFindings('test', twice, rules)).toThrow(/record 2 was refused \(id: "same" is also the id of record 0/);
    expect(readBack(encodeFindings('test', [finding(0, 'same')], rules)!.bytes)[0]!.id).toBe('same');
  });
});
