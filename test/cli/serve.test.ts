// The service's commands as a user runs them: `serve` (admin key once, private, the curl line it
// prints works, graceful stop on SIGTERM, a busy port), `demo` (against a server it starts and
// against a running one), `ingest` (offline NDJSON on both paths), and the progress output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { Progress } from '../../src/cli/progress.js';
import { ensureAdminKey } from '../../src/cli/serve.js';
import { TapioStorage } from '../../src/index.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libPath } from '../built-lib.js';

const cli = libPath('cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-serve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const envs: Array<[string, Record<string, string>]> = [
  ...(nativeStatus().native ? [['native', { TAPIO_NATIVE: '1' }] as [string, Record<string, string>]] : []),
  ['typescript', { TAPIO_NATIVE: '0' }],
];

function run(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Servers started by a test: killed after the file, so a failed test leaves none running. */
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts `serve`; resolves with its URL and output once it listens. */
function serve(dataDir: string, extra: string[] = [], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, '--data-dir', dataDir, 'serve', '--port', '0', ...extra], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const listening = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = / on (http:\/\/[\d.]+:\d+)/.exec(out);
      // The last line of the start: everything above it is printed.
      if (m !== null && out.includes('stop with Ctrl-C')) resolve(m[1]!);
    };
    child.stdout.on('data', check);
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${out}\n${err}`)));
  });
  return { child, listening, exited, output: () => out, errors: () => err };
}

describe.each(envs)('serve on the %s path', (_name, env) => {
  it('writes the admin key once with mode 0600, prints a curl line that works, and stops gracefully on SIGTERM', async () => {
    const dataDir = join(root, `serve-${_name}`);
    const first = serve(dataDir, ['--correlator', 'none'], env);
    const url = await first.listening;
    const keyFile = join(dataDir, 'admin.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(key).toMatch(/^tap_/);
    expect(first.output()).toContain(`admin API key written to ${keyFile}`);
    expect(first.output()).not.toContain(key);
    expect(first.output()).toContain('pipeline: off');
    // The printed curl line, run as printed.
    const curlLine = /try: (curl .*)$/m.exec(first.output())![1]!;
    const curlUrl = /'(http[^']+)'/.exec(curlLine)![1]!;
    const res = await fetch(curlUrl, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const ack = await fetch(`${url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: '{"a":1}\n' });
    expect(ack.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('stopped; every acknowledged event and finding is on disk');

    // A second start keeps the key and says where it is.
    const second = serve(dataDir, [], env);
    await second.listening;
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
    expect(second.output()).toContain('admin key: ');
    // The first run had no pipeline: the event it took is correlated now.
    expect(second.output()).toContain('pipeline: builtin correlator, resuming after transit seq 0');
    // A busy port is a clear error (the data directory is held as well: the lock says so first).
    const other = run(['--data-dir', join(root, `other-${_name}`), 'serve', '--port', new URL(await second.listening).port], env);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/error ERR_INVALID_ARGUMENT: port \d+ on 127\.0\.0\.1 is in use/);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });
});

describe('serve and demo for scripts', () => {
  it('serve --json prints one JSON line when it serves and one when it stopped; demo --json prints one summary', async () => {
    const dataDir = join(root, 'serve-json');
    const child = spawn(process.execPath, [cli, '--data-dir', dataDir, '--json', 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
    const serving = JSON.parse(out.split('\n')[0]!) as {
      event: string;
      url: string;
      adminKeyFile: string;
      adminKeyCreated: boolean;
      pipeline: { correlator: string };
    };
    expect(serving).toMatchObject({ event: 'serving', adminKeyFile: join(dataDir, 'admin.key'), adminKeyCreated: true, pipeline: { correlator: 'builtin' } });
    const key = readFileSync(serving.adminKeyFile, 'utf8').trim();
    const demo = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [cli, '--json', 'demo', '--url', serving.url, '--events', '3000'], {
        env: { ...process.env, TAPIO_API_KEY: key },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      c.stdout.on('data', (d: Buffer) => (text += d.toString()));
      c.once('exit', (code) => resolve({ code, out: text }));
    });
    expect(demo.code).toBe(0);
    expect(JSON.parse(demo.out)).toMatchObject({ url: serving.url, events: 3000, findingsLastHour: expect.any(Number), perNode: expect.any(Array) });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { event: string }).event),
    ).toEqual(['serving', 'stopped']);
  });
});

