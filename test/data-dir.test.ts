// The data directory: its marker, and what TapioStorage.open examines before it creates anything
// (a missing store with create: false, a foreign or nested directory, foreign files in a store
// directory), on both transit paths.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { DATA_DIR_MARKER, readMarker } from '../src/data-dir.js';
import { TapioError, TapioStorage, type TapioConfigInput } from '../src/index.js';
import { tree } from './dir-tree.js';
import { nativeStatus } from '../src/native/loader.js';

const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-data-dir-'));
  dirs.push(d);
  return d;
}

async function refusal(promise: Promise<unknown>, code: string, message?: RegExp): Promise<TapioError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(TapioError);
  expect((err as TapioError).code, (err as TapioError).message).toBe(code);
  if (message) expect((err as TapioError).message).toMatch(message);
  return err as TapioError;
}

describe('the data directory marker', () => {
  it.each<[string, RegExp]>([
    ['null', /it holds null, not a JSON object/],
    ['[]', /it holds an array, not a JSON object/],
    ['123', /it holds the number 123, not a JSON object/],
    ['"tapio-storage"', /it holds the string "tapio-storage", not a JSON object/],
    ['{}', /it has no "format" member; it has no "version" member/],
    ['{"version":"1"}', /it has no "format" member; its "version" is the string "1", not a whole number/],
    ['{"format":"tapio-storage","version":"1"}', /its "version" is the string "1", not a whole number/],
    ['{"format":"tapio-storage","version":1.5}', /its "version" is the number 1.5, not a whole number/],
    ['{"format":7,"version":1}', /its "format" is the number 7, not a string/],
    ['not json', /it does not hold JSON/],
  ])('%s is refused with ERR_FORMAT_VERSION saying what is wrong', async (text, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, DATA_DIR_MARKER), text);
    const err = await refusal(readMarker(dir), 'ERR_FORMAT_VERSION', message);
    expect(err.message).toContain(`${join(dir, DATA_DIR_MARKER)} is not a tapio-storage marker`);
    expect(err.message).toContain('{"format":"tapio-storage","version":1}');
    expect(err.message).not.toMatch(/undefined/);
  });

  it('names another program and another version as such', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, DATA_DIR_MARKER), '{"format":"other-tool","version":1}');
    await refusal(readMarker(dir), 'ERR_FORMAT_VERSION', /belongs to another program: its TAPIO_STORAGE names format "other-tool", not "tapio-storage"/);
    writeFileSync(join(dir, DATA_DIR_MARKER), '{"format":"tapio-storage","version":2}');
    await refusal(readMarker(dir), 'ERR_FORMAT_VERSION', /was written in tapio-storage data directory version 2; this tapio-storage reads version 1/);
  });

  it('reads a good marker, and null when there is none', async () => {
    const dir = tempDir();
    expect(await readMarker(dir)).toBeNull();
    writeFileSync(join(dir, DATA_DIR_MARKER), '{"format":"tapio-storage","version":1}\n');
    expect(await readMarker(dir)).toEqual({ format: 'tapio-storage', version: 1 });
  });
});

