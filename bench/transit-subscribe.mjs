// Subscriptions: how fast a consumer follows the transit WAL, on the native and the TypeScript
// path in one run, with a batch handler (subscribeBatches) and a synchronous per-record handler
// (subscribe), both with the default batch size of 10,000 (the checkpoint is stored after each
// batch); the batch handler with batches of 2,000 too (a smaller gathered batch is cheaper for each
// young-generation collection to copy, and checkpoints come five times as often), and the
// per-record handler with batches of 100 to show what a checkpoint per 100 records costs.
//   catch-up: from the oldest of 1,000 segments of 1 MiB (records of 200 B), the first 1M records
//   live:     a fresh store (64 MiB segments), four appenders of 1,000 records of 200 B each while
//             the subscriber follows; records/s from the first append to the last delivery. Once
//             with the appenders on the subscriber's own thread, once with them in two worker
//             threads (transit.producerHandle(), two appenders each), as a service that takes
//             events in on other threads would run
// Each case reports records/s and the event-loop delay (perf_hooks.monitorEventLoopDelay) p99 and
// max while it ran. Each case runs RUNS times (a fresh open each time); the table gives the median
// of each figure and, apart, the first run's records/s (code not yet optimised by the JIT: what a
// process that just started sees).
// `node bench/transit-subscribe.mjs [--quick] [--runs N]` (--quick: 100 segments, 200k records;
// runs default 3); writes bench/results/transit-subscribe.json with every run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, Worker } from 'node:worker_threads';

import { formatRate, printTable, writeResult } from './harness.mjs';

const quick = process.argv.includes('--quick') || process.env.TAPIO_BENCH_QUICK === '1';
const benchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');
const RECORD_BYTES = 200;
const SEGMENTS = quick ? 100 : 1000;
const MEASURED = quick ? 200_000 : 1_000_000;
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

/** The median of `values` (the mean of the middle two for an even count). */
function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Runs `once` RUNS times; one row with the median of each number and the first run's rate. */
async function repeated(once) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once());
  const row = { runs, firstRecordsPerSec: runs[0].recordsPerSec };
  for (const key of Object.keys(runs[0])) if (typeof runs[0][key] === 'number') row[key] = median(runs.map((r) => r[key]));
  return row;
}

function freshDir(label) {
  execFileSync('mkdir', ['-p', benchRoot]);
  return mkdtempSync(join(benchRoot, `${label}-`));
}

async function openStore(dataDir, path, segmentSize) {
  const { TapioStorage } = await import('../lib/index.js');
  return TapioStorage.open({ dataDir, storage: { transit: { segment_size: segmentSize, ring_capacity: '64MiB' } } }, { transit: { path } });
}

/**
 * `lanes` appenders, each appending batches of `batch` records until `total` are appended, into
 * `transit` (the store's, or a worker's producer: anything with append).
 */
export async function appendRecords(transit, total, { lanes = 4, batch = 1000 } = {}) {
  const record = new Uint8Array(RECORD_BYTES).fill(0x61);
  const records = Array.from({ length: batch }, () => record);
  let issued = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (issued < total) {
        const n = Math.min(batch, total - issued);
        issued += n;
        await transit.append(n === batch ? records : records.slice(0, n));
      }
    }),
  );
}

/**
 * The same appends from `workers` worker threads through producer handles, `lanes` in all: the
 * threads are started and attached first; `run()` lets them append and resolves once every
 * record is durable; `stop()` ends them (also after a failure).
 */
async function startProducers(transit, total, { workers = 2, lanes = 4, batch = 1000 } = {}) {
  const { transferList } = await import('../lib/index.js');
  const script = fileURLToPath(new URL('./transit-producer.mjs', import.meta.url));
  const threads = [];
  const done = [];
  const ready = [];
  for (let i = 0; i < workers; i++) {
    const handle = transit.producerHandle();
    const share = Math.floor(total / workers) + (i < total % workers ? 1 : 0);
    const worker = new Worker(script, {
      workerData: { handle, total: share, lanes: Math.floor(lanes / workers) + (i < lanes % workers ? 1 : 0), batch },
      transferList: transferList(handle),
    });
    threads.push(worker);
    const failed = new Promise((_, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`producer worker exited with ${code}`)));
    });
    failed.catch(() => undefined);
    const said = (word) => Promise.race([new Promise((resolve) => worker.on('message', (m) => m === word && resolve())), failed]);
    ready.push(said('ready'));
    const finished = said('done');
    finished.catch(() => undefined); // awaited by run(); not a stray rejection when the start failed
    done.push(finished);
  }
  const stop = () => Promise.allSettled(threads.map((w) => w.terminate()));
  try {
    await Promise.all(ready);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    run: async () => {
      for (const w of threads) w.postMessage('go');
      await Promise.all(done);
    },
    stop,
  };
}

/** Starts a subscription of the kind `handler` and resolves when it handed over `count` records. */
function follow(transit, name, handler, batchSize, count) {
  let seen = 0;
  let resolveDone;
  const reached = new Promise((r) => (resolveDone = r));
  const check = () => {
    if (seen >= count) resolveDone();
  };
  const options = batchSize === undefined ? {} : { batchSize };
  const sub =
    handler === 'batch'
      ? transit.subscribeBatches(
          name,
          (records) => {
            seen += records.length;
            check();
          },
          options,
        )
      : transit.subscribe(
          name,
          () => {
            seen++;
            if (seen >= count) resolveDone();
          },
          options,
        );
  sub.done.catch((err) => resolveDone(Promise.reject(err)));
  return { sub, reached };
}

