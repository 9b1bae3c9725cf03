// Crash test: a child appends continuously and reports every acknowledged batch; the parent
// kills it with SIGKILL at a random moment, reopens, and checks that every record acknowledged
// so far (by this child and the earlier ones) is there with identical bytes, that sequence
// numbers are contiguous from 1, and that every record returned is whole (a real payload, not a
// torn one). Runs for both paths; every other reopen uses the other path when both exist, and
// every fifth kill is timed from the child's start, so it may land in the child's own recovery.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libChildScript } from '../built-lib.js';
// @ts-expect-error: plain ESM helper shared with the child process
import { identify, payloadFor } from './crash-payload.mjs';

const ITERATIONS = Number(process.env.TAPIO_CRASH_ITERATIONS ?? (process.env.TAPIO_LONG === '1' ? 1000 : 30));
const childScript = libChildScript(import.meta.dirname, 'crash-child.mjs');
// A kill, reopen and check takes 2-4 s here; 20 s each leaves room for a slow machine.
const TIMEOUT_MS = Math.max(600_000, ITERATIONS * 20_000);

interface Ack {
  appender: number;
  counter: number;
  count: number;
  firstSeq: number;
  lastSeq: number;
}

function runChild(
  dataDir: string,
  path: 'native' | 'typescript',
  kill: { afterMs: number; from: 'ready' | 'start' },
  firstAppender: number,
): Promise<{ acks: Ack[]; reportedPath: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TAPIO_NATIVE: path === 'typescript' ? '0' : '1' };
    const child = spawn(process.execPath, [childScript, dataDir, '1MiB', String(firstAppender)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: Ack[] = [];
    let reportedPath = '';
    let buffered = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    if (kill.from === 'start') timer = setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const parts = line.split(' ');
        if (parts[0] === 'ready') {
          reportedPath = parts[1]!;
          if (kill.from === 'ready') timer = setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
        } else if (parts[0] === 'ack') {
          const [appender, counter, count, firstSeq, lastSeq] = parts.slice(1).map(Number) as [number, number, number, number, number];
          acks.push({ appender, counter, count, firstSeq, lastSeq });
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ acks, reportedPath });
      else reject(new Error(`child exited with ${code ?? signal} before the kill: ${stderr}`));
    });
  });
}

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/**
 * The first thing wrong with the reopened log, or null: records not numbered 1, 2, 3, ...; a
 * record that is not a whole payload; fewer records than the newest acknowledged sequence number;
 * an acknowledged record missing or with other bytes.
 */
async function problemIn(storage: TapioStorage, known: Ack[], maxAcked: number): Promise<string | null> {
  if (storage.transit.oldestSeq !== 1) return `the log starts at ${storage.transit.oldestSeq}, not 1`;
  const bySeq = new Map<number, Uint8Array>();
  let next = 1;
  for await (const rec of storage.transit.read({ fromSeq: 1 })) {
    if (rec.seq !== next) return `record ${rec.seq} follows ${next - 1}`;
    next++;
    const id = identify(rec.data) as { appender: number; counter: number; index: number } | null;
    if (id === null || !same(rec.data, payloadFor(id.appender, id.counter, id.index))) return `record ${rec.seq} is not a whole payload`;
    bySeq.set(rec.seq, rec.data);
  }
  if (next - 1 < maxAcked) return `the log ends at ${next - 1}, but ${maxAcked} was acknowledged`;
  for (const ack of known) {
    if (ack.lastSeq - ack.firstSeq + 1 !== ack.count)
      return `batch ${ack.appender}:${ack.counter} of ${ack.count} records was acknowledged as ${ack.firstSeq}..${ack.lastSeq}`;
    for (let i = 0; i < ack.count; i++) {
      const got = bySeq.get(ack.firstSeq + i);
      if (got === undefined) return `acknowledged record ${ack.firstSeq + i} is missing`;
      if (!same(got, payloadFor(ack.appender, ack.counter, i))) return `acknowledged record ${ack.firstSeq + i} has other bytes`;
    }
  }
  return null;
}

describe.each(paths)('crash test on the %s path', (path) => {
  it(
    `keeps every acknowledged record across ${ITERATIONS} SIGKILLs`,
    async () => {
      const root = mkdtempSync(join(tmpdir(), `tapio-crash-${path}-`));
      const dataDir = join(root, 'data');
      let acknowledged = 0;
      let torn = 0;
      let beforeReady = 0; // kills that came before the child's open returned
      let maxAcked = 0;
      let known: Ack[] = []; // every batch acknowledged in this directory so far
      const other = paths.find((p) => p !== path);
      try {
        for (let iteration = 0; iteration < ITERATIONS; iteration++) {
          // Deterministic but varied kill times, so the kill lands in writes, syncs and rolls, and
          // now and then (timed from the start) in the child's open and recovery.
          const kill =
            iteration % 5 === 4
              ? { afterMs: 50 + ((iteration * 53) % 400), from: 'start' as const }
              : { afterMs: 20 + ((iteration * 37) % 180), from: 'ready' as const };
          const { acks, reportedPath } = await runChild(dataDir, path, kill, iteration * 8);
          if (reportedPath !== '') expect(reportedPath).toBe(path);
          else beforeReady++;
          const reopenWith = other !== undefined && iteration % 2 === 1 ? other : path;
          const storage = await TapioStorage.open(
            { dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } } },
            { transit: { path: reopenWith } },
          );
          try {
            torn += storage.transit.recovery.tornBytes > 0 ? 1 : 0;
            for (const ack of acks) maxAcked = Math.max(maxAcked, ack.lastSeq);
            known = known.concat(acks);
            // Plain checks with one assertion: the log grows to tens of MB between restarts.
            expect(await problemIn(storage, known, maxAcked), `after iteration ${iteration}`).toBeNull();
            acknowledged += acks.length;
          } finally {
            await storage.close();
          }
          // Start over now and then, so long runs do not re-read an ever larger log.
          if (iteration % 50 === 49) {
            rmSync(dataDir, { recursive: true, force: true });
            maxAcked = 0;
            known = [];
          }
        }
        expect(acknowledged).toBeGreaterThan(ITERATIONS);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
      console.log(
        `crash ${path}: ${ITERATIONS} kills (${beforeReady} before the child's open returned), ${acknowledged} acknowledged batches checked, ${torn} torn tails cut`,
      );
    },
    TIMEOUT_MS,
  );
});
