// Transit WAL end to end: native writer, TypeScript twin and a plain fs loop (write + fdatasync
// per append) in one run, against the disk's ceiling (dd with oflag=direct in the same folder).
// Two more plain loops show what this disk allows for the shape of a case, with no WAL at all:
// one write + fdatasync of 1,024 records (the most 64 producers x 16 records keep in flight) and,
// for the offered load, one write + fdatasync of each whole burst. The sync probe (probeSync, the
// `wal test-sync` command) times the same cycle the way the native writer writes: O_DIRECT into
// fallocated extents, and into a file filled with zeros first.
// `node bench/transit.mjs [--quick] [--rounds N]` (3 rounds by default, 1 with --quick; medians are
// reported); writes bench/results/transit.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const quick = process.argv.includes('--quick') || process.env.TAPIO_BENCH_QUICK === '1';
const benchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Removes a case's folder and lets the file system finish with it (journal commit, discards of
 * the freed blocks) before the next case starts, so one case's cleanup does not land in the
 * next one's fdatasync latencies.
 */
function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  spawnSync('sync', [], { stdio: 'ignore' });
}

function freshDir(label) {
  execFileSync('mkdir', ['-p', benchRoot]);
  return mkdtempSync(join(benchRoot, `${label}-`));
}

/** dd's O_DIRECT sequential write speed in the bench folder, bytes/s. */
function ddCeiling(mib) {
  const dir = freshDir('dd');
  // One run; dd prints its summary on stderr.
  const res = spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'dd.bin')}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fdatasync'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  removeDir(dir);
  if (res.error || res.status !== 0) return { bytesPerSec: NaN, note: `dd failed: ${res.error?.message ?? res.stderr}` };
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(res.stderr);
  return m ? { bytesPerSec: Number(m[1]) / Number(m[2]), raw: res.stderr.trim().split('\n').pop() } : { bytesPerSec: NaN, raw: res.stderr };
}

async function openBackend(path, dir, overrides = {}) {
  const { openWalBackend } = await import('../lib/transit/index.js');
  return openWalBackend(
    { dir, segmentSize: 64 << 20, ringCapacity: 64 << 20, directIo: 'auto', recovery: 'strict', maxGroupBytes: 4 << 20, ...overrides },
    path,
  );
}

/** `producers` loops each awaiting appends of `batch` records of `size` bytes, `perProducer` times. */
async function concurrentAppends(wal, { producers, perProducer, batch, size, inFlight = 1 }) {
  const record = new Uint8Array(size).fill(0x61);
  const records = Array.from({ length: batch }, () => record);
  const latencies = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      let issued = 0;
      const lanes = Array.from({ length: inFlight }, async () => {
        while (issued < perProducer) {
          issued++;
          const s = process.hrtime.bigint();
          await wal.append(records);
          latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
      });
      await Promise.all(lanes);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  const n = producers * perProducer * batch;
  const st = wal.stats();
  return {
    records: n,
    seconds,
    recordsPerSec: n / seconds,
    mbPerSec: (n * size) / seconds / 1e6,
    meanGroupRecords: st.groups ? st.records / st.groups : 0,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    directIo: st.directIo,
  };
}

/** The baseline: one fs.writeSync of each append's records, then fdatasyncSync, in a loop. */
function plainLoop(dir, { appends, batch, size }) {
  const fd = openSync(join(dir, 'plain.log'), 'w');
  const buf = Buffer.alloc(batch * (size + 16), 0x61);
  const latencies = [];
  const t0 = process.hrtime.bigint();
  let pos = 0;
  for (let i = 0; i < appends; i++) {
    const s = process.hrtime.bigint();
    writeSync(fd, buf, 0, buf.length, pos);
    pos += buf.length;
    fdatasyncSync(fd);
    latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  closeSync(fd);
  latencies.sort((a, b) => a - b);
  const n = appends * batch;
  return {
    records: n,
    seconds,
    recordsPerSec: n / seconds,
    mbPerSec: (n * size) / seconds / 1e6,
    meanGroupRecords: batch,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    directIo: false,
  };
}

/**
 * Calls `burst(measured)` every `burstMs`: for `warmupSeconds` with `measured` false (JIT, ring
 * pages and the first segment blocks warm up; not counted), then for `seconds` with it true.
 * Resolves after the last call.
 */
function everyBurst(warmupSeconds, seconds, burstMs, burst) {
  const start = Date.now();
  const measureFrom = start + warmupSeconds * 1000;
  const end = measureFrom + seconds * 1000;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now >= end) {
        clearInterval(timer);
        resolve();
        return;
      }
      burst(now >= measureFrom);
    }, burstMs);
  });
}