function loopDelay() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 };
  };
}

/** Writes the catch-up data set: SEGMENTS segments of 1 MiB. */
async function writeSegments(dataDir, path) {
  const storage = await openStore(dataDir, path, '1MiB');
  try {
    const perSegment = Math.floor((1024 * 1024 - 4096) / (RECORD_BYTES + 16));
    await appendRecords(storage.transit, SEGMENTS * perSegment);
    return storage.transit.lastSeq;
  } finally {
    await storage.close();
  }
}

async function catchUp(dataDir, path, handler, batchSize) {
  const storage = await openStore(dataDir, path, '1MiB');
  try {
    const name = `catchup-${handler}-${batchSize ?? 'default'}-${Math.random().toString(36).slice(2)}`;
    const stop = loopDelay();
    const t0 = performance.now();
    const { sub, reached } = follow(storage.transit, name, handler, batchSize, MEASURED);
    await reached;
    const seconds = (performance.now() - t0) / 1000;
    const delay = stop();
    await sub.close();
    const stats = storage.transit.stats().subscriptions.find((s) => s.name === name);
    return { records: MEASURED, seconds, recordsPerSec: MEASURED / seconds, checkpoints: stats.batches, ...delay };
  } finally {
    await storage.close();
  }
}

async function live(path, handler, batchSize, inWorkers) {
  const dataDir = freshDir(`live-${path}`);
  const storage = await openStore(dataDir, path, '64MiB');
  try {
    const producers = inWorkers ? await startProducers(storage.transit, MEASURED) : null;
    const stop = loopDelay();
    const t0 = performance.now();
    const { sub, reached } = follow(storage.transit, 'live', handler, batchSize, MEASURED);
    let appendSeconds;
    try {
      await (producers !== null ? producers.run() : appendRecords(storage.transit, MEASURED));
      appendSeconds = (performance.now() - t0) / 1000;
    } finally {
      await producers?.stop();
    }
    await reached;
    const seconds = (performance.now() - t0) / 1000;
    const delay = stop();
    await sub.close();
    const stats = storage.transit.stats().subscriptions[0];
    return {
      records: MEASURED,
      seconds,
      recordsPerSec: MEASURED / seconds,
      appendedPerSec: MEASURED / appendSeconds,
      lagMs: (seconds - appendSeconds) * 1000,
      checkpoints: stats.batches,
      ...delay,
    };
  } finally {
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run() {
  const { capabilities } = await import('../lib/index.js');
  const caps = capabilities();
  const paths = caps.native ? ['native', 'typescript'] : ['typescript'];
  const handlers = [
    { handler: 'batch', batchSize: undefined, label: 'subscribeBatches, default batches (10,000)' },
    { handler: 'batch', batchSize: 2000, label: 'subscribeBatches, batches of 2,000' },
    { handler: 'record', batchSize: undefined, label: 'subscribe (sync), default batches (10,000)' },
    { handler: 'record', batchSize: 100, label: 'subscribe (sync), batches of 100' },
  ];
  const rows = [];
  for (const path of paths) {
    const dataDir = freshDir(`catchup-${path}`);
    try {
      const written = await writeSegments(dataDir, path);
      for (const h of handlers) {
        const r = await repeated(() => catchUp(dataDir, path, h.handler, h.batchSize));
        rows.push({ path, mode: `catch-up (oldest of ${SEGMENTS} segments, ${formatRate(written)} records)`, handler: h.label, ...r });
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    for (const inWorkers of [false, true]) {
      for (const h of handlers) {
        const r = await repeated(() => live(path, h.handler, h.batchSize, inWorkers));
        rows.push({ path, mode: inWorkers ? 'live (4 appenders in 2 workers)' : 'live (4 appenders, same thread)', handler: h.label, ...r });
      }
    }
  }
  printTable(`Transit subscriptions: ${formatRate(MEASURED)} records of ${RECORD_BYTES} B per case, medians of ${RUNS} runs`, rows, [
    { label: 'path', get: (r) => r.path },
    { label: 'case', get: (r) => r.mode },
    { label: 'handler', get: (r) => r.handler },
    { label: 'records/s', get: (r) => formatRate(r.recordsPerSec) },
    { label: 'first run', get: (r) => formatRate(r.firstRecordsPerSec) },
    { label: 'appended/s', get: (r) => (r.appendedPerSec === undefined ? '' : formatRate(r.appendedPerSec)) },
    { label: 'lag ms', get: (r) => (r.lagMs === undefined ? '' : r.lagMs.toFixed(0)) },
    { label: 'checkpoints', get: (r) => r.checkpoints },
    { label: 'loop p99 ms', get: (r) => r.p99Ms.toFixed(1) },
    { label: 'loop max ms', get: (r) => r.maxMs.toFixed(1) },
  ]);
  const file = writeResult('transit-subscribe', {
    capabilities: caps,
    quick,
    runs: RUNS,
    segments: SEGMENTS,
    recordBytes: RECORD_BYTES,
    measuredRecords: MEASURED,
    rows,
  });
  console.log(`\nwrote ${file}`);
}

// Not in the producer threads, whose process.argv is the main thread's.
if (isMainThread && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
