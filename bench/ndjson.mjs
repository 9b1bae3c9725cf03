// The NDJSON check of the ingest path (src/server/ndjson.ts, native/core/json_check.h) on request
// bodies of 1,000 events of about 200 bytes, as POST /v1/events gets them: the native check, the
// TypeScript twin, and what ingest did before them (splitLines, then a string and JSON.parse per
// line, with the same object test), all in one process, taking turns. Two bodies: Kubernetes-like
// events in ASCII, and the same with escapes and non-ASCII text in every message (the slower,
// byte-by-byte parts of the check). The native memoryScan of the same body is the ceiling (the
// speed of reading the bytes once), and a native noop call the cost of crossing into the addon.
// `node bench/ndjson.mjs [--lines 1000] [--runs 41]`; writes bench/results/ndjson.json.
import { pathToFileURL } from 'node:url';

import { formatRate, printTable, writeResult } from './harness.mjs';

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const KINDS = [
  ['pod_restart', 'Back-off restarting failed container'],
  ['oom_killed', 'Container exceeded its memory limit'],
  ['image_pull_backoff', 'Back-off pulling image'],
  ['node_not_ready', 'Kubelet stopped posting node status'],
];
const NAMESPACES = ['payments', 'checkout', 'search', 'auth', 'ledger', 'catalog', 'ingest', 'notify'];
const TARGET = 200;

/** `count` event lines of about TARGET bytes each; `rich` puts escapes and non-ASCII text in the message. */
function eventBody(count, seed, rich) {
  const rand = prng(seed);
  const lines = [];
  const now = 1_767_225_600_000;
  for (let i = 0; i < count; i++) {
    const [kind, text] = KINDS[Math.floor(rand() * KINDS.length)];
    const ns = NAMESPACES[Math.floor(rand() * NAMESPACES.length)];
    const event = {
      kind,
      node: `ip-10-0-${Math.floor(rand() * 4)}-${10 + Math.floor(rand() * 15)}`,
      namespace: ns,
      pod: `${ns}-api-7f9c6d5b8-${Math.floor(rand() * 1296)
        .toString(36)
        .padStart(2, '0')}`,
      timestamp: new Date(now + i * 7).toISOString(),
      restarts: Math.floor(rand() * 20),
      ready: rand() < 0.5,
      message: '',
    };
    const bare = Buffer.byteLength(JSON.stringify(event));
    const fill = rich ? `${text}: "é" \t→ 🚀 ` : `${text} `;
    let message = fill;
    while (Buffer.byteLength(JSON.stringify({ ...event, message })) < TARGET) message += rich ? 'é' : '.';
    event.message = message;
    if (bare > TARGET) throw new Error(`an event is ${bare} bytes before its message`);
    lines.push(JSON.stringify(event));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

function summary(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)], minMs: sorted[0], maxMs: sorted[sorted.length - 1], runs: sorted.length };
}

/**
 * Times each call `runs` times, in turns after a warm-up, so a slow stretch of a shared machine
 * falls on all alike. A sample repeats the call `repeat[name]` times (short calls are repeated
 * to rise above the timer's resolution); the time per call is reported.
 */
function timeInTurns(runs, calls, repeat) {
  const ms = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  for (let round = -5; round < runs; round++) {
    for (const [name, fn] of Object.entries(calls)) {
      const k = repeat[name] ?? 1;
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < k; j++) fn();
      if (round >= 0) ms[name].push(Number(process.hrtime.bigint() - t0) / 1e6 / k);
    }
  }
  return Object.fromEntries(Object.keys(calls).map((name) => [name, summary(ms[name])]));
}

