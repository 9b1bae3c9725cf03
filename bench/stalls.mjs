// Event-loop stalls: how long the main thread stops answering in the cases that used to hold it,
// measured with perf_hooks.monitorEventLoopDelay (resolution 1 ms) on both transit paths and both
// metadata backends, side by side:
//
//   open   a fresh process opens a WAL with the default 64 MiB ring and appends at full speed
//          (64 producers x 16 records of 200 B) for 0.5 s, once per run (--runs, default 12):
//          how many runs saw a delay over 20 ms
//   keys   N concurrent apiKeys.create (100, 1,000, 10,000), then N concurrent apiKeys.verify;
//          "the calls" is the CPU time of the caller's own loop that makes the N calls, a turn
//          that every store must take part in
//   full   full-speed appends for 3 s after a 1 s warm-up, with the 64 MiB ring
//
// On a machine shared with other work, the event-loop delay also counts the time the main thread
// waits for a CPU. On Linux each case therefore also reports two figures that other processes'
// load does not inflate: the longest stretch the main thread RAN between two 1 ms ticks (from
// /proc/thread-self/schedstat: the longest turn, what the code itself holds the loop for), and the
// longest stretch it spent in uninterruptible sleep ('D' in /proc/<pid>/task/<pid>/stat, polled
// every 0.25 ms by a separate process): waiting for a kernel lock such as the process's mmap lock, or
// for a page to be read, which no amount of free CPU shortens.
//
//   node bench/stalls.mjs [--runs 12] [--only open,keys,full] [--baseline DIR]
//
// --baseline DIR runs the open case also against the build in DIR (a checkout of this package
// with lib/ and build/ built), alternating runs, so two builds meet the same load. Writes
// bench/results/stalls.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const benchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');
const STALL_MS = 20;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function freshDir(label) {
  mkdirSync(benchRoot, { recursive: true });
  return mkdtempSync(join(benchRoot, `${label}-`));
}

