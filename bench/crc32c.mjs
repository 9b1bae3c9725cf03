// CRC32C: native against the TypeScript twin and the npm peers (@node-rs/crc32, sse4_crc32),
// plus a native noop call as the boundary-cost baseline.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

import { formatRate, printTable, runTasks, withRatios, writeResult } from './harness.mjs';

const require = createRequire(import.meta.url);

export async function run() {
  const { crc32cImplementations } = await import('../lib/crc32c.js');
  const { capabilities } = await import('../lib/capabilities.js');
  const impl = crc32cImplementations();
  const peers = {};
  try {
    const m = await import('@node-rs/crc32');
    peers['@node-rs/crc32'] = (b) => m.crc32c(b);
  } catch (err) {
    console.warn(`@node-rs/crc32 unavailable: ${err.message}`);
  }
  try {
    const s = require('sse4_crc32');
    peers.sse4_crc32 = (b) => s.calculate(b);
  } catch (err) {
    console.warn(`sse4_crc32 unavailable: ${err.message}`);
  }

  const tasks = [];
  const { loadNative } = await import('../lib/native/loader.js');
  const addon = loadNative();
  if (addon) {
    const reps = 10_000;
    tasks.push({
      group: 'boundary',
      name: 'native noop',
      ops: reps,
      fn: () => {
        for (let i = 0; i < reps; i++) addon.noop();
      },
    });
    const jsNoop = () => undefined;
    tasks.push({
      group: 'boundary',
      name: 'js noop',
      ops: reps,
      fn: () => {
        for (let i = 0; i < reps; i++) jsNoop();
      },
    });
  }
  for (const size of [64, 4096, 1 << 20]) {
    const buf = new Uint8Array(size);
    for (let i = 0; i < size; i++) buf[i] = (i * 2654435761) >>> 24;
    const reps = Math.max(1, Math.floor((1 << 20) / size));
    const label = size >= 1 << 20 ? '1 MiB' : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
    const entries = [];
    if (impl.native) entries.push(['native', impl.native]);
    entries.push(['typescript', impl.typescript]);
    for (const [name, fn] of Object.entries(peers)) entries.push([name, fn]);
    for (const [name, fn] of entries) {
      tasks.push({
        group: label,
        name: `${label} ${name}`,
        ops: reps,
        bytes: reps * size,
        fn: () => {
          for (let i = 0; i < reps; i++) fn(buf);
        },
      });
    }
  }
  const rows = withRatios(await runTasks(tasks), 'typescript');
  printTable(`CRC32C (ratio = against the TypeScript twin in the same size; ${capabilities().crc32c})`, rows, [
    { label: 'case', get: (r) => r.name },
    { label: 'ops/s (median)', get: (r) => formatRate(r.medianOpsPerSec) },
    { label: 'GB/s', get: (r) => (r.medianBytesPerSec ? (r.medianBytesPerSec / 1e9).toFixed(2) : '') },
    { label: 'x TS', get: (r) => (r.ratio ? r.ratio.toFixed(2) : '') },
  ]);
  const file = writeResult('crc32c', { capabilities: capabilities(), rows });
  console.log(`written ${file}`);
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
