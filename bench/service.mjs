// The HTTP service end to end, as a user runs it: `tapio-storage serve` in a child process, load
// from this process over loopback with autocannon, in one run:
//   1. the ceiling: `transit.append` alone in this process (batches of 1,000 events of 200 bytes,
//      4, 16 and 64 appenders, on a store of its own while the server idles);
//   2. POST /v1/events of NDJSON, 1,000 Kubernetes-like events of 200 bytes a request, at 4, 16
//      and 64 connections (correlator off): events acknowledged per second, request latency,
//      refusals (429/503), against the ceiling. Steps 1 and 2 alternate in rounds (3 by default),
//      each concurrency in-process then over HTTP, so a ratio compares one moment of a shared
//      machine; medians of the rounds are reported;
//   3. the same ingest at 16 connections beside GET /v1/findings and POST /v1/findings/similar
//      (20,000 findings inserted first), against the queries alone;
//   4. a fresh server with the builtin correlator: 100,000 events/s offered (autocannon
//      overallRate) for 20 s beside the queries; the pipeline's lag (GET /readyz: transit lastSeq
//      minus pipeline position) over time, and how long it takes to catch up after;
//   5. GET /healthz, 50 requests/s from a process of its own, during every phase.
// The queries and /healthz run in child processes of their own (forks of this file), so the event
// loop that times them is not the one sending the ingest. The disk's ceiling (dd with
// oflag=direct, and the `wal test-sync` cycle of one request's 1,000 records) is there for context.
//
// `node bench/service.mjs [--quick] [--rounds N] [--cpu-prof DIR]` (`--cpu-prof` writes the
// servers' V8 CPU profiles to DIR); writes bench/results/service.json. Scratch data goes under
// bench/.scratch/ and is removed at the end.
import { execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { printTable, writeResult } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const scratchRoot = process.env.TAPIO_BENCH_DIR ?? join(here, '.scratch');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const quick = flag('--quick') || process.env.TAPIO_BENCH_QUICK === '1';

const EVENT_BYTES = 200;
const BATCH = 1000;
const CONNECTIONS = [4, 16, 64];
const TARGET_EVENTS_PER_SEC = 300_000;
const TARGET_OF_CEILING = 0.5;
const TARGET_HEALTHZ_P99_MS = 25;
const PIPELINE_RATE = 100_000;
const HEALTHZ_RATE = 50;
/** Queries per second beside the pipeline (findings, similar): a few dashboards, not a flood. */
const PIPELINE_QUERY_RATES = [10, 2];
/**
 * The pipeline keeps up when its lag grows by less than this share of the offered rate over the
 * second half of the run (it keeps pace), and it is caught up this many seconds after the ingest.
 */
const KEEP_UP_GROWTH = 0.05;
const CATCH_UP_SECONDS = 5;

const T = quick
  ? { appendSeconds: 1, rounds: 1, warmup: 1, ingest: 2, findings: 5_000, queriesAlone: 2, mixed: 3, pipeline: 8, catchUp: 30, idle: 1 }
  : { appendSeconds: 2, rounds: 3, warmup: 1, ingest: 4, findings: 20_000, queriesAlone: 3, mixed: 6, pipeline: 20, catchUp: 60, idle: 2 };
T.rounds = Number(option('--rounds', T.rounds));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

// ---------------------------------------------------------------------------------------------
// Events

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KINDS = [
  ['probe_failed', 0.4, 'Readiness probe failed: HTTP probe failed with statuscode: 503'],
  ['network_error', 0.25, 'dial tcp 10.96.0.10:53: i/o timeout'],
  ['pod_restart', 0.25, 'Back-off restarting failed container'],
  ['oom_killed', 0.1, 'Container exceeded its memory limit'],
];
const NAMESPACES = ['payments', 'checkout', 'search', 'auth', 'ledger', 'catalog', 'ingest', 'notify', 'billing', 'gateway', 'reports', 'kube-system'];

/**
 * `count` event lines of exactly EVENT_BYTES bytes of JSON each, timestamps within the minute
 * before `now`, in time order: 60 nodes, 12 namespaces, a few thousand pods.
 */
function eventLines(count, seed, now = Date.now()) {
  const rand = prng(seed);
  const lines = [];
  const times = Array.from({ length: count }, () => now - Math.floor(rand() * 60_000)).sort((a, b) => a - b);
  for (let i = 0; i < count; i++) {
    let r = rand();
    let k = KINDS[0];
    for (const c of KINDS) {
      if (r < c[1]) {
        k = c;
        break;
      }
      r -= c[1];
    }
    const ns = NAMESPACES[Math.floor(rand() * NAMESPACES.length)];
    const replica = Math.floor(rand() * 400)
      .toString(36)
      .padStart(2, '0');
    const event = {
      kind: k[0],
      node: `ip-10-0-${Math.floor(rand() * 4)}-${10 + Math.floor(rand() * 15)}.ec2.internal`,
      namespace: ns,
      pod: `${ns}-api-7f9c6d5b8-${replica}`,
      timestamp: new Date(times[i]).toISOString(),
      message: '',
    };
    const bare = Buffer.byteLength(JSON.stringify(event));
    if (bare > EVENT_BYTES) throw new Error(`an event is ${bare} bytes before padding`);
    event.message = k[2].padEnd(EVENT_BYTES - bare, '.').slice(0, EVENT_BYTES - bare);
    const line = JSON.stringify(event);
    if (Buffer.byteLength(line) !== EVENT_BYTES) throw new Error(`an event is ${Buffer.byteLength(line)} bytes, not ${EVENT_BYTES}`);
    lines.push(line);
  }
  return lines;
}

/** `n` NDJSON request bodies of BATCH events each. */
function requestBodies(n, seed) {
  return Array.from({ length: n }, (_, i) => Buffer.from(`${eventLines(BATCH, seed + i).join('\n')}\n`));
}

// ---------------------------------------------------------------------------------------------
// Scratch directories, the disk

function freshDir(label) {
  mkdirSync(scratchRoot, { recursive: true });
  return mkdtempSync(join(scratchRoot, `service-${label}-`));
}

/** Removes a folder and lets the file system finish with it before the next case starts. */
function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** dd's O_DIRECT sequential write speed in the bench folder, bytes/s (as bench/transit.mjs measures it). */
function ddCeiling(mib) {
  const dir = freshDir('dd');
  const res = spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'dd.bin')}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fdatasync'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  removeDir(dir);
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(res.stderr ?? '');
  return m ? Number(m[1]) / Number(m[2]) : NaN;
}

