// Transit WAL end to end: native writer, TypeScript twin and a plain fs loop (write + fdatasync
// per append) in one run, against the disk's ceiling (dd with oflag=direct in the same folder).
// `node bench/transit.mjs [--quick]`; writes bench/results/transit.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const quick = process.argv.includes('--quick') || process.env.TAPIO_BENCH_QUICK === '1';
const benchRoot = process.env.TAPIO_BENCH_DIR ?? join(process.cwd(), 'bench', '.scratch');

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function freshDir(label) {
  execFileSync('mkdir', ['-p', benchRoot]);
  return mkdtempSync(join(benchRoot, `${label}-`));
}

/** dd's O_DIRECT sequential write speed in the bench folder, bytes/s. */
function ddCeiling(mib) {
  const dir = freshDir('dd');
  // One run; dd prints its summary on stderr.
  const res = spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'dd.bin')}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fdatasync'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(dir, { recursive: true, force: true });
  if (res.error || res.status !== 0) return { bytesPerSec: NaN, note: `dd failed: ${res.error?.message ?? res.stderr}` };
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(res.stderr);
  return m ? { bytesPerSec: Number(m[1]) / Number(m[2]), raw: res.stderr.trim().split('\n').pop() } : { bytesPerSec: NaN, raw: res.stderr };
}

async function openBackend(path, dir, overrides = {}) {
  const { openWalBackend } = await import('../lib/transit/index.js');
  return openWalBackend({ dir, segmentSize: 64 << 20, ringCapacity: 64 << 20, directIo: 'auto', recovery: 'strict', maxGroupBytes: 4 << 20, ...overrides }, path);
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
  return { records: n, seconds, recordsPerSec: n / seconds, mbPerSec: (n * size) / seconds / 1e6, meanGroupRecords: batch, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), directIo: false };
}

/** Offered load: `rate` records/s from `producers`, in bursts every `burstMs`. */
async function offeredLoad(wal, { rate, producers, seconds, size, burstMs = 10 }) {
  const record = new Uint8Array(size).fill(0x62);
  const perBurst = Math.max(1, Math.round((rate * burstMs) / 1000 / producers));
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  const inflight = [];
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() >= end) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (let p = 0; p < producers; p++) {
        const s = process.hrtime.bigint();
        const batch = Array.from({ length: perBurst }, () => record);
        sent += perBurst;
        inflight.push(wal.append(batch).then(() => latencies.push(Number(process.hrtime.bigint() - s) / 1e6)));
      }
    }, burstMs);
  });
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { records: sent, recordsPerSec: sent / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), appends: latencies.length };
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
  // Drop the page cache when allowed, so the scan reads the disk.
  try {
    execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
  } catch {
    /* not permitted here: the scan may be served from the page cache */
  }
  const t0 = process.hrtime.bigint();
  const reopened = await openBackend(path, dir);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const scanned = reopened.recovery.bytesScanned;
  await reopened.close();
  rmSync(dir, { recursive: true, force: true });
  return { bytes: scanned, seconds, mbPerSec: scanned / seconds / 1e6 };
}

