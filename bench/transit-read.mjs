// Transit reads, native writer and TypeScript twin side by side in one run (reads go through the
// same reader on both paths; what differs is where the index entries come from):
//   - read({ fromSeq, limit: 1000 }) at the start, middle and end of a full 64 MiB segment, live
//     and after a reopen, and from the oldest of 1,000 segments of 1 MiB after a reopen (median,
//     min and first ms; after untimed reads on a small store of each path warm the JIT up), beside
//     the I/O floor: one bare read of 256 KiB (what such a read takes) at the same places, direct
//     on the native path as its reads are;
//   - read() over 1,000,000 records of 200 B with an empty loop body (records/s), the first run
//     after the appends apart from the later ones, against a plain fs read of the same bytes in
//     4 MiB chunks (the ceiling: no decoding, no records). On the native path every run reads
//     from the disk (direct reads of what the writer wrote with O_DIRECT), and so does the plain
//     read; on the TypeScript path everything comes from the page cache;
//   - event-loop delay p99 and max (perf_hooks.monitorEventLoopDelay, 1 ms resolution) during those
//     reads and during full-speed appends;
//   - `tapio-storage wal stats` on the 1,000-segment log (a child process, as a user runs it), with
//     `wal verify` on the same log for comparison (it reads every record).
// `node bench/transit-read.mjs [--quick]` (--quick: 200 segments, fewer repetitions); writes
// bench/results/transit-read.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const quick = process.argv.includes('--quick') || process.env.TAPIO_BENCH_QUICK === '1';
const benchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');
const cli = join(process.cwd(), 'lib', 'cli', 'main.js');
const RECORD = 200;
const FOOTPRINT = 216; // a 200-byte record with its header, padded to 8
const REPS = quick ? 15 : 41;
const MANY_SEGMENTS = quick ? 200 : 1000;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function freshDir(label) {
  mkdirSync(benchRoot, { recursive: true });
  return mkdtempSync(join(benchRoot, `${label}-`));
}

async function openStore(path, dataDir, segment, ring = '64MiB') {
  const { TapioStorage } = await import('../lib/index.js');
  return TapioStorage.open(
    { dataDir, storage: { transit: { segment_size: segment, ring_capacity: ring }, metadata: { in_memory: true } } },
    { transit: { path } },
  );
}

/** Appends `count` records of RECORD bytes in batches of 10,000, 4 batches in flight. */
async function fill(transit, count) {
  const record = new Uint8Array(RECORD).fill(0x61);
  const batch = Array.from({ length: 10_000 }, () => record);
  let left = count;
  const lane = async () => {
    while (left > 0) {
      const n = Math.min(batch.length, left);
      left -= n;
      await transit.append(n === batch.length ? batch : batch.slice(0, n));
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
}

/** Runs `fn` while measuring the event loop's delay; returns its result with p99 and max in ms. */
async function withLoopDelay(fn) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const result = await fn();
  h.disable();
  return { result, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6 };
}

/** Times one read of `limit` records from each of `starts` (a place may come more than once). */
async function timeReadsAt(transit, starts, limit = 1000) {
  const times = [];
  for (const fromSeq of starts) {
    const t0 = performance.now();
    let n = 0;
    for await (const _ of transit.read({ fromSeq, limit })) n++;
    times.push(performance.now() - t0);
    if (n !== limit) throw new Error(`read ${n} records from ${fromSeq}, wanted ${limit}`);
  }
  return { median: median(times), min: Math.min(...times), first: times[0] };
}

/** Median ms of reading `limit` records from `fromSeq`, over REPS repetitions. */
function timeReads(transit, fromSeq, limit = 1000) {
  return timeReadsAt(transit, new Array(REPS).fill(fromSeq), limit);
}

function segmentNames(wal) {
  return readdirSync(wal)
    .filter((n) => /^[0-9a-f]{16}\.wal$/.test(n))
    .sort();
}

async function firstSeqOf(file) {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(64);
    await fh.read(b, 0, 64, 0);
    return Number(b.readBigUInt64LE(24));
  } finally {
    await fh.close();
  }
}

/** Reads `bytes` bytes of `file` from offset 4096 in 4 MiB chunks: the ceiling of a sequential read. */
async function plainRead(file, bytes) {
  const fh = await open(file, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    const t0 = performance.now();
    let done = 0;
    while (done < bytes) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, bytes - done), 4096 + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return { seconds: (performance.now() - t0) / 1000, bytes: done };
  } finally {
    await fh.close();
  }
}

/**
 * The I/O floor of a 1,000-record read: one read of 256 KiB (what such a read takes from a 64 MiB
 * segment) at the start, middle and end of `file`, REPS times each, median (min, first) ms. Direct
 * (the addon's reader, from the disk) on the native path, as its reads are; buffered (the page
 * cache) on the TypeScript path.
 */
