// The command line, run as a user runs it: a child process of the compiled lib/cli/main.js.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { afterAll, describe, expect, it } from 'vitest';

import { tree } from '../dir-tree.js';
import { nativeStatus } from '../../src/native/loader.js';
import { libChildScript, libPath } from '../built-lib.js';

const cli = libPath('cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'tapio-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}, cwd?: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, ...(cwd === undefined ? {} : { cwd }) });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The CLI's child runs on both paths where the WAL matters: TAPIO_NATIVE=1 (native, when built) and 0. */
const walPaths: Array<[string, Record<string, string>]> = [
  ...(nativeStatus().native ? [['native', { TAPIO_NATIVE: '1' }] as [string, Record<string, string>]] : []),
  ['typescript', { TAPIO_NATIVE: '0' }],
];

/** A child process that holds the store at `dataDir` open (hold-store-child.mjs) and answers questions. */
async function holdStore(
  dataDir: string,
  env: Record<string, string>,
): Promise<{ ready: { lastSeq: number; path: string }; ask: (line: string) => Promise<Record<string, unknown>>; close: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [libChildScript(import.meta.dirname, 'hold-store-child.mjs'), dataDir], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`the store-holding child exited with ${String(await exited)}`);
    return JSON.parse(r.value as string) as Record<string, unknown>;
  };
  const ready = (await next()) as { lastSeq: number; path: string };
  return {
    ready,
    ask: async (line) => {
      child.stdin.write(`${line}\n`);
      return next();
    },
    close: async () => {
      child.stdin.end('close\n');
      return exited;
    },
  };
}