function loadResult(sent, seconds, latencies) {
  latencies.sort((a, b) => a - b);
  return { records: sent, recordsPerSec: sent / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), appends: latencies.length };
}

/**
 * Offered load: `rate` records/s from `producers`, in bursts every `burstMs`; latencies and rate
 * count the `seconds` after a warm-up of `warmupSeconds` at the same rate.
 */
async function offeredLoad(wal, { rate, producers, warmupSeconds, seconds, size, burstMs = 10 }) {
  const record = new Uint8Array(size).fill(0x62);
  const perBurst = Math.max(1, Math.round((rate * burstMs) / 1000 / producers));
  const latencies = [];
  let sent = 0;
  const inflight = [];
  await everyBurst(warmupSeconds, seconds, burstMs, (measured) => {
    for (let p = 0; p < producers; p++) {
      const s = process.hrtime.bigint();
      const batch = Array.from({ length: perBurst }, () => record);
      const acked = wal.append(batch);
      if (measured) {
        sent += perBurst;
        inflight.push(acked.then(() => latencies.push(Number(process.hrtime.bigint() - s) / 1e6)));
      } else {
        inflight.push(acked);
      }
    }
  });
  await Promise.all(inflight);
  return loadResult(sent, seconds, latencies);
}

/**
 * The disk's own floor for the offered load: every `burstMs` one fs.writeSync of the whole burst
 * (all producers' records) and one fdatasyncSync; latency from the burst's tick to the sync's end.
 * The same warm-up as offeredLoad goes first.
 */
async function plainOfferedLoad(dir, { rate, warmupSeconds, seconds, size, burstMs = 10 }) {
  const perBurst = Math.max(1, Math.round((rate * burstMs) / 1000));
  const fd = openSync(join(dir, 'plain.log'), 'w');
  const buf = Buffer.alloc(perBurst * (size + 16), 0x62);
  const latencies = [];
  let pos = 0;
  let sent = 0;
  await everyBurst(warmupSeconds, seconds, burstMs, (measured) => {
    const s = process.hrtime.bigint();
    writeSync(fd, buf, 0, buf.length, pos);
    pos += buf.length;
    fdatasyncSync(fd);
    if (!measured) return;
    sent += perBurst;
    latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
  });
  closeSync(fd);
  return loadResult(sent, seconds, latencies);
}

/** Drops the page cache when allowed, so a scan reads the disk. */
function dropPageCache() {
  try {
    execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
  } catch {
    /* not permitted here: the scan may be served from the page cache */
  }
}

async function recoveryScan(path, gib, writerPath) {
  const dir = freshDir(`scan-${path}`);
  const wal = await openBackend(writerPath, dir);
  const record = new Uint8Array(64 * 1024 - 16).fill(0x63);
  const batch = Array.from({ length: 16 }, () => record);
  const total = Math.round(gib * 1024 * 1024 * 1024);
  const perBatch = batch.length * 64 * 1024;
  const inflight = new Set();
  for (let written = 0; written < total; written += perBatch) {
    const p = wal.append(batch).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 8) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await wal.close();
  // The open as it runs after a restart: headers of the sealed segments, records of the newest.
  dropPageCache();
  let t0 = process.hrtime.bigint();
  const quick = await openBackend(path, dir);
  const quickMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await quick.close();
  // A full scan of every record: the open without the recovery checkpoint.
  rmSync(join(dir, 'CHECKPOINT'), { force: true });
  dropPageCache();
  t0 = process.hrtime.bigint();
  const reopened = await openBackend(path, dir);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const scanned = reopened.recovery.bytesScanned;
  await reopened.close();
  removeDir(dir);
  return { bytes: scanned, seconds, mbPerSec: scanned / seconds / 1e6, checkpointOpenMs: quickMs };
}

