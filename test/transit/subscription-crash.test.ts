// Crash test of a subscriber: a child subscribes, its handler stops in the middle of a batch, the
// parent kills it with SIGKILL there, reopens, and checks the stored checkpoint: every record the
// child had finished before that batch is behind the checkpoint, so only the records of the
// unfinished batch are delivered again. Three kills in a row (per-record handler, batch handler,
// and one while the child also appends), then a last subscriber under the same name in this
// process reads to the end: every record was delivered at least once. Runs on both paths.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libChildScript } from '../built-lib.js';

const childScript = libChildScript(import.meta.dirname, 'subscription-crash-child.mjs');
const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];

interface ChildRun {
  reportedPath: string;
  /** The records handed to the child's handler, in order, with their payloads. */
  delivered: Array<{ seq: number; text: string }>;
  /** The batches a batch handler was handed. */
  batches: Array<[number, number]>;
}

/** Runs the child until its handler hangs, then kills it with SIGKILL. */
function runChild(dataDir: string, path: 'native' | 'typescript', args: string[]): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TAPIO_NATIVE: path === 'typescript' ? '0' : '1' };
    const child = spawn(process.execPath, [childScript, dataDir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { reportedPath: '', delivered: [], batches: [] };
    let buffered = '';
    let stderr = '';
    let killed = false;
    // Liveness only: a child that never reaches its hanging record fails the test.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [what, a, b] = line.split(' ');
        if (what === 'ready') run.reportedPath = a!;
        else if (what === 'deliver') run.delivered.push({ seq: Number(a), text: b! });
        else if (what === 'batch') run.batches.push([Number(a), Number(b)]);
        else if (what === 'hang' && !killed) {
          killed = true;
          child.kill('SIGKILL');
        } else if (what === 'error') stderr += `${line}\n`;
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && killed) resolve(run);
      else reject(new Error(`the child exited with ${code ?? signal} before its handler hung: ${stderr}`));
    });
  });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(paths)('subscription crash test on the %s path', (path) => {
  it('after a SIGKILL in the middle of a batch, only that batch is delivered again, and every record at least once', async () => {
    const root = mkdtempSync(join(tmpdir(), `tapio-sub-crash-${path}-`));
    const dataDir = join(root, 'data');
    const open = (): Promise<TapioStorage> =>
      TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' } } }, { transit: { path } });
    const seen = new Map<number, number>(); // seq -> times delivered
    const note = (seqs: number[]): void => {
      for (const s of seqs) seen.set(s, (seen.get(s) ?? 0) + 1);
    };
    try {
      let storage = await open();
      for (let i = 0; i < 10; i++) await storage.transit.append(Array.from({ length: 100 }, (_, j) => `r${i * 100 + j + 1}`));
      await storage.close();

      const kills = [
        // Batches 1-64, 65-128, 129-192: killed at 150, so 128 is stored.
        { args: ['record', '64', '150'], batchSize: 64, expected: 128 },
        // From 129, batches of 50: 129-178, ..., 379-428 holds 400, so 378 is stored.
        { args: ['batch', '50', '400'], batchSize: 50, expected: 378 },
        // The child appends as it goes, so where batches end depends on timing: only bounds.
        { args: ['record', '64', '1150', 'live'], batchSize: 64, expected: null },
      ];
      let checkpoint = 0;
      for (const [k, kill] of kills.entries()) {
        const run = await runChild(dataDir, path, kill.args);
        expect(run.reportedPath).toBe(path);
        const seqs = run.delivered.map((d) => d.seq);
        // The child resumed right after the checkpoint and went on in order to the record it hung on.
        const hangAt = Number(kill.args[2]);
        const lastHanded = kill.args[0] === 'batch' ? run.batches.at(-1)![1] : hangAt;
        expect(seqs, `kill ${k}`).toEqual(range(checkpoint + 1, lastHanded));
        for (const d of run.delivered) if (d.seq <= 1000) expect(d.text).toBe(`r${d.seq}`);
        note(seqs);
        storage = await open();
        const stored = (await storage.metadata.checkpoints.get('crash'))!.seq;
        await storage.close();
        // Everything before the unfinished batch is behind the checkpoint; nothing of that batch is.
        if (kill.expected !== null) expect(stored, `kill ${k}`).toBe(kill.expected);
        expect(stored).toBeGreaterThanOrEqual(checkpoint);
        expect(stored).toBeLessThan(hangAt);
        expect(hangAt - stored).toBeLessThanOrEqual(kill.batchSize);
        if (kill.args[0] === 'batch') expect(run.batches.at(-1)![0]).toBe(stored + 1);
        // So what is delivered again is what this child was handed of the unfinished batch.
        const again = seqs.filter((s) => s > stored);
        expect(again.length).toBeGreaterThan(0);
        expect(again.at(-1)! - again[0]! + 1).toBeLessThanOrEqual(kill.batchSize);
        checkpoint = stored;
      }

      // The last subscriber, in this process, under the same name, reads to the end.
      storage = await open();
      try {
        const last = storage.transit.lastSeq;
        expect(last).toBeGreaterThanOrEqual(1150);
        const rest: number[] = [];
        const sub = storage.transit.subscribe('crash', (r) => {
          rest.push(r.seq);
        });
        while (sub.position < last) await new Promise((r) => setTimeout(r, 5));
        await sub.close();
        expect(rest).toEqual(range(checkpoint + 1, last));
        note(rest);
        expect(range(1, last).filter((s) => !seen.has(s))).toEqual([]);
        // Delivered twice: only the records of the three unfinished batches.
        expect([...seen.values()].every((n) => n <= 2)).toBe(true);
        expect([...seen.values()].filter((n) => n === 2).length).toBeLessThanOrEqual(64 + 50 + 64);
      } finally {
        await storage.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
