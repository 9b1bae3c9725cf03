// Correlation store end to end: inserts of 128-dim findings in batches of 1,000 with the WAL on
// (native WAL writer, TypeScript twin, the bulk Arrow path) beside DuckDB writing the same findings
// to zstd Parquet (data-chunk appender + COPY) in the same run; bytes per finding (columns other
// than the embedding, from the Parquet footers, against DuckDB's file); flush and compaction in
// MB/s of input against dd in the same folder; the compaction worker's peak memory; the insert
// rate while a compaction runs; reopen after a SIGKILL with a full active part; event-loop delay
// (monitorEventLoopDelay) during inserts, flushes and compactions.
// `node bench/correlations.mjs [--rows N] [--quick] [--reopen-mb M]`; writes bench/results/correlations.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const argValue = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const quick = process.argv.includes('--quick') || process.env.TAPIO_BENCH_QUICK === '1';
const ROWS = argValue('--rows', quick ? 20_000 : 100_000);
const REOPEN_MB = argValue('--reopen-mb', quick ? 64 : 512);
const DIM = 128;
const BATCH = 1000;
const scratchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');
// This run's folders, in one folder of its own removed at the end (the scratch root also holds
// the stores other benchmarks keep between runs, such as query.mjs's).
let runRoot = null;

function freshDir(label) {
  if (runRoot === null) {
    mkdirSync(scratchRoot, { recursive: true });
    runRoot = mkdtempSync(join(scratchRoot, 'correlations-'));
  }
  return mkdtempSync(join(runRoot, `${label}-`));
}

function ddCeiling(mib) {
  const dir = freshDir('dd');
  const res = spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'dd.bin')}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fdatasync'], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(res.stderr ?? '');
  return m ? Number(m[1]) / Number(m[2]) : NaN;
}

function loopMonitor() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    // No sample at all means the histogram's timer never fired: the loop never reached its timers
    // phase for the whole case, which is the worst delay, not none.
    return { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6, samples: h.count };
  };
}

const sizeOf = (dir) => {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? sizeOf(p) : statSync(p).size;
  }
  return total;
};

async function openStore(dataDir, path, correlations = {}) {
  const { TapioStorage } = await import('../lib/index.js');
  return TapioStorage.open(
    {
      dataDir,
      storage: {
        correlations: { embedding_dim: DIM, ...correlations },
        metadata: { in_memory: true },
        transit: { ring_capacity: '1MiB', segment_size: '1MiB' },
      },
    },
    { correlations: { path } },
  );
}

/** Inserts every batch from 4 concurrent callers (a batch each in flight); returns findings/s and loop delay. */
async function insertAll(store, batches, insert = (b) => store.correlations.insert(b)) {
  const stop = loopMonitor();
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) await insert(batches[next++]);
    }),
  );
  const s = (performance.now() - t) / 1000;
  return { perSec: (batches.length * BATCH) / s, seconds: s, ...stop() };
}

async function duckdbWrite(findings, file) {
  const {
    DuckDBInstance,
    DuckDBDataChunk,
    TIMESTAMP_MS,
    TINYINT,
    INTEGER,
    BLOB,
    LIST,
    ARRAY,
    VARCHAR,
    FLOAT,
    listValue,
    arrayValue,
    blobValue,
    timestampMillisValue,
  } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', threads: '2' });
  const c = await db.connect();
  const t = performance.now();
  await c.run(
    `create table f (timestamp TIMESTAMP_MS, id VARCHAR, type VARCHAR, severity TINYINT, confidence FLOAT, eventCount INTEGER, timeWindow INTEGER, pattern BLOB, "resources.pods" VARCHAR[], "resources.nodes" VARCHAR[], "resources.namespaces" VARCHAR[], "resources.deployments" VARCHAR[], embedding FLOAT[${DIM}])`,
  );
  const appender = await c.createAppender('f');
  const types = [
    TIMESTAMP_MS,
    VARCHAR,
    VARCHAR,
    TINYINT,
    FLOAT,
    INTEGER,
    INTEGER,
    BLOB,
    LIST(VARCHAR),
    LIST(VARCHAR),
    LIST(VARCHAR),
    LIST(VARCHAR),
    ARRAY(FLOAT, DIM),
  ];
  for (let s = 0; s < findings.length; s += 2048) {
    const part = findings.slice(s, s + 2048);
    const cols = types.map(() => new Array(part.length));
    part.forEach((f, i) => {
      cols[0][i] = timestampMillisValue(BigInt(f.timestamp));
      cols[1][i] = f.id;
      cols[2][i] = f.type;
      cols[3][i] = f.severity;
      cols[4][i] = f.confidence;
      cols[5][i] = f.eventCount;
      cols[6][i] = f.timeWindow;
      cols[7][i] = blobValue(f.pattern);
      ['pods', 'nodes', 'namespaces', 'deployments'].forEach((k, j) => (cols[8 + j][i] = f.resources[k] ? listValue(f.resources[k]) : null));
      cols[12][i] = arrayValue(Array.from(f.embedding));
    });
    const chunk = DuckDBDataChunk.create(types, part.length);
    for (let k = 0; k < types.length; k++) chunk.setColumnValues(k, cols[k]);
    appender.appendDataChunk(chunk);
  }
  appender.flushSync();
  appender.closeSync();
  await c.run(`COPY f TO '${file}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)`);
  const seconds = (performance.now() - t) / 1000;
  c.closeSync();
  return { perSec: findings.length / seconds, seconds };
}

