// Crash test of the correlation store: a child inserts from four inserters while flushes and
// compactions run (a 1 MiB active part, explicit flushes, small compaction thresholds); the parent kills it with SIGKILL at a random
// moment, reopens (alternating the paths), and checks that every acknowledged batch is present
// whole and exactly once, that no batch is present in part, and that no id appears twice.
import { spawn } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { libChildScript } from '../built-lib.js';
import { newDataDir, paths } from './helpers.js';

const KILLS = Number(process.env.TAPIO_CRASH_ITERATIONS ?? (process.env.TAPIO_LONG === '1' ? 500 : 20));
const childScript = libChildScript(import.meta.dirname, 'crash-child.mjs');
const TIMEOUT_MS = Math.max(600_000, KILLS * 20_000);

function runChild(dataDir: string, path: 'native' | 'typescript', afterMs: number, firstInserter: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TAPIO_NATIVE: path === 'typescript' ? '0' : '1' };
    const child = spawn(process.execPath, [childScript, dataDir, String(firstInserter)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const acks = new Map<string, number>();
    let buffered = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const parts = line.split(' ');
        if (parts[0] === 'ready') timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
        else if (parts[0] === 'ack') acks.set(`${parts[1]}-${parts[2]}`, Number(parts[3]));
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(acks);
      else reject(new Error(`child exited with ${code ?? signal} before the kill: ${stderr}`));
    });
  });
}

describe('correlation store crash test', () => {
  it(
    `keeps every acknowledged batch whole and exactly once across ${KILLS} SIGKILLs during inserts, flushes and compactions`,
    async () => {
      const dataDir = newDataDir('tapio-corr-crash-');
      const acked = new Map<string, number>();
      let killsWithFlushedData = 0;
      let killsWithCompactedData = 0;
      for (let k = 0; k < KILLS; k++) {
        const path = paths[k % paths.length]!;
        const afterMs = 150 + Math.floor(Math.random() * 900);
        for (const [batch, count] of await runChild(dataDir, path, afterMs, k * 4)) acked.set(batch, count);
        const s = await TapioStorage.open(
          { dataDir, storage: { correlations: { embedding_dim: 16, compaction: { l0_size: '150KB', l1_size: '1MB' } } } },
          { correlations: { path: paths[(k + 1) % paths.length]! } },
        );
        const ids = (await s.correlations.query({ fields: ['id'] })).map((r) => r.id);
        const levels = s.correlations.stats().levels;
        if (levels.length > 0) killsWithFlushedData++;
        if (levels.some((l) => l.level > 0)) killsWithCompactedData++;
        const counts = new Map<string, number>();
        const seen = new Set<string>();
        for (const id of ids) {
          expect(seen.has(id), `id ${id} twice after kill ${k}`).toBe(false);
          seen.add(id);
          const batch = id.slice(0, id.lastIndexOf('-'));
          counts.set(batch, (counts.get(batch) ?? 0) + 1);
        }
        for (const [batch, count] of acked) expect(counts.get(batch), `acknowledged batch ${batch} after kill ${k}`).toBe(count);
        // A batch is all or nothing: present ones are whole (their size is a function of their name).
        for (const [batch, count] of counts) {
          const [inserter, counter] = batch.split('-').map(Number) as [number, number];
          expect(count, `batch ${batch} in part after kill ${k}`).toBe(1 + ((inserter * 37 + counter * 13) % 150));
          acked.set(batch, count); // present now: it must stay so
        }
        await s.close();
      }
      expect(killsWithFlushedData).toBeGreaterThan(0);
      expect(killsWithCompactedData).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});