describe('tapio-storage command line', () => {
  const dataDir = join(root, 'data');

  it('has --help on every command', () => {
    for (const cmd of [
      [],
      ['init'],
      ['config', 'check'],
      ['users', 'add'],
      ['users', 'list'],
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'revoke'],
      ['status'],
      ['wal', 'verify'],
      ['wal', 'dump'],
      ['wal', 'stats'],
      ['wal', 'test-sync'],
      ['demo'],
    ]) {
      const r = run([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.out).toMatch(/^Usage: tapio-storage/);
    }
  });

  it('init creates the data directory and its stores, prints only what exists, and leaves an existing store as it is', () => {
    const r = run(['--data-dir', dataDir, 'init']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`initialised ${dataDir}`);
    expect(readdirSync(dataDir).sort()).toEqual(['TAPIO_STORAGE', 'correlations', 'metadata', 'wal']);
    // Every path printed exists.
    const printed = [...r.out.matchAll(/^ {2}\S.*? {2,}(\/\S+)$/gm)].map((m) => m[1]!);
    expect(printed).toEqual([join(dataDir, 'metadata'), join(dataDir, 'wal'), join(dataDir, 'correlations')]);
    for (const p of printed) expect(existsSync(p), p).toBe(true);
    const json = run(['--data-dir', dataDir, '--json', 'init']);
    expect(JSON.parse(json.out)).toEqual({
      dataDir,
      created: false,
      metadata: join(dataDir, 'metadata'),
      transit: join(dataDir, 'wal'),
      correlations: join(dataDir, 'correlations'),
    });
    expect(run(['--data-dir', dataDir, 'init']).out).toContain(`a store exists already at ${dataDir}`);
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
    const lines = dump.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; utf8?: string; base64?: string; bytes: number });
    expect(lines).toEqual([
      { seq: 3, bytes: 7, utf8: 'event 1' },
      { seq: 4, bytes: 40 * 1024, base64: Buffer.alloc(40 * 1024, 1).toString('base64') },
    ]);
    const stats = run(['--data-dir', walData, '--json', 'wal', 'stats']);
    expect(JSON.parse(stats.out)).toMatchObject({ records: 80, firstSeq: 1, lastSeq: 80, ok: true });

    // Damage a record in the oldest segment: verify reports it and exits 1.
    const walDir = join(walData, 'wal');
    const first = readdirSync(walDir)
      .filter((n) => n.endsWith('.wal'))
      .sort()[0]!;
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
    expect(missing.err).toMatch(/^error ERR_NO_STORE: no store at .*no-such-data/);
    // --path names any directory to probe, WAL or not.
    const probeDir = join(root, 'probe-here');
    mkdirSync(probeDir);
    expect(run(['wal', 'test-sync', '--path', probeDir, '--seconds', '0.05', '--bytes', '4096', '--mode', 'buffered-append']).code).toBe(0);
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
    expect(missing.err).toMatch(/error ERR_NO_STORE: no store at .*no-such-store/);
    const missingPath = run(['wal', 'verify', '--path', join(root, 'no-such-wal')]);
    expect(missingPath.code).toBe(1);
    expect(missingPath.err).toMatch(/error ERR_DATA_DIR: there is no WAL directory at .*no-such-wal/);
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

describe('commands other than init never create a store', () => {
  it.each([
    [['users', 'list']],
    [['users', 'add', 'alice']],
    [['keys', 'list']],
    [['keys', 'create', 'alice']],
    [['keys', 'revoke', 'AAAAAAAAAAAA']],
    [['status']],
    [['wal', 'verify']],
    [['wal', 'dump']],
    [['wal', 'stats']],
  ])('%j on a directory without a store says "no store", exits 1 and creates nothing', (args) => {
    const parent = mkdtempSync(join(root, 'nostore-'));
    const typo = join(parent, 'typo');
    const r = run(['--data-dir', typo, ...args]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `error ERR_NO_STORE: no store at ${typo} (the directory does not exist); run \`tapio-storage --data-dir ${typo} init\` to create one. Nothing was created or changed.\n`,
    );
    expect(tree(parent)).toEqual([]);
  });

  it.each([[['users', 'add', 'alice']], [['status']], [['wal', 'stats']]])('%j on an empty directory says "no store" and leaves it empty', (args) => {
    const empty = mkdtempSync(join(root, 'empty-'));
    const r = run(['--data-dir', empty, ...args]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error ERR_NO_STORE: no store at .*empty-\w+ \(.*has no TAPIO_STORAGE marker\)/);
    expect(tree(empty)).toEqual([]);
  });

  it('with a configuration file, a missing store is refused the same way', () => {
    const home = mkdtempSync(join(root, 'nostore-config-'));
    writeFileSync(join(home, 'tapio.yaml'), 'dataDir: ./state\n');
    const r = run(['--config', join(home, 'tapio.yaml'), 'users', 'list']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error ERR_NO_STORE: no store at ${join(home, 'state')} `));
    expect(tree(home)).toEqual(['tapio.yaml']);
  });
});

describe('init checks everything before it creates anything', () => {
  it('refuses a directory holding files of something else, and takes it with --force', () => {
    const dir = mkdtempSync(join(root, 'foreign-'));
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    mkdirSync(join(dir, 'photos'));
    const r = run(['--data-dir', dir, 'init']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error ERR_DATA_DIR: .* is not empty \(it holds notes\.txt, photos\/\) and has no TAPIO_STORAGE marker.*tapio-storage init --force/);
    expect(tree(dir)).toEqual(['notes.txt', 'photos/']);
    const forced = run(['--data-dir', dir, 'init', '--force']);
    expect(forced.code).toBe(0);
    expect(tree(dir)).toEqual(expect.arrayContaining(['TAPIO_STORAGE', 'metadata/', 'wal/', 'notes.txt', 'photos/']));
  });

  it('refuses to create a store inside another store, which keeps opening', () => {
    const outer = join(mkdtempSync(join(root, 'outer-')), 'store');
    expect(run(['--data-dir', outer, 'init']).code).toBe(0);
    expect(run(['--data-dir', outer, 'users', 'add', 'ops']).code).toBe(0);
    const before = tree(outer);
    for (const inner of ['metadata', 'wal', 'sub']) {
      const r = run(['--data-dir', join(outer, inner), 'init', '--force']);
      expect(r.code, inner).toBe(1);
      expect(r.err).toMatch(new RegExp(`^error ERR_DATA_DIR: ${join(outer, inner)} is inside the data directory of the store at ${outer}`));
    }
    expect(tree(outer)).toEqual(before);
    const list = run(['--data-dir', outer, 'users', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/ ops /);
  });

  it.each([
    ['wal', 'foreign.txt', /^error ERR_FORMAT_VERSION: .*wal is not empty and has no WAL_ID/],
    ['metadata', 'stray.txt', /^error ERR_FORMAT_VERSION: Metadata directory .*metadata holds files that do not belong to a metadata store \(stray\.txt\)/],
  ])('a %s directory holding %s is refused and nothing is created ("Nothing was changed" is true)', (store, file, message) => {
    const dir = mkdtempSync(join(root, `stray-${store}-`));
    mkdirSync(join(dir, store));
    writeFileSync(join(dir, store, file), 'x');
    const r = run(['--data-dir', dir, 'init', '--force']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/Nothing was changed/);
    expect(tree(dir)).toEqual([`${store}/`, `${store}/${file}`]);
  });

  it('a damaged marker is a TapioError that says what is wrong', () => {
    const dir = mkdtempSync(join(root, 'badmarker-'));
    for (const [text, args, message] of [
      ['null', ['init'], /it holds null, not a JSON object/],
      ['[]', ['users', 'list'], /it holds an array, not a JSON object/],
      ['{"version":"1"}', ['status'], /it has no "format" member; its "version" is the string "1", not a whole number/],
    ] as Array<[string, string[], RegExp]>) {
      writeFileSync(join(dir, 'TAPIO_STORAGE'), text);
      const r = run(['--data-dir', dir, ...args]);
      expect(r.code, `${text} ${args.join(' ')}`).toBe(1);
      expect(r.err).toMatch(/^error ERR_FORMAT_VERSION: .*TAPIO_STORAGE is not a tapio-storage marker: /);
      expect(r.err).toMatch(message);
    }
    expect(tree(dir)).toEqual(['TAPIO_STORAGE']);
  });
});

describe('wal commands on a directory that is not a WAL', () => {
  it.each([['verify'], ['dump'], ['stats']])('wal %s --path of a folder without a WAL says so and exits 1', (command) => {
    const folder = mkdtempSync(join(root, 'not-a-wal-'));
    writeFileSync(join(folder, 'index.ts'), 'export {};\n');
    const r = run(['wal', command, '--path', folder]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `error ERR_NO_STORE: there is no transit WAL at ${folder}: it holds no WAL_ID and no segment files; pass the store's --config or --data-dir, or --path with a WAL directory. Nothing was read or changed.\n`,
    );
    expect(tree(folder)).toEqual(['index.ts']);
  });
});

describe.each(walPaths)('administration beside a running store (%s path)', (_name, env) => {
  it('users, keys, status and the read-only wal commands work while another process holds the store, and a revoked key is refused there at once', async () => {
    const dataDir = join(mkdtempSync(join(root, 'running-')), 'data');
    expect(run(['--data-dir', dataDir, 'init'], env).code).toBe(0);
    const held = await holdStore(dataDir, env);
    try {
      expect(held.ready.lastSeq).toBe(3);
      expect(held.ready.path).toBe(env.TAPIO_NATIVE === '0' ? 'typescript' : 'native');
      const add = run(['--data-dir', dataDir, '--json', 'users', 'add', 'alice'], env);
      expect(add.err).toBe('');
      expect(add.code).toBe(0);
      const alice = JSON.parse(add.out) as { id: string };
      expect(run(['--data-dir', dataDir, 'users', 'list'], env).out).toContain(alice.id);
      const created = run(['--data-dir', dataDir, '--json', 'keys', 'create', 'alice'], env);
      expect(created.code).toBe(0);
      const { id: keyId, key } = JSON.parse(created.out) as { id: string; key: string };
      expect(await held.ask(`verify ${key}`)).toEqual({ verify: alice.id });
      expect(run(['--data-dir', dataDir, 'keys', 'list', '--user', 'alice'], env).out).toContain(keyId);

      const status = run(['--data-dir', dataDir, '--json', 'status'], env);
      expect(status.code).toBe(0);
      expect((JSON.parse(status.out) as { dataDir: string }).dataDir).toBe(dataDir);
      const dump = run(['--data-dir', dataDir, 'wal', 'dump'], env);
      expect(dump.code).toBe(0);
      expect(
        dump.out
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { utf8: string }).utf8),
      ).toEqual(['held-1', 'held-2', 'held-3']);
      const verify = run(['--data-dir', dataDir, 'wal', 'verify'], env);
      expect(verify.code).toBe(0);
      expect(verify.out).toMatch(/3 record\(s\), seq 1\.\.3/);
      expect(run(['--data-dir', dataDir, 'wal', 'stats'], env).code).toBe(0);

      // Revoked by pasting the whole key: the running store refuses it at once.
      const revoked = run(['--data-dir', dataDir, 'keys', 'revoke', key], env);
      expect(revoked.err).toBe('');
      expect(revoked.code).toBe(0);
      expect(revoked.out).toBe(`revoked key ${keyId} (the id inside the API key given) of user ${alice.id}\n`);
      expect(await held.ask(`verify ${key}`)).toEqual({ verify: null });
    } finally {
      expect(await held.close()).toBe(0);
    }
    // The store is whole afterwards: the records the running process appended are there.
    expect(JSON.parse(run(['--data-dir', dataDir, '--json', 'wal', 'stats'], env).out)).toMatchObject({ records: 3, lastSeq: 3 });
  });
});

