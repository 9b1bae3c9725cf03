// A data directory is private: events, findings and key hashes are nobody else's. Every
// directory a store creates is 0700 and every file 0600, on both paths; a directory that existed
// before keeps its mode. The umask is set to the usual 022 for this file, so a mode shows what a
// file was created with and not a stricter umask the run happened to inherit.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { TapioStorage } from '../src/index.js';
import { FindingGenerator } from '../src/correlations/generator.js';
import { lockDir, type DirLockAddon } from '../src/fs/dir-lock.js';
import { loadNative, nativeStatus } from '../src/native/loader.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const DIM = 8;

let umaskBefore = 0;
beforeAll(() => {
  umaskBefore = process.umask(0o022);
});
afterAll(() => {
  process.umask(umaskBefore);
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newTempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-privacy-'));
  dirs.push(d);
  return d;
}

/**
 * Every entry under `root` (and `root` itself) whose mode is not private: a directory that is not
 * 0700, a regular file that is not 0600, anything else. Each as `path: what it is`.
 */
function notPrivate(root: string): string[] {
  const out: string[] = [];
  const visit = (path: string): void => {
    const st = lstatSync(path);
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    const name = relative(root, path) || '.';
    if (st.isDirectory()) {
      if (mode !== '700') out.push(`${name}/: directory of mode ${mode}`);
      for (const e of readdirSync(path)) visit(join(path, e));
    } else if (st.isFile()) {
      if (mode !== '600') out.push(`${name}: file of mode ${mode}`);
    } else {
      out.push(`${name}: neither a file nor a directory (mode ${mode})`);
    }
  };
  visit(root);
  return out.sort();
}

/** Every regular file under `root`, relative to it. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((p) => statSync(join(root, p)).isFile())
    .sort();
}

describe.each(paths)('a new store on the %s path', (path) => {
  async function open(dataDir: string): Promise<TapioStorage> {
    return TapioStorage.open(
      {
        dataDir,
        storage: {
          transit: { segment_size: '1MiB', ring_capacity: '1MiB' },
          correlations: { embedding_dim: DIM, compaction: { l0_size: '1KB' } },
        },
      },
      { transit: { path }, correlations: { path } },
    );
  }

  /** Writes something into every part of the store: events, findings, users and keys. */
  async function fill(s: TapioStorage): Promise<void> {
    // 100 KB records, about ten to a 1 MiB segment: sealed segments and their index files.
    for (let i = 0; i < 25; i++) await s.transit.append([new Uint8Array(100_000)]);
    await s.metadata.checkpoints.set('privacy-test', 3);
    const user = await s.metadata.users.create({ name: 'ops' }, { apiKey: { name: 'first' } });
    await s.metadata.apiKeys.create(user.id, { name: 'second' });
    const gen = new FindingGenerator({ seed: 11, embeddingDim: DIM });
    for (let i = 0; i < 2; i++) {
      await s.correlations.insert(gen.next(200));
      await s.correlations.flush();
    }
    await s.correlations.compactionSettled(); // a merged segment too
    await s.correlations.insert(gen.next(50)); // and rows left in the correlation WAL
  }

  it('creates every directory 0700 and every file 0600', async () => {
    const dataDir = join(newTempDir(), 'parent', 'store'); // the store creates both
    const s = await open(dataDir);
    await fill(s);
    expect(s.correlations.stats().compactions).toBeGreaterThan(0);
    await s.close();
    const files = filesUnder(dataDir);
    for (const kind of [
      /\.wal$/,
      /\.idx$/,
      /(^|\/)WAL_ID$/,
      /(^|\/)LOCK$/,
      /data\.mdb$/,
      /lock\.mdb$/,
      /hmac\.key$/,
      /MANIFEST$/,
      /\.parquet$/,
      /TAPIO_STORAGE$/,
    ]) {
      expect(
        files.some((f) => kind.test(f)),
        `a file matching ${kind} (files: ${files.join(', ')})`,
      ).toBe(true);
    }
    const offenders = notPrivate(join(dataDir, '..'));
    expect(offenders, `not private under ${dataDir}/..:\n${offenders.join('\n')}`).toEqual([]);
  });

  it('leaves the mode of a data directory that existed alone, and makes what it creates inside private', async () => {
    const dataDir = join(newTempDir(), 'store');
    mkdirSync(dataDir, { mode: 0o755 });
    const s = await open(dataDir);
    await fill(s);
    await s.close();
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('755');
    const offenders = notPrivate(dataDir).filter((o) => !o.startsWith('./:'));
    expect(offenders, `not private under ${dataDir}:\n${offenders.join('\n')}`).toEqual([]);
  });
});

describe('lock files', () => {
  const addon = loadNative();
  const modes: Array<{ name: string; native: DirLockAddon | null; abstractSockets: boolean }> = [
    { name: 'abstract socket, owner written by TypeScript', native: null, abstractSockets: true },
    { name: 'pid file (no socket, no addon)', native: null, abstractSockets: false },
  ];
  if (addon !== null) modes.unshift({ name: 'flock through the addon', native: addon, abstractSockets: false });

  it.each(modes)('are 0600 with $name', async ({ native, abstractSockets }) => {
    const dir = newTempDir();
    const lock = await lockDir(dir, { fileName: 'LOCK', what: 'test directory', native, abstractSockets });
    try {
      expect((statSync(lock.file).mode & 0o777).toString(8)).toBe('600');
    } finally {
      await lock.release();
    }
  });
});
