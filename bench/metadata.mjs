#!/usr/bin/env node
// Metadata store benchmark: the store's reads and writes against raw lmdb-js on the same
// lmdb environment (same file, same options, same keys and values), and API key verification
// with 10,000 keys stored.
//
//   npx tsc -p tsconfig.build.json && node bench/metadata.mjs [--time ms-per-task-per-round] [--rounds n]
//
// Reads and verifications run 100 operations per sample, so the timer's resolution does not
// dominate sub-microsecond operations; ops/s is 100 / median sample time. Writes are one
// awaited (durable) operation per sample, plus a variant of 100 concurrent writes per sample
// (one lmdb commit). Each group runs in several rounds with the task order alternating, so load
// from other processes hits both sides of a comparison alike: a task's figure is the median over
// rounds, and a ratio is the median of the per-round ratios. Writes JSON to
// bench/results/metadata.json; run() returns the same object.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { open as openLmdb } from 'lmdb';
import { Bench } from 'tinybench';

import { MetadataStore } from '../lib/metadata/index.js';
import { lmdbOpenOptions } from '../lib/metadata/kv-lmdb.js';

const here = dirname(fileURLToPath(import.meta.url));
const INNER = 100;
const KEYS = 10_000;

function resourceValue(i) {
  return { namespace: `ns-${i % 50}`, node: `node-${i % 20}`, labels: { app: `app-${i % 300}`, tier: i % 2 ? 'web' : 'db' }, replicas: i % 5 };
}

