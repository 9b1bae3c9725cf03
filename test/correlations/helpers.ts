// Shared helpers of the correlation store's tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach } from 'vitest';

import type { CorrelationInput, CorrelationRecord } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';

export const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function newDataDir(prefix = 'tapio-corr-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A record as insert takes it, in the form query returns it. */
export function asRecord(f: CorrelationInput): CorrelationRecord {
  const resources: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(f.resources ?? {})) resources[k] = [...v];
  return {
    id: f.id,
    timestamp: new Date(f.timestamp instanceof Date ? f.timestamp.getTime() : f.timestamp),
    type: f.type,
    severity: f.severity,
    confidence: Math.fround(f.confidence),
    eventCount: f.eventCount,
    timeWindow: f.timeWindow,
    resources,
    pattern: f.pattern === undefined ? new Uint8Array(0) : Uint8Array.from(f.pattern),
    embedding: Float32Array.from(f.embedding),
  };
}

/** Records sorted as query returns them: by timestamp, ties in insertion order. */
export function byTime(records: CorrelationRecord[]): CorrelationRecord[] {
  return records
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.timestamp.getTime() - b.r.timestamp.getTime() || a.i - b.i)
    .map((x) => x.r);
}
