// The command line, run as a user runs it: a child process of the compiled lib/cli/main.js.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', '..', 'lib', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('tapio-storage command line', () => {
  const dataDir = join(root, 'data');

  it('has --help on every command', () => {
    for (const cmd of [[], ['init'], ['config', 'check'], ['users', 'add'], ['users', 'list'], ['keys', 'create'], ['keys', 'list'], ['keys', 'revoke'], ['status'], ['wal', 'verify'], ['wal', 'dump'], ['wal', 'stats'], ['wal', 'test-sync'], ['demo']]) {
      const r = run([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.out).toMatch(/^Usage: tapio-storage/);
    }
  });

  it('init creates the data directory and its stores', () => {
    const r = run(['--data-dir', dataDir, 'init']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`initialised ${dataDir}`);
    expect(readdirSync(dataDir).sort()).toEqual(['TAPIO_STORAGE', 'metadata', 'wal']);
  });

  it('config check prints the resolved configuration, or every problem with exit status 1', () => {
    const good = join(root, 'good.yaml');
    writeFileSync(good, 'storage:\n  transit:\n    retention: 2h\n    ring_capacity: 64MB\n');
    const ok = run(['config', 'check', good]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/valid/);
    expect(ok.out).toMatch(/retention: 2h/);
    expect(ok.out).toMatch(/ring_capacity: 64MiB/);
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'storage:\n  transit:\n    retention: 1x\n    walPath: /tmp/x\n');
    const no = run(['config', 'check', bad]);
    expect(no.code).toBe(1);
    expect(no.err).toMatch(/^error ERR_CONFIG:/);
    expect(no.err).toMatch(/storage\.transit\.retention/);
    expect(no.err).toMatch(/did you mean .?wal_path/);
  });

  it('adds and lists users, creates, lists and revokes keys (the key is printed once)', () => {
    const add = run(['--data-dir', dataDir, '--json', 'users', 'add', 'ops', '--role', 'admin', 'viewer']);
    expect(add.code).toBe(0);
    const user = JSON.parse(add.out) as { id: string; name: string; roles: string[] };
    expect(user).toMatchObject({ name: 'ops', roles: ['admin', 'viewer'] });
    const dup = run(['--data-dir', dataDir, 'users', 'add', 'ops']);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/ERR_ALREADY_EXISTS/);
    const list = run(['--data-dir', dataDir, 'users', 'list']);
    expect(list.out).toContain(user.id);

    const created = run(['--data-dir', dataDir, 'keys', 'create', 'ops', '--name', 'ci', '--expires', '30d']);
    expect(created.code).toBe(0);
    const key = /key \(shown once, store it now\): (tap_\S+)/.exec(created.out)?.[1];
    expect(key).toMatch(/^tap_/);
    const keyId = /created key (\S+)/.exec(created.out)?.[1];
    const keys = run(['--data-dir', dataDir, 'keys', 'list']);
    expect(keys.out).toContain(keyId);
    expect(keys.out).toContain('active');
    expect(keys.out).not.toContain(key!.slice(-20));
    const revoked = run(['--data-dir', dataDir, 'keys', 'revoke', keyId!]);
    expect(revoked.code).toBe(0);
    expect(run(['--data-dir', dataDir, 'keys', 'list']).out).toContain('revoked');
    const unknown = run(['--data-dir', dataDir, 'keys', 'create', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/ERR_NOT_FOUND/);
  });

  it('status tells the path, the SIMD level and the store sizes', () => {
    const r = run(['--data-dir', dataDir, '--json', 'status']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { capabilities: { native: boolean; simd: string }; sizes: Array<{ store: string; bytes: number }> };
    expect(['avx512', 'avx2', 'neon', 'scalar']).toContain(s.capabilities.simd);
    expect(s.sizes.map((x) => x.store)).toEqual(['metadata', 'transit', 'correlations']);
    expect(s.sizes[0]!.bytes).toBeGreaterThan(0);
  });

  it('wal verify, dump and stats read the WAL; verify exits 1 on damage', async () => {
    const { TapioStorage } = await import('../../src/index.js');
    const walData = join(root, 'waldata');
    const storage = await TapioStorage.open({ dataDir: walData, storage: { transit: { segment_size: '1MiB' } } });
    for (let i = 0; i < 40; i++) await storage.transit.append([`event ${i}`, new Uint8Array(40 * 1024).fill(i)]);
    await storage.close();

    const verify = run(['--data-dir', walData, 'wal', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.out).toMatch(/80 record\(s\), seq 1\.\.80/);
    expect(verify.out).toMatch(/checkpoint: segments up to \d+ sealed .*an open scans records from segment \d+/);
    const dump = run(['--data-dir', walData, 'wal', 'dump', '--from', '3', '--limit', '2']);
    const lines = dump.out.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; utf8?: string; base64?: string; bytes: number });
    expect(lines).toEqual([
      { seq: 3, bytes: 7, utf8: 'event 1' },
      { seq: 4, bytes: 40 * 1024, base64: Buffer.alloc(40 * 1024, 1).toString('base64') },
    ]);
    const stats = run(['--data-dir', walData, '--json', 'wal', 'stats']);
    expect(JSON.parse(stats.out)).toMatchObject({ records: 80, firstSeq: 1, lastSeq: 80, ok: true });

    // Damage a record in the oldest segment: verify reports it and exits 1.
    const walDir = join(walData, 'wal');
    const first = readdirSync(walDir).filter((n) => n.endsWith('.wal')).sort()[0]!;
    const fd = openSync(join(walDir, first), 'r+');
    const original = Buffer.alloc(2);
    readSync(fd, original, 0, 2, 4096 + 20);
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, 4096 + 20);
    const damaged = run(['--data-dir', walData, 'wal', 'verify']);
    expect(damaged.code).toBe(1);
    expect(damaged.out).toMatch(new RegExp(`DAMAGE corrupt in ${first.replace('.', '\\.')} at offset 4096`));

    // A checkpoint that disagrees with the segments is damage too: a strict open would refuse it.
    writeSync(fd, original, 0, 2, 4096 + 20);
    closeSync(fd);
    expect(run(['--data-dir', walData, 'wal', 'verify']).code).toBe(0);
    const cpFile = join(walDir, 'CHECKPOINT');
    const cp = JSON.parse(readFileSync(cpFile, 'utf8')) as { lastSeq: number };
    writeFileSync(cpFile, JSON.stringify({ ...cp, lastSeq: cp.lastSeq + 1 }));
    const wrong = run(['--data-dir', walData, 'wal', 'verify']);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(/DAMAGE corrupt in CHECKPOINT at offset 0: CHECKPOINT says .* holds sequence numbers \d+ to \d+, but it holds/);
  });

  it('wal test-sync times write + fdatasync cycles in the WAL directory and removes its scratch file', () => {
    const walData = join(root, 'syncdata');
    expect(run(['--data-dir', walData, 'init']).code).toBe(0);
    const walDir = join(walData, 'wal');
    const before = readdirSync(walDir).sort();
    const text = run(['--data-dir', walData, 'wal', 'test-sync', '--seconds', '0.05', '--bytes', '4096', '--mode', 'buffered-append,buffered-sparse']);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`write + fdatasync cycles in ${walDir}`);
    // Rows in the probe's order, whatever the order asked.
    expect(text.out).toMatch(/\nbuffered-sparse +4096 +\d+ +\d+ +[\d.]+ +[\d.]+ +[\d.]+ .*\nbuffered-append +4096 +\d+/);
    expect(text.out).toContain('at most N x cycles/s records per second');
    const json = run(['--data-dir', walData, '--json', 'wal', 'test-sync', '--seconds', '0.05', '--bytes', '4096', '--mode', 'buffered-append']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as { dir: string; results: Array<{ mode: string; ran: boolean; cycles: number; writeBytes: number }> };
    expect(parsed.dir).toBe(walDir);
    expect(parsed.results).toEqual([expect.objectContaining({ mode: 'buffered-append', ran: true, writeBytes: 4096 })]);
    expect(parsed.results[0]!.cycles).toBeGreaterThan(0);
    expect(readdirSync(walDir).sort()).toEqual(before);
    for (const [args, message] of [
      [['--mode', 'fast'], /--mode: unknown mode "fast"/],
      [['--seconds', '0'], /--seconds must be a number above 0/],
      [['--bytes', '-4'], /--bytes must be a whole number/],
    ] as Array<[string[], RegExp]>) {
      const bad = run(['--data-dir', walData, 'wal', 'test-sync', ...args]);
      expect(bad.code, args.join(' ')).toBe(1);
      expect(bad.err).toMatch(/^error ERR_INVALID_ARGUMENT: /);
      expect(bad.err).toMatch(message);
      expect(bad.out).toBe('');
    }
    const missing = run(['--data-dir', join(root, 'no-such-data'), 'wal', 'test-sync']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error ERR_DATA_DIR: there is no WAL directory/);
  });

  it('wal commands find the WAL where the store keeps it, and refuse a directory that is not there', async () => {
    const { TapioStorage } = await import('../../src/index.js');
    const home = join(root, 'custom');
    const walPath = join(home, 'elsewhere-wal');
    const configFile = join(home, 'tapio.yaml');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(home, { recursive: true });
    writeFileSync(configFile, `storage:\n  transit:\n    wal_path: ${walPath}\n    segment_size: 1MiB\n`);
    const storage = await TapioStorage.open({ dataDir: join(home, 'data'), storage: { transit: { wal_path: walPath, segment_size: '1MiB' } } });
    await storage.transit.append(['a', 'b', 'c']);
    await storage.close();
    // --config with --data-dir: the file's wal_path still wins, as when the store opens.
    const stats = run(['--config', configFile, '--data-dir', join(home, 'data'), '--json', 'wal', 'stats']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out)).toMatchObject({ dir: walPath, records: 3, lastSeq: 3, ok: true });
    const missing = run(['--data-dir', join(root, 'no-such-store'), 'wal', 'verify']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/error ERR_DATA_DIR: there is no WAL directory at .*no-such-store/);
  });

  it('says what is wrong and exits 1 on a bad argument', () => {
    const r = run(['--data-dir', dataDir, 'users', 'list', '--limit', 'zero']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--limit must be a whole number/);
    const from = run(['--data-dir', dataDir, 'wal', 'dump', '--from', 'x']);
    expect(from.code).toBe(1);
    expect(from.err).toMatch(/--from must be a whole number >= 1, got "x"/);
  });
});
