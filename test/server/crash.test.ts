// Crash test of the service: `tapio-storage serve` runs in a child with a correlator that makes one
// finding per marked event; four clients ingest over HTTP while the pipeline correlates; the
// child is killed with SIGKILL at a random moment, several times, and started again. Afterwards
// every acknowledged event is in the transit WAL with its bytes, and the findings are exactly the
// marked events of the WAL: none lost, none twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { libPath } from '../built-lib.js';
import { newDataDir } from '../correlations/helpers.js';
import { paths } from './helpers.js';

const KILLS = Number(process.env.TAPIO_SERVICE_CRASHES ?? (process.env.TAPIO_LONG === '1' ? 50 : 3));
const correlator = join(import.meta.dirname, 'fixtures', 'per-event-correlator.mjs');

interface Server {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

function startServer(dataDir: string, path: 'native' | 'typescript'): Promise<Server> {
  const env = { ...process.env, TAPIO_NATIVE: path === 'typescript' ? '0' : '1' };
  const child = spawn(process.execPath, [libPath('cli', 'main.js'), '--data-dir', dataDir, 'serve', '--port', '0', '--correlator', correlator], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = / on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m !== null) resolve({ child, url: m[1]!, exited });
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening:\n${out}\n${err}`)));
  });
}

/** Posts batches of events until the server goes away; returns each acknowledged event's bytes by sequence number. */
async function ingestUntilGone(url: string, key: string, client: number): Promise<Map<number, string>> {
  const acked = new Map<number, string>();
  for (let round = 0; ; round++) {
    const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ kind: i % 3 === 0 ? 'mark' : 'other', node: `n${client}`, round, i }));
    let res: Response;
    try {
      res = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
        body: lines.join('\n'),
      });
    } catch {
      return acked; // the server was killed
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      continue;
    }
    let ack: { firstSeq: number; lastSeq: number };
    try {
      ack = (await res.json()) as { firstSeq: number; lastSeq: number };
    } catch {
      return acked;
    }
    lines.forEach((l, i) => acked.set(ack.firstSeq + i, l));
  }
}

describe.each(paths)('the service killed during ingest and correlation on the %s path', (path) => {
  it(`loses no acknowledged event and no finding, and stores none twice (${KILLS} kills)`, async () => {
    const dataDir = newDataDir('tapio-srv-crash-');
    const acked = new Map<number, string>();
    for (let k = 0; k < KILLS; k++) {
      const server = await startServer(dataDir, path);
      const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
      const clients = [0, 1, 2, 3].map((c) => ingestUntilGone(server.url, key, c));
      await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 700)));
      server.child.kill('SIGKILL');
      await server.exited;
      for (const m of await Promise.all(clients)) for (const [seq, line] of m) acked.set(seq, line);
    }
    expect(acked.size).toBeGreaterThan(0);
    // A last start lets the pipeline catch up; then a graceful stop.
    const server = await startServer(dataDir, path);
    try {
      const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
      for (;;) {
        const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { transit: { lastSeq: number }; pipeline: { position: number; state: string } };
        expect(ready.pipeline.state).toBe('running');
        if (ready.pipeline.position === ready.transit.lastSeq) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await fetch(`${server.url}/v1/findings?limit=1`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      server.child.kill('SIGTERM');
    } finally {
      // A failed check above leaves no server running.
      if (!server.child.killed) server.child.kill('SIGKILL');
    }
    await server.exited;

    const storage = await TapioStorage.open({ dataDir }, { create: false });
    try {
      const stored = new Map<number, string>();
      const marks: string[] = [];
      for await (const r of storage.transit.read({ fromSeq: 1 })) {
        const text = Buffer.from(r.data).toString('utf8');
        stored.set(r.seq, text);
        if ((JSON.parse(text) as { kind: string }).kind === 'mark') marks.push(`e-${r.seq}`);
      }
      const missing = [...acked].filter(([seq, line]) => stored.get(seq) !== line).map(([seq]) => seq);
      expect(missing, 'acknowledged events missing or changed').toEqual([]);
      const ids = (await storage.correlations.query({ fields: ['id'] })).map((r) => r.id);
      const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
      expect(twice, 'findings stored twice').toEqual([]);
      expect(ids.sort()).toEqual(marks.sort());
      expect(storage.correlations.sourceSeq).toBe(storage.transit.lastSeq);
    } finally {
      await storage.close();
    }
  }, 300_000);
});
