import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { SECRET_BYTES, decodeBase62, parseApiKey } from '../../src/metadata/api-key-format.js';
import { MetadataStore } from '../../src/metadata/index.js';
import { lmdbOpenOptions } from '../../src/metadata/kv-lmdb.js';
import { libPath } from '../built-lib.js';
import { cleanup, config, expectTapioError, openStore, tempDir } from './helpers.js';

/**
 * Permission checks as the kernel makes them for a process that is not root, under one directory
 * at a time (see withoutRootOverride): root passes access(2) and mkdir(2) whatever the mode bits
 * say, so there the two calls the metadata directory check makes are refused by the mode's owner
 * bits (the tests own what they create). Everywhere else, and for a process that is not root,
 * they are the real calls. The tests of unusable directories then run the same for root and for
 * anyone else.
 */
const ownerBitsUnder = vi.hoisted(() => ({ dir: null as string | null }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const { constants } = await import('node:fs');
  const { errno } = (await import('node:os')).constants;
  const governed = (path: string): boolean => ownerBitsUnder.dir !== null && (path === ownerBitsUnder.dir || path.startsWith(ownerBitsUnder.dir + sep));
  const ownerHas = async (path: string, bits: number): Promise<boolean> => ((await fs.stat(path)).mode & bits) === bits;
  const denied = (syscall: string, path: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`EACCES: permission denied, ${syscall} '${path}'`), { errno: -errno.EACCES, code: 'EACCES', syscall, path });
  return {
    ...fs,
    access: async (path: string, mode: number = constants.F_OK): Promise<void> => {
      await fs.access(path, mode);
      const bits = (mode & constants.R_OK ? 0o400 : 0) | (mode & constants.W_OK ? 0o200 : 0) | (mode & constants.X_OK ? 0o100 : 0);
      if (governed(path) && !(await ownerHas(path, bits))) throw denied('access', path);
    },
    mkdir: async (path: string, options?: Parameters<typeof fs.mkdir>[1]): Promise<string | undefined> => {
      // Creating an entry takes write and search permission on the parent.
      if (governed(path) && !(await ownerHas(dirname(path), 0o300))) throw denied('mkdir', path);
      return fs.mkdir(path, options);
    },
  };
});

/** Runs `fn` with the permission checks under `dir` made as for a process that is not root. */
async function withoutRootOverride<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  ownerBitsUnder.dir = dir;
  try {
    return await fn();
  } finally {
    ownerBitsUnder.dir = null;
  }
}

/**
 * Name, size, content hash, mode and mtime of every file in `dir`. lock.mdb is lmdb's lock table
 * (reader slots, no data): every lmdb open rewrites it, so only its presence is recorded.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const file = join(dir, name);
    if (name === 'lock.mdb') {
      out[name] = 'present';
      continue;
    }
    const s = await stat(file);
    const hash = s.isFile()
      ? createHash('sha256')
          .update(await readFile(file))
          .digest('hex')
      : 'dir';
    out[name] = `${s.size} ${hash} ${(s.mode & 0o777).toString(8)} ${s.mtimeMs}`;
  }
  return out;
}

/** Rewrites one record with raw lmdb, as another program or version would. */
async function rawPut(path: string, key: string, value: unknown, compression = true): Promise<void> {
  const db = openLmdb(lmdbOpenOptions({ path, compression }));
  await db.put(key, value);
  await db.close();
}