/**
 * The disk alone, the native writer's way and with zero-filled extents: back-to-back cycles of one
 * write of `records` records of `size` bytes (as the WAL frames them) + fdatasync, each scaled to
 * records/s.
 */
async function diskCycles(records, size, seconds, path) {
  const { probeSync } = await import('../lib/transit/sync-probe.js');
  const { recordFootprint } = await import('../lib/transit/format.js');
  return inFreshDir('probe', async (dir) => {
    const results = await probeSync(dir, { modes: ['direct-preallocated', 'direct-zero-filled'], writeBytes: records * recordFootprint(size), seconds, path });
    return results
      .filter((r) => r.ran)
      .map((r) => ({
        mode: r.mode,
        recordsPerSec: r.cyclesPerSecond * records,
        mbPerSec: (r.cyclesPerSecond * records * size) / 1e6,
        meanGroupRecords: records,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
      }));
  });
}

/** The upper bound of the histogram bucket that holds the p-th percentile of fdatasync latency, ms. */
function syncPercentileMs(hist, p) {
  const total = hist.reduce((n, b) => n + b.count, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (const b of hist) {
    seen += b.count;
    if (seen >= (p / 100) * total) return b.le === null ? Infinity : b.le / 1000;
  }
  return Infinity;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Runs `fn` on a fresh WAL of `path` in a fresh folder, and adds the writer's fdatasync p99 bucket. */
function onFreshWal(label, path, fn) {
  return inFreshDir(`${label}-${path}`, async (dir) => {
    const wal = await openBackend(path, dir);
    try {
      const r = await fn(wal);
      return { ...r, syncP99Ms: syncPercentileMs(wal.stats().syncLatencyUs, 99) };
    } finally {
      await wal.close();
    }
  });
}

/** Runs `fn` on a fresh folder, then removes it. */
async function inFreshDir(label, fn) {
  const dir = freshDir(label);
  try {
    return await fn(dir);
  } finally {
    removeDir(dir);
  }
}

const CASES = {
  small: 'small appends: 64 producers x 16 x 200 B',
  bulk: 'bulk: 1 producer, 1024 x 200 B, 8 in flight',
  large: '64 KiB records: 16 per append, 8 in flight',
  load: 'offered 100k records/s, 10 producers, 10 ms bursts',
};

/** One round: the dd ceiling, then every case on every path, so the ratios compare one moment of the disk. */
async function round(paths, scale, scanGiB) {
  const rows = [];
  const dd = ddCeiling(quick ? 256 : 1024);
  const ofDd = (r) => ({ ...r, ofCeiling: (r.mbPerSec * 1e6) / dd.bytesPerSec });

  const small = { producers: 64, perProducer: Math.round(600 * scale), batch: 16, size: 200 };
  for (const path of paths) rows.push({ case: CASES.small, path, ...(await onFreshWal('small', path, (wal) => concurrentAppends(wal, small))) });
  const plainSmall = await inFreshDir('small-plain', (dir) => plainLoop(dir, { appends: Math.round(2000 * scale), batch: 16, size: 200 }));
  rows.push({ case: CASES.small, path: 'plain fs loop', ...plainSmall });
  for (const r of rows) r.xBaseline = r.recordsPerSec / plainSmall.recordsPerSec;
  // 64 producers x 16 records bound the records in flight to 1,024, so no writer can do better than
  // this disk's cycle of one 1,024-record write + fdatasync: the ceiling for this case.
  const groupCeiling = await inFreshDir('small-group', (dir) => plainLoop(dir, { appends: Math.round(600 * scale), batch: 1024, size: 200 }));
  rows.push({ case: CASES.small, path: 'plain fs loop (1024/fdatasync)', ...groupCeiling, xBaseline: groupCeiling.recordsPerSec / plainSmall.recordsPerSec });
  for (const r of rows) if (r.case === CASES.small) r.ofGroupCeiling = r.recordsPerSec / groupCeiling.recordsPerSec;
  // The same 1,024-record cycle, the way the native writer writes (native path only).
  if (paths.includes('native')) {
    const disk = await diskCycles(1024, 200, quick ? 0.5 : 2, 'native');
    for (const d of disk)
      rows.push({ case: CASES.small, path: `disk alone, ${d.mode} (1024/fdatasync)`, ...d, xBaseline: d.recordsPerSec / plainSmall.recordsPerSec });
    const direct = disk.find((d) => d.mode === 'direct-preallocated');
    if (direct) for (const r of rows) if (r.case === CASES.small) r.ofDiskCycle = r.recordsPerSec / direct.recordsPerSec;
  }

  const bulk = { producers: 1, perProducer: Math.round(2000 * scale), batch: 1024, size: 200, inFlight: 8 };
  for (const path of paths) rows.push({ case: CASES.bulk, path, ...ofDd(await onFreshWal('bulk', path, (wal) => concurrentAppends(wal, bulk))) });
  rows.push({
    case: CASES.bulk,
    path: 'plain fs loop (16384/fdatasync)',
    ...ofDd(await inFreshDir('bulk-plain', (dir) => plainLoop(dir, { appends: Math.round(200 * scale), batch: 16384, size: 200 }))),
  });

  const large = { producers: 1, perProducer: Math.round(400 * scale), batch: 16, size: 64 * 1024, inFlight: 8 };
  for (const path of paths) rows.push({ case: CASES.large, path, ...ofDd(await onFreshWal('large', path, (wal) => concurrentAppends(wal, large))) });
  rows.push({
    case: CASES.large,
    path: 'plain fs loop',
    ...ofDd(await inFreshDir('large-plain', (dir) => plainLoop(dir, { appends: Math.round(400 * scale), batch: 16, size: 64 * 1024 }))),
  });

  const load = { rate: 100_000, producers: 10, warmupSeconds: quick ? 0.5 : 1, seconds: quick ? 2 : 10, size: 200 };
  for (const path of paths) rows.push({ case: CASES.load, path, ...(await onFreshWal('load', path, (wal) => offeredLoad(wal, load))) });
  const plainLoad = await inFreshDir('load-plain', (dir) => plainOfferedLoad(dir, load));
  rows.push({ case: CASES.load, path: 'plain fs loop (1 write + fdatasync per burst)', ...plainLoad });
  if (paths.includes('native')) {
    // One burst's write + fdatasync, back to back, the native writer's way: the disk's share of an ack.
    const perBurst = Math.round((load.rate * 10) / 1000);
    for (const d of await diskCycles(perBurst, load.size, quick ? 0.5 : 2, 'native')) {
      rows.push({ case: CASES.load, path: `disk alone, ${d.mode} (1 burst/fdatasync)`, p50Ms: d.p50Ms, p99Ms: d.p99Ms });
    }
  }

  for (const path of paths) rows.push({ case: `recovery: full scan of a ${scanGiB} GiB log`, path, ...(await recoveryScan(path, scanGiB, paths[0])) });
  return { ddBytesPerSec: dd.bytesPerSec, dd: dd.raw ?? dd.note, rows };
}

const METRICS = [
  'recordsPerSec',
  'mbPerSec',
  'xBaseline',
  'ofCeiling',
  'ofGroupCeiling',
  'ofDiskCycle',
  'meanGroupRecords',
  'p50Ms',
  'p99Ms',
  'syncP99Ms',
  'checkpointOpenMs',
];

/** Per case and path: the median of each metric over the rounds, and the spread of records/s (or MB/s). */
function summarize(rounds) {
  const out = [];
  for (const first of rounds[0].rows) {
    const same = rounds.map((r) => r.rows.find((x) => x.case === first.case && x.path === first.path)).filter(Boolean);
    const row = { case: first.case, path: first.path, rounds: same.length, directIo: first.directIo };
    for (const m of METRICS) row[m] = median(same.map((x) => x[m]));
    const rate = same.map((x) => x.recordsPerSec ?? x.mbPerSec).filter((x) => x !== undefined);
    if (rate.length > 1) row.spread = [Math.min(...rate), Math.max(...rate)];
    out.push(row);
  }
  return out;
}

export async function run() {
  const { capabilities } = await import('../lib/capabilities.js');
  const caps = capabilities();
  const paths = caps.native ? ['native', 'typescript'] : ['typescript'];
  const scale = quick ? 0.2 : 1;
  const roundsArg = process.argv.indexOf('--rounds');
  const roundCount = Math.max(1, Number(roundsArg > 0 ? process.argv[roundsArg + 1] : (process.env.TAPIO_BENCH_ROUNDS ?? (quick ? 1 : 3))));
  const scanGiB = quick ? 0.25 : 1;
  const rounds = [];
  for (let i = 0; i < roundCount; i++) {
    const r = await round(paths, scale, scanGiB);
    console.log(`round ${i + 1}/${roundCount}: dd ceiling ${(r.ddBytesPerSec / 1e6).toFixed(0)} MB/s (${r.dd ?? ''})`);
    rounds.push(r);
  }
  const rows = summarize(rounds);
  const ms = (v) => (v === undefined ? '' : v === Infinity ? '>100' : v.toFixed(2));
  printTable(`Transit WAL: median of ${roundCount} round(s); each ratio is taken within its round, against the plain loop or that round's dd ceiling`, rows, [
    { label: 'case', get: (r) => r.case },
    { label: 'path', get: (r) => r.path },
    { label: 'records/s', get: (r) => (r.recordsPerSec ? Math.round(r.recordsPerSec).toLocaleString('en-US') : '') },
    { label: 'MB/s', get: (r) => (r.mbPerSec ? r.mbPerSec.toFixed(0) : '') },
    { label: 'x plain', get: (r) => (r.xBaseline ? r.xBaseline.toFixed(1) : '') },
    { label: '% of dd', get: (r) => (r.ofCeiling ? `${(r.ofCeiling * 100).toFixed(0)}%` : '') },
    { label: '% of 1024/sync', get: (r) => (r.ofGroupCeiling ? `${(r.ofGroupCeiling * 100).toFixed(0)}%` : '') },
    { label: '% of disk cycle', get: (r) => (r.ofDiskCycle ? `${(r.ofDiskCycle * 100).toFixed(0)}%` : '') },
    { label: 'group', get: (r) => (r.meanGroupRecords ? r.meanGroupRecords.toFixed(0) : '') },
    { label: 'ack p50 ms', get: (r) => ms(r.p50Ms) },
    { label: 'ack p99 ms', get: (r) => ms(r.p99Ms) },
    { label: 'fdatasync p99 <=', get: (r) => ms(r.syncP99Ms) },
    { label: 'open with checkpoint', get: (r) => (r.checkpointOpenMs !== undefined ? `${r.checkpointOpenMs.toFixed(0)} ms` : '') },
    { label: 'spread', get: (r) => (r.spread ? r.spread.map((v) => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(0))).join(' - ') : '') },
    { label: 'O_DIRECT', get: (r) => (r.directIo === undefined ? '' : r.directIo ? 'on' : 'off') },
  ]);
  const file = writeResult('transit', {
    capabilities: caps,
    quick,
    rounds: roundCount,
    ddCeilingBytesPerSec: rounds.map((r) => r.ddBytesPerSec),
    rows,
    perRound: rounds,
  });
  console.log(`written ${file}`);
  rmSync(benchRoot, { recursive: true, force: true });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
