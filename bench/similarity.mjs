// Exact cosine top-10 over 1,000,000 x 128 float32 rows (512 MB, stride 128), one query at a time
// on one thread: the native kernel at each SIMD level this CPU has (a child process per level,
// since TAPIO_SIMD is read once per process), the TypeScript twin, usearch's exact search on the
// same vectors (one thread, in the child of the best level, in turns with the native calls), and
// the native memoryScan of the same 512 MB at each level, the fastest of which is the ceiling.
// `node bench/similarity.mjs --rows 200000` for a smaller run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { formatRate, printTable, writeResult } from './harness.mjs';

const DIM = 128;
const K = 10;

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The same vectors, query and norms in every process (xorshift32 from a fixed seed). */
async function makeData(rows) {
  const { queryNorm } = await import('../lib/query/cosine.js');
  const vectors = new Float32Array(rows * DIM);
  let x = 0x9e3779b9;
  for (let i = 0; i < vectors.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    vectors[i] = (x >>> 0) / 0x80000000 - 1;
  }
  const norms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) norms[r] = queryNorm(vectors.subarray(r * DIM, r * DIM + DIM));
  const query = Float32Array.from({ length: DIM }, (_, i) => Math.sin(i + 1));
  return { vectors, norms, query, qnorm: queryNorm(query) };
}

function summary(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], minMs: sorted[0], maxMs: sorted[sorted.length - 1], runs: sorted.length };
}

/**
 * Times the named calls `runs` times each, taking turns (a, b, c, a, b, c, ...) after one warm-up
 * round, so a slow stretch of a shared machine falls on all of them alike. Returns each one's
 * median, min and max milliseconds and its last result.
 */