describe('metadata store on disk', () => {
  let dir: string;
  let path: string;

  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir, 'metadata');
  });

  afterEach(async () => {
    await cleanup(dir);
  });

  it('opens lmdb with options that keep every resolved write durable', () => {
    expect(lmdbOpenOptions({ path, compression: true })).toEqual({
      path,
      compression: true,
      encoding: 'msgpack',
      encoder: { useRecords: false },
      overlappingSync: false,
      strictAsyncOrder: true,
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      cache: false,
      permissionsMode: 0o600,
    });
  });

  it('keeps users, keys, resources and checkpoints across close and reopen', async () => {
    const store = await openStore(path, false);
    const user = await store.users.create({ name: 'ops', roles: ['admin'], email: 'ops@example.org' }, { apiKey: { name: 'ci' } });
    const resource = await store.resources.put('pods', 'nginx', { app: 'nginx' });
    const checkpoint = await store.checkpoints.set('indexer', 123_456_789_012n);
    await store.close();

    const again = await openStore(path, false);
    try {
      const { apiKey, ...plain } = user;
      expect(await again.users.get(user.id)).toEqual(plain);
      expect(await again.users.getByName('ops')).toEqual(plain);
      expect(await again.apiKeys.verify(apiKey.key)).toBe(user.id);
      expect(await again.resources.get('pods', 'nginx')).toEqual(resource);
      expect(await again.checkpoints.get('indexer')).toEqual(checkpoint);
    } finally {
      await again.close();
    }
  });

  it('creates the secret file with mode 0600, 32 bytes, and keeps it across reopen', async () => {
    const store = await openStore(path, false);
    await store.close();
    const secretFile = join(path, 'hmac.key');
    const s = await stat(secretFile);
    expect(s.mode & 0o777).toBe(0o600);
    expect(s.size).toBe(32);
    const bytes = await readFile(secretFile);
    const again = await openStore(path, false);
    await again.close();
    expect(await readFile(secretFile)).toEqual(bytes);
  });

  it('puts the secret at options.secretPath when given', async () => {
    const secretDir = join(dir, 'secrets');
    await mkdir(secretDir, { mode: 0o700 });
    const secretPath = join(secretDir, 'metadata.key');
    const store = await openStore(path, false, { secretPath });
    const user = await store.users.create({ name: 'ops' }, { apiKey: { name: 'k' } });
    await store.close();
    expect((await stat(secretPath)).mode & 0o777).toBe(0o600);
    expect((await readdir(path)).sort()).toEqual(['data.mdb', 'lock.mdb']);
    const again = await openStore(path, false, { secretPath });
    expect(again.info.secretPath).toBe(secretPath);
    expect(await again.apiKeys.verify(user.apiKey.key)).toBe(user.id);
    await again.close();
  });

  describe('secret file problems', () => {
    it('refuses to open when the secret is missing and API keys depend on it, touching nothing', async () => {
      const store = await openStore(path, false);
      await store.users.create({ name: 'ops' }, { apiKey: { name: 'k' } });
      await store.close();
      await writeFile(join(dir, 'moved.key'), await readFile(join(path, 'hmac.key')));
      const { rm } = await import('node:fs/promises');
      await rm(join(path, 'hmac.key'));
      const before = await snapshot(path);
      await expectTapioError(
        openStore(path, false),
        'ERR_METADATA_SECRET',
        /hmac\.key is missing, and the API keys stored in .* cannot be verified without it/,
      );
      expect(await snapshot(path)).toEqual(before);
    });

    it('refuses a secret file that is not the one the keys were made with', async () => {
      const store = await openStore(path, false);
      await store.users.create({ name: 'ops' }, { apiKey: { name: 'k' } });
      await store.close();
      await writeFile(join(path, 'hmac.key'), Buffer.alloc(32, 7), { mode: 0o600 });
      await expectTapioError(openStore(path, false), 'ERR_METADATA_SECRET', /is not the secret the API keys of .* were made with/);
    });

    it('refuses a secret file that others can read', async () => {
      const store = await openStore(path, false);
      await store.close();
      await chmod(join(path, 'hmac.key'), 0o644);
      await expectTapioError(openStore(path, false), 'ERR_METADATA_SECRET', /has mode 644, so other users can read it; run chmod 600 on it/);
    });

    it('refuses a secret file of the wrong size', async () => {
      const store = await openStore(path, false);
      await store.close();
      await truncate(join(path, 'hmac.key'), 16);
      await expectTapioError(openStore(path, false), 'ERR_METADATA_SECRET', /is 16 bytes long, a secret file holds exactly 32/);
    });

    it('makes a new secret for a store that has no API keys yet', async () => {
      const store = await openStore(path, false);
      await store.checkpoints.set('c', 1);
      await store.close();
      const { rm } = await import('node:fs/promises');
      await rm(join(path, 'hmac.key'));
      const again = await openStore(path, false);
      expect((await again.checkpoints.get('c'))?.seq).toBe(1);
      const user = await again.users.create({ name: 'ops' }, { apiKey: { name: 'k' } });
      await again.close();
      const third = await openStore(path, false);
      expect(await third.apiKeys.verify(user.apiKey.key)).toBe(user.id);
      await third.close();
    });
  });

  describe('format and foreign data', () => {
    it('refuses another format version and changes no byte', async () => {
      const store = await openStore(path, false);
      await store.checkpoints.set('c', 1);
      await store.close();
      const db = openLmdb(lmdbOpenOptions({ path, compression: true }));
      const format = db.get('meta:format') as Record<string, unknown>;
      expect(format).toMatchObject({ kind: 'tapio-metadata', version: 1, compression: true });
      await db.put('meta:format', { ...format, version: 2 });
      await db.close();
      const before = await snapshot(path);
      await expectTapioError(
        openStore(path, false),
        'ERR_FORMAT_VERSION',
        /was written in metadata format version 2; this version of tapio-storage reads version 1/,
      );
      expect(await snapshot(path)).toEqual(before);
    });

    it('removes the lock file it created when it refuses a copied data.mdb', async () => {
      const store = await openStore(path, false);
      await store.close();
      await rawPut(path, 'meta:format', { kind: 'tapio-metadata', version: 99 });
      const copy = join(dir, 'copy');
      await mkdir(copy);
      await copyFile(join(path, 'data.mdb'), join(copy, 'data.mdb'));
      const before = await snapshot(copy);
      await expectTapioError(openStore(copy, false), 'ERR_FORMAT_VERSION', /format version 99/);
      expect(await snapshot(copy)).toEqual(before);
      expect(await readdir(copy)).toEqual(['data.mdb']);
    });

    it('refuses another kind of store and changes no byte', async () => {
      const store = await openStore(path, false);
      await store.close();
      await rawPut(path, 'meta:format', { kind: 'tapio-wal', version: 1 });
      const before = await snapshot(path);
      await expectTapioError(openStore(path, false), 'ERR_FORMAT_VERSION', /belongs to another kind of store \('tapio-wal', not 'tapio-metadata'\)/);
      expect(await snapshot(path)).toEqual(before);
    });

    it('refuses an lmdb database that is not a metadata store, creating no secret', async () => {
      await mkdir(path);
      await rawPut(path, 'hello', 'world');
      const before = await snapshot(path);
      await expectTapioError(
        openStore(path, false),
        'ERR_FORMAT_VERSION',
        /holds an lmdb database that is not a tapio metadata store \(it has no meta:format record\)/,
      );
      expect(await snapshot(path)).toEqual(before);
    });

    it('refuses a directory holding other files, creating nothing', async () => {
      await mkdir(path);
      await writeFile(join(path, 'notes.txt'), 'mine');
      await mkdir(join(path, 'wal'));
      await expectTapioError(openStore(path, false), 'ERR_FORMAT_VERSION', /holds files that do not belong to a metadata store \(notes\.txt, wal\)/);
      expect((await readdir(path)).sort()).toEqual(['notes.txt', 'wal']);
    });

    it.each([
      ['random bytes', async (file: string) => writeFile(file, createHash('sha512').update('x').digest().toString('hex').repeat(100))],
      ['a file shorter than a meta page', async (file: string, good: string) => writeFile(file, (await readFile(good)).subarray(0, 100))],
      ['a file cut after the first meta page', async (file: string, good: string) => writeFile(file, (await readFile(good)).subarray(0, 6000))],
      [
        'a file cut after the meta pages',
        async (file: string, good: string) => {
          const bytes = await readFile(good);
          await writeFile(file, bytes.subarray(0, 2 * 4096));
        },
      ],
    ])('refuses a damaged data.mdb (%s) with ERR_FORMAT_VERSION instead of crashing', async (_what, damage) => {
      const goodDir = join(dir, 'good');
      const store = await openStore(goodDir, false);
      await Promise.all(Array.from({ length: 300 }, (_, i) => store.resources.put('pods', `p${i}`, { i, pad: 'y'.repeat(200) })));
      await store.close();
      await mkdir(path);
      await damage(join(path, 'data.mdb'), join(goodDir, 'data.mdb'));
      const before = await snapshot(path);
      await expectTapioError(openStore(path, false), 'ERR_FORMAT_VERSION', /data\.mdb is not a metadata store this version can open: /);
      expect(await snapshot(path)).toEqual(before);
    });

    it('opens a copied store (data.mdb and hmac.key) elsewhere', async () => {
      const store = await openStore(path, false);
      const user = await store.users.create({ name: 'ops' }, { apiKey: { name: 'k' } });
      await store.close();
      const copy = join(dir, 'copy');
      await mkdir(copy, { mode: 0o700 });
      await copyFile(join(path, 'data.mdb'), join(copy, 'data.mdb'));
      await copyFile(join(path, 'hmac.key'), join(copy, 'hmac.key'));
      const opened = await openStore(copy, false);
      expect(await opened.apiKeys.verify(user.apiKey.key)).toBe(user.id);
      await opened.close();
    });
  });

  describe('unusable paths', () => {
    it('refuses a path that is a file', async () => {
      await writeFile(path, 'x');
      await expectTapioError(
        openStore(path, false),
        'ERR_DATA_DIR',
        /Metadata directory .*metadata exists and is not a directory\. Create it or fix its permissions/,
      );
    });

    it('refuses a path below a file', async () => {
      await writeFile(join(dir, 'file'), 'x');
      await expectTapioError(
        openStore(join(dir, 'file', 'metadata'), false),
        'ERR_DATA_DIR',
        /cannot be (examined|created) \(a component of the path is not a directory\)/,
      );
    });

    it('refuses a path that cannot be created', async () => {
      await expectTapioError(openStore('/proc/tapio-metadata-test/metadata', false), 'ERR_DATA_DIR', /cannot be created/);
    });

    it('refuses a directory without write permission', async () => {
      await mkdir(path, { mode: 0o500 });
      await expectTapioError(
        withoutRootOverride(dir, () => openStore(path, false)),
        'ERR_DATA_DIR',
        /is not readable and writable by this process \(permission denied\)/,
      );
      expect(await readdir(path)).toEqual([]);
      // The same directory once it can be written is taken.
      await chmod(path, 0o700);
      const store = await withoutRootOverride(dir, () => openStore(path, false));
      await store.close();
    });

    it('refuses to create a directory below a read-only one', async () => {
      await chmod(dir, 0o500);
      try {
        await expectTapioError(
          withoutRootOverride(dir, () => openStore(path, false)),
          'ERR_DATA_DIR',
          /cannot be created \(permission denied\)/,
        );
        expect(existsSync(path)).toBe(false);
      } finally {
        await chmod(dir, 0o700);
      }
      const store = await withoutRootOverride(dir, () => openStore(path, false));
      await store.close();
      expect(existsSync(join(path, 'data.mdb'))).toBe(true);
    });

    it('refuses a relative path or another store type with ERR_CONFIG', async () => {
      await expectTapioError(MetadataStore.open(config('relative/metadata', false)), 'ERR_CONFIG', /storage\.metadata\.path: must be an absolute path/);
      await expectTapioError(MetadataStore.open({ ...config(path, false), type: 'redis' as never }), 'ERR_CONFIG', /storage\.metadata\.type: must be 'badger'/);
      await expectTapioError(MetadataStore.open({ ...config(path, false), in_memory: 'no' as never }), 'ERR_CONFIG', /storage\.metadata\.in_memory/);
      expect(existsSync(path)).toBe(false);
    });
  });

  describe('compression', () => {
    const text = 'tapio metadata compression check '.repeat(200);

    it.each([true, false])('stores values compressed only when compression is %s', async (compression) => {
      const store = await openStore(path, false, { compression });
      await store.resources.put('docs', 'big', { text });
      await store.close();
      const raw = await readFile(join(path, 'data.mdb'));
      expect(raw.includes(Buffer.from(text))).toBe(!compression);
    });

    it('keeps the setting the store was created with when reopened with the other one', async () => {
      const store = await openStore(path, false, { compression: true });
      await store.resources.put('docs', 'big', { text });
      await store.close();
      const again = await openStore(path, false, { compression: false });
      expect(again.info.compression).toBe(true);
      expect((await again.resources.get('docs', 'big'))?.value).toEqual({ text });
      await again.resources.put('docs', 'big2', { text });
      await again.close();
      const raw = await readFile(join(path, 'data.mdb'));
      expect(raw.includes(Buffer.from(text))).toBe(false);
    });
  });

  it('never writes a key, its secret or any encoding of the secret bytes to disk (1,000 keys)', async () => {
    const store = await openStore(path, false);
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => store.users.create({ name: `user-${i}` })));
    const keys: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const created = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.apiKeys.create((users[i % 10] as { id: string }).id, { name: `k${batch}-${i}` })),
      );
      keys.push(...created.map((k) => k.key));
    }
    expect(new Set(keys).size).toBe(1000);
    for (const key of keys.slice(0, 20)) expect(await store.apiKeys.verify(key)).not.toBeNull();
    await store.close();

    const files = await readdir(path);
    expect(files.sort()).toEqual(['data.mdb', 'hmac.key', 'lock.mdb']);
    const contents = await Promise.all(files.map((f) => readFile(join(path, f))));
    // Sanity: the scan does find things that are stored.
    const anId = parseApiKey(keys[0] as string).keyId;
    expect(contents.some((c) => c.includes(Buffer.from(anId)))).toBe(true);

    for (const key of keys) {
      const { secret, body } = parseApiKey(key);
      const bytes = decodeBase62(secret, SECRET_BYTES);
      const needles = [
        Buffer.from(key),
        Buffer.from(body),
        Buffer.from(secret),
        bytes,
        Buffer.from(bytes.toString('base64')),
        Buffer.from(bytes.toString('base64url')),
        Buffer.from(bytes.toString('hex')),
        Buffer.from(bytes.toString('hex').toUpperCase()),
      ];
      for (const content of contents) {
        for (const needle of needles) {
          if (content.includes(needle)) throw new Error(`a secret of key ${parseApiKey(key).keyId} was found on disk`);
        }
      }
    }
  });

  it('stores HMAC-SHA256 keyed by the bytes of hmac.key over the key minus its checksum, tap_<keyId>_<secret>, as base64', async () => {
    const store = await openStore(path, false);
    const user = await store.users.create({ name: 'ops' });
    const created = await store.apiKeys.create(user.id, { name: 'ci' });
    await store.close();
    const secretFile = await readFile(join(path, 'hmac.key'));
    const { keyId, secret } = parseApiKey(created.key);
    const expected = createHmac('sha256', secretFile).update(`tap_${keyId}_${secret}`, 'latin1').digest('base64');
    // The stored record, read with raw lmdb: [userId, hash, expiresAt, revokedAt, name, createdAt].
    const db = openLmdb(lmdbOpenOptions({ path, compression: true }));
    try {
      const tuple = db.get(`api_keys:${keyId}`) as unknown[];
      expect(tuple[0]).toBe(user.id);
      expect(tuple[1]).toBe(expected);
      // Not an HMAC of the secret alone, nor of the whole key with its checksum.
      expect(tuple[1]).not.toBe(createHmac('sha256', secretFile).update(secret).digest('base64'));
      expect(tuple[1]).not.toBe(createHmac('sha256', secretFile).update(created.key).digest('base64'));
    } finally {
      await db.close();
    }
  });

  it('indexes user names ignoring case when it opens a store written before that index existed', async () => {
    const store = await openStore(path, false);
    const alice = await store.users.create({ name: 'alice' });
    await store.close();
    // As an older version left it: exact-name index entries only, and two names differing in case.
    const db = openLmdb(lmdbOpenOptions({ path, compression: true }));
    for (const { key } of db.getRange({ start: 'users_by_folded_name:', end: 'users_by_folded_name;' })) await db.remove(key);
    const oldUpper = { id: 'B'.repeat(16), name: 'ALICE', roles: [], createdAt: 1 };
    await db.put(`users:${oldUpper.id}`, oldUpper);
    await db.put('users_by_name:ALICE', oldUpper.id);
    expect(db.getRange({ start: 'users_by_folded_name:', end: 'users_by_folded_name;' }).asArray).toEqual([]);
    await db.close();

    const again = await openStore(path, false);
    try {
      await expectTapioError(again.users.create({ name: 'Alice' }), 'ERR_ALREADY_EXISTS', /names are unique ignoring case/);
      // Both stored users are kept and each is found by its exact name.
      expect((await again.users.getByName('alice'))?.id).toBe(alice.id);
      expect((await again.users.getByName('ALICE'))?.id).toBe(oldUpper.id);
      expect((await again.users.list()).items.map((u) => u.name).sort()).toEqual(['ALICE', 'alice']);
    } finally {
      await again.close();
    }
  });

  it('with create: false, refuses a missing directory or one without data.mdb and creates nothing', async () => {
    await expectTapioError(
      MetadataStore.open(config(path, false), { create: false }),
      'ERR_NO_STORE',
      /There is no metadata store at .*metadata \(the directory does not exist\)/,
    );
    expect(existsSync(path)).toBe(false);
    await mkdir(path);
    await expectTapioError(MetadataStore.open(config(path, false), { create: false }), 'ERR_NO_STORE', /it holds no data\.mdb/);
    expect(await readdir(path)).toEqual([]);
    const created = await openStore(path, false);
    await created.users.create({ name: 'ops' });
    await created.close();
    const existing = await MetadataStore.open(config(path, false), { create: false });
    expect((await existing.users.getByName('ops'))?.name).toBe('ops');
    await existing.close();
  });

  it('sees a key revoked by another process from its next event loop turn', async () => {
    const store = await openStore(path, false);
    try {
      const user = await store.users.create({ name: 'ops' });
      const { id, key } = await store.apiKeys.create(user.id, { name: 'ci' });
      expect(await store.apiKeys.verify(key)).toBe(user.id);
      // The compiled library (npm run build), as another program would load it.
      const storeModule = pathToFileURL(libPath('metadata', 'index.js')).href;
      const script = `const { MetadataStore } = await import(${JSON.stringify(storeModule)});
const s = await MetadataStore.open({ type: 'badger', path: ${JSON.stringify(path)}, in_memory: false, compression: true }, { create: false });
await s.apiKeys.revoke(${JSON.stringify(id)});
await s.close();`;
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
        child.on('error', reject);
        child.on('exit', resolve);
      });
      expect(code).toBe(0);
      await new Promise((r) => setTimeout(r, 0));
      expect(await store.apiKeys.verify(key)).toBeNull();
      expect((await store.apiKeys.get(id))?.revokedAt).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