async function rawReads(file, path) {
  const { lazyDirectSource } = await import('../lib/transit/direct-read.js');
  const fh = await open(file, 'r');
  // Buffered where the file system refuses direct reads (then reported as not direct).
  const direct = path === 'native' ? lazyDirectSource(file, 4096, async (into, at) => (await fh.read(into, 0, into.length, at)).bytesRead) : null;
  const buf = Buffer.alloc(256 << 10);
  const out = {};
  try {
    for (const [k, at] of Object.entries({ start: 4096, middle: 32 << 20, end: (64 << 20) - (512 << 10) })) {
      const times = [];
      for (let i = 0; i < REPS; i++) {
        const t0 = performance.now();
        if (direct !== null) await direct.read(buf, at);
        else await fh.read(buf, 0, buf.length, at);
        times.push(performance.now() - t0);
      }
      out[k] = { median: median(times), min: Math.min(...times), first: times[0] };
    }
    return { direct: direct !== null && direct.direct, ...out };
  } finally {
    direct?.close();
    await fh.close();
  }
}

function timeCli(args, { json = true } = {}) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, ...(json ? ['--json'] : []), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !(args.includes('verify') && r.status === 1)) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return { ms, out: json ? JSON.parse(r.stdout) : r.stdout };
}

async function benchPath(path) {
  const out = { path };
  // --- one full segment of 64 MiB (and part of a second), 1M+ records
  const bigDir = freshDir(`read-${path}`);
  let storage = await openStore(path, bigDir, '64MiB');
  const total = 1_100_000; // about 3.6 segments of 64 MiB
  const appendRun = await withLoopDelay(async () => {
    const t0 = performance.now();
    await fill(storage.transit, total);
    return (performance.now() - t0) / 1000;
  });
  out.appends = { records: total, recordsPerSec: total / appendRun.result, loopP99Ms: appendRun.loopP99Ms, loopMaxMs: appendRun.loopMaxMs };
  const wal = join(bigDir, 'wal');
  const names = segmentNames(wal);
  const secondFirst = await firstSeqOf(join(wal, names[1]));
  const lastOfFirst = secondFirst - 1;
  const positions = { start: 1, middle: Math.floor(lastOfFirst / 2), end: lastOfFirst - 999 };
  const readsAt = async (label) => {
    const run = await withLoopDelay(async () => {
      const r = {};
      for (const [k, seq] of Object.entries(positions)) r[k] = await timeReads(storage.transit, seq);
      return r;
    });
    out[label] = { ...run.result, loopP99Ms: run.loopP99Ms, loopMaxMs: run.loopMaxMs };
  };
  await readsAt('fullSegmentLive');
  await storage.close();
  storage = await openStore(path, bigDir, '64MiB');
  await readsAt('fullSegmentReopened');
  out.rawReads = await rawReads(join(wal, names[0]), path);
  // --- read() throughput: 1,000,000 records with an empty body, and the plain-read ceiling.
  // Three runs. The first is reported on its own (code the JIT has not optimised yet); the slower
  // of the other two apart. On the native path each run reads from disk: the writer's O_DIRECT
  // writes leave nothing in the page cache, and reads of 512 KiB or more are direct too, so none
  // fill it. The TypeScript writer's buffered writes leave the bytes cached.
  const scans = [];
  for (let i = 0; i < 3; i++) {
    scans.push(
      await withLoopDelay(async () => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let n = 0;
        for await (const _ of storage.transit.read({ fromSeq: 1, limit: 1_000_000 })) n++;
        const cpu = process.cpuUsage(c0);
        return { n, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, systemSeconds: cpu.system / 1e6 };
      }),
    );
  }
  const scanFacts = (runs) => {
    const slowest = [...runs].sort((a, b) => b.result.seconds - a.result.seconds)[0];
    return {
      records: slowest.result.n,
      recordsPerSec: slowest.result.n / slowest.result.seconds,
      recordsPerCpuSec: slowest.result.n / slowest.result.cpuSeconds,
      systemCpuSeconds: slowest.result.systemSeconds,
      runsRecordsPerSec: runs.map((x) => x.result.n / x.result.seconds),
      loopP99Ms: Math.max(...runs.map((x) => x.loopP99Ms)),
      loopMaxMs: Math.max(...runs.map((x) => x.loopMaxMs)),
    };
  };
  out.readThroughputFirst = scanFacts(scans.slice(0, 1));
  out.readThroughput = scanFacts(scans.slice(1));
  // The same bytes read plainly: 1M records of 216 bytes span the first segments.
  let left = 1_000_000 * FOOTPRINT;
  let plainSeconds = 0;
  for (const n of names) {
    if (left <= 0) break;
    const want = Math.min(left, (64 << 20) - 4096);
    const r = await plainRead(join(wal, n), want);
    plainSeconds += r.seconds;
    left -= r.bytes;
  }
  out.plainReadCeiling = { bytesPerSec: (1_000_000 * FOOTPRINT) / plainSeconds, recordsPerSecEquivalent: 1_000_000 / plainSeconds };
  await storage.close();
  rmSync(bigDir, { recursive: true, force: true });

  // --- many segments of 1 MiB: reads behind all of them, and wal stats
  const manyDir = freshDir(`many-${path}`);
  storage = await openStore(path, manyDir, '1MiB', '16MiB');
  const perSegment = Math.floor(((1 << 20) - 4096) / FOOTPRINT);
  await fill(storage.transit, perSegment * MANY_SEGMENTS + 1000);
  await storage.close();
  storage = await openStore(path, manyDir, '1MiB', '16MiB');
  const manyWal = join(manyDir, 'wal');
  const segs = segmentNames(manyWal);
  const oldest = await withLoopDelay(async () => ({
    oldest: await timeReads(storage.transit, 100),
    middleOfSecond: await timeReads(storage.transit, (await firstSeqOf(join(manyWal, segs[1]))) + Math.floor(perSegment / 2) - 500),
  }));
  out.behindManySegments = { segments: segs.length, ...oldest.result, loopP99Ms: oldest.loopP99Ms, loopMaxMs: oldest.loopMaxMs };
  // A read that goes on from one segment into the next, at REPS different boundaries (each read
  // once since the reopen, as a consumer meets each boundary once): 500 records on either side.
  const boundaries = [];
  for (let i = 3; boundaries.length < REPS && i < segs.length - 1; i += 7) boundaries.push((await firstSeqOf(join(manyWal, segs[i]))) - 500);
  const across = await withLoopDelay(() => timeReadsAt(storage.transit, boundaries));
  out.acrossBoundary = { ...across.result, reads: boundaries.length, loopP99Ms: across.loopP99Ms, loopMaxMs: across.loopMaxMs };
  // Beside the running store, as an operator runs it.
  const stats = timeCli(['wal', 'stats', '--path', manyWal]);
  const verify = timeCli(['wal', 'verify', '--path', manyWal]);
  out.walStats = {
    segments: stats.out.segments,
    records: stats.out.records,
    bytesScanned: stats.out.bytesScanned,
    ms: stats.ms,
    verifyMs: verify.ms,
    verifyBytesScanned: verify.out.bytesScanned,
  };
  const noop = timeCli(['--help'], { json: false });
  out.walStats.cliStartMs = noop.ms;
  const { walStats } = await import('../lib/transit/wal-stats.js');
  const inProcess = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await walStats(manyWal);
    inProcess.push(performance.now() - t0);
  }
  out.walStats.inProcessMs = median(inProcess);
  await storage.close();
  rmSync(manyDir, { recursive: true, force: true });
  return out;
}