async function timeInTurns(runs, calls) {
  const ms = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  const last = {};
  for (let round = -1; round < runs; round++) {
    for (const [name, fn] of Object.entries(calls)) {
      const t0 = process.hrtime.bigint();
      last[name] = await fn();
      if (round >= 0) ms[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return Object.fromEntries(Object.keys(calls).map((name) => [name, { ...summary(ms[name]), result: last[name] }]));
}

/**
 * In a child: at this process's SIMD level, the memory scan of the vectors (the ceiling), the
 * kernel on the main thread and the kernel on the libuv pool, in turns.
 */
async function child(rows, runs) {
  const { loadNative } = await import('../lib/native/loader.js');
  const addon = loadNative();
  if (!addon) throw new Error('the native addon did not load');
  const { vectors, norms, query, qnorm } = await makeData(rows);
  const calls = {
    scan: () => addon.memoryScan(vectors),
    sync: () => addon.cosineTopK(query, qnorm, vectors, DIM, norms, rows, null, -Infinity, K),
    pool: () => addon.cosineTopKAsync(query, qnorm, vectors, DIM, norms, rows, null, -Infinity, K),
  };
  let usearchError;
  if (process.argv.includes('--usearch')) {
    try {
      const usearch = await import('usearch');
      calls.usearch = () => usearch.exactSearch(vectors, query, DIM, K, usearch.MetricKind.Cos, 1);
    } catch (err) {
      usearchError = err.message;
    }
  }
  const t = await timeInTurns(runs, calls);
  const top = Array.from(t.sync.result.rows);
  const usearchTop = t.usearch ? Array.from(t.usearch.result.keys, (k) => Number(k)) : undefined;
  for (const v of Object.values(t)) delete v.result;
  process.stdout.write(`${JSON.stringify({ simd: addon.features().simd, ...t, top, usearchTop, usearchError })}\n`);
}

function nativeAt(level, rows, runs) {
  const env = { ...process.env };
  if (level === 'default') delete env.TAPIO_SIMD;
  else env.TAPIO_SIMD = level;
  const res = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', '--rows', String(rows), '--runs', String(runs), ...(level === 'default' ? ['--usearch'] : [])],
    {
      env,
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    },
  );
  if (res.status !== 0) throw new Error(`child for TAPIO_SIMD=${level} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop());
}

export async function run() {
  const rows = argValue('--rows', 1_000_000);
  const runs = argValue('--runs', 15);
  const { loadNative } = await import('../lib/native/loader.js');
  const { capabilities } = await import('../lib/capabilities.js');
  const { cosineTopK } = await import('../lib/query/cosine.js');
  const addon = loadNative();
  const bytes = rows * DIM * 4;
  const out = [];
  const row = (name, t, extra = {}) =>
    out.push({ name, medianMs: t.medianMs, minMs: t.minMs, maxMs: t.maxMs, runs: t.runs, qps: 1000 / t.medianMs, gbps: bytes / 1e6 / t.medianMs, ...extra });

  let nativeTop;
  let usearchTop;
  if (addon) {
    const f = addon.features();
    // The levels below the CPU's best that TAPIO_SIMD can select, then the best (TAPIO_SIMD unset).
    const best = f.avx512 ? 'avx512' : f.avx2 ? 'avx2' : f.neon ? 'neon' : 'scalar';
    const levels = [...(best === 'scalar' ? [] : ['scalar']), ...(best === 'avx512' ? ['avx2'] : []), 'default'];
    for (const level of levels) {
      const r = nativeAt(level, rows, runs);
      row(`native ${r.simd}`, r.sync, { kind: 'native', simd: r.simd });
      if (level === 'default') row(`native ${r.simd}, async (libuv pool)`, r.pool, { kind: 'native-async', simd: r.simd });
      row(`memoryScan ${r.simd}`, r.scan, { kind: 'scan', simd: r.simd });
      nativeTop = r.top;
      if (r.usearch) {
        row('usearch exactSearch (1 thread)', r.usearch, { kind: 'usearch' });
        usearchTop = r.usearchTop;
      } else if (r.usearchError) {
        console.warn(`usearch unavailable: ${r.usearchError}`);
      }
    }
  } else {
    console.warn('native addon not loaded: only the TypeScript twin and usearch run');
  }

  const { vectors, norms, query, qnorm } = await makeData(rows);
  const { ts } = await timeInTurns(3, { ts: () => cosineTopK(query, qnorm, vectors, DIM, norms, rows, null, -Infinity, K) });
  const tsTop = Array.from(ts.result.rows);
  row('typescript twin', ts, { kind: 'typescript' });

  if (!addon) {
    // No native child to run it beside: usearch runs here, on its own.
    try {
      const usearch = await import('usearch');
      const { u } = await timeInTurns(runs, { u: () => usearch.exactSearch(vectors, query, DIM, K, usearch.MetricKind.Cos, 1) });
      usearchTop = Array.from(u.result.keys, (k) => Number(k));
      row('usearch exactSearch (1 thread)', u, { kind: 'usearch' });
    } catch (err) {
      console.warn(`usearch unavailable: ${err.message}`);
    }
  }
  const usearchAgrees = usearchTop?.filter((k) => tsTop.includes(k)).length;

  const best = out.filter((r) => r.kind === 'native').sort((a, b) => a.medianMs - b.medianMs)[0];
  // The ceiling: the fastest sequential read of the vectors at any level (wider loads are not
  // always faster: a core may lower its clock for 512-bit instructions).
  const ceilingRow = out.filter((r) => r.kind === 'scan').sort((a, b) => a.medianMs - b.medianMs)[0];
  if (ceilingRow) ceilingRow.name += ' (ceiling)';
  const usearchRow = out.find((r) => r.kind === 'usearch');
  const tsRow = out.find((r) => r.kind === 'typescript');
  const ratio = (r, base) => (base ? r.qps / base.qps : undefined);
  for (const r of out) {
    // Against the scan of the same level, timed in turns in the same process: the figure a busy
    // stretch of a shared machine distorts least.
    if (r.kind === 'native' || r.kind === 'native-async')
      r.xOwnScan = ratio(
        r,
        out.find((s) => s.kind === 'scan' && s.simd === r.simd),
      );
    r.xCeiling = ratio(r, ceilingRow);
    r.xUsearch = ratio(r, usearchRow);
    r.xTypescript = ratio(r, tsRow);
  }
  const f2 = (v) => (v === undefined ? '' : v.toFixed(2));
  printTable(`Exact cosine top-${K}, ${rows.toLocaleString('en')} x ${DIM} float32 (${(bytes / 1e6).toFixed(0)} MB), one query at a time, one thread`, out, [
    { label: 'case', get: (r) => r.name },
    { label: 'queries/s', get: (r) => formatRate(r.qps) },
    { label: 'ms (median)', get: (r) => r.medianMs.toFixed(1) },
    { label: 'GB/s', get: (r) => r.gbps.toFixed(2) },
    { label: 'x own scan', get: (r) => f2(r.xOwnScan) },
    { label: 'x ceiling', get: (r) => f2(r.xCeiling) },
    { label: 'x usearch', get: (r) => f2(r.xUsearch) },
    { label: 'x TS', get: (r) => f2(r.xTypescript) },
  ]);
  const sameTop = nativeTop === undefined || nativeTop.join() === tsTop.join();
  console.log(`native and TypeScript top ${K}: ${sameTop ? 'the same rows' : 'DIFFERENT rows'}; usearch finds ${usearchAgrees ?? '-'} of them`);
  if (best)
    console.log(`best native (${best.simd}): ${f2(best.xCeiling)} of the ceiling, ${f2(best.xUsearch)}x usearch, ${f2(best.xTypescript)}x the TypeScript twin`);
  const file = writeResult('similarity', { capabilities: capabilities(), rows, dim: DIM, k: K, sameTop, usearchAgrees, results: out });
  console.log(`written ${file}`);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--child')) await child(argValue('--rows', 1_000_000), argValue('--runs', 15));
  else await run();
}
