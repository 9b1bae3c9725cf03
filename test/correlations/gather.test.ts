// Gathering rows of several column parts into new columns: every value stays on its row, resource
// columns a part lacks are null on its rows, and the paced form gives the same columns a block at
// a time, letting the caller breathe between blocks.
import { describe, expect, it } from 'vitest';

import { columnsFromFindings, GATHER_BLOCK_ROWS, gatherColumns, gatherColumnsPaced, type BatchColumns } from '../../src/correlations/batch-columns.js';
import type { CorrelationInput } from '../../src/correlations/record.js';

const RULES = { embeddingDim: 3, types: ['anomaly', 'attack', 'misconfiguration'] };

/** `rows` findings numbered from `from`, with the resource types `types` (each row its own names). */
function part(from: number, rows: number, types: string[]): BatchColumns {
  const findings: CorrelationInput[] = Array.from({ length: rows }, (_, k) => {
    const n = from + k;
    return {
      id: `f${n}`,
      timestamp: 1_700_000_000_000 + n,
      type: RULES.types[n % 3]!,
      severity: (n % 5) + 1,
      confidence: (n % 100) / 100,
      eventCount: n,
      timeWindow: n * 2,
      pattern: Uint8Array.of(n & 0xff, (n >> 8) & 0xff),
      resources: Object.fromEntries(types.map((t) => [t, n % 7 === 0 ? [] : [`${t}-${n}`, `${t}-${n + 1}`]])),
      embedding: [n, -n, 0.5],
    };
  });
  return columnsFromFindings('test', findings, RULES);
}

/** Row `r` of `c` as plain values. */
function row(c: BatchColumns, r: number): unknown {
  return {
    id: c.id[r],
    timestamp: c.timestamp[r],
    type: c.type[r],
    severity: c.severity[r],
    confidence: c.confidence[r],
    eventCount: c.eventCount[r],
    timeWindow: c.timeWindow[r],
    pattern: [...c.pattern[r]!],
    resources: Object.fromEntries([...c.resources].map(([t, column]) => [t, column[r]])),
    embedding: [...c.embedding.subarray(r * 3, r * 3 + 3)],
  };
}

describe('gatherColumns', () => {
  // Three parts with different resource types, 2,500 rows in all: more than two blocks.
  const parts = [part(0, 1000, ['pods']), part(1000, 700, ['nodes', 'pods']), part(1700, 800, ['namespaces'])];
  const total = 2500;
  // Every third row, from the end backwards: rows of every part, out of order.
  const order = Array.from({ length: Math.ceil(total / 3) }, (_, i) => total - 1 - 3 * i);

  it('keeps every value on its row; a resource type a part lacks is null on its rows', () => {
    const out = gatherColumns(parts, order, 3);
    expect(out.rows).toBe(order.length);
    expect([...out.resources.keys()]).toEqual(['namespaces', 'nodes', 'pods']);
    for (let r = 0; r < out.rows; r++) {
      const g = order[r]!;
      const [p, i] = g < 1000 ? [parts[0]!, g] : g < 1700 ? [parts[1]!, g - 1000] : [parts[2]!, g - 1700];
      const want = row(p, i) as { resources: Record<string, unknown> };
      for (const t of ['namespaces', 'nodes', 'pods']) want.resources[t] ??= null;
      expect(row(out, r)).toEqual(want);
    }
  });

  it('paced, gives the same columns, breathing between blocks of GATHER_BLOCK_ROWS rows', async () => {
    for (const o of [order, null]) {
      let breaths = 0;
      const paced = await gatherColumnsPaced(parts, o, 3, async () => {
        breaths++;
      });
      const whole = gatherColumns(parts, o, 3);
      expect(paced.rows).toBe(whole.rows);
      for (let r = 0; r < whole.rows; r++) expect(row(paced, r)).toEqual(row(whole, r));
      expect(breaths).toBe(Math.ceil(whole.rows / GATHER_BLOCK_ROWS) - 1);
    }
  });
});