export async function run() {
  const { nativeStatus } = await import('../lib/native/loader.js');
  const paths = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
  // The machine's own event-loop noise: a process doing nothing for 2 s (shared machines
  // deschedule it; every delay below includes this).
  const idle = await withLoopDelay(() => new Promise((r) => setTimeout(r, 2000)));
  // And of a process that computes for 1 ms, then gives the loop a turn, for 2 s: the floor for
  // any CPU-bound work that yields as often as the reader does (a busy process is descheduled
  // more than an idle one on a shared machine).
  const busy = await withLoopDelay(async () => {
    const end = performance.now() + 2000;
    let x = 0;
    while (performance.now() < end) {
      const slice = performance.now() + 1;
      while (performance.now() < slice) x++;
      await new Promise((r) => setImmediate(r));
    }
    return x;
  });
  // Warm-up, not timed: reads of 1,000 records on a small store of each path, so that the reader
  // code both paths share is compiled by the JIT before the first timed case (else the path timed
  // first pays for it in its medians, and the other does not). The first read of each timed case
  // is still reported apart (`first`).
  for (const p of paths) {
    const dir = freshDir(`warm-${p}`);
    const storage = await openStore(p, dir, '4MiB', '4MiB');
    await fill(storage.transit, 50_000);
    for (let i = 0; i < 60; i++) for await (const _ of storage.transit.read({ fromSeq: 1 + (i % 10) * 4_900, limit: 1000 }));
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const results = [];
  for (const p of paths) {
    console.log(`transit-read: ${p} path...`);
    results.push(await benchPath(p));
  }
  const ms = (v) => (v === undefined ? '' : `${v.median.toFixed(2)} (${v.min.toFixed(2)}, ${v.first.toFixed(2)})`);
  const rows = [];
  for (const r of results) {
    for (const [label, key] of [
      ['live', 'fullSegmentLive'],
      ['reopened', 'fullSegmentReopened'],
    ]) {
      const c = r[key];
      rows.push({
        path: r.path,
        what: `1,000 records, 64 MiB segment (${label}): start / middle / end`,
        value: `${ms(c.start)} / ${ms(c.middle)} / ${ms(c.end)} ms`,
        p99: c.loopP99Ms,
        max: c.loopMaxMs,
      });
    }
    const raw = r.rawReads;
    rows.push({
      path: r.path,
      what: `one ${raw.direct ? 'direct' : 'buffered'} read of 256 KiB there (the I/O floor): start / middle / end`,
      value: `${ms(raw.start)} / ${ms(raw.middle)} / ${ms(raw.end)} ms`,
    });
    const b = r.behindManySegments;
    rows.push({
      path: r.path,
      what: `1,000 records behind ${b.segments} segments: oldest / 2nd segment`,
      value: `${ms(b.oldest)} / ${ms(b.middleOfSecond)} ms`,
      p99: b.loopP99Ms,
      max: b.loopMaxMs,
    });
    const x = r.acrossBoundary;
    rows.push({
      path: r.path,
      what: `1,000 records across a segment boundary, ${x.reads} boundaries each read once`,
      value: `${ms(x)} ms`,
      p99: x.loopP99Ms,
      max: x.loopMaxMs,
    });
    for (const [label, t] of [
      ['first run, right after the appends', r.readThroughputFirst],
      ['again, slower of 2 runs', r.readThroughput],
    ]) {
      rows.push({
        path: r.path,
        what: `read() of 1M records of 200 B, empty body (${label})`,
        value: `${(t.recordsPerSec / 1e6).toFixed(2)} M records/s (${(t.recordsPerCpuSec / 1e6).toFixed(2)} M per CPU-second, ${(t.systemCpuSeconds * 1000).toFixed(0)} ms in the kernel)`,
        p99: t.loopP99Ms,
        max: t.loopMaxMs,
      });
    }
    rows.push({
      path: r.path,
      what: `plain fs read of the same bytes (ceiling; ${r.path === 'native' ? 'from the disk' : 'page cache'})`,
      value: `${(r.plainReadCeiling.bytesPerSec / 2 ** 20).toFixed(0)} MiB/s = ${(r.plainReadCeiling.recordsPerSecEquivalent / 1e6).toFixed(2)} M records/s`,
    });
    rows.push({
      path: r.path,
      what: 'appends at full speed (10,000 x 200 B, 4 in flight)',
      value: `${(r.appends.recordsPerSec / 1e6).toFixed(2)} M records/s`,
      p99: r.appends.loopP99Ms,
      max: r.appends.loopMaxMs,
    });
    const w = r.walStats;
    rows.push({
      path: r.path,
      what: `wal stats, ${w.segments} segments (verify; node start)`,
      value: `${w.ms.toFixed(0)} ms, ${w.bytesScanned} B read (verify ${w.verifyMs.toFixed(0)} ms, ${w.verifyBytesScanned} B; start ${w.cliStartMs.toFixed(0)} ms)`,
    });
    rows.push({ path: r.path, what: 'walStats() in process, same log (median of 5)', value: `${w.inProcessMs.toFixed(1)} ms` });
  }
  rows.unshift(
    { path: '-', what: 'idle process for 2 s (noise floor of the loop delay)', value: '', p99: idle.loopP99Ms, max: idle.loopMaxMs },
    { path: '-', what: 'busy process yielding every 1 ms for 2 s (floor for work)', value: '', p99: busy.loopP99Ms, max: busy.loopMaxMs },
  );
  printTable('transit reads (1,000-record reads: median (min, first) ms of the repetitions; event-loop delay during each case)', rows, [
    { label: 'path', get: (r) => r.path },
    { label: 'case', get: (r) => r.what },
    { label: 'result', get: (r) => r.value },
    { label: 'loop p99 ms', get: (r) => (r.p99 === undefined ? '' : r.p99.toFixed(1)) },
    { label: 'loop max ms', get: (r) => (r.max === undefined ? '' : r.max.toFixed(1)) },
  ]);
  const file = writeResult('transit-read', {
    quick,
    reps: REPS,
    idleLoop: { p99Ms: idle.loopP99Ms, maxMs: idle.loopMaxMs },
    busyLoop: { p99Ms: busy.loopP99Ms, maxMs: busy.loopMaxMs },
    results,
  });
  console.log(`\nwrote ${file}`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
