// The ring buffer alone: batched push and drain of 64-byte records, native against the
// TypeScript twin (a SharedArrayBuffer ring) in one run.
import { pathToFileURL } from 'node:url';

import { formatRate, printTable, runTasks, withRatios, writeResult } from './harness.mjs';

export async function run() {
  const { loadNative } = await import('../lib/native/loader.js');
  const { RingBuffer } = await import('../lib/transit/ring-buffer.js');
  const addon = loadNative();
  const capacity = 1 << 22;
  const record = new Uint8Array(64).fill(1);
  const tasks = [];
  for (const batch of [1, 16, 256]) {
    const records = Array.from({ length: batch }, () => record);
    const rounds = Math.max(1, Math.floor(4096 / batch));
    if (addon) {
      const ring = new addon.NativeRing(capacity);
      tasks.push({
        group: `batch ${batch}`,
        name: `batch ${batch} native`,
        ops: rounds * batch,
        fn: () => {
          for (let i = 0; i < rounds; i++) {
            if (ring.push(records, 0, i) !== 'ok') ring.drain();
          }
          ring.drain();
        },
      });
    }
    const ts = RingBuffer.create(capacity);
    tasks.push({
      group: `batch ${batch}`,
      name: `batch ${batch} typescript`,
      ops: rounds * batch,
      fn: () => {
        for (let i = 0; i < rounds; i++) {
          if (ts.push(records, 0) !== 'ok') ts.drain(() => true);
        }
        ts.drain(() => true);
      },
    });
  }
  const rows = withRatios(await runTasks(tasks), 'typescript');
  printTable('Ring buffer: push + drain of 64-byte records (records/s; ratio against the TypeScript twin)', rows, [
    { label: 'case', get: (r) => r.name },
    { label: 'records/s (median)', get: (r) => formatRate(r.medianOpsPerSec) },
    { label: 'x TS', get: (r) => (r.ratio ? r.ratio.toFixed(2) : '') },
  ]);
  const file = writeResult('ring', { rows });
  console.log(`written ${file}`);
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
