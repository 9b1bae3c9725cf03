// The WAL directory lock across processes, on both paths and mixed: many processes racing for a
// LOCK file left by a process that is gone, a holder killed with SIGKILL, processes with and
// without the addon, and a second open in the same process. The racers are long-lived children
// (lock-child.mjs) driven over IPC, so a hundred trials cost a hundred opens, not six hundred
// process starts.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libChildScript } from '../built-lib.js';

type Kind = 'native' | 'typescript';

const TRIALS = 100;
const RACERS = 6;
const childScript = libChildScript(import.meta.dirname, 'lock-child.mjs');
const nativeBuilt = nativeStatus().native;
const kinds: Kind[] = nativeBuilt ? ['native', 'typescript'] : ['typescript'];
const STALE_PID = '999999\n';

type Opened = { op: 'opened'; ok: true; path: Kind; firstSeq: number; lastSeq: number } | { op: 'opened'; ok: false; code: string; message: string };

/** A child process that opens and closes the store when told to, one request at a time. */
class Racer {
  readonly pid: number;
  #child: ChildProcess;
  #pending: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void }> = [];
  #exited: Promise<void>;

  private constructor(child: ChildProcess, pid: number) {
    this.#child = child;
    this.pid = pid;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (m) => this.#pending.shift()?.resolve(m));
    child.once('exit', (code, signal) => {
      for (const p of this.#pending.splice(0)) p.reject(new Error(`racer ${pid} exited (${code ?? signal}) before it answered`));
    });
  }

  static spawn(kind: Kind): Promise<Racer> {
    const env = { ...process.env };
    if (kind === 'typescript') env.TAPIO_NATIVE = '0';
    else delete env.TAPIO_NATIVE;
    const child = fork(childScript, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`racer exited (${code ?? signal}) before it was ready`)));
      child.once('message', (m: { op: string; pid: number; native: boolean }) => {
        child.removeAllListeners('exit');
        // A native racer that fell back to TypeScript would test nothing new: fail loudly.
        if (m.native !== (kind === 'native')) reject(new Error(`a ${kind} racer reports native=${m.native}`));
        else resolve(new Racer(child, m.pid));
      });
    });
  }

  #request<T>(message: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ resolve: resolve as (m: unknown) => void, reject });
      this.#child.send(message);
    });
  }

  open(dataDir: string, tag: string): Promise<Opened> {
    return this.#request<Opened>({ op: 'open', dataDir, tag });
  }

  async close(): Promise<void> {
    await this.#request({ op: 'close' });
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.disconnect();
      await this.#exited;
    }
  }
}

const dirs: string[] = [];
const racers: Racer[] = [];
afterEach(async () => {
  await Promise.all(racers.splice(0).map((r) => r.stop()));
});
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A data directory holding a store that was opened and closed once. */
async function newStore(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tapio-lock-'));
  dirs.push(dataDir);
  const s = await TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } } });
  await s.close();
  return dataDir;
}

async function spawnRacers(plan: Kind[]): Promise<Racer[]> {
  const started = await Promise.all(plan.map((k) => Racer.spawn(k)));
  racers.push(...started);
  return started;
}

/** Every record of the store's WAL, read on `path`. */
async function readWal(dataDir: string, path: Kind): Promise<Array<{ seq: number; tag: string }>> {
  const s = await TapioStorage.open({ dataDir, storage: { metadata: { in_memory: true } } }, { transit: { path } });
  try {
    const out = [];
    for await (const r of s.transit.read({ fromSeq: 1 })) out.push({ seq: r.seq, tag: Buffer.from(r.data).toString() });
    return out;
  } finally {
    await s.close();
  }
}

const racePlans: Array<[string, Kind[]]> = [['typescript', Array(RACERS).fill('typescript')]];
if (nativeBuilt) {
  racePlans.unshift(['native', Array(RACERS).fill('native')]);
  racePlans.push(['mixed', Array.from({ length: RACERS }, (_, i) => (i % 2 === 0 ? 'native' : 'typescript'))]);
}