export async function run() {
  const count = argValue('--lines', 1000);
  const runs = argValue('--runs', 41);
  const { loadNative } = await import('../lib/native/loader.js');
  const { ndjsonValidator } = await import('../lib/server/ndjson.js');
  const { splitLines } = await import('../lib/server/http.js');
  const { capabilities } = await import('../lib/capabilities.js');
  const addon = loadNative();
  if (!addon) console.warn('native addon not loaded: only the TypeScript twin and JSON.parse run');

  const bodies = { ascii: eventBody(count, 0x2545f491, false), rich: eventBody(count, 0x2545f491, true) };
  const limits = { maxLine: 1_000_000, maxLines: 100_000 };

  /** What ingest did before the check: cut the lines, then decode and JSON.parse each one. */
  function parsePerLine(body) {
    const lines = splitLines(body, limits.maxLine, limits.maxLines, 'events');
    const records = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const value = JSON.parse(body.toString('utf8', l.start, l.end));
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`line ${l.number} is not an object`);
      records[i] = body.subarray(l.start, l.end);
    }
    return records;
  }

  /** The check as ingest uses it: validate, then a subarray per line. */
  function check(v, body) {
    const r = v.validate(body, limits.maxLine, limits.maxLines);
    if (!r.ok) throw new Error(`${v.path}: line ${r.line} refused (${r.outcome} ${r.fault})`);
    const records = new Array(r.count);
    for (let i = 0; i < r.count; i++) records[i] = body.subarray(r.ranges[2 * i], r.ranges[2 * i + 1]);
    return records;
  }

  const validators = [ndjsonValidator('typescript')];
  if (addon) validators.unshift(ndjsonValidator('native'));
  const calls = {};
  const repeat = {};
  const rawRanges = new Uint32Array(2 * limits.maxLines);
  const rawResult = new Float64Array(7);
  for (const [name, body] of Object.entries(bodies)) {
    const want = parsePerLine(body).length;
    for (const v of validators) {
      const got = check(v, body).length;
      if (got !== want) throw new Error(`${name}: ${v.path} found ${got} lines, JSON.parse ${want}`);
      calls[`${name}|${v.path}`] = () => check(v, body);
    }
    if (addon) {
      calls[`${name}|native, raw call`] = () => addon.checkNdjson(body, limits.maxLine, limits.maxLines, rawRanges, rawResult);
      calls[`${name}|memoryScan`] = () => addon.memoryScan(body);
      repeat[`${name}|native`] = repeat[`${name}|native, raw call`] = 20;
      repeat[`${name}|memoryScan`] = 200;
    }
    calls[`${name}|JSON.parse per line`] = () => parsePerLine(body);
    repeat[`${name}|typescript`] = 4;
  }
  if (addon) {
    calls.noop = () => addon.noop();
    repeat.noop = 10_000;
  }
  const t = timeInTurns(runs, calls, repeat);

  const out = [];
  for (const [name, body] of Object.entries(bodies)) {
    const parse = t[`${name}|JSON.parse per line`];
    const ts = t[`${name}|typescript`];
    const scan = t[`${name}|memoryScan`];
    const cases = [...validators.map((v) => v.path), ...(addon ? ['native, raw call', 'memoryScan'] : []), 'JSON.parse per line'];
    for (const c of cases) {
      const m = t[`${name}|${c}`];
      out.push({
        body: name,
        bytes: body.length,
        case: c,
        ...m,
        bytesPerSec: (body.length * 1000) / m.medianMs,
        linesPerSec: (count * 1000) / m.medianMs,
        vsJsonParse: parse.medianMs / m.medianMs,
        vsTypescript: ts.medianMs / m.medianMs,
        ofCeiling: scan ? scan.medianMs / m.medianMs : undefined,
      });
    }
  }
  if (addon) out.push({ body: '', case: 'native noop', ...t.noop });
  printTable(`NDJSON check, ${count} lines a body (ascii ${bodies.ascii.length} B, rich ${bodies.rich.length} B), medians of ${runs}`, out, [
    { label: 'body', get: (r) => r.body },
    { label: 'case', get: (r) => r.case },
    { label: 'median µs', get: (r) => (r.medianMs * 1000).toFixed(r.medianMs < 0.01 ? 3 : 1) },
    { label: 'MB/s', get: (r) => (r.bytesPerSec === undefined ? '' : (r.bytesPerSec / 1e6).toFixed(0)) },
    { label: 'lines/s', get: (r) => (r.linesPerSec === undefined ? '' : formatRate(r.linesPerSec)) },
    { label: 'x JSON.parse', get: (r) => (r.vsJsonParse === undefined ? '' : r.vsJsonParse.toFixed(2)) },
    { label: 'x TypeScript', get: (r) => (r.vsTypescript === undefined ? '' : r.vsTypescript.toFixed(2)) },
    { label: 'of memoryScan', get: (r) => (r.ofCeiling === undefined ? '' : r.ofCeiling.toFixed(3)) },
  ]);
  writeResult('ndjson', {
    lines: count,
    runs,
    bodyBytes: { ascii: bodies.ascii.length, rich: bodies.rich.length },
    capabilities: capabilities(),
    results: out,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