/** ops/s and latency from a tinybench task whose function does `perSample` operations. */
function summarize(task, perSample) {
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state} ${r.error ?? ''}`);
  const medianMs = r.latency.p50 / perSample;
  return { opsPerSec: 1000 / medianMs, medianNs: medianMs * 1e6, p99Ns: (r.latency.p99 / perSample) * 1e6, samples: r.latency.samplesCount };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs `tasks` in `rounds` rounds (order alternating); returns per-task medians and the raw rounds. */
async function measure(tasks, { time, perSample, rounds }) {
  const perTask = new Map(tasks.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time, warmupTime: Math.min(200, time / 4) });
    for (const [name, fn] of round % 2 ? [...tasks].reverse() : tasks) bench.add(name, fn);
    await bench.run();
    for (const task of bench.tasks) perTask.get(task.name).push(summarize(task, perSample));
  }
  return tasks.map(([name]) => {
    const rs = perTask.get(name);
    return {
      name,
      opsPerSec: Math.round(median(rs.map((r) => r.opsPerSec))),
      medianNs: Math.round(median(rs.map((r) => r.medianNs))),
      p99Ns: Math.round(median(rs.map((r) => r.p99Ns))),
      samples: rs.reduce((n, r) => n + r.samples, 0),
      rounds: rs.map((r) => Math.round(r.opsPerSec)),
    };
  });
}

/**
 * CPU time per operation: `count` calls of each task, interleaved over `rounds`, timed with
 * process.cpuUsage (user + system, all threads of this process). Time the process spends
 * preempted by others does not count, so on a shared machine these ratios are steadier than
 * wall-clock ones. Only for synchronous tasks.
 */
function measureCpu(tasks, { count, rounds }) {
  const perTask = new Map(tasks.map(([name]) => [name, []]));
  for (const [, fn] of tasks) for (let k = 0; k < count / 10; k++) fn(); // warm up the JIT
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of round % 2 ? [...tasks].reverse() : tasks) {
      const before = process.cpuUsage();
      for (let k = 0; k < count; k++) fn();
      const used = process.cpuUsage(before);
      perTask.get(name).push(((used.user + used.system) * 1000) / count);
    }
  }
  return tasks.map(([name]) => {
    const ns = perTask.get(name);
    return { name, cpuNsPerOp: Math.round(median(ns)), opsPerCpuSec: Math.round(1e9 / median(ns)), rounds: ns.map((v) => Math.round(v)) };
  });
}

export async function run({ time = 300, rounds = 7, log = true } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tapio-bench-metadata-'));
  const path = join(dir, 'metadata');
  const say = log ? (...a) => console.log(...a) : () => {};
  try {
    const store = await MetadataStore.open({ type: 'badger', path, in_memory: false, compression: true });
    const memory = await MetadataStore.open({ type: 'badger', path: join(dir, 'unused'), in_memory: true, compression: true });
    // The same lmdb environment, opened raw with the options the store uses.
    const raw = openLmdb(lmdbOpenOptions({ path, compression: store.info.compression }));

    say(`seeding ${KEYS} resources, ${KEYS} checkpoints and ${KEYS} API keys ...`);
    const names = Array.from({ length: KEYS }, (_, i) => `pod-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < KEYS; i += 1000) {
      await Promise.all(names.slice(i, i + 1000).map((n, j) => store.resources.put('pods', n, resourceValue(i + j))));
      await Promise.all(names.slice(i, i + 1000).map((n, j) => store.checkpoints.set(n, (i + j) * 1000)));
      await Promise.all(names.slice(i, i + 1000).map((n, j) => memory.resources.put('pods', n, resourceValue(i + j))));
    }
    const users = await Promise.all(Array.from({ length: 100 }, (_, i) => store.users.create({ name: `user-${i}` })));
    const memUsers = await Promise.all(Array.from({ length: 100 }, (_, i) => memory.users.create({ name: `user-${i}` })));
    const apiKeys = [];
    const memKeys = [];
    for (let b = 0; b < KEYS / 500; b++) {
      const created = await Promise.all(Array.from({ length: 500 }, (_, i) => store.apiKeys.create(users[i % 100].id, { name: `k${b}-${i}` })));
      apiKeys.push(...created.map((k) => k.key));
      const mem = await Promise.all(Array.from({ length: 500 }, (_, i) => memory.apiKeys.create(memUsers[i % 100].id, { name: `k${b}-${i}` })));
      memKeys.push(...mem.map((k) => k.key));
    }
    const keyIds = apiKeys.map((k) => k.slice(4, 16));
    // A well-formed key with a wrong checksum, refused before any lookup.
    const typos = apiKeys.slice(0, 1000).map((k) => k.slice(0, 40) + (k[40] === 'a' ? 'b' : 'a') + k.slice(41));

    // Sanity: every path returns what it should before it is timed.
    if (store.apiKeys.verifySync(apiKeys[0]) !== users[0].id) throw new Error('verify failed');
    if (JSON.stringify(raw.get('resources:pods:pod-00007').value) !== JSON.stringify(resourceValue(7))) throw new Error('raw get failed');

    let i = 0;
    const next = () => (i = (i + 7919) % KEYS); // a stride through all keys, not a hot few
    say('measuring reads ...');
    const reads = await measure(
      [
        [
          'raw lmdb get (resource)',
          () => {
            for (let k = 0; k < INNER; k++) raw.get('resources:pods:' + names[next()]);
          },
        ],
        [
          'store.read(r => r.resources.get)',
          () => {
            store.read((r) => {
              for (let k = 0; k < INNER; k++) r.resources.get('pods', names[next()]);
            });
          },
        ],
        [
          'await resources.get',
          async () => {
            for (let k = 0; k < INNER; k++) await store.resources.get('pods', names[next()]);
          },
        ],
        [
          'raw lmdb get (checkpoint)',
          () => {
            for (let k = 0; k < INNER; k++) raw.get('checkpoints:' + names[next()]);
          },
        ],
        [
          'store.read(r => r.checkpoints.get)',
          () => {
            store.read((r) => {
              for (let k = 0; k < INNER; k++) r.checkpoints.get(names[next()]);
            });
          },
        ],
        [
          'await checkpoints.get',
          async () => {
            for (let k = 0; k < INNER; k++) await store.checkpoints.get(names[next()]);
          },
        ],
        [
          'in_memory: await resources.get',
          async () => {
            for (let k = 0; k < INNER; k++) await memory.resources.get('pods', names[next()]);
          },
        ],
      ],
      { time, perSample: INNER, rounds },
    );

    say('measuring verification ...');
    const verify = await measure(
      [
        [
          'apiKeys.verifySync (valid key)',
          () => {
            for (let k = 0; k < INNER; k++) store.apiKeys.verifySync(apiKeys[next()]);
          },
        ],
        [
          'await apiKeys.verify (valid key)',
          async () => {
            for (let k = 0; k < INNER; k++) await store.apiKeys.verify(apiKeys[next()]);
          },
        ],
        [
          'apiKeys.verifySync (checksum typo)',
          () => {
            for (let k = 0; k < INNER; k++) store.apiKeys.verifySync(typos[next() % 1000]);
          },
        ],
        [
          'raw lmdb get of the key record',
          () => {
            for (let k = 0; k < INNER; k++) raw.get('api_keys:' + keyIds[next()]);
          },
        ],
        [
          'in_memory: apiKeys.verifySync',
          () => {
            for (let k = 0; k < INNER; k++) memory.apiKeys.verifySync(memKeys[next()]);
          },
        ],
      ],
      { time, perSample: INNER, rounds },
    );

    say('measuring CPU time per operation ...');
    const cpu = measureCpu(
      [
        ['raw lmdb get (resource)', () => raw.get('resources:pods:' + names[next()])],
        ['resources.get (sync read)', () => store.read((r) => r.resources.get('pods', names[next()]))],
        ['raw lmdb get (checkpoint)', () => raw.get('checkpoints:' + names[next()])],
        ['checkpoints.get (sync read)', () => store.read((r) => r.checkpoints.get(names[next()]))],
        ['raw lmdb get of the key record', () => raw.get('api_keys:' + keyIds[next()])],
        ['apiKeys.verifySync (valid key)', () => store.apiKeys.verifySync(apiKeys[next()])],
      ],
      { count: 200_000, rounds },
    );

    say('measuring writes (each one durable: fdatasync before it resolves) ...');
    let w = 0;
    const writes1 = await measure(
      [
        [
          'raw lmdb put (resource)',
          async () => {
            w++;
            await raw.put('resources:pods:' + names[w % KEYS], { value: resourceValue(w), updatedAt: Date.now() });
          },
        ],
        [
          'await resources.put',
          async () => {
            w++;
            await store.resources.put('pods', names[w % KEYS], resourceValue(w));
          },
        ],
        [
          'raw lmdb put (checkpoint)',
          async () => {
            w++;
            await raw.put('checkpoints:' + names[w % KEYS], { seq: w, updatedAt: Date.now() });
          },
        ],
        [
          'await checkpoints.set',
          async () => {
            w++;
            await store.checkpoints.set(names[w % KEYS], w);
          },
        ],
      ],
      { time, perSample: 1, rounds },
    );
    const writes100 = await measure(
      [
        [
          'raw lmdb put x100 concurrent',
          async () => {
            w++;
            await Promise.all(names.slice(0, INNER).map((n) => raw.put('resources:pods:' + n, { value: resourceValue(w), updatedAt: Date.now() })));
          },
        ],
        [
          'resources.put x100 concurrent',
          async () => {
            w++;
            await Promise.all(names.slice(0, INNER).map((n) => store.resources.put('pods', n, resourceValue(w))));
          },
        ],
        [
          'checkpoints.set x100 concurrent',
          async () => {
            w++;
            await Promise.all(names.slice(0, INNER).map((n) => store.checkpoints.set(n, w)));
          },
        ],
      ],
      { time, perSample: INNER, rounds },
    );

    await raw.close();
    await store.close();
    await memory.close();

    const byName = Object.fromEntries([...reads, ...verify, ...writes1, ...writes100].map((r) => [r.name, r]));
    // The median of per-round ratios: each round measured both sides under the same load.
    const ratio = (ours, base) => Number(median(byName[ours].rounds.map((v, k) => v / byName[base].rounds[k])).toFixed(3));
    const comparisons = [
      { ours: 'store.read(r => r.resources.get)', raw: 'raw lmdb get (resource)' },
      { ours: 'await resources.get', raw: 'raw lmdb get (resource)' },
      { ours: 'store.read(r => r.checkpoints.get)', raw: 'raw lmdb get (checkpoint)' },
      { ours: 'await checkpoints.get', raw: 'raw lmdb get (checkpoint)' },
      { ours: 'await resources.put', raw: 'raw lmdb put (resource)' },
      { ours: 'await checkpoints.set', raw: 'raw lmdb put (checkpoint)' },
      { ours: 'resources.put x100 concurrent', raw: 'raw lmdb put x100 concurrent' },
      { ours: 'checkpoints.set x100 concurrent', raw: 'raw lmdb put x100 concurrent' },
    ].map((c) => ({ ...c, ratio: ratio(c.ours, c.raw) }));
    const cpuBy = Object.fromEntries(cpu.map((r) => [r.name, r]));
    const cpuRatio = (ours, base) => Number(median(cpuBy[ours].rounds.map((v, k) => cpuBy[base].rounds[k] / v)).toFixed(3));
    const cpuComparisons = [
      { ours: 'resources.get (sync read)', raw: 'raw lmdb get (resource)' },
      { ours: 'checkpoints.get (sync read)', raw: 'raw lmdb get (checkpoint)' },
      { ours: 'apiKeys.verifySync (valid key)', raw: 'raw lmdb get of the key record' },
    ].map((c) => ({ ...c, ratio: cpuRatio(c.ours, c.raw) }));
    const results = {
      benchmark: 'metadata',
      date: new Date().toISOString(),
      machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length },
      setup: {
        keysStored: KEYS,
        compression: true,
        opsPerSample: { reads: INNER, verify: INNER, writes: 1, concurrentWrites: INNER },
        timePerTaskPerRoundMs: time,
        rounds,
        loadAverage: loadavg(),
      },
      reads,
      verify,
      writes: [...writes1, ...writes100],
      cpu,
      comparisons,
      cpuComparisons,
      targets: {
        syncGetVsRaw: {
          target: 0.9,
          wallClock: { resources: comparisons[0].ratio, checkpoints: comparisons[2].ratio },
          cpuTime: { resources: cpuComparisons[0].ratio, checkpoints: cpuComparisons[1].ratio },
        },
        verifyPerSec: {
          target: 200_000,
          wallClock: { verifySync: byName['apiKeys.verifySync (valid key)'].opsPerSec, verifyAsync: byName['await apiKeys.verify (valid key)'].opsPerSec },
          perCpuSecond: { verifySync: cpuBy['apiKeys.verifySync (valid key)'].opsPerCpuSec },
        },
      },
    };

    if (log) {
      console.log('');
      console.table(
        [...reads, ...verify, ...writes1, ...writes100].map((r) => ({
          task: r.name,
          'ops/s (median)': r.opsPerSec,
          'median ns/op': r.medianNs,
          'p99 ns/op': r.p99Ns,
        })),
      );
      console.table(comparisons.map((c) => ({ ours: c.ours, 'against raw': c.raw, 'ratio (wall clock)': c.ratio })));
      console.table(cpu.map((r) => ({ task: r.name, 'CPU ns/op (median)': r.cpuNsPerOp, 'ops per CPU-second': r.opsPerCpuSec })));
      console.table(cpuComparisons.map((c) => ({ ours: c.ours, 'against raw': c.raw, 'ratio (CPU time)': c.ratio })));
    }
    const out = join(here, 'results', 'metadata.json');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    if (log) console.log(`wrote ${out}`);
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (flag, fallback) => {
    const at = process.argv.indexOf(flag);
    return at > 0 ? Number(process.argv[at + 1]) : fallback;
  };
  await run({ time: arg('--time', 300), rounds: arg('--rounds', 7) });
}