describe('demo and ingest', () => {
  it('demo starts a server for the run, replays events over HTTP, and shows findings, an aggregation and similar findings', () => {
    const dataDir = join(root, 'demo');
    const r = run(['--data-dir', dataDir, 'demo', '--events', '20000']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/started a server on http:\/\/127\.0\.0\.1:\d+/);
    expect(r.out).toMatch(/every event durable \(fdatasync\) in [\d.]+ s/);
    expect(r.out).toMatch(/findings of the last hour: [1-9]\d*/);
    expect(r.out).toMatch(/anomalies per node in the last hour \(aggregate, [\d.]+ ms\)/);
    expect(r.out).toMatch(/findings most like anomaly-node-\d-\d+ in the last 24 h/);
    expect(r.out).toMatch(/^ {2}1\.0000 {2}anomaly-/m);
    // Not a terminal: progress as plain lines on stderr, at each tenth.
    expect(r.err.split('\n').filter((l) => l.startsWith('ingest ')).length).toBe(10);
  });

  it('demo sends to a running server over the data directory', async () => {
    const dataDir = join(root, 'demo-running');
    const server = serve(dataDir);
    await server.listening;
    const url = await server.listening;
    const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [cli, 'demo', '--url', url, '--key', key, '--events', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => resolve({ code, out }));
    });
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('started a server');
    expect(r.out).toContain('the correlation pipeline read events 1..5000');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it.each(envs)('ingest loads NDJSON offline on the %s path, stopping at a bad line with what came before stored', async (_name, env) => {
    const dataDir = join(root, `ingest-${_name}`);
    expect(run(['--data-dir', dataDir, 'init']).code).toBe(0);
    const file = join(root, `events-${_name}.ndjson`);
    const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ kind: 'probe_failed', i }));
    writeFileSync(file, `${lines.join('\n')}\n\n`);
    const ok = run(['--data-dir', dataDir, '--json', 'ingest', file, '--batch', '1000'], env);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ events: 2500, firstSeq: 1, lastSeq: 2500 });
    writeFileSync(file, '{"a":1}\n{"b":\n');
    const bad = run(['--data-dir', dataDir, 'ingest', file], env);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`error ERR_VALIDATION: ${file} line 2 is not valid JSON`);
    const s = await TapioStorage.open({ dataDir }, { create: false });
    try {
      expect(s.transit.lastSeq).toBe(2501);
      const got: string[] = [];
      for await (const r of s.transit.read({ fromSeq: 2499 })) got.push(Buffer.from(r.data).toString());
      expect(got).toEqual([lines[2498], lines[2499], '{"a":1}']);
    } finally {
      await s.close();
    }
    expect(run(['--data-dir', join(root, 'nothing-here'), 'ingest', file], env).err).toContain('ERR_NO_STORE');
  });
});

describe('progress output', () => {
  it('draws a bar on a terminal, a line per tenth otherwise, and nothing when quiet', () => {
    const lines: string[] = [];
    const plain = new Progress('load', { unit: 'events', total: 1000, tty: false, write: (t) => lines.push(t) });
    for (let i = 0; i < 100; i++) plain.tick(10);
    plain.done();
    expect(lines).toHaveLength(10);
    expect(lines[9]).toMatch(/^load 100% 1,000\/1,000 events, [\d,]+ events\/s\n$/);
    const drawn: string[] = [];
    const bar = new Progress('load', { unit: 'events', total: 10, tty: true, write: (t) => drawn.push(t) });
    bar.tick(10);
    bar.done();
    expect(drawn.at(-1)).toMatch(/^\rload \[#{28}\] 100% 10\/10 events/);
    const quiet: string[] = [];
    const q = new Progress('load', { unit: 'events', total: 10, quiet: true, write: (t) => quiet.push(t) });
    q.tick(5);
    q.done();
    expect(quiet).toEqual([]);
  });
});

describe('the admin key', () => {
  it('is written on the first start, kept after, and issued again when its file is lost', async () => {
    const dataDir = join(root, 'admin-key');
    const s = await TapioStorage.open({ dataDir });
    try {
      const first = await ensureAdminKey(s);
      expect(first).toEqual({ file: join(dataDir, 'admin.key'), created: true });
      const key = readFileSync(first.file, 'utf8').trim();
      expect(await s.metadata.apiKeys.verify(key)).toBe((await s.metadata.users.getByName('admin'))!.id);
      expect(await ensureAdminKey(s)).toEqual({ file: first.file, created: false });
      expect(readFileSync(first.file, 'utf8').trim()).toBe(key);
      // An empty file (a crash between the user and the file) or none: a new key for the admin.
      writeFileSync(first.file, '');
      expect((await ensureAdminKey(s)).created).toBe(true);
      const again = readFileSync(first.file, 'utf8').trim();
      expect(again).not.toBe(key);
      expect(statSync(first.file).mode & 0o777).toBe(0o600);
      expect(await s.metadata.apiKeys.verify(again)).toBe((await s.metadata.users.getByName('admin'))!.id);
      rmSync(first.file);
      expect((await ensureAdminKey(s)).created).toBe(true);
      expect((await s.metadata.users.list()).items.filter((u) => u.name === 'admin')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});
