// Shared by every benchmark: runs tasks side by side with tinybench in one process, reports
// medians (per-iteration p50), and writes JSON under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { Bench } from 'tinybench';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/**
 * Runs `tasks` ({ name, fn, ops = 1, bytes = 0 }: each call of fn performs `ops` operations on
 * `bytes` bytes in total) and returns one row per task with median ops/s and bytes/s.
 */
export async function runTasks(tasks, { time = 400, warmupTime = 100 } = {}) {
  const bench = new Bench({ time, warmupTime });
  for (const t of tasks) bench.add(t.name, t.fn);
  await bench.run();
  return bench.tasks.map((task, i) => {
    const t = tasks[i];
    const r = task.result;
    if (!r || r.state !== 'completed') throw new Error(`benchmark ${t.name} did not complete: ${r?.error ?? r?.state}`);
    const p50ms = r.latency.p50;
    const ops = t.ops ?? 1;
    return {
      name: t.name,
      group: t.group ?? '',
      medianOpsPerSec: (ops * 1000) / p50ms,
      medianBytesPerSec: t.bytes ? (t.bytes * 1000) / p50ms : undefined,
      p50Ms: p50ms,
      p99Ms: r.latency.p99,
      samples: r.latency.samplesCount ?? r.latency.samples?.length,
    };
  });
}

/** Adds `ratio` (against the row named `baseline` in the same group) to every row. */
export function withRatios(rows, baselineName) {
  const groups = new Map();
  for (const r of rows) {
    if (r.name.endsWith(baselineName)) groups.set(r.group, r);
  }
  return rows.map((r) => {
    const base = groups.get(r.group);
    return { ...r, ratio: base ? r.medianOpsPerSec / base.medianOpsPerSec : undefined };
  });
}

export function formatRate(n) {
  if (n === undefined) return '';
  const units = ['', 'k', 'M', 'G'];
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return `${n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)}${units[u]}`;
}

/** Prints rows as an aligned table. */
export function printTable(title, rows, columns) {
  const head = columns.map((c) => c.label);
  const body = rows.map((r) => columns.map((c) => c.get(r)));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  console.log(`\n${title}`);
  console.log(head.map((h, i) => h.padEnd(widths[i])).join('  '));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(b.map((v, i) => String(v).padEnd(widths[i])).join('  '));
}

export function machine() {
  return {
    cpus: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
  };
}

export function writeResult(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), ...data }, null, 2)}\n`);
  return file;
}