/** The `wal test-sync` cycle: one write of a request's records as the WAL frames them + fdatasync, back to back. */
async function syncCycle(seconds) {
  const { probeSync } = await import('../lib/transit/sync-probe.js');
  const { recordFootprint } = await import('../lib/transit/format.js');
  const dir = freshDir('probe');
  try {
    const [r] = await probeSync(dir, { modes: ['direct-preallocated'], writeBytes: BATCH * recordFootprint(EVENT_BYTES), seconds });
    return r?.ran ? { cyclesPerSec: r.cyclesPerSecond, eventsPerSec: r.cyclesPerSecond * BATCH, p50Ms: r.p50Ms, p99Ms: r.p99Ms } : null;
  } finally {
    removeDir(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU of the server process (from /proc: all threads, and the main thread alone)

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* keep 100 */
}

function cpuSeconds(statPath) {
  try {
    const text = readFileSync(statPath, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks; // utime, stime
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine (every process, other jobs' too), from /proc/stat. */
function machineJiffies() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/**
 * CPU seconds so far of the server (all threads, and its main thread: the event loop), of the
 * load generators (this process and the client processes) and of the whole machine.
 */
function cpuSample(pid, clientPids = []) {
  const own = process.cpuUsage();
  return {
    at: performance.now(),
    total: cpuSeconds(`/proc/${pid}/stat`),
    main: cpuSeconds(`/proc/${pid}/task/${pid}/stat`),
    load: (own.user + own.system) / 1e6 + clientPids.reduce((a, p) => a + cpuSeconds(`/proc/${p}/stat`), 0),
    machine: machineJiffies(),
  };
}

/** Cores used between two samples: the server, its main thread, the load generators, the machine. */
function coresBetween(a, b) {
  const s = (b.at - a.at) / 1000;
  const cpus = b.machine.total - a.machine.total;
  const out = {
    serverCores: (b.total - a.total) / s,
    serverMainCores: (b.main - a.main) / s,
    loadGenCores: (b.load - a.load) / s,
    machineBusyCores: cpus > 0 ? ((b.machine.busy - a.machine.busy) / cpus) * os.cpus().length : NaN,
  };
  out.otherCores = out.machineBusyCores - out.serverCores - out.loadGenCores;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The server, in a child process as a user starts it

async function startServer(dataDir, correlator, profileDir) {
  const args = [];
  if (profileDir) args.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  args.push(join(root, 'lib', 'cli', 'main.js'), '--data-dir', dataDir, 'serve', '--port', '0', '--correlator', correlator);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise((resolveUrl, reject) => {
    const onData = (d) => {
      out += d;
      const m = /serving .* on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolveUrl(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening:\n${out}\n${err}`)));
  });
  const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  return {
    child,
    url,
    key,
    pid: child.pid,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Load generators

let autocannonModule;
async function autocannon(opts) {
  autocannonModule ??= (await import('autocannon')).default;
  return autocannonModule(opts);
}

/** What one autocannon run came to: acknowledged requests, refusals by status, latency. */
function summarize(result) {
  const codes = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) codes[code] = Number(v.count);
  const ok = Object.entries(codes)
    .filter(([c]) => c.startsWith('2'))
    .reduce((n, [, v]) => n + v, 0);
  return {
    seconds: result.duration,
    ok,
    non2xx: result.non2xx,
    codes,
    errors: result.errors,
    timeouts: result.timeouts,
    okPerSec: ok / result.duration,
    perSecondMedian: result.requests.p50,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
  };
}

function ingestOptions(server, bodies, extra) {
  return {
    url: `${server.url}/v1/events`,
    method: 'POST',
    headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/x-ndjson' },
    requests: bodies.map((body) => ({ body })),
    timeout: 60,
    ...extra,
  };
}

/** POST /v1/events at `connections` for `seconds` after a warm-up; one row. */
async function ingest(server, bodies, connections, seconds, warmupSeconds) {
  const opts = ingestOptions(server, bodies, { connections, duration: seconds });
  if (warmupSeconds > 0) opts.warmup = { connections, duration: warmupSeconds };
  const result = await autocannon(opts);
  const s = summarize(result);
  return { ...s, eventsPerSec: s.okPerSec * BATCH, eventsPerSecMedian: s.perSecondMedian * BATCH };
}

/**
 * A process of its own that runs autocannon instances on request: `start(name, opts)` starts
 * one (no fixed duration), `stop(name)` stops it and resolves its summary.
 */
function clientProcess(label) {
  const child = fork(fileURLToPath(import.meta.url), ['--client', label], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  child.on('message', (m) => {
    const w = waiting.get(m.name);
    if (!w) return;
    waiting.delete(m.name);
    if (m.error) w.reject(new Error(`${label} client, ${m.name}: ${m.error}`));
    else w.resolve(m.summary);
  });
  return {
    pid: child.pid,
    start(name, opts) {
      child.send({ cmd: 'start', name, opts });
    },
    stop(name) {
      return new Promise((resolveStop, reject) => {
        waiting.set(name, { resolve: resolveStop, reject });
        child.send({ cmd: 'stop', name });
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ cmd: 'exit' });
      await exited;
    },
  };
}

/** The child's side of clientProcess. */
async function clientMain() {
  const running = new Map();
  process.on('message', async (m) => {
    if (m.cmd === 'exit') {
      for (const r of running.values()) r.instance.stop();
      process.disconnect();
      return;
    }
    if (m.cmd === 'start') {
      const ac = (await import('autocannon')).default;
      const entry = {};
      entry.done = new Promise((resolveDone) => {
        entry.instance = ac({ duration: 3600, timeout: 60, ...m.opts }, (err, result) => resolveDone({ err, result }));
      });
      running.set(m.name, entry);
      return;
    }
    if (m.cmd === 'stop') {
      const entry = running.get(m.name);
      running.delete(m.name);
      if (!entry) {
        process.send({ name: m.name, error: 'not running' });
        return;
      }
      entry.instance.stop();
      const { err, result } = await entry.done;
      if (err) process.send({ name: m.name, error: err.message });
      else process.send({ name: m.name, summary: summarize(result) });
    }
  });
}

function healthzOptions(server) {
  return { url: `${server.url}/healthz`, connections: 2, overallRate: HEALTHZ_RATE };
}

/**
 * The two queries: `connections` each, back to back (closed loop), or at `rates` ([findings,
 * similar] per second) when given.
 */
function queryOptions(server, embedding, connections, rates) {
  const auth = { authorization: `Bearer ${server.key}` };
  return {
    findings: { url: `${server.url}/v1/findings?since=1h&limit=100`, headers: auth, connections, ...(rates ? { overallRate: rates[0] } : {}) },
    similar: {
      url: `${server.url}/v1/findings/similar`,
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ embedding, k: 10, since: '24h' }),
      connections,
      ...(rates ? { overallRate: rates[1] } : {}),
    },
  };
}

/** Runs `fn` while /healthz is probed (and the server's CPU sampled); returns fn's result, the probe's and the cores used. */
async function phase(name, ctx, fn) {
  ctx.healthz.start(name, healthzOptions(ctx.server));
  const pids = [ctx.healthz.pid, ctx.queries.pid];
  const before = cpuSample(ctx.server.pid, pids);
  const out = await fn();
  const after = cpuSample(ctx.server.pid, pids);
  const healthz = await ctx.healthz.stop(name);
  ctx.healthzRows.push({ phase: name, ...healthz });
  return { out, healthz, cpu: coresBetween(before, after) };
}

async function getJson(server, path, init = {}) {
  const res = await fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${server.key}`, ...(init.headers ?? {}) } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function metricValue(server, name) {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.key}` } });
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// 1. transit.append alone

/** `appenders` loops, each awaiting `transit.append` of BATCH records, for `seconds`. */
async function appendFor(transit, records, appenders, seconds) {
  let batches = 0;
  const latencies = [];
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: appenders }, async (_, i) => {
      let k = i;
      while (performance.now() < until) {
        const s = performance.now();
        await transit.append(records[k++ % records.length]);
        latencies.push(performance.now() - s);
        batches++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { eventsPerSec: (batches * BATCH) / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** The same bytes as the HTTP requests carry, one Buffer per event. */
function recordsOf(bodies) {
  return bodies.map((b) =>
    b
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => Buffer.from(l)),
  );
}

/** Per concurrency: the median over the rounds of each field, and the spread of events/s. */
function medianRows(perRound, key) {
  return CONNECTIONS.map((c) => {
    const rows = perRound.map((r) => r.find((x) => x[key] === c));
    const out = { [key]: c, rounds: rows.length };
    for (const f of Object.keys(rows[0])) {
      if (f === key) continue;
      const values = rows.map((x) => x[f]);
      if (f === 'codes') {
        out.codes = {};
        for (const v of values) for (const [code, count] of Object.entries(v)) out.codes[code] = (out.codes[code] ?? 0) + count;
      } else if (['ok', 'non2xx', 'errors', 'timeouts'].includes(f)) out[f] = values.reduce((a, v) => a + v, 0);
      else out[f] = typeof values[0] === 'number' ? median(values) : values[0];
    }
    out.spread = [Math.min(...rows.map((x) => x.eventsPerSec)), Math.max(...rows.map((x) => x.eventsPerSec))];
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// 3. Findings for the queries

async function insertFindings(server, count, dim) {
  const { FindingGenerator } = await import('../lib/correlations/generator.js');
  // Spread over the 50 minutes before now, so `since=1h` and `since=24h` see all of them.
  const gen = new FindingGenerator({ seed: 7, embeddingDim: dim, start: Date.now() - 50 * 60_000, ratePerSecond: count / 3000 });
  let embedding;
  for (let done = 0; done < count; done += BATCH) {
    const findings = gen.next(Math.min(BATCH, count - done)).map((f) => {
      const out = { ...f, embedding: Array.from(f.embedding) };
      if (f.pattern !== undefined) out.pattern = Buffer.from(f.pattern).toString('base64');
      return out;
    });
    embedding ??= findings[17].embedding;
    await getJson(server, '/v1/findings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(findings) });
  }
  return embedding;
}

// ---------------------------------------------------------------------------------------------
// 4. The pipeline's lag

async function readyz(server) {
  const res = await fetch(`${server.url}/readyz`);
  const r = await res.json();
  return { lastSeq: r.transit.lastSeq, position: r.pipeline?.position ?? 0, state: r.pipeline?.state };
}

/** Samples /readyz every `everyMs` until `stop()` is called; the samples carry the lag in events. */
function lagSampler(server, everyMs) {
  const samples = [];
  const t0 = performance.now();
  let stopped = false;
  const now = () => (performance.now() - t0) / 1000;
  const loop = (async () => {
    while (!stopped) {
      const r = await readyz(server);
      samples.push({ t: (performance.now() - t0) / 1000, ...r, lag: Math.max(0, r.lastSeq - r.position) });
      await sleep(everyMs);
    }
  })();
  return {
    samples,
    now,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------

export async function run() {
  const { capabilities } = await import('../lib/index.js');
  const caps = capabilities();
  const profileDir = option('--cpu-prof') ? resolve(option('--cpu-prof')) : undefined;
  const started = performance.now();
  const loadStart = os.loadavg();
  const source = sourceState();
  const bodies = requestBodies(16, 1);

  // The disk, for context.
  const ddBytesPerSec = ddCeiling(quick ? 128 : 256);
  const cycle = await syncCycle(quick ? 0.5 : 1);
  const { recordFootprint } = await import('../lib/transit/format.js');
  const disk = { ddBytesPerSec, ddEventsPerSec: ddBytesPerSec / recordFootprint(EVENT_BYTES), syncCycle: cycle };
  console.log(
    `disk: dd oflag=direct ${(ddBytesPerSec / 1e6).toFixed(0)} MB/s (= ${Math.round(disk.ddEventsPerSec).toLocaleString('en-US')} events/s of ${recordFootprint(EVENT_BYTES)} B framed)` +
      (cycle ? `; write of ${BATCH} records + fdatasync: ${cycle.cyclesPerSec.toFixed(0)}/s, p99 ${cycle.p99Ms.toFixed(2)} ms` : ''),
  );

  // 1-2. Rounds: in each, transit.append alone in this process (a fresh store; the server idles),
  // then the same concurrency over HTTP against the server; ratios are taken within a round.
  const { TapioStorage } = await import('../lib/index.js');
  const records = recordsOf(bodies);
  const healthzRows = [];
  const healthz = clientProcess('healthz');
  const queries = clientProcess('queries');
  const appendRounds = [];
  const ingestRounds = [];
  let ceilingRows;
  let ceiling;
  let ingestRows;
  let mixed;
  let pipeline;
  const dim = 128;
  try {
    const dataA = freshDir('serve');
    const serverA = await startServer(dataA, 'none', profileDir);
    const ctx = { server: serverA, healthz, queries, healthzRows };
    try {
      // The server's first requests compile its code; the idle phase comes after them.
      healthz.start('warm-up', healthzOptions(serverA));
      await sleep(1000);
      await healthz.stop('warm-up');
      await phase('idle', ctx, () => sleep(T.idle * 1000));
      for (let round = 0; round < T.rounds; round++) {
        const dir = freshDir('append');
        const storage = await TapioStorage.open({ dataDir: dir });
        const appendRows = [];
        const ingestRow = [];
        try {
          await appendFor(storage.transit, records, 4, 0.5); // warm-up
          for (const c of CONNECTIONS) {
            const alone = await appendFor(storage.transit, records, c, T.appendSeconds);
            appendRows.push({ appenders: c, ...alone });
            const r = await phase(`ingest, ${c} connections`, ctx, () => ingest(serverA, bodies, c, T.ingest, T.warmup));
            ingestRow.push({ connections: c, ...r.out, ofSameConcurrency: r.out.eventsPerSec / alone.eventsPerSec, healthzP99Ms: r.healthz.p99Ms, ...r.cpu });
            console.log(
              `round ${round + 1}/${T.rounds}, ${c}: transit.append alone ${n(alone.eventsPerSec)} events/s; POST /v1/events ${n(r.out.eventsPerSec)} events/s, p99 ${r.out.p99Ms} ms, non-2xx ${r.out.non2xx}`,
            );
          }
        } finally {
          await storage.close();
          removeDir(dir);
        }
        const best = Math.max(...appendRows.map((x) => x.eventsPerSec));
        for (const x of appendRows) x.ofCeiling = x.eventsPerSec / best;
        for (const x of ingestRow) x.ofCeiling = x.eventsPerSec / best;
        appendRounds.push(appendRows);
        ingestRounds.push(ingestRow);
      }
      ceilingRows = medianRows(appendRounds, 'appenders');
      ceiling = Math.max(...ceilingRows.map((r) => r.eventsPerSec));
      ingestRows = medianRows(ingestRounds, 'connections');

      // 3. Mixed: findings first, then the queries alone, then with the ingest beside them.
      const embedding = await insertFindings(serverA, T.findings, dim);
      const q = queryOptions(serverA, embedding, 2);
      const alone = await phase('queries alone', ctx, async () => {
        queries.start('a-findings', q.findings);
        queries.start('a-similar', q.similar);
        await sleep(T.queriesAlone * 1000);
        return { findings: await queries.stop('a-findings'), similar: await queries.stop('a-similar') };
      });
      const both = await phase('ingest, 16 connections + queries', ctx, async () => {
        queries.start('m-findings', q.findings);
        queries.start('m-similar', q.similar);
        const ing = await ingest(serverA, bodies, 16, T.mixed, 0);
        return { ingest: ing, findings: await queries.stop('m-findings'), similar: await queries.stop('m-similar') };
      });
      const c16 = ingestRows.find((r) => r.connections === 16);
      mixed = {
        findings: T.findings,
        queriesAlone: { findings: alone.out.findings, similar: alone.out.similar, ...alone.cpu },
        withIngest: { ingest: both.out.ingest, findings: both.out.findings, similar: both.out.similar, ...both.cpu },
        ingestOfAlone: both.out.ingest.eventsPerSec / c16.eventsPerSec,
        ingestOfCeiling: both.out.ingest.eventsPerSec / ceiling,
        healthzP99Ms: both.healthz.p99Ms,
      };
      console.log(
        `mixed: ingest ${Math.round(both.out.ingest.eventsPerSec).toLocaleString('en-US')} events/s; query p99 ${both.out.findings.p99Ms} ms (alone ${alone.out.findings.p99Ms}), similar p99 ${both.out.similar.p99Ms} ms (alone ${alone.out.similar.p99Ms})`,
      );
    } finally {
      await serverA.stop();
      removeDir(dataA);
    }

    // 4. A fresh server with the builtin correlator, paced ingest, queries beside it.
    const dataB = freshDir('pipeline');
    const serverB = await startServer(dataB, 'builtin', profileDir);
    ctx.server = serverB;
    try {
      // Timestamps of now, so the findings fall within the queries' ranges.
      const paced = requestBodies(16, 101);
      const embedding = await insertFindings(serverB, 2_000, dim);
      const q = queryOptions(serverB, embedding, 2, PIPELINE_QUERY_RATES);
      const sampler = lagSampler(serverB, 250);
      let endOfIngest = 0;
      const findingsBefore = (await metricValue(serverB, 'tapio_pipeline_findings_total')) ?? 0;
      const r = await phase(`ingest ${PIPELINE_RATE.toLocaleString('en-US')}/s offered + pipeline + queries`, ctx, async () => {
        queries.start('p-findings', q.findings);
        queries.start('p-similar', q.similar);
        const result = await autocannon(ingestOptions(serverB, paced, { connections: 16, duration: T.pipeline, overallRate: PIPELINE_RATE / BATCH }));
        endOfIngest = sampler.now();
        return { ingest: summarize(result), findings: await queries.stop('p-findings'), similar: await queries.stop('p-similar') };
      });
      const atEnd = await readyz(serverB);
      const t0 = performance.now();
      let caughtUpAfter;
      while (performance.now() - t0 < T.catchUp * 1000) {
        const now = await readyz(serverB);
        if (now.position >= atEnd.lastSeq) {
          caughtUpAfter = (performance.now() - t0) / 1000;
          break;
        }
        await sleep(50);
      }
      await sampler.stop();
      const during = sampler.samples.filter((s) => s.t <= endOfIngest);
      const lags = during.map((s) => s.lag);
      const late = during.filter((s) => s.t > endOfIngest / 2);
      const secondHalf = late.map((s) => s.lag);
      // Least squares over the second half: how fast the lag grows (events/s); about 0 when the
      // pipeline keeps pace, whatever backlog the start left.
      const mt = late.reduce((a, s) => a + s.t, 0) / late.length;
      const ml = late.reduce((a, s) => a + s.lag, 0) / late.length;
      const slope = late.reduce((a, s) => a + (s.t - mt) * (s.lag - ml), 0) / late.reduce((a, s) => a + (s.t - mt) ** 2, 0);
      // The lag at each second of the run (the last sample in each second).
      const series = [];
      for (const s of during) series[Math.floor(s.t)] = s.lag;
      const findingsStored = ((await metricValue(serverB, 'tapio_pipeline_findings_total')) ?? 0) - findingsBefore;
      const ing = { ...r.out.ingest, eventsPerSec: r.out.ingest.okPerSec * BATCH };
      const lagAtEnd = Math.max(0, atEnd.lastSeq - atEnd.position);
      pipeline = {
        offeredEventsPerSec: PIPELINE_RATE,
        ingest: ing,
        findings: r.out.findings,
        similar: r.out.similar,
        lagP50: percentile(lags, 50),
        lagP99: percentile(lags, 99),
        lagMax: Math.max(0, ...lags),
        lagSecondHalfMedian: median(secondHalf),
        lagGrowthPerSec: slope,
        lagAtEnd,
        caughtUpAfterSeconds: caughtUpAfter,
        behindSeconds: median(secondHalf) / PIPELINE_RATE,
        keepsUp: slope <= KEEP_UP_GROWTH * PIPELINE_RATE && caughtUpAfter !== undefined && caughtUpAfter <= CATCH_UP_SECONDS,
        lagPerSecond: Array.from(series, (v) => v ?? null),
        findingsStored,
        healthzP99Ms: r.healthz.p99Ms,
        ...r.cpu,
      };
      console.log(
        `pipeline: ${Math.round(ing.eventsPerSec).toLocaleString('en-US')} events/s acknowledged; lag p50 ${pipeline.lagP50} / max ${pipeline.lagMax} events, growing ${Math.round(slope)}/s, ${lagAtEnd} at the end, caught up ${caughtUpAfter === undefined ? `not within ${T.catchUp} s` : `after ${caughtUpAfter.toFixed(2)} s`}`,
      );
    } finally {
      await serverB.stop();
      removeDir(dataB);
    }
  } finally {
    await healthz.close();
    await queries.close();
  }
  try {
    if (existsSync(scratchRoot) && readdirSync(scratchRoot).length === 0) rmdirSync(scratchRoot);
  } catch {
    /* another bench's scratch data is there */
  }

  print({ disk, ceilingRows, ceiling, ingestRows, mixed, pipeline, healthzRows });
  const file = writeResult('service', {
    capabilities: caps,
    source,
    quick,
    rounds: T.rounds,
    seconds: T,
    eventBytes: EVENT_BYTES,
    eventsPerRequest: BATCH,
    targets: { eventsPerSec: TARGET_EVENTS_PER_SEC, ofCeiling: TARGET_OF_CEILING, healthzP99Ms: TARGET_HEALTHZ_P99_MS },
    disk,
    ceiling: { eventsPerSec: ceiling, rows: ceilingRows },
    ingest: ingestRows,
    perRound: { append: appendRounds, ingest: ingestRounds },
    mixed,
    pipeline,
    healthz: healthzByPhase(healthzRows),
    healthzPerRound: healthzRows,
    loadAverage: { start: loadStart, end: os.loadavg() },
    wallSeconds: (performance.now() - started) / 1000,
    profileDir,
  });
  console.log(`written ${file} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  return { ingestRows, mixed, pipeline, healthzRows };
}

/** The commit the run's lib/ was built from, and the source files that differed from it. */
function sourceState() {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const changed = git('status', '--porcelain', '--', 'src', 'native');
  return { commit: git('rev-parse', 'HEAD'), changed: changed ? changed.split('\n') : [] };
}

// ---------------------------------------------------------------------------------------------
// The table

const n = (v) => (v === undefined || !Number.isFinite(v) ? '' : Math.round(v).toLocaleString('en-US'));
const ms = (v) => (v === undefined || !Number.isFinite(v) ? '' : String(v));
const pct = (v) => (v === undefined || !Number.isFinite(v) ? '' : `${(v * 100).toFixed(0)}%`);
const cores = (r) => (r?.serverCores === undefined ? '' : `${r.serverCores.toFixed(2)} (${r.serverMainCores.toFixed(2)})`);
const loadCores = (r) => (r?.loadGenCores === undefined ? '' : `${r.loadGenCores.toFixed(2)} / ${Math.max(0, r.otherCores).toFixed(2)}`);
const refusals = (r) =>
  r.non2xx
    ? Object.entries(r.codes)
        .filter(([c]) => !c.startsWith('2'))
        .map(([c, v]) => `${v}x${c}`)
        .join(' ')
    : '0';
const verdict = (ok) => (ok ? 'met' : 'MISSED');

function print({ disk, ceilingRows, ceiling, ingestRows, mixed, pipeline, healthzRows }) {
  const rows = [];
  rows.push({ case: 'disk: dd oflag=direct (events of 216 B framed)', rate: n(disk.ddEventsPerSec) });
  if (disk.syncCycle)
    rows.push({
      case: `disk: write of ${BATCH} records + fdatasync, back to back`,
      rate: n(disk.syncCycle.eventsPerSec),
      p50: disk.syncCycle.p50Ms.toFixed(2),
      p99: disk.syncCycle.p99Ms.toFixed(2),
    });
  for (const r of ceilingRows)
    rows.push({
      case: `transit.append alone, ${r.appenders} appenders x ${BATCH}`,
      rate: n(r.eventsPerSec),
      p50: r.p50Ms.toFixed(2),
      p99: r.p99Ms.toFixed(2),
      ofCeiling: pct(r.ofCeiling),
      note: `rounds ${n(r.spread[0])} - ${n(r.spread[1])}`,
    });
  for (const r of ingestRows)
    rows.push({
      case: `POST /v1/events, ${r.connections} connections`,
      rate: n(r.eventsPerSec),
      median: n(r.eventsPerSecMedian),
      p50: ms(r.p50Ms),
      p99: ms(r.p99Ms),
      refused: refusals(r),
      ofCeiling: pct(r.ofCeiling),
      ofSame: pct(r.ofSameConcurrency),
      note: `rounds ${n(r.spread[0])} - ${n(r.spread[1])}`,
      cores: cores(r),
      load: loadCores(r),
      healthz: ms(r.healthzP99Ms),
    });
  if (mixed) {
    const a = mixed.queriesAlone;
    const w = mixed.withIngest;
    rows.push({
      case: 'GET /v1/findings?since=1h&limit=100, 2 conn., alone',
      rate: n(a.findings.okPerSec),
      p50: ms(a.findings.p50Ms),
      p99: ms(a.findings.p99Ms),
      refused: refusals(a.findings),
      cores: cores(a),
      load: loadCores(a),
    });
    rows.push({
      case: 'POST /v1/findings/similar k=10 24h, 2 conn., alone',
      rate: n(a.similar.okPerSec),
      p50: ms(a.similar.p50Ms),
      p99: ms(a.similar.p99Ms),
      refused: refusals(a.similar),
    });
    rows.push({
      case: 'mixed: POST /v1/events, 16 connections',
      rate: n(w.ingest.eventsPerSec),
      median: n(w.ingest.eventsPerSecMedian),
      p50: ms(w.ingest.p50Ms),
      p99: ms(w.ingest.p99Ms),
      refused: refusals(w.ingest),
      ofCeiling: pct(mixed.ingestOfCeiling),
      ofSame: `${pct(mixed.ingestOfAlone)} of ingest alone`,
      cores: cores(w),
      load: loadCores(w),
      healthz: ms(mixed.healthzP99Ms),
    });
    rows.push({
      case: 'mixed: GET /v1/findings (queries/s)',
      rate: n(w.findings.okPerSec),
      p50: ms(w.findings.p50Ms),
      p99: ms(w.findings.p99Ms),
      refused: refusals(w.findings),
    });
    rows.push({
      case: 'mixed: POST /v1/findings/similar (queries/s)',
      rate: n(w.similar.okPerSec),
      p50: ms(w.similar.p50Ms),
      p99: ms(w.similar.p99Ms),
      refused: refusals(w.similar),
    });
  }
  if (pipeline) {
    rows.push({
      case: `pipeline: ${n(pipeline.offeredEventsPerSec)} events/s offered, builtin correlator`,
      rate: n(pipeline.ingest.eventsPerSec),
      p50: ms(pipeline.ingest.p50Ms),
      p99: ms(pipeline.ingest.p99Ms),
      refused: refusals(pipeline.ingest),
      cores: cores(pipeline),
      load: loadCores(pipeline),
      healthz: ms(pipeline.healthzP99Ms),
      note: `lag p50 ${n(pipeline.lagP50)}, 2nd half ${n(pipeline.lagSecondHalfMedian)} (${pipeline.behindSeconds.toFixed(1)} s), max ${n(pipeline.lagMax)}, end ${n(pipeline.lagAtEnd)} events (2nd half growing ${n(pipeline.lagGrowthPerSec)}/s); caught up ${pipeline.caughtUpAfterSeconds === undefined ? 'never' : `in ${pipeline.caughtUpAfterSeconds.toFixed(2)} s`}; ${n(pipeline.findingsStored)} findings`,
    });
    rows.push({
      case: `pipeline: GET /v1/findings at ${PIPELINE_QUERY_RATES[0]}/s`,
      rate: n(pipeline.findings.okPerSec),
      p50: ms(pipeline.findings.p50Ms),
      p99: ms(pipeline.findings.p99Ms),
      refused: refusals(pipeline.findings),
    });
    rows.push({
      case: `pipeline: POST /v1/findings/similar at ${PIPELINE_QUERY_RATES[1]}/s`,
      rate: n(pipeline.similar.okPerSec),
      p50: ms(pipeline.similar.p50Ms),
      p99: ms(pipeline.similar.p99Ms),
      refused: refusals(pipeline.similar),
    });
  }
  printTable(
    `HTTP service (server in a child process, loopback, ${EVENT_BYTES}-byte events, ${BATCH} per request); ceiling = transit.append alone at its best (${n(ceiling)} events/s)`,
    rows,
    [
      { label: 'case', get: (r) => r.case },
      { label: 'events/s or req/s', get: (r) => r.rate ?? '' },
      { label: 'per-second median', get: (r) => r.median ?? '' },
      { label: 'p50 ms', get: (r) => r.p50 ?? '' },
      { label: 'p99 ms', get: (r) => r.p99 ?? '' },
      { label: 'non-2xx', get: (r) => r.refused ?? '' },
      { label: 'x ceiling', get: (r) => r.ofCeiling ?? '' },
      { label: 'x same concurrency', get: (r) => r.ofSame ?? '' },
      { label: 'server cores (main thread)', get: (r) => r.cores ?? '' },
      { label: 'load gen / other work cores', get: (r) => r.load ?? '' },
      { label: '/healthz p99 ms', get: (r) => r.healthz ?? '' },
      { label: 'note', get: (r) => r.note ?? '' },
    ],
  );
  const byPhase = healthzByPhase(healthzRows);
  printTable(`GET /healthz, ${HEALTHZ_RATE}/s from a process of its own, per phase (median of the rounds' p50 and p99; the max of all)`, byPhase, [
    { label: 'phase', get: (r) => r.phase },
    { label: 'rounds', get: (r) => r.rounds },
    { label: 'requests', get: (r) => r.ok },
    { label: 'p50 ms', get: (r) => r.p50Ms },
    { label: 'p99 ms', get: (r) => r.p99Ms },
    { label: 'p99 ms of each round', get: (r) => r.p99s.join(' / ') },
    { label: 'max ms', get: (r) => r.maxMs },
    { label: 'non-2xx', get: (r) => refusals(r) },
  ]);
  const best = Math.max(...ingestRows.map((r) => r.eventsPerSec));
  const bestRatio = Math.max(...ingestRows.map((r) => r.ofCeiling));
  const loaded = byPhase.filter((r) => r.phase !== 'idle');
  const worstHealthz = Math.max(...loaded.map((r) => r.p99Ms));
  console.log('\nTargets:');
  console.log(`  ingest >= ${n(TARGET_EVENTS_PER_SEC)} events/s: best ${n(best)} (${verdict(best >= TARGET_EVENTS_PER_SEC)})`);
  console.log(
    `  ingest >= ${pct(TARGET_OF_CEILING)} of transit.append alone (same round): best ${pct(bestRatio)} (${verdict(bestRatio >= TARGET_OF_CEILING)})`,
  );
  if (pipeline)
    console.log(
      `  pipeline keeps up at ${n(PIPELINE_RATE)} events/s (lag growing < ${pct(KEEP_UP_GROWTH)} of the rate in the 2nd half, caught up <= ${CATCH_UP_SECONDS} s after): ${pipeline.keepsUp ? 'yes' : 'NO'} (growing ${n(pipeline.lagGrowthPerSec)}/s; ${pipeline.behindSeconds.toFixed(1)} s of events behind in the 2nd half; caught up ${pipeline.caughtUpAfterSeconds === undefined ? 'never' : `in ${pipeline.caughtUpAfterSeconds.toFixed(2)} s`})`,
    );
  console.log(`  /healthz p99 < ${TARGET_HEALTHZ_P99_MS} ms under load: worst phase ${worstHealthz} ms (${verdict(worstHealthz < TARGET_HEALTHZ_P99_MS)})`);
}

/** The /healthz rows of the same phase in every round, as one: medians of p50 and p99, the max of max. */
function healthzByPhase(rows) {
  const out = [];
  for (const phaseName of [...new Set(rows.map((r) => r.phase))]) {
    const same = rows.filter((r) => r.phase === phaseName);
    const codes = {};
    for (const r of same) for (const [c, v] of Object.entries(r.codes)) codes[c] = (codes[c] ?? 0) + v;
    out.push({
      phase: phaseName,
      rounds: same.length,
      ok: same.reduce((a, r) => a + r.ok, 0),
      non2xx: same.reduce((a, r) => a + r.non2xx, 0),
      codes,
      p50Ms: median(same.map((r) => r.p50Ms)),
      p99Ms: median(same.map((r) => r.p99Ms)),
      p99s: same.map((r) => r.p99Ms),
      maxMs: Math.max(...same.map((r) => r.maxMs)),
    });
  }
  return out;
}

if (argv[0] === '--client') await clientMain();
else if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