describe('names, ids and keys on the command line', () => {
  const dir = join(root, 'names');

  it('refuses names with surrounding spaces and names that differ only in case', () => {
    expect(run(['--data-dir', dir, 'init']).code).toBe(0);
    expect(run(['--data-dir', dir, 'users', 'add', 'alice']).code).toBe(0);
    const spaced = run(['--data-dir', dir, 'users', 'add', ' alice']);
    expect(spaced.code).toBe(1);
    expect(spaced.err).toMatch(/^error ERR_VALIDATION: users\.create: name: must not start or end with white space/);
    const upper = run(['--data-dir', dir, 'users', 'add', 'ALICE']);
    expect(upper.code).toBe(1);
    expect(upper.err).toMatch(/^error ERR_ALREADY_EXISTS: users\.create: a user named 'ALICE' already exists as 'alice' \(names are unique ignoring case\)/);
    const list = run(['--data-dir', dir, '--json', 'users', 'list']);
    expect((JSON.parse(list.out) as { items: Array<{ name: string }> }).items.map((u) => u.name)).toEqual(['alice']);
  });

  it('users list says truthfully how it is ordered', () => {
    const help = run(['users', 'list', '--help']);
    expect(help.out).not.toMatch(/oldest first/);
    expect(help.out).toMatch(/in id order \(ids are random, so this is not the order of creation\)/);
  });

  it('keys create and keys list --user take a user id or a name (any case)', () => {
    const alice = (JSON.parse(run(['--data-dir', dir, '--json', 'users', 'list']).out) as { items: Array<{ id: string }> }).items[0]!;
    const byId = JSON.parse(run(['--data-dir', dir, '--json', 'keys', 'create', alice.id, '--name', 'by-id']).out) as { id: string; userId: string };
    const byName = JSON.parse(run(['--data-dir', dir, '--json', 'keys', 'create', 'Alice', '--name', 'by-name']).out) as { id: string; userId: string };
    expect(byId.userId).toBe(alice.id);
    expect(byName.userId).toBe(alice.id);
    for (const user of [alice.id, 'alice', 'ALICE']) {
      const listed = run(['--data-dir', dir, '--json', 'keys', 'list', '--user', user]);
      expect(listed.code, user).toBe(0);
      expect((JSON.parse(listed.out) as { items: Array<{ id: string }> }).items.map((k) => k.id).sort()).toEqual([byId.id, byName.id].sort());
    }
    const nobody = run(['--data-dir', dir, 'keys', 'list', '--user', 'nobody']);
    expect(nobody.code).toBe(1);
    expect(nobody.err).toMatch(/^error ERR_NOT_FOUND: no user with id or name "nobody"/);
  });

  it('keys revoke takes an id, tap_<id>, or a whole key, whose secret it never prints', () => {
    const make = (): { id: string; key: string } =>
      JSON.parse(run(['--data-dir', dir, '--json', 'keys', 'create', 'alice']).out) as { id: string; key: string };
    const a = make();
    expect(run(['--data-dir', dir, 'keys', 'revoke', a.id]).out).toBe(
      `revoked key ${a.id} of user ${(JSON.parse(run(['--data-dir', dir, '--json', 'users', 'list']).out) as { items: Array<{ id: string }> }).items[0]!.id}\n`,
    );
    const b = make();
    expect(run(['--data-dir', dir, 'keys', 'revoke', `tap_${b.id}`]).code).toBe(0);
    const c = make();
    const whole = run(['--data-dir', dir, '--json', 'keys', 'revoke', c.key]);
    expect(whole.code).toBe(0);
    expect(JSON.parse(whole.out)).toMatchObject({ revoked: c.id, fromKey: true });
    const secret = c.key.slice(`tap_${c.id}_`.length);
    expect(whole.out + whole.err).not.toContain(secret.slice(0, 20));
    // A pasted key with a typo is refused without quoting it, and nothing is revoked.
    const d = make();
    const typo = `${d.key.slice(0, -3)}${d.key.at(-3) === 'A' ? 'B' : 'A'}${d.key.slice(-2)}`; // one character changed
    const bad = run(['--data-dir', dir, 'keys', 'revoke', typo]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error ERR_API_KEY_FORMAT: Not a valid tapio API key: its checksum/);
    expect(bad.out + bad.err).not.toContain(d.key.slice(`tap_${d.id}_`.length, `tap_${d.id}_`.length + 20));
    const states = (JSON.parse(run(['--data-dir', dir, '--json', 'keys', 'list']).out) as { items: Array<{ id: string; revokedAt: number | null }> }).items;
    const revokedIds = states.filter((k) => k.revokedAt !== null).map((k) => k.id);
    expect(revokedIds).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
    expect(revokedIds).not.toContain(d.id);
  });
});

