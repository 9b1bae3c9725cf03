// The selection kernels (src/query/select-kernels.ts, native/core/select_kernels.h) over 1,000,000
// rows, native against the TypeScript twin in the same process, taking turns: selectTimeRange
// keeping about half the rows (and one range holding every row, where the answer is null),
// selectByCode over every row and over a 10% selection, selectByMask over that selection, and a
// native noop call as the boundary cost. Inputs come from a fixed seed.
// `node bench/select.mjs --rows 200000` for a smaller run.
import { pathToFileURL } from 'node:url';

import { formatRate, printTable, writeResult } from './harness.mjs';

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function makeData(rows) {
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  const ts = new Float64Array(rows);
  const codes = new Uint8Array(rows);
  const present = new Uint8Array(rows);
  const sel = [];
  for (let i = 0; i < rows; i++) {
    ts[i] = 1_700_000_000_000 + i * 10 + Math.floor(next() * 10);
    codes[i] = Math.floor(next() * 8);
    present[i] = next() < 0.5 ? 1 : 0;
    if (next() < 0.1) sel.push(i);
  }
  // Codes 0..7 spread evenly; the table passes three of them (about 37% of rows).
  const lut = new Uint8Array(256);
  lut[1] = lut[4] = lut[6] = 1;
  return { ts, codes, present, lut, sel10: Uint32Array.from(sel), mid: ts[rows >> 1], end: ts[rows - 1] + 1 };
}

function summary(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], minMs: sorted[0], maxMs: sorted[sorted.length - 1], runs: sorted.length };
}

/** Times each call `runs` times, in turns after one warm-up round, so a slow stretch falls on all alike. */
function timeInTurns(runs, calls) {
  const ms = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  for (let round = -3; round < runs; round++) {
    for (const [name, fn] of Object.entries(calls)) {
      const t0 = process.hrtime.bigint();
      fn();
      if (round >= 0) ms[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return Object.fromEntries(Object.keys(calls).map((name) => [name, summary(ms[name])]));
}

export async function run() {
  const rows = argValue('--rows', 1_000_000);
  const runs = argValue('--runs', 31);
  const { loadNative } = await import('../lib/native/loader.js');
  const { selectKernels } = await import('../lib/query/select-kernels.js');
  const { capabilities } = await import('../lib/capabilities.js');
  const addon = loadNative();
  const d = makeData(rows);
  const cases = {
    'selectTimeRange, half the rows': (k) => k.selectTimeRange(d.ts, rows, d.mid, Infinity),
    'selectTimeRange, every row (null)': (k) => k.selectTimeRange(d.ts, rows, -Infinity, d.end),
    'selectByCode, every row': (k) => k.selectByCode(d.codes, d.lut, null, 1),
    'selectByCode, 10% selection': (k) => k.selectByCode(d.codes, d.lut, d.sel10, 1),
    'selectByMask, 10% selection': (k) => k.selectByMask(d.present, d.sel10, 1),
  };
  const kernels = [selectKernels('typescript')];
  if (addon) kernels.unshift(selectKernels('native'));
  else console.warn('native addon not loaded: only the TypeScript twin runs');
  for (const name of Object.keys(cases)) {
    const results = kernels.map((k) => cases[name](k));
    const shown = results.map((r) => (r === null ? 'null' : `${r.length}:${r[0]}:${r[r.length - 1]}`));
    if (new Set(shown).size !== 1) throw new Error(`${name}: the paths disagree (${shown.join(' vs ')})`);
  }
  const calls = {};
  for (const k of kernels) for (const [name, fn] of Object.entries(cases)) calls[`${k.path}|${name}`] = () => fn(k);
  if (addon) calls['native|noop'] = () => addon.noop();
  const t = timeInTurns(runs, calls);
  const out = [];
  for (const name of Object.keys(cases)) {
    const ts = t[`typescript|${name}`];
    const inputRows = name.includes('10%') ? d.sel10.length : rows;
    for (const k of kernels) {
      const m = t[`${k.path}|${name}`];
      out.push({ case: name, path: k.path, ...m, rowsPerSec: (inputRows * 1000) / m.medianMs, vsTypescript: ts.medianMs / m.medianMs });
    }
  }
  if (addon) out.push({ case: 'noop', path: 'native', ...t['native|noop'] });
  printTable(`selection kernels, ${rows} rows (10% selection: ${d.sel10.length} rows), medians of ${runs}`, out, [
    { label: 'case', get: (r) => r.case },
    { label: 'path', get: (r) => r.path },
    { label: 'median ms', get: (r) => r.medianMs.toFixed(3) },
    { label: 'min ms', get: (r) => r.minMs.toFixed(3) },
    { label: 'input rows/s', get: (r) => formatRate(r.rowsPerSec) },
    { label: 'x TypeScript', get: (r) => (r.vsTypescript === undefined ? '' : r.vsTypescript.toFixed(2)) },
  ]);
  writeResult('select', { rows, runs, selected10: d.sel10.length, capabilities: capabilities(), results: out });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