describe.each(paths)('TapioStorage.open on the %s path examines every directory before it creates anything', (path) => {
  const open = (config: TapioConfigInput, options: { create?: boolean; force?: boolean } = {}) =>
    TapioStorage.open(
      { ...config, storage: { ...config.storage, transit: { segment_size: '1MiB', ring_capacity: '1MiB', ...config.storage?.transit } } },
      { ...options, transit: { path } },
    );

  it('a damaged marker is refused through open too, and nothing is touched', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, DATA_DIR_MARKER), 'null');
    await refusal(open({ dataDir }), 'ERR_FORMAT_VERSION', /is not a tapio-storage marker: it holds null/);
    expect(tree(dataDir)).toEqual([DATA_DIR_MARKER]);
  });

  it('with create: false, a missing or empty directory is ERR_NO_STORE and nothing is created', async () => {
    const root = tempDir();
    const missing = join(root, 'typo');
    await refusal(
      open({ dataDir: missing }, { create: false }),
      'ERR_NO_STORE',
      new RegExp(`no store at ${missing} \\(the directory does not exist\\); run \`tapio-storage --data-dir ${missing} init\``),
    );
    expect(existsSync(missing)).toBe(false);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await refusal(open({ dataDir: empty }, { create: false }), 'ERR_NO_STORE', /has no TAPIO_STORAGE marker/);
    expect(tree(root)).toEqual(['empty/']);
  });

  it('with create: false, an existing store opens, and one missing its WAL or metadata is ERR_NO_STORE', async () => {
    const dataDir = tempDir();
    const first = await open({ dataDir });
    await first.transit.append(['a']);
    await first.metadata.users.create({ name: 'ops' });
    await first.close();
    const again = await open({ dataDir }, { create: false });
    expect(again.transit.recovery.lastSeq).toBe(1);
    expect((await again.metadata.users.getByName('ops'))?.name).toBe('ops');
    await again.close();
    const elsewhere = join(dataDir, 'other-wal');
    await refusal(
      open({ dataDir, storage: { transit: { wal_path: elsewhere } } }, { create: false }),
      'ERR_NO_STORE',
      /there is no transit WAL at .*other-wal: no .*WAL_ID/,
    );
    expect(existsSync(elsewhere)).toBe(false);
    await refusal(
      open({ dataDir, storage: { metadata: { path: join(dataDir, 'other-meta') } } }, { create: false }),
      'ERR_NO_STORE',
      /there is no metadata store at .*other-meta/,
    );
    expect(existsSync(join(dataDir, 'other-meta'))).toBe(false);
  });

  it('a non-empty directory without the marker is refused unless force is given', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'notes.txt'), 'mine');
    mkdirSync(join(dataDir, 'photos'));
    const err = await refusal(open({ dataDir }), 'ERR_DATA_DIR', /is not empty \(it holds notes\.txt, photos\/\) and has no TAPIO_STORAGE marker/);
    expect(err.message).toMatch(/init --force/);
    expect(err.message).toMatch(/force: true/);
    expect(tree(dataDir)).toEqual(['notes.txt', 'photos/']);
    const storage = await open({ dataDir }, { force: true });
    await storage.close();
    expect(tree(dataDir)).toEqual(expect.arrayContaining([DATA_DIR_MARKER, 'metadata/', 'notes.txt', 'photos/', 'wal/']));
    // From now on it is a store: it opens without force.
    await (await open({ dataDir })).close();
  });

  it('a directory inside another store is refused, even with force, and the outer store still opens', async () => {
    const outer = tempDir();
    await (await open({ dataDir: outer })).close();
    const before = tree(outer);
    for (const inner of [join(outer, 'metadata'), join(outer, 'wal'), join(outer, 'new', 'deeper')]) {
      await refusal(open({ dataDir: inner }, { force: true }), 'ERR_DATA_DIR', new RegExp(`${inner} is inside the data directory of the store at ${outer}`));
    }
    expect(tree(outer)).toEqual(before);
    const again = await open({ dataDir: outer });
    await again.metadata.users.create({ name: 'still-here' });
    await again.close();
  });

  it('a WAL directory holding a foreign file is refused before the marker or the metadata store is created', async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, 'wal'));
    writeFileSync(join(dataDir, 'wal', 'foreign.txt'), 'x');
    await refusal(
      open({ dataDir }, { force: true }),
      'ERR_FORMAT_VERSION',
      /wal is not empty and has no WAL_ID, so it is not a transit WAL directory \(found foreign\.txt\).*Nothing was changed/,
    );
    expect(tree(dataDir)).toEqual(['wal/', 'wal/foreign.txt']);
    // The same with the WAL outside the data directory: the data directory is not even created.
    const root = tempDir();
    const walPath = join(root, 'wal-elsewhere');
    mkdirSync(walPath);
    writeFileSync(join(walPath, 'foreign.txt'), 'x');
    await refusal(open({ dataDir: join(root, 'data'), storage: { transit: { wal_path: walPath } } }), 'ERR_FORMAT_VERSION', /not a transit WAL directory/);
    expect(tree(root)).toEqual(['wal-elsewhere/', 'wal-elsewhere/foreign.txt']);
  });

  it('a metadata directory holding a stray file is refused before the marker or the WAL is created', async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, 'metadata'));
    writeFileSync(join(dataDir, 'metadata', 'stray.txt'), 'x');
    await refusal(
      open({ dataDir }, { force: true }),
      'ERR_FORMAT_VERSION',
      /Metadata directory .*metadata holds files that do not belong to a metadata store \(stray\.txt\)/,
    );
    expect(tree(dataDir)).toEqual(['metadata/', 'metadata/stray.txt']);
  });

  it('refuses create and force that are not booleans', async () => {
    const dataDir = tempDir();
    await refusal(TapioStorage.open({ dataDir }, { create: 'no' as unknown as boolean }), 'ERR_INVALID_ARGUMENT', /options\.create must be true or false/);
    expect(tree(dataDir)).toEqual([]);
  });
});