describe('TAPIO_NATIVE', () => {
  const dir = join(root, 'native-env');

  it.each(['foo', 'yes'])('refuses %j with ERR_CONFIG instead of silently running native', (value) => {
    if (!existsSync(dir)) expect(run(['--data-dir', dir, 'init']).code).toBe(0);
    const r = run(['--data-dir', dir, 'status'], { TAPIO_NATIVE: value });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error ERR_CONFIG: TAPIO_NATIVE is "${value}"; it takes 0 or false .* or 1 or true`));
  });

  it.each([
    ['0', false],
    ['false', false],
    ['FALSE', false],
    ['1', true],
    ['True', true],
  ])('TAPIO_NATIVE=%s is understood', (value, native) => {
    if (!existsSync(dir)) expect(run(['--data-dir', dir, 'init']).code).toBe(0);
    const r = run(['--data-dir', dir, '--json', 'status'], { TAPIO_NATIVE: value });
    expect(r.code, r.err).toBe(0);
    const caps = (JSON.parse(r.out) as { capabilities: { native: boolean; nativeReason?: string } }).capabilities;
    expect(caps.native).toBe(native && nativeStatus().native);
    if (!native) expect(caps.nativeReason).toBe(`TAPIO_NATIVE=${value} is set`);
  });
});

describe('configuration files on the command line', () => {
  it("resolves a file's relative paths against the file's directory, from any working directory", () => {
    const home = mkdtempSync(join(root, 'relative-'));
    mkdirSync(join(home, 'etc'));
    mkdirSync(join(home, 'elsewhere'));
    writeFileSync(join(home, 'etc', 'tapio.yaml'), 'dataDir: ../state\n');
    const r = run(['--config', '../etc/tapio.yaml', 'init'], {}, join(home, 'elsewhere'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`initialised ${join(home, 'state')}`);
    expect(tree(home)).toEqual(expect.arrayContaining(['etc/', 'etc/tapio.yaml', 'elsewhere/', 'state/', 'state/TAPIO_STORAGE']));
    expect(tree(join(home, 'elsewhere'))).toEqual([]);
    // --data-dir beside --config is relative to the working directory, as any command-line path.
    const both = run(['--config', '../etc/tapio.yaml', '--data-dir', 'here', 'init'], {}, join(home, 'elsewhere'));
    expect(both.code, both.err).toBe(0);
    expect(both.out).toContain(`initialised ${join(home, 'elsewhere', 'here')}`);
    const check = run(['config', 'check', join(home, 'etc', 'tapio.yaml')]);
    expect(check.out).toContain(`dataDir: ${join(home, 'state')}`);
  });
});