/** Bytes per row of the Parquet files `glob`: columns other than the embedding, and the embedding, from the footers (DuckDB parquet_metadata). */
async function parquetBytes(glob, rows) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const c = await (await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' })).connect();
  const r = (
    await c.runAndReadAll(`select split_part(path_in_schema, ',', 1) col, sum(total_compressed_size)::BIGINT b from parquet_metadata('${glob}') group by 1`)
  ).getRowObjectsJson();
  c.closeSync();
  let other = 0;
  let embedding = 0;
  for (const x of r) x.col === 'embedding' ? (embedding += Number(x.b)) : (other += Number(x.b));
  return { otherPerRow: other / rows, embeddingPerRow: embedding / rows };
}

/** A child that fills the active part to `mb` MB (counted as the store counts it), prints "full", and waits to be killed. */
function fillAndKill(dataDir, path, mb) {
  const script = `
    const { TapioStorage } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'lib', 'index.js')).href)});
    const { FindingGenerator } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'lib', 'correlations', 'generator.js')).href)});
    const s = await TapioStorage.open({ dataDir: ${JSON.stringify(dataDir)}, storage: { correlations: { embedding_dim: ${DIM}, active_memory: '${mb + 64}MB' }, metadata: { in_memory: true } } }, { correlations: { path: '${path}' } });
    const gen = new FindingGenerator({ seed: 3, embeddingDim: ${DIM} });
    while (s.correlations.stats().activeMemory < ${mb * 1e6}) await s.correlations.insert(gen.next(2000));
    process.stdout.write('full ' + s.correlations.stats().activeRows + '\\n');
    setInterval(() => {}, 1000);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let rows = 0;
    child.stdout.on('data', (d) => {
      const m = /full (\d+)/.exec(String(d));
      if (m) {
        rows = Number(m[1]);
        child.kill('SIGKILL');
      }
    });
    // Its locks end with the process: reopen only once it is gone.
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(rows) : reject(new Error(`fill child exited ${code}`))));
  });
}

/** Opens the store at `dataDir` in a new process (killed right after: nothing is flushed) and reports the open's time. */
function reopenInChild(dataDir, path, mb) {
  const lib = pathToFileURL(join(process.cwd(), 'lib', 'index.js')).href;
  const script = [
    `const { TapioStorage } = await import(${JSON.stringify(lib)});`,
    'const t = performance.now();',
    `const s = await TapioStorage.open({ dataDir: ${JSON.stringify(dataDir)}, storage: { correlations: { embedding_dim: ${DIM}, active_memory: '${mb + 64}MB' }, metadata: { in_memory: true } } }, { correlations: { path: '${path}' } });`,
    'console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, replayed: s.correlations.stats().replayedRows }));',
    "process.kill(process.pid, 'SIGKILL');",
  ].join('\n');
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const line = res.stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`reopen child failed: ${res.stderr}`);
  return JSON.parse(line);
}

export async function run() {
  const { capabilities } = await import('../lib/index.js');
  const { FindingGenerator } = await import('../lib/correlations/generator.js');
  const caps = capabilities();
  const paths = caps.native ? ['native', 'typescript'] : ['typescript'];
  console.log(`correlations: ${ROWS} findings of ${DIM} dims in batches of ${BATCH}; paths ${paths.join(', ')}`);
  const gen = new FindingGenerator({ seed: 42, embeddingDim: DIM });
  const findings = gen.next(ROWS);
  const batches = [];
  for (let i = 0; i < ROWS; i += BATCH) batches.push(findings.slice(i, i + BATCH));
  const ddBytesPerSec = ddCeiling(256);
  const rows = [];
  const result = { rows: ROWS, dim: DIM, ddBytesPerSec, cases: {} };

  // DuckDB, the peer: the same findings to a zstd Parquet file.
  const duckDir = freshDir('duckdb');
  const duck = await duckdbWrite(findings, join(duckDir, 'f.parquet'));
  const duckBytes = await parquetBytes(join(duckDir, 'f.parquet'), ROWS);
  rows.push({
    path: 'duckdb',
    what: 'appender + COPY to zstd Parquet',
    rate: duck.perSec,
    extra: `${duckBytes.otherPerRow.toFixed(1)} B/row other, ${duckBytes.embeddingPerRow.toFixed(1)} B/row embedding`,
  });
  result.cases.duckdb = { ...duck, ...duckBytes };
  rmSync(duckDir, { recursive: true, force: true });

  for (const path of paths) {
    const c = {};
    // Inserts, WAL on.
    let dir = freshDir(`insert-${path}`);
    let s = await openStore(dir, path);
    c.insert = await insertAll(s, batches);
    rows.push({ path, what: 'insert, batches of 1,000, WAL on', rate: c.insert.perSec, ratio: c.insert.perSec / duck.perSec, loop: c.insert });
    // Flush of everything inserted.
    const memoryBytes = s.correlations.stats().activeMemory;
    // One row group of records as the store holds them (16,384 rows).
    const rowGroupMB = (16_384 * memoryBytes) / ROWS / 1e6;
    let stop = loopMonitor();
    let t = performance.now();
    await s.correlations.flush();
    const flushS = (performance.now() - t) / 1000;
    c.flush = { seconds: flushS, inputBytesPerSec: memoryBytes / flushS, ...stop() };
    rows.push({
      path,
      what: 'flush (MB/s of WAL records)',
      rate: c.flush.inputBytesPerSec / 1e6,
      unit: 'MB/s',
      ratio: c.flush.inputBytesPerSec / ddBytesPerSec,
      ratioLabel: 'of dd',
      loop: c.flush,
    });
    const store = s.correlations.dir;
    const bytes = await parquetBytes(join(store, 'segments', '*', '*.parquet'), ROWS);
    c.bytes = { ...bytes, sideFilePerRow: s.correlations.stats().levels[0].embeddingBytes / ROWS };
    rows.push({
      path,
      what: 'bytes per finding on disk',
      rate: bytes.otherPerRow,
      unit: 'B (not embedding)',
      ratio: bytes.otherPerRow / duckBytes.otherPerRow,
      ratioLabel: 'of DuckDB',
      extra: `embedding ${bytes.embeddingPerRow.toFixed(1)} B in Parquet + ${c.bytes.sideFilePerRow.toFixed(1)} B side file`,
    });
    await s.close();
    rmSync(dir, { recursive: true, force: true });

    // Bulk path: the same findings as Arrow tables.
    dir = freshDir(`bulk-${path}`);
    s = await openStore(dir, path);
    const { columnsFromFindings } = await import('../lib/correlations/batch-columns.js');
    const { columnsToArrow } = await import('../lib/correlations/arrow-columns.js');
    const rules = { embeddingDim: DIM, types: ['anomaly', 'attack', 'misconfiguration'] };
    const tables = batches.map((b) => columnsToArrow(columnsFromFindings('bench', b, rules), rules.types));
    let i = 0;
    c.bulk = await insertAll(s, tables, (tbl) => s.correlations.insertArrow(tables[i++] ?? tbl));
    rows.push({ path, what: 'insertArrow (bulk), tables of 1,000', rate: c.bulk.perSec, ratio: c.bulk.perSec / duck.perSec, loop: c.bulk });
    await s.close();
    rmSync(dir, { recursive: true, force: true });

    // Compaction: 5 L0 segments of one day merged into L1; inserts beside it.
    dir = freshDir(`compact-${path}`);
    s = await openStore(dir, path, { compaction: { l0_size: '100GB', l1_size: '200GB' } });
    const per = Math.ceil(batches.length / 5);
    for (let k = 0; k < batches.length; k += per) {
      for (const b of batches.slice(k, k + per)) await s.correlations.insert(b);
      await s.correlations.flush();
    }
    const l0Bytes = s.correlations.stats().levels[0].bytes + s.correlations.stats().levels[0].embeddingBytes;
    await s.close();
    s = await openStore(dir, path, { compaction: { l0_size: '1MB', l1_size: '100GB' } });
    const extra = new FindingGenerator({ seed: 7, embeddingDim: DIM });
    const beside = Array.from({ length: 20 }, () => extra.next(BATCH));
    stop = loopMonitor();
    t = performance.now();
    // The process's resident memory while the compaction runs (every thread: the worker, its
    // decoding thread, and the inserts beside it).
    const rssStart = residentBytes();
    let rssPeak = rssStart;
    const rssSampler = setInterval(() => (rssPeak = Math.max(rssPeak, residentBytes())), 50);
    // The batches inserted beside the compaction were made before the watch started (the
    // generator's own work, 5-10 ms a batch, is not the store's), and are reused in turn.
    let during = 0;
    const duringStart = performance.now();
    const inserting = (async () => {
      for (let k = 0; s.correlations.stats().compactions === 0; k++) {
        await s.correlations.insert(beside[k % beside.length]);
        during += BATCH;
      }
    })();
    await s.correlations.compactionSettled();
    while (s.correlations.stats().compactions === 0) await new Promise((r) => setTimeout(r, 10));
    const compactS = (performance.now() - t) / 1000;
    clearInterval(rssSampler);
    await inserting;
    const duringRate = during / ((performance.now() - duringStart) / 1000);
    const report = s.correlations.stats().lastCompaction;
    c.compaction = {
      seconds: compactS,
      inputBytes: l0Bytes,
      inputBytesPerSec: l0Bytes / compactS,
      peakMemory: report?.peakMemory,
      rssRise: rssPeak - rssStart,
      insertPerSecDuring: duringRate,
      ...stop(),
    };
    rows.push({
      path,
      what: 'compaction L0 -> L1 (MB/s of input)',
      rate: c.compaction.inputBytesPerSec / 1e6,
      unit: 'MB/s',
      ratio: c.compaction.inputBytesPerSec / ddBytesPerSec,
      ratioLabel: 'of dd',
      loop: c.compaction,
      extra: `worker peak memory ${(report?.peakMemory / 1e6).toFixed(0)} MB, process RSS rose ${((rssPeak - rssStart) / 1e6).toFixed(0)} MB; row groups in memory: ${report?.inputs ?? 0} inputs + 1 output x ${rowGroupMB.toFixed(1)} MB`,
    });
    rows.push({ path, what: 'insert while the compaction runs', rate: duringRate, ratio: duringRate / c.insert.perSec, ratioLabel: 'of alone' });
    await s.close();
    rmSync(dir, { recursive: true, force: true });

    // Reopen after SIGKILL with a full active part, in a fresh process (as a restarted service
    // opens it), and once more in this one (whose heap holds the benchmark's findings).
    dir = freshDir(`reopen-${path}`);
    const activeRows = await fillAndKill(dir, path, REOPEN_MB);
    const fresh = reopenInChild(dir, path, REOPEN_MB);
    t = performance.now();
    s = await openStore(dir, path, { active_memory: `${REOPEN_MB + 64}MB` });
    c.reopen = {
      seconds: fresh.seconds,
      secondsInBenchProcess: (performance.now() - t) / 1000,
      activeRows,
      replayed: fresh.replayed,
      walBytes: sizeOf(join(dir, 'correlations', 'wal')),
    };
    rows.push({
      path,
      what: `reopen after SIGKILL, ${REOPEN_MB} MB active part`,
      rate: c.reopen.seconds,
      unit: 's',
      extra: `${c.reopen.replayed} findings replayed, in a fresh process; ${c.reopen.secondsInBenchProcess.toFixed(2)} s in this one`,
    });
    await s.close();
    rmSync(dir, { recursive: true, force: true });
    result.cases[path] = c;
  }

  const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2));
  printTable(`correlations (${ROWS} findings, dd ${(ddBytesPerSec / 1e6).toFixed(0)} MB/s in the same folder)`, rows, [
    { label: 'path', get: (r) => r.path },
    { label: 'case', get: (r) => r.what },
    { label: 'value', get: (r) => `${fmt(r.rate)} ${r.unit ?? 'findings/s'}` },
    { label: 'ratio', get: (r) => (r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x ${r.ratioLabel ?? 'DuckDB'}`) },
    {
      label: 'loop p99/max ms',
      get: (r) => (!r.loop ? '' : r.loop.samples === 0 ? 'no sample: timers starved' : `${r.loop.p99Ms.toFixed(1)} / ${r.loop.maxMs.toFixed(1)}`),
    },
    { label: 'notes', get: (r) => r.extra ?? '' },
  ]);
  const file = writeResult('correlations', { capabilities: caps, quick, ...result });
  console.log(`written ${file}`);
  if (runRoot !== null) rmSync(runRoot, { recursive: true, force: true });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();

/** The process's resident memory (Linux: VmRSS of /proc/self/status), or 0 elsewhere. */
function residentBytes() {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}
