// The compaction worker's memory figure (stats().compactions, the benchmark's peak): V8 counts
// WebAssembly memory, the Parquet library's included, among an isolate's external memory, so
// workerMemory() must count it once, not add it to that count again.
import { getHeapStatistics } from 'node:v8';

import { tableFromArrays, tableToIPC } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { describe, expect, it } from 'vitest';

import { workerMemory } from '../../src/correlations/segment-merge.js';

const MiB = 2 ** 20;
// The WebAssembly global, which the project's TypeScript library settings do not declare.
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

describe('workerMemory', () => {
  it('counts a WebAssembly memory once', () => {
    const before = workerMemory();
    const memory = new Memory({ initial: 1600 }); // 100 MiB
    new Uint8Array(memory.buffer).fill(1);
    const grew = workerMemory() - before;
    expect(grew).toBeGreaterThan(90 * MiB);
    expect(grew).toBeLessThan(150 * MiB);
  });

  it("counts the Parquet library's WebAssembly memory once: it is part of V8's external memory", () => {
    // Grow the library's memory: a table of 32 MiB into it.
    const ipc = tableToIPC(tableFromArrays({ x: new Float64Array(4 * MiB).fill(1.5) }), 'stream');
    const table = pw.Table.fromIPCStream(ipc);
    try {
      const wasm = pw.wasmMemory().buffer.byteLength;
      expect(wasm).toBeGreaterThan(32 * MiB);
      const h = getHeapStatistics();
      expect(h.external_memory).toBeGreaterThanOrEqual(wasm);
      // The heap and the external memory, and nothing more (within what the heap moved meanwhile).
      expect(Math.abs(workerMemory() - (h.used_heap_size + h.external_memory))).toBeLessThan(8 * MiB);
    } finally {
      table.free();
    }
  });
});