export async function run() {
  const { capabilities } = await import('../lib/capabilities.js');
  const caps = capabilities();
  const paths = caps.native ? ['native', 'typescript'] : ['typescript'];
  const scale = quick ? 0.2 : 1;
  const rows = [];
  const dd = ddCeiling(quick ? 256 : 1024);
  console.log(`disk ceiling (dd bs=1M oflag=direct): ${(dd.bytesPerSec / 1e6).toFixed(0)} MB/s  ${dd.raw ?? dd.note ?? ''}`);

  const small = { producers: 64, perProducer: Math.round(300 * scale), batch: 16, size: 200 };
  for (const path of paths) {
    const dir = freshDir(`small-${path}`);
    const wal = await openBackend(path, dir);
    rows.push({ case: 'small appends: 64 producers x 16 x 200 B', path, ...(await concurrentAppends(wal, small)) });
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = freshDir('small-plain');
    rows.push({ case: 'small appends: 64 producers x 16 x 200 B', path: 'plain fs loop', ...plainLoop(dir, { appends: Math.round(2000 * scale), batch: 16, size: 200 }) });
    rmSync(dir, { recursive: true, force: true });
  }

  const bulk = { producers: 1, perProducer: Math.round(2000 * scale), batch: 1024, size: 200, inFlight: 8 };
  for (const path of paths) {
    const dir = freshDir(`bulk-${path}`);
    const wal = await openBackend(path, dir);
    const r = await concurrentAppends(wal, bulk);
    rows.push({ case: 'bulk: 1 producer, 1024 x 200 B, 8 in flight', path, ...r, ofCeiling: (r.mbPerSec * 1e6) / dd.bytesPerSec });
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = freshDir('bulk-plain');
    const r = plainLoop(dir, { appends: Math.round(200 * scale), batch: 16384, size: 200 });
    rows.push({ case: 'bulk: 1 producer, 1024 x 200 B, 8 in flight', path: 'plain fs loop (16384/fdatasync)', ...r, ofCeiling: (r.mbPerSec * 1e6) / dd.bytesPerSec });
    rmSync(dir, { recursive: true, force: true });
  }

  const large = { producers: 1, perProducer: Math.round(400 * scale), batch: 16, size: 64 * 1024, inFlight: 8 };
  for (const path of paths) {
    const dir = freshDir(`large-${path}`);
    const wal = await openBackend(path, dir);
    const r = await concurrentAppends(wal, large);
    rows.push({ case: '64 KiB records: 16 per append, 8 in flight', path, ...r, ofCeiling: (r.mbPerSec * 1e6) / dd.bytesPerSec });
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = freshDir('large-plain');
    const r = plainLoop(dir, { appends: Math.round(400 * scale), batch: 16, size: 64 * 1024 });
    rows.push({ case: '64 KiB records: 16 per append, 8 in flight', path: 'plain fs loop', ...r, ofCeiling: (r.mbPerSec * 1e6) / dd.bytesPerSec });
    rmSync(dir, { recursive: true, force: true });
  }

  for (const path of paths) {
    const dir = freshDir(`load-${path}`);
    const wal = await openBackend(path, dir);
    rows.push({ case: 'offered 100k records/s, 10 producers, 10 ms bursts', path, ...(await offeredLoad(wal, { rate: 100_000, producers: 10, seconds: quick ? 2 : 5, size: 200 })) });
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }

  for (const path of paths) {
    rows.push({ case: `recovery scan of a ${quick ? '0.25' : '1'} GiB log`, path, ...(await recoveryScan(path, quick ? 0.25 : 1, paths[0])) });
  }

  const baseline = rows.find((r) => r.path === 'plain fs loop' && r.case.startsWith('small'));
  for (const r of rows) if (r.case.startsWith('small') && baseline) r.xBaseline = r.recordsPerSec / baseline.recordsPerSec;

  printTable('Transit WAL (one run; ratios against the plain loop or the dd ceiling)', rows, [
    { label: 'case', get: (r) => r.case },
    { label: 'path', get: (r) => r.path },
    { label: 'records/s', get: (r) => (r.recordsPerSec ? Math.round(r.recordsPerSec).toLocaleString('en-US') : '') },
    { label: 'MB/s', get: (r) => (r.mbPerSec ? r.mbPerSec.toFixed(0) : '') },
    { label: 'x plain', get: (r) => (r.xBaseline ? r.xBaseline.toFixed(1) : '') },
    { label: '% of dd', get: (r) => (r.ofCeiling ? `${(r.ofCeiling * 100).toFixed(0)}%` : '') },
    { label: 'group', get: (r) => (r.meanGroupRecords ? r.meanGroupRecords.toFixed(0) : '') },
    { label: 'p50 ms', get: (r) => (r.p50Ms !== undefined ? r.p50Ms.toFixed(2) : '') },
    { label: 'p99 ms', get: (r) => (r.p99Ms !== undefined ? r.p99Ms.toFixed(2) : '') },
    { label: 'O_DIRECT', get: (r) => (r.directIo === undefined ? '' : r.directIo ? 'on' : 'off') },
  ]);
  const file = writeResult('transit', { capabilities: caps, quick, ddCeilingBytesPerSec: dd.bytesPerSec, rows });
  console.log(`written ${file}`);
  rmSync(benchRoot, { recursive: true, force: true });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