describe.each(racePlans)('racers against a stale LOCK (%s)', (_name, plan) => {
  it(`lets exactly one of ${RACERS} processes open the store in each of ${TRIALS} trials, and loses no acknowledged record`, { timeout: 600_000 }, async () => {
    const dataDir = await newStore();
    const lockFile = join(dataDir, 'wal', 'LOCK');
    const team = await spawnRacers(plan);
    const acked: Array<{ seq: number; tag: string }> = [];
    const badTrials: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      // The lock file of a process that is gone, as a crash of an earlier version leaves it.
      writeFileSync(lockFile, STALE_PID);
      // Every racer is told at once and tries at once; the winner holds the store until all
      // have answered, so every other attempt meets a held lock.
      const results = await Promise.all(team.map((r, i) => r.open(dataDir, `trial ${trial} racer ${i}`)));
      await Promise.all(team.map((r) => r.close()));
      const winners = results.flatMap((r, i) => (r.ok ? [{ seq: r.firstSeq, tag: `trial ${trial} racer ${i}` }] : []));
      const otherFailures = results.flatMap((r) => (!r.ok && r.code !== 'ERR_LOCKED' ? [`${r.code}: ${r.message}`] : []));
      if (winners.length !== 1 || otherFailures.length > 0) {
        badTrials.push(
          `trial ${trial}: ${winners.length} opened (seq ${winners.map((w) => w.seq).join(', ')})${otherFailures.length > 0 ? `; ${otherFailures.join('; ')}` : ''}`,
        );
      }
      acked.push(...winners);
    }
    expect(badTrials, `${badTrials.length} of ${TRIALS} trials went wrong`).toEqual([]);
    // Every acknowledged record is in the WAL, once, under the number it was acknowledged with.
    const seqs = acked.map((a) => a.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    const expected = [...acked].sort((a, b) => a.seq - b.seq);
    for (const path of kinds) expect(await readWal(dataDir, path)).toEqual(expected);
    expect(expected.map((e) => e.seq)).toEqual(Array.from({ length: TRIALS }, (_, i) => i + 1));
  });
});

describe('the lock ends with its process', () => {
  const pairs: Array<[Kind, Kind]> = kinds.flatMap((a) => kinds.map((b): [Kind, Kind] => [a, b]));
  it.each(pairs)('a %s holder killed with SIGKILL: a %s opener gets the store on its first try', { timeout: 120_000 }, async (first, second) => {
    const dataDir = await newStore();
    const [holder, next] = await spawnRacers([first, second]);
    const held = await holder!.open(dataDir, 'before the kill');
    expect(held).toMatchObject({ ok: true, path: first, firstSeq: 1 });
    expect(readFileSync(join(dataDir, 'wal', 'LOCK'), 'utf8')).toBe(`${holder!.pid}\n`);
    const refused = await next!.open(dataDir, 'refused');
    expect(refused).toMatchObject({ ok: false, code: 'ERR_LOCKED' });
    expect((refused as { message: string }).message).toContain(`in use by process ${holder!.pid}`);
    await holder!.kill();
    // No retry and no wait: the kernel dropped the lock with the process.
    expect(await next!.open(dataDir, 'after the kill')).toMatchObject({ ok: true, path: second, firstSeq: 2 });
    await next!.close();
    // The lock file stays (it is never removed); the record of the killed holder is there.
    expect(existsSync(join(dataDir, 'wal', 'LOCK'))).toBe(true);
    expect(await readWal(dataDir, kinds[0]!)).toEqual([
      { seq: 1, tag: 'before the kill' },
      { seq: 2, tag: 'after the kill' },
    ]);
  });
});

describe.runIf(nativeBuilt)('processes with and without the addon', () => {
  it('exclude each other, whichever holds the store', { timeout: 120_000 }, async () => {
    const dataDir = await newStore();
    const [native, typescript] = await spawnRacers(['native', 'typescript']);
    let seq = 0;
    for (const [holder, other] of [
      [native!, typescript!],
      [typescript!, native!],
    ] as const) {
      expect(await holder.open(dataDir, `held by ${holder.pid}`)).toMatchObject({ ok: true, firstSeq: ++seq });
      const refused = await other.open(dataDir, 'refused');
      expect(refused).toMatchObject({ ok: false, code: 'ERR_LOCKED' });
      expect((refused as { message: string }).message).toContain(`in use by process ${holder.pid}`);
      await holder.close();
      await other.close();
    }
    // And the parent, which has the addon, against a TypeScript child.
    const parent = await TapioStorage.open({ dataDir, storage: { metadata: { in_memory: true } } });
    try {
      expect(await typescript!.open(dataDir, 'refused')).toMatchObject({ ok: false, code: 'ERR_LOCKED' });
    } finally {
      await parent.close();
    }
  });
});

describe.each(kinds)('a second open in the same process (transit on the %s path)', (path) => {
  const open = (dataDir: string): Promise<TapioStorage> => TapioStorage.open({ dataDir, storage: { metadata: { in_memory: true } } }, { transit: { path } });

  it('is refused with ERR_LOCKED, one after the other and at the same moment', async () => {
    const dataDir = await newStore();
    const first = await open(dataDir);
    await expect(open(dataDir)).rejects.toMatchObject({ code: 'ERR_LOCKED', message: expect.stringContaining('already open in this process') });
    await first.close();
    const both = await Promise.allSettled([open(dataDir), open(dataDir)]);
    const opened = both.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(opened).toHaveLength(1);
    expect(both.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'ERR_LOCKED' } });
    await opened[0]!.close();
    // Closed, the directory opens again.
    await (await open(dataDir)).close();
  });
});