const ms = (ns) => ns / 1e6;
const round = (x, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/**
 * Watches the event loop from now until stop(): the delay histogram, and on Linux the main
 * thread's longest running and blocked stretches between two 1 ms ticks.
 */
// A separate process (not a thread: a thread of this process would wait for the same mmap lock)
// polls the main thread's state until its stdin closes, then prints the longest 'D' stretch in ms.
const D_STATE_WATCHER = `
const { readFileSync } = require('node:fs');
const file = '/proc/' + process.argv[1] + '/task/' + process.argv[1] + '/stat';
const pause = new Int32Array(new SharedArrayBuffer(4));
let stop = false, since = null, longest = 0;
process.stdin.on('end', () => { stop = true; }).resume();
function poll() {
  for (let i = 0; i < 40 && !stop; i++) {
    let state = '?';
    try { const text = readFileSync(file, 'latin1'); state = text[text.lastIndexOf(')') + 2]; } catch { stop = true; break; }
    const now = Number(process.hrtime.bigint()) / 1e6;
    if (state === 'D') { if (since === null) since = now; longest = Math.max(longest, now - since); } else since = null;
    Atomics.wait(pause, 0, 0, 0.25);
  }
  if (stop) process.stdout.write(String(longest)); else setImmediate(poll);
}
poll();
`;

function watchLoop() {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const statFile = '/proc/thread-self/schedstat';
  const canSample = existsSync(statFile);
  const dWatcher = canSample ? spawn(process.execPath, ['-e', D_STATE_WATCHER, String(process.pid)], { stdio: ['pipe', 'pipe', 'inherit'] }) : null;
  let dOutput = '';
  dWatcher?.stdout.on('data', (chunk) => (dOutput += chunk));
  const dDone = dWatcher ? new Promise((resolve) => dWatcher.once('close', resolve)) : Promise.resolve();
  let maxCpuMs = 0;
  let maxBlockedMs = 0;
  let timer;
  if (canSample) {
    const read = () => readFileSync(statFile, 'utf8').split(' ').map(Number); // ns on CPU, ns waiting for a CPU, slices
    let last = process.hrtime.bigint();
    let lastStat = read();
    timer = setInterval(() => {
      const now = process.hrtime.bigint();
      const stat = read();
      const gapMs = Number(now - last) / 1e6;
      const cpuMs = ms(stat[0] - lastStat[0]);
      const waitMs = ms(stat[1] - lastStat[1]);
      maxCpuMs = Math.max(maxCpuMs, cpuMs);
      // 1 ms of the gap is the timer's own wait.
      maxBlockedMs = Math.max(maxBlockedMs, gapMs - cpuMs - waitMs - 1);
      last = now;
      lastStat = stat;
    }, 1);
  }
  return {
    async stop() {
      histogram.disable();
      if (timer) clearInterval(timer);
      dWatcher?.stdin.end();
      await dDone;
      return {
        p50Ms: round(ms(histogram.percentile(50)), 2),
        p99Ms: round(ms(histogram.percentile(99)), 2),
        maxMs: round(ms(histogram.max), 2),
        maxCpuMs: canSample ? round(maxCpuMs) : undefined,
        maxOffCpuMs: canSample ? round(Math.max(0, maxBlockedMs)) : undefined,
        maxUninterruptibleMs: canSample ? round(Number(dOutput)) : undefined,
      };
    },
  };
}

async function openBackend(path, dir) {
  const { openWalBackend } = await import('../lib/transit/index.js');
  return openWalBackend({ dir, segmentSize: 64 << 20, ringCapacity: 64 << 20, directIo: 'auto', recovery: 'strict', maxGroupBytes: 4 << 20 }, path);
}

/** 64 producers appending 16 records of 200 B each until `until` (performance.now()). */
async function appendUntil(wal, until) {
  const record = new Uint8Array(200).fill(0x61);
  const batch = Array.from({ length: 16 }, () => record);
  let records = 0;
  const producer = async () => {
    while (performance.now() < until) {
      await wal.append(batch);
      records += batch.length;
    }
  };
  await Promise.all(Array.from({ length: 64 }, producer));
  return records;
}

// ---- children: each case that depends on a fresh process runs in one

async function childOpen(path) {
  const dir = freshDir('open');
  // Loading the modules is the application's start-up, not the open: done before watching.
  await import('../lib/transit/index.js');
  try {
    const watch = watchLoop();
    const t0 = performance.now();
    const wal = await openBackend(path, dir);
    const openMs = performance.now() - t0;
    const t1 = performance.now();
    const records = await appendUntil(wal, t1 + 500);
    const seconds = (performance.now() - t1) / 1000;
    const loop = await watch.stop();
    await wal.close();
    return { openMs: round(openMs), recordsPerSec: Math.round(records / seconds), ...loop };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function childFull(path) {
  const dir = freshDir('full');
  try {
    const wal = await openBackend(path, dir);
    await appendUntil(wal, performance.now() + 1000); // warm-up: JIT, the ring's first lap
    const watch = watchLoop();
    const t0 = performance.now();
    const records = await appendUntil(wal, t0 + 3000);
    const seconds = (performance.now() - t0) / 1000;
    const loop = await watch.stop();
    await wal.close();
    return { recordsPerSec: Math.round(records / seconds), ...loop };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function childKeys(backend) {
  const { MetadataStore } = await import('../lib/metadata/index.js');
  const dir = freshDir('keys');
  const rows = [];
  try {
    const store = await MetadataStore.open({ type: 'badger', path: dir, in_memory: backend === 'memory', compression: true });
    const user = await store.users.create({ name: 'bench', roles: [] });
    for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: 200 }, (_, j) => store.apiKeys.create(user.id, { name: `warm-${i}-${j}` })));
    const settle = () => new Promise((r) => setTimeout(r, 20));
    // CPU time of this thread, to tell the caller's own loop (making n calls) from the rest.
    const statFile = '/proc/thread-self/schedstat';
    const threadCpuMs = () => (existsSync(statFile) ? Number(readFileSync(statFile, 'utf8').split(' ')[0]) / 1e6 : NaN);
    for (const n of [100, 1000, 10000]) {
      let watch = watchLoop();
      await settle();
      let t0 = performance.now();
      let cpu0 = threadCpuMs();
      const creating = Array.from({ length: n }, (_, j) => store.apiKeys.create(user.id, { name: `k-${n}-${j}` }));
      let callsCpuMs = threadCpuMs() - cpu0;
      const created = await Promise.all(creating);
      let seconds = (performance.now() - t0) / 1000;
      await settle();
      rows.push({ operation: 'apiKeys.create', concurrent: n, opsPerSec: Math.round(n / seconds), callsCpuMs: round(callsCpuMs), ...(await watch.stop()) });
      watch = watchLoop();
      await settle();
      t0 = performance.now();
      cpu0 = threadCpuMs();
      const verifying = created.map((k) => store.apiKeys.verify(k.key));
      callsCpuMs = threadCpuMs() - cpu0;
      const users = await Promise.all(verifying);
      seconds = (performance.now() - t0) / 1000;
      await settle();
      if (!users.every((u) => u === user.id)) throw new Error('a created key did not verify');
      rows.push({ operation: 'apiKeys.verify', concurrent: n, opsPerSec: Math.round(n / seconds), callsCpuMs: round(callsCpuMs), ...(await watch.stop()) });
    }
    await store.close();
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function child(kind, target) {
  const result = kind === 'open' ? await childOpen(target) : kind === 'full' ? await childFull(target) : await childKeys(target);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- parent

function runChild(kind, target, root = join(here, '..')) {
  const res = spawnSync(process.execPath, [join(root, 'bench', 'stalls.mjs'), '--child', kind, target], {
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 64 << 20,
  });
  if (res.status !== 0) throw new Error(`${join(root, 'bench', 'stalls.mjs')} --child ${kind} ${target} failed: ${res.stderr || res.stdout}`);
  return JSON.parse(res.stdout.trim().split('\n').pop());
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const loopColumns = [
  { label: 'p50', get: (r) => `${r.p50Ms} ms` },
  { label: 'p99', get: (r) => `${r.p99Ms} ms` },
  { label: 'max', get: (r) => `${r.maxMs} ms` },
  { label: 'longest run (cpu)', get: (r) => `${r.maxCpuMs} ms` },
  { label: 'longest off-cpu (not waiting for one)', get: (r) => `${r.maxOffCpuMs} ms` },
  { label: "longest 'D'", get: (r) => `${r.maxUninterruptibleMs} ms` },
];

/** One row from the runs of one build and path. */
function openRow(build, path, each) {
  const max = (field) => Math.max(...each.map((r) => r[field] ?? NaN));
  return {
    build,
    path,
    runs: each.length,
    runsOver20Ms: each.filter((r) => r.maxMs > STALL_MS).length,
    runsDOver20Ms: each.filter((r) => r.maxUninterruptibleMs > STALL_MS).length,
    p50Ms: percentile(
      each.map((r) => r.p50Ms),
      50,
    ),
    p99Ms: percentile(
      each.map((r) => r.p99Ms),
      50,
    ),
    maxMs: max('maxMs'),
    maxCpuMs: max('maxCpuMs'),
    maxOffCpuMs: max('maxOffCpuMs'),
    maxUninterruptibleMs: max('maxUninterruptibleMs'),
    recordsPerSec: percentile(
      each.map((r) => r.recordsPerSec),
      50,
    ),
    each,
  };
}

export async function run() {
  const { capabilities } = await import('../lib/capabilities.js');
  const caps = capabilities();
  const paths = caps.native ? ['native', 'typescript'] : ['typescript'];
  const runs = Number(arg('runs', '12'));
  const only = new Set(arg('only', 'open,keys,full').split(','));
  const baseline = arg('baseline', undefined);
  const result = { runs, stallMs: STALL_MS, capabilities: caps, baseline };

  if (only.has('open')) {
    const builds =
      baseline === undefined
        ? [['this', join(here, '..')]]
        : [
            ['baseline', baseline],
            ['this', join(here, '..')],
          ];
    const rows = [];
    for (const path of paths) {
      const each = new Map(builds.map(([name]) => [name, []]));
      for (let i = 0; i < runs; i++) for (const [name, root] of builds) each.get(name).push(runChild('open', path, root));
      for (const [name] of builds) rows.push(openRow(name, path, each.get(name)));
    }
    printTable(`Open + first appends, 64 MiB ring, ${runs} fresh processes per path (p50, p99: medians over runs; the rest: the worst run)`, rows, [
      ...(baseline === undefined ? [] : [{ label: 'build', get: (r) => r.build }]),
      { label: 'path', get: (r) => r.path },
      { label: `runs > ${STALL_MS} ms`, get: (r) => `${r.runsOver20Ms} / ${r.runs}` },
      { label: `runs with 'D' > ${STALL_MS} ms`, get: (r) => `${r.runsDOver20Ms} / ${r.runs}` },
      ...loopColumns,
      { label: 'max of each run', get: (r) => r.each.map((e) => Math.round(e.maxMs)).join(' ') },
      { label: 'records/s (median)', get: (r) => r.recordsPerSec.toLocaleString('en-US') },
    ]);
    result.open = rows;
  }

  if (only.has('keys')) {
    const rows = [];
    for (const backend of ['lmdb', 'memory']) for (const r of runChild('keys', backend)) rows.push({ backend, ...r });
    printTable('Concurrent API key operations (all issued in one turn, then awaited)', rows, [
      { label: 'backend', get: (r) => r.backend },
      { label: 'operation', get: (r) => r.operation },
      { label: 'concurrent', get: (r) => r.concurrent.toLocaleString('en-US') },
      { label: 'ops/s', get: (r) => r.opsPerSec.toLocaleString('en-US') },
      { label: 'the calls (cpu)', get: (r) => `${r.callsCpuMs} ms` },
      ...loopColumns,
    ]);
    result.keys = rows;
  }

  if (only.has('full')) {
    const rows = paths.map((path) => ({ path, ...runChild('full', path) }));
    printTable('Full-speed appends, 64 producers x 16 x 200 B, 3 s after a 1 s warm-up', rows, [
      { label: 'path', get: (r) => r.path },
      { label: 'records/s', get: (r) => r.recordsPerSec.toLocaleString('en-US') },
      ...loopColumns,
    ]);
    result.full = rows;
  }

  const file = writeResult('stalls', result);
  console.log(`\nwrote ${file}`);
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) await child(process.argv[i + 1], process.argv[i + 2]);
  else await run();
}
