import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { checksumOf, parseApiKey } from '../../src/metadata/api-key-format.js';
import { MetadataStore, type CreatedApiKey } from '../../src/metadata/index.js';
import { rawKvOf, setClock, setWriteHook } from '../../src/metadata/test-hooks.js';
import { cleanup, expectTapioError, openStore, tempDir } from './helpers.js';

const BASE62 = /^[0-9A-Za-z]+$/;

describe.each([{ inMemory: false }, { inMemory: true }])('metadata store (in_memory: $inMemory)', ({ inMemory }) => {
  let dir: string;
  let storePath: string;
  let store: MetadataStore;

  beforeEach(async () => {
    dir = await tempDir();
    storePath = join(dir, 'metadata');
    store = await openStore(storePath, inMemory);
  });

  afterEach(async () => {
    await store.close();
    await cleanup(dir);
  });

  describe('open and close', () => {
    it('reports what it opened', () => {
      expect(store.info).toEqual(
        inMemory
          ? { inMemory: true, path: null, secretPath: null, compression: false, formatVersion: 1 }
          : { inMemory: false, path: storePath, secretPath: join(storePath, 'hmac.key'), compression: true, formatVersion: 1 },
      );
      expect(store.closed).toBe(false);
    });

    it(inMemory ? 'never creates the configured path' : 'creates the directory with data.mdb, lock.mdb and hmac.key', async () => {
      await store.users.create({ name: 'a' }, { apiKey: { name: 'k' } });
      await store.resources.put('pods', 'p', { x: 1 });
      await store.checkpoints.set('c', 1);
      await store.close();
      if (inMemory) {
        expect(existsSync(storePath)).toBe(false);
        expect(readdirSync(dir)).toEqual([]);
      } else {
        expect(readdirSync(storePath).sort()).toEqual(['data.mdb', 'hmac.key', 'lock.mdb']);
      }
    });

    it('refuses every call after close with ERR_CLOSED, and close is idempotent', async () => {
      await store.close();
      await store.close();
      expect(store.closed).toBe(true);
      await expectTapioError(store.users.get('A'.repeat(16)), 'ERR_CLOSED');
      await expectTapioError(store.users.create({ name: 'x' }), 'ERR_CLOSED');
      await expectTapioError(store.resources.put('t', 'n', {}), 'ERR_CLOSED');
      await expectTapioError(store.checkpoints.set('c', 1), 'ERR_CLOSED');
      await expectTapioError(store.apiKeys.verify('tap_x'), 'ERR_CLOSED');
      await expectTapioError(() => store.read((r) => r.checkpoints.get('c')), 'ERR_CLOSED');
      await expectTapioError(
        store.transaction(() => 1),
        'ERR_CLOSED',
      );
    });
  });

  describe('users', () => {
    it('creates a user with defaults and reads it back by id and by name', async () => {
      const before = Date.now();
      const user = await store.users.create({ name: 'ops' });
      expect(Object.keys(user).sort()).toEqual(['createdAt', 'id', 'name', 'roles']);
      expect(user.id).toMatch(BASE62);
      expect(user.id).toHaveLength(16);
      expect(user.name).toBe('ops');
      expect(user.roles).toEqual([]);
      expect(Number.isSafeInteger(user.createdAt)).toBe(true);
      expect(user.createdAt).toBeGreaterThanOrEqual(before);
      expect(user.createdAt).toBeLessThanOrEqual(Date.now());
      expect(await store.users.get(user.id)).toEqual(user);
      expect(await store.users.getByName('ops')).toEqual(user);
    });

    it('keeps roles and email', async () => {
      const user = await store.users.create({ name: 'Ada Lovelace', roles: ['admin', 'read:metrics'], email: 'ada@example.org' });
      expect(user).toMatchObject({ name: 'Ada Lovelace', roles: ['admin', 'read:metrics'], email: 'ada@example.org' });
      expect(await store.users.get(user.id)).toEqual(user);
    });

    it('returns null for unknown ids and names', async () => {
      expect(await store.users.get('A'.repeat(16))).toBeNull();
      expect(await store.users.getByName('nobody')).toBeNull();
    });

    it('refuses a duplicate name with ERR_ALREADY_EXISTS and keeps the first user', async () => {
      const first = await store.users.create({ name: 'ops' });
      const err = await expectTapioError(store.users.create({ name: 'ops', roles: ['x'] }), 'ERR_ALREADY_EXISTS', /a user named 'ops' already exists/);
      expect(err.message).toContain(first.id);
      const page = await store.users.list();
      expect(page.items).toEqual([first]);
    });

    it('lets exactly one of two concurrent creates of the same name win', async () => {
      const results = await Promise.allSettled([store.users.create({ name: 'race' }), store.users.create({ name: 'race' })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(((rejected[0] as PromiseRejectedResult).reason as TapioError).code).toBe('ERR_ALREADY_EXISTS');
      expect((await store.users.list()).items).toHaveLength(1);
    });

    it('names are unique ignoring case, kept as given, and found ignoring case', async () => {
      const first = await store.users.create({ name: 'Ops' });
      for (const name of ['ops', 'OPS', 'oPs']) {
        await expectTapioError(
          store.users.create({ name }),
          'ERR_ALREADY_EXISTS',
          new RegExp(`a user named '${name}' already exists as 'Ops' \\(names are unique ignoring case\\) \\(id ${first.id}\\)`),
        );
      }
      // Composed and decomposed forms of the same letter are one name too.
      await store.users.create({ name: 'Jos\u00e9' });
      await expectTapioError(store.users.create({ name: 'JOSE\u0301' }), 'ERR_ALREADY_EXISTS');
      expect((await store.users.getByName('Ops'))?.id).toBe(first.id);
      expect((await store.users.getByName('OPS'))?.name).toBe('Ops');
      expect((await store.users.getByName('jose\u0301'))?.name).toBe('Jos\u00e9');
      expect((await store.users.list()).items.map((u) => u.name).sort()).toEqual(['Jos\u00e9', 'Ops']);
      // Deleting the user frees the name in every case.
      expect(await store.users.delete(first.id)).toBe(true);
      expect(await store.users.getByName('ops')).toBeNull();
      expect((await store.users.create({ name: 'OPS' })).name).toBe('OPS');
    });

    it.each([' alice', 'alice ', '\u2003alice', 'alice\u00a0', ' '])('refuses the name %j: it starts or ends with white space', async (name) => {
      await expectTapioError(store.users.create({ name }), 'ERR_VALIDATION', /users\.create: name: must not start or end with white space/);
      expect((await store.users.list()).items).toEqual([]);
    });

    it.each([
      [{ name: '' }, /users\.create: name: must not be empty/],
      [{ name: 42 }, /users\.create: name: Invalid input: expected string, received number/],
      [{}, /users\.create: name: Invalid input: expected string, received undefined/],
      [{ name: 'x'.repeat(129) }, /name: must be at most 128 characters/],
      [{ name: 'a\nb' }, /name: must not contain control characters/],
      [{ name: 'a\ud800b' }, /name: must not contain unpaired UTF-16 surrogates/],
      [{ name: 'x', roles: ['ok', ''] }, /roles\.1: must not be empty/],
      [{ name: 'x', roles: ['has space'] }, /roles\.0: must use only letters, digits and _ \. : -/],
      [{ name: 'x', roles: ['a', 'a'] }, /roles: must not repeat a role/],
      [{ name: 'x', roles: 'admin' }, /roles: Invalid input: expected array, received string/],
      [{ name: 'x', email: 'not-an-email' }, /email: must be an email address/],
      [{ name: 'x', password: 'hunter2' }, /Unrecognized key: "password"/],
    ])('refuses invalid input %j with ERR_VALIDATION naming the field', async (input, message) => {
      await expectTapioError(store.users.create(input as never), 'ERR_VALIDATION', message);
      expect((await store.users.list()).items).toEqual([]);
    });

    it('refuses malformed ids with ERR_INVALID_ARGUMENT', async () => {
      await expectTapioError(store.users.get('short'), 'ERR_INVALID_ARGUMENT', /users\.get: id: must be a 16-character id/);
      await expectTapioError(store.users.get(7 as never), 'ERR_INVALID_ARGUMENT', /id:/);
      await expectTapioError(store.users.delete('../etc'), 'ERR_INVALID_ARGUMENT', /users\.delete: id/);
      await expectTapioError(store.users.getByName(''), 'ERR_INVALID_ARGUMENT', /users\.getByName: name: must not be empty/);
    });

    it('creates the user and its first API key together', async () => {
      const user = await store.users.create({ name: 'ci', roles: ['writer'] }, { apiKey: { name: 'pipeline' } });
      expect(user.apiKey.userId).toBe(user.id);
      expect(user.apiKey.name).toBe('pipeline');
      expect(user.apiKey.key).toMatch(/^tap_/);
      expect(await store.apiKeys.verify(user.apiKey.key)).toBe(user.id);
      const { apiKey, ...plain } = user;
      expect(await store.users.get(user.id)).toEqual(plain);
      expect((await store.apiKeys.list(user.id)).items.map((k) => k.id)).toEqual([apiKey.id]);
    });

    it('refuses an invalid first key before writing anything', async () => {
      await expectTapioError(store.users.create({ name: 'ci' }, { apiKey: { name: '' } }), 'ERR_VALIDATION', /options\.apiKey\.name: must not be empty/);
      expect(await store.users.getByName('ci')).toBeNull();
    });

    it.each(['users:', 'users_by_name:', 'api_keys:', 'api_keys_by_user:'])(
      'leaves neither user nor key behind when the write of %s… fails inside the transaction',
      async (failingPrefix) => {
        const injected = new Error(`injected failure at ${failingPrefix}`);
        setWriteHook(store, (_op, key) => {
          if (key.startsWith(failingPrefix)) throw injected;
        });
        const outcome = await store.users.create({ name: 'ci' }, { apiKey: { name: 'pipeline' } }).then(
          () => 'resolved',
          (err: unknown) => err,
        );
        expect(outcome).toBe(injected);
        setWriteHook(store, undefined);
        expect(await store.users.getByName('ci')).toBeNull();
        expect((await store.users.list()).items).toEqual([]);
        expect((await store.apiKeys.list()).items).toEqual([]);
        expect(rawKvOf(store).range('api_keys_by_user:', undefined, 10)).toEqual([]);
        expect(rawKvOf(store).range('users_by_name:', undefined, 10)).toEqual([]);
        // The name is free: nothing of the failed attempt is left.
        const user = await store.users.create({ name: 'ci' }, { apiKey: { name: 'pipeline' } });
        expect(await store.apiKeys.verify(user.apiKey.key)).toBe(user.id);
      },
    );

    it('delete removes the user, frees the name and revokes its keys in one step', async () => {
      const user = await store.users.create({ name: 'gone' }, { apiKey: { name: 'a' } });
      const second = await store.apiKeys.create(user.id, { name: 'b' });
      const keeper = await store.users.create({ name: 'stays' }, { apiKey: { name: 'c' } });
      expect(await store.users.delete(user.id)).toBe(true);
      expect(await store.users.get(user.id)).toBeNull();
      expect(await store.users.getByName('gone')).toBeNull();
      expect(await store.apiKeys.verify(user.apiKey.key)).toBeNull();
      expect(await store.apiKeys.verify(second.key)).toBeNull();
      const revokedKeys = (await store.apiKeys.list(user.id)).items;
      expect(revokedKeys).toHaveLength(2);
      for (const info of revokedKeys) expect(info.revokedAt).toBeGreaterThan(0);
      expect(await store.apiKeys.verify(keeper.apiKey.key)).toBe(keeper.id);
      expect(await store.users.delete(user.id)).toBe(false);
      expect((await store.users.create({ name: 'gone' })).name).toBe('gone');
    });

    it('lists users in id order with paging', async () => {
      const created = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => store.users.create({ name })));
      const byId = [...created].sort((x, y) => (x.id < y.id ? -1 : 1));
      const first = await store.users.list({ limit: 2 });
      expect(first.items).toEqual(byId.slice(0, 2));
      expect(first.cursor).toBe(`users:${byId[1]?.id}`);
      const second = await store.users.list({ limit: 2, cursor: first.cursor });
      expect(second.items).toEqual(byId.slice(2, 4));
      const third = await store.users.list({ limit: 2, cursor: second.cursor });
      expect(third).toEqual({ items: byId.slice(4), cursor: null });
    });
  });

  describe('API keys', () => {
    let userId: string;
    beforeEach(async () => {
      userId = (await store.users.create({ name: 'owner' })).id;
    });

    it('creates a key of the documented shape and returns the key only at creation', async () => {
      const created = await store.apiKeys.create(userId, { name: 'ci' });
      expect(Object.keys(created).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'key', 'name', 'revokedAt', 'userId']);
      expect(created.id).toMatch(BASE62);
      expect(created.id).toHaveLength(12);
      expect(created.key).toHaveLength(66);
      expect(created.key.startsWith(`tap_${created.id}_`)).toBe(true);
      expect(parseApiKey(created.key).keyId).toBe(created.id);
      expect(created).toMatchObject({ name: 'ci', userId, expiresAt: null, revokedAt: null });
      const info = await store.apiKeys.get(created.id);
      const { key, ...withoutKey } = created;
      expect(key).toBeTypeOf('string');
      expect(info).toEqual(withoutKey);
      const listed = (await store.apiKeys.list()).items;
      expect(listed).toEqual([withoutKey]);
      // Stored as [userId, hash, expiresAt, revokedAt, name, createdAt]: no key, no secret.
      const raw = rawKvOf(store).get(`api_keys:${created.id}`) as unknown[];
      expect(raw).toHaveLength(6);
      expect(raw[0]).toBe(userId);
      expect(raw[1]).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(raw.slice(2)).toEqual([null, null, 'ci', created.createdAt]);
    });

    it('refuses keys for unknown or malformed users', async () => {
      await expectTapioError(store.apiKeys.create('Z'.repeat(16), { name: 'x' }), 'ERR_NOT_FOUND', /no user with id Z{16}/);
      await expectTapioError(store.apiKeys.create('nope', { name: 'x' }), 'ERR_INVALID_ARGUMENT', /apiKeys\.create: userId: must be a 16-character id/);
      await expectTapioError(store.apiKeys.create(userId, { name: '' }), 'ERR_VALIDATION', /apiKeys\.create: name: must not be empty/);
      await expectTapioError(
        store.apiKeys.create(userId, { name: 'x', expiresAt: 'tomorrow' as never }),
        'ERR_VALIDATION',
        /expiresAt: must be a valid Date or epoch milliseconds/,
      );
      await expectTapioError(store.apiKeys.create(userId, { name: 'x', expiresAt: new Date('nonsense') }), 'ERR_VALIDATION', /expiresAt: must be a valid Date/);
      await expectTapioError(store.apiKeys.create(userId, { name: 'x', expiresAt: Date.now() - 1000 }), 'ERR_VALIDATION', /expiresAt must be in the future/);
      expect((await store.apiKeys.list()).items).toEqual([]);
    });

    it('verifies a key to its user id, in both the async and the sync form', async () => {
      const { key } = await store.apiKeys.create(userId, { name: 'ci' });
      expect(await store.apiKeys.verify(key)).toBe(userId);
      expect(store.apiKeys.verifySync(key)).toBe(userId);
      expect(store.read((r) => r.apiKeys.verify(key))).toBe(userId);
    });

    it('returns null for malformed, mistyped, unknown and wrong keys', async () => {
      const { key, id } = await store.apiKeys.create(userId, { name: 'ci' });
      const flipped = key.slice(0, 30) + (key[30] === 'a' ? 'b' : 'a') + key.slice(31); // checksum no longer matches
      const body = key.slice(0, 60);
      const wrongSecretBody = `${body.slice(0, 20)}${body[20] === 'a' ? 'b' : 'a'}${body.slice(21)}`; // valid checksum, wrong secret
      const unknownIdBody = `tap_${id === 'A'.repeat(12) ? 'B'.repeat(12) : 'A'.repeat(12)}${body.slice(16)}`;
      for (const candidate of [
        '',
        'tap_',
        key.slice(0, -1),
        `${key}x`,
        key.toUpperCase(),
        flipped,
        wrongSecretBody + checksumOf(wrongSecretBody),
        unknownIdBody + checksumOf(unknownIdBody),
        42,
        null,
        undefined,
      ]) {
        expect(await store.apiKeys.verify(candidate as string)).toBeNull();
        expect(store.apiKeys.verifySync(candidate as string)).toBeNull();
      }
      expect(await store.apiKeys.verify(key)).toBe(userId);
    });

    it('refuses a key from the moment revoke resolves', async () => {
      const created = await store.apiKeys.create(userId, { name: 'ci' });
      const other = await store.apiKeys.create(userId, { name: 'other' });
      expect(store.apiKeys.verifySync(created.key)).toBe(userId);
      let atResolve: string | null | undefined;
      const before = Date.now();
      const info = await store.apiKeys.revoke(created.id).then((result) => {
        atResolve = store.apiKeys.verifySync(created.key);
        return result;
      });
      expect(atResolve).toBeNull();
      expect(await store.apiKeys.verify(created.key)).toBeNull();
      expect(info.revokedAt).toBeGreaterThanOrEqual(before);
      expect(info.revokedAt).toBeLessThanOrEqual(Date.now());
      expect((await store.apiKeys.get(created.id))?.revokedAt).toBe(info.revokedAt);
      expect(await store.apiKeys.verify(other.key)).toBe(userId);
      // Revoking again changes nothing.
      expect(await store.apiKeys.revoke(created.id)).toEqual(info);
      await expectTapioError(store.apiKeys.revoke('Q'.repeat(12)), 'ERR_NOT_FOUND', /no API key with id Q{12}/);
      await expectTapioError(store.apiKeys.revoke('bad id'), 'ERR_INVALID_ARGUMENT', /apiKeys\.revoke: id/);
    });

    it('refuses a key from the instant its expiry time is reached', async () => {
      // The store's clock stands still until the test moves it.
      let now = Date.now();
      setClock(store, () => now);
      const expiresAt = new Date(now + 300); // a Date or epoch milliseconds; stored and returned as milliseconds
      const created = await store.apiKeys.create(userId, { name: 'short', expiresAt });
      expect(created.expiresAt).toBe(expiresAt.getTime());
      const later = now + 3_600_000;
      const forever = await store.apiKeys.create(userId, { name: 'long', expiresAt: later });
      expect(forever.expiresAt).toBe(later);
      expect(await store.apiKeys.verify(created.key)).toBe(userId);
      now = expiresAt.getTime() - 1;
      expect(await store.apiKeys.verify(created.key)).toBe(userId);
      now = expiresAt.getTime();
      expect(await store.apiKeys.verify(created.key)).toBeNull();
      expect(await store.apiKeys.verify(forever.key)).toBe(userId);
      // And a key cannot be made to expire at or before the store's now.
      await expectTapioError(store.apiKeys.create(userId, { name: 'past', expiresAt: now }), 'ERR_VALIDATION', /expiresAt must be in the future/);
      now = later;
      expect(await store.apiKeys.verify(forever.key)).toBeNull();
    });

    it('lists keys of all users or of one, without secrets or hashes', async () => {
      const other = (await store.users.create({ name: 'other' })).id;
      const mine = await Promise.all([1, 2, 3].map((i) => store.apiKeys.create(userId, { name: `k${i}` })));
      const theirs = await store.apiKeys.create(other, { name: 'x' });
      const strip = (k: CreatedApiKey) => {
        const { key, ...rest } = k;
        return key === undefined ? k : rest;
      };
      const sortById = <T extends { id: string }>(list: T[]) => [...list].sort((a, b) => (a.id < b.id ? -1 : 1));
      expect((await store.apiKeys.list(userId)).items).toEqual(sortById(mine.map(strip)));
      expect((await store.apiKeys.list(other)).items).toEqual([strip(theirs)]);
      expect((await store.apiKeys.list()).items).toEqual(sortById([...mine, theirs].map(strip)));
      expect((await store.apiKeys.list({ limit: 2 })).items).toHaveLength(2);
      const page1 = await store.apiKeys.list(userId, { limit: 2 });
      const page2 = await store.apiKeys.list(userId, { limit: 2, cursor: page1.cursor });
      expect([...page1.items, ...page2.items]).toEqual(sortById(mine.map(strip)));
      expect(page2.cursor).toBeNull();
      for (const item of (await store.apiKeys.list()).items) {
        expect(item).not.toHaveProperty('key');
        expect(item).not.toHaveProperty('hash');
      }
      await expectTapioError(store.apiKeys.list('bad'), 'ERR_INVALID_ARGUMENT', /apiKeys\.list: userId/);
    });
  });

  describe('resources', () => {
    it('puts, gets, replaces and deletes a resource', async () => {
      const value = { namespace: 'web', labels: { app: 'nginx' }, ports: [80, 443], ready: true, note: null };
      const put = await store.resources.put('pods', 'nginx-abc', value);
      expect(put).toEqual({ type: 'pods', name: 'nginx-abc', value, updatedAt: put.updatedAt });
      expect(Number.isSafeInteger(put.updatedAt)).toBe(true);
      expect(await store.resources.get('pods', 'nginx-abc')).toEqual(put);
      value.labels.app = 'changed-after-put';
      expect((await store.resources.get('pods', 'nginx-abc'))?.value).toMatchObject({ labels: { app: 'nginx' } });
      const got = await store.resources.get('pods', 'nginx-abc');
      (got?.value as { namespace: string }).namespace = 'mutated';
      expect((await store.resources.get('pods', 'nginx-abc'))?.value).toMatchObject({ namespace: 'web' });
      const replaced = await store.resources.put('pods', 'nginx-abc', { namespace: 'api' });
      expect(await store.resources.get('pods', 'nginx-abc')).toEqual(replaced);
      expect(await store.resources.delete('pods', 'nginx-abc')).toBe(true);
      expect(await store.resources.get('pods', 'nginx-abc')).toBeNull();
      expect(await store.resources.delete('pods', 'nginx-abc')).toBe(false);
    });

    it('keeps types apart, including types that prefix one another', async () => {
      await store.resources.put('pod', 'a', { t: 'pod' });
      await store.resources.put('pods', 'a', { t: 'pods' });
      await store.resources.put('pods', 'b:with:colons', { t: 'pods' });
      expect((await store.resources.list('pod')).items.map((r) => r.name)).toEqual(['a']);
      expect((await store.resources.list('pods')).items.map((r) => r.name)).toEqual(['a', 'b:with:colons']);
      expect((await store.resources.get('pod', 'a'))?.value).toEqual({ t: 'pod' });
    });

    it.each([
      ['', 'n', {}, 'ERR_INVALID_ARGUMENT', /resources\.put: type: must not be empty/],
      ['a:b', 'n', {}, 'ERR_INVALID_ARGUMENT', /type: must not contain ':'/],
      ['t'.repeat(65), 'n', {}, 'ERR_INVALID_ARGUMENT', /type: must be at most 64 characters/],
      ['pods', '', {}, 'ERR_INVALID_ARGUMENT', /resources\.put: name: must not be empty/],
      ['pods', 'n'.repeat(254), {}, 'ERR_INVALID_ARGUMENT', /name: must be at most 253 characters/],
      ['pods', 'tab\there', {}, 'ERR_INVALID_ARGUMENT', /name: must not contain control characters/],
      ['pods', 'n', [1, 2], 'ERR_VALIDATION', /value: Invalid input: expected record, received array/],
      ['pods', 'n', 'text', 'ERR_VALIDATION', /value: Invalid input: expected record/],
      ['pods', 'n', { f: () => 1 }, 'ERR_VALIDATION', /value\.f: must be a JSON value/],
      ['pods', 'n', { d: new Date(0) }, 'ERR_VALIDATION', /value\.d: must be a JSON value/],
      ['pods', 'n', { u: undefined }, 'ERR_VALIDATION', /value\.u: must be a JSON value/],
      ['pods', 'n', { n: Number.NaN }, 'ERR_VALIDATION', /value\.n: must be a JSON value/],
      ['pods', 'n', { big: 'x'.repeat(1024 * 1024) }, 'ERR_VALIDATION', /value: must be at most 1048576 bytes as JSON/],
    ] as const)('put(%j, %j, …) is refused with %s', async (type, name, value, code, message) => {
      await expectTapioError(store.resources.put(type, name, value as never), code, message);
      expect(rawKvOf(store).range('resources:', undefined, 10)).toEqual([]);
    });

    it('accepts values nested 64 levels deep and refuses deeper ones without overflowing the stack', async () => {
      const nest = (levels: number) => {
        let v: Record<string, unknown> = { leaf: true };
        for (let i = 1; i < levels; i++) v = { child: v };
        return v;
      };
      expect((await store.resources.put('t', 'deep', nest(64))).value).toEqual(nest(64));
      expect((await store.resources.get('t', 'deep'))?.value).toEqual(nest(64));
      for (const levels of [65, 100_000]) {
        await expectTapioError(
          store.resources.put('t', 'deeper', nest(levels)),
          'ERR_VALIDATION',
          /value: must not nest objects and arrays more than 64 levels deep/,
        );
      }
      expect(await store.resources.get('t', 'deeper')).toBeNull();
    });

    it('validates the arguments of get, delete and list too', async () => {
      await expectTapioError(store.resources.get('a:b', 'n'), 'ERR_INVALID_ARGUMENT', /resources\.get: type/);
      await expectTapioError(store.resources.delete('t', ''), 'ERR_INVALID_ARGUMENT', /resources\.delete: name/);
      await expectTapioError(store.resources.list(''), 'ERR_INVALID_ARGUMENT', /resources\.list: type/);
    });
  });

  describe('checkpoints', () => {
    it('sets, gets, moves, lists and deletes checkpoints', async () => {
      expect(await store.checkpoints.get('indexer')).toBeNull();
      const set = await store.checkpoints.set('indexer', 41);
      expect(set).toEqual({ name: 'indexer', seq: 41, updatedAt: set.updatedAt });
      expect(await store.checkpoints.get('indexer')).toEqual(set);
      const moved = await store.checkpoints.set('indexer', 42n);
      expect(moved.seq).toBe(42);
      expect(await store.checkpoints.get('indexer')).toEqual(moved);
      await store.checkpoints.set('alerts', Number.MAX_SAFE_INTEGER);
      expect((await store.checkpoints.get('alerts'))?.seq).toBe(Number.MAX_SAFE_INTEGER);
      expect((await store.checkpoints.list()).items.map((c) => [c.name, c.seq])).toEqual([
        ['alerts', Number.MAX_SAFE_INTEGER],
        ['indexer', 42],
      ]);
      expect(await store.checkpoints.delete('indexer')).toBe(true);
      expect(await store.checkpoints.delete('indexer')).toBe(false);
      expect(await store.checkpoints.get('indexer')).toBeNull();
    });

    it.each([[-1], [1.5], [2 ** 53], [2n ** 53n], [-1n], ['5'], [null]])('refuses seq %s with ERR_VALIDATION', async (seq) => {
      await expectTapioError(
        store.checkpoints.set('c', seq as never),
        'ERR_VALIDATION',
        /^checkpoints\.set: seq: must be an integer from 0 to 9007199254740991 \(a number or a bigint\)\./,
      );
      expect(await store.checkpoints.get('c')).toBeNull();
    });

    it('refuses bad names with ERR_INVALID_ARGUMENT', async () => {
      await expectTapioError(store.checkpoints.set('', 1), 'ERR_INVALID_ARGUMENT', /checkpoints\.set: name: must not be empty/);
      await expectTapioError(store.checkpoints.get('x'.repeat(257)), 'ERR_INVALID_ARGUMENT', /checkpoints\.get: name: must be at most 256/);
    });

    it('keeps every one of many concurrent sets', async () => {
      const sets = await Promise.all(Array.from({ length: 200 }, (_, i) => store.checkpoints.set(`c${String(i).padStart(3, '0')}`, i * 1000)));
      expect(sets).toHaveLength(200);
      const all = await store.checkpoints.list({ limit: 1000 });
      expect(all.items.map((c) => c.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i * 1000));
      expect(all.cursor).toBeNull();
    });
  });

  describe('transactions', () => {
    it('commits writes across sub-APIs together and returns what fn returned', async () => {
      const result = await store.transaction((tx) => {
        const user = tx.users.create({ name: 'indexer' }, { apiKey: { name: 'k' } });
        expect(tx.users.getByName('indexer')?.id).toBe(user.id); // reads its own writes
        tx.resources.put('owners', 'indexer', { userId: user.id });
        tx.checkpoints.set('indexer', 7);
        expect(tx.checkpoints.get('indexer')?.seq).toBe(7);
        return user;
      });
      expect((await store.users.getByName('indexer'))?.id).toBe(result.id);
      expect((await store.resources.get('owners', 'indexer'))?.value).toEqual({ userId: result.id });
      expect((await store.checkpoints.get('indexer'))?.seq).toBe(7);
      expect(await store.apiKeys.verify(result.apiKey.key)).toBe(result.id);
    });

    it('keeps nothing when fn throws, and rejects with what it threw', async () => {
      await store.checkpoints.set('indexer', 1);
      const boom = new Error('boom');
      const outcome = await store
        .transaction((tx) => {
          tx.users.create({ name: 'ghost' });
          tx.checkpoints.set('indexer', 2);
          tx.resources.put('t', 'n', {});
          tx.checkpoints.delete('indexer');
          throw boom;
        })
        .catch((err: unknown) => err);
      expect(outcome).toBe(boom);
      expect(await store.users.getByName('ghost')).toBeNull();
      expect((await store.checkpoints.get('indexer'))?.seq).toBe(1);
      expect(await store.resources.get('t', 'n')).toBeNull();
    });

    it('rolls back earlier writes when a later operation fails validation', async () => {
      await expectTapioError(
        store.transaction((tx) => {
          tx.users.create({ name: 'first' });
          tx.users.create({ name: 'first' });
        }),
        'ERR_ALREADY_EXISTS',
      );
      expect((await store.users.list()).items).toEqual([]);
    });

    it('refuses an async callback and writes nothing', async () => {
      await expectTapioError(
        store.transaction(async (tx) => {
          tx.checkpoints.set('c', 1);
        }),
        'ERR_INVALID_ARGUMENT',
        /must be synchronous/,
      );
      expect(await store.checkpoints.get('c')).toBeNull();
    });

    it('refuses use of the transaction object after its callback returned', async () => {
      let kept: { checkpoints: { set(name: string, seq: number): unknown } } | undefined;
      await store.transaction((tx) => {
        kept = tx;
      });
      expect(() => kept?.checkpoints.set('late', 1)).toThrow(/transaction has ended/);
      expect(await store.checkpoints.get('late')).toBeNull();
    });

    it('isolates a failing transaction from others committed in the same batch', async () => {
      const results = await Promise.allSettled([
        store.transaction((tx) => tx.checkpoints.set('a', 1)),
        store.transaction((tx) => {
          tx.checkpoints.set('b', 1);
          throw new Error('no');
        }),
        store.checkpoints.set('c', 1),
        store.transaction((tx) => tx.checkpoints.set('d', 1)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((await store.checkpoints.list()).items.map((c) => c.name)).toEqual(['a', 'c', 'd']);
    });

    it('sees writes only once their commit resolved', async () => {
      const pending = store.checkpoints.set('later', 5);
      expect(await store.checkpoints.get('later')).toBeNull();
      await pending;
      expect((await store.checkpoints.get('later'))?.seq).toBe(5);
    });
  });

  describe('listing', () => {
    it('validates paging options', async () => {
      await expectTapioError(store.checkpoints.list({ limit: 0 }), 'ERR_INVALID_ARGUMENT', /checkpoints\.list: options\.limit: must be at least 1/);
      await expectTapioError(store.checkpoints.list({ limit: 1001 }), 'ERR_INVALID_ARGUMENT', /options\.limit: must be at most 1000/);
      await expectTapioError(store.checkpoints.list({ limit: 1.5 }), 'ERR_INVALID_ARGUMENT', /options\.limit: must be an integer/);
      await expectTapioError(store.checkpoints.list({ cursor: 'users:abc' }), 'ERR_INVALID_ARGUMENT', /options\.cursor was not returned by this listing/);
      await expectTapioError(store.resources.list('pods', { cursor: 'resources:pod:x' }), 'ERR_INVALID_ARGUMENT', /cursor/);
      await expectTapioError(store.users.list({ limit: 5, extra: 1 } as never), 'ERR_INVALID_ARGUMENT', /Unrecognized key: "extra"/);
    });

    it('defaults to pages of 100', async () => {
      await Promise.all(Array.from({ length: 120 }, (_, i) => store.checkpoints.set(`c${String(i).padStart(3, '0')}`, i)));
      const page = await store.checkpoints.list();
      expect(page.items).toHaveLength(100);
      expect(page.cursor).toBe('checkpoints:c099');
      expect((await store.checkpoints.list({ cursor: page.cursor })).items).toHaveLength(20);
    });

    it('pages through any set of names with any limit: every name exactly once, in UTF-8 byte order', async () => {
      const nameArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s) && s.length <= 253);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(nameArb, { minLength: 0, maxLength: 40 }), fc.integer({ min: 1, max: 45 }), async (names, limit) => {
          const type = `t${run++}`;
          await Promise.all(names.map((name, i) => store.resources.put(type, name, { i })));
          const seen: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const page: Awaited<ReturnType<typeof store.resources.list>> = await store.resources.list(type, { limit, cursor });
            expect(page.items.length).toBeLessThanOrEqual(limit);
            if (page.cursor !== null) expect(page.items).toHaveLength(limit);
            seen.push(...page.items.map((r) => r.name));
            cursor = page.cursor;
            pages++;
          } while (cursor !== null);
          const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
          expect(seen).toEqual(expected);
          expect(pages).toBe(Math.max(1, Math.ceil(names.length / limit))); // the last page says so: no empty extra page
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('damaged values', () => {
    it('reports a stored value that fails its schema as ERR_METADATA_CORRUPT naming the key', async () => {
      const kv = rawKvOf(store);
      const id = 'C'.repeat(16);
      await kv.put(`users:${id}`, { id, name: 7 });
      await kv.put('resources:pods:bad', { value: 'not an object', updatedAt: 1 });
      await kv.put('checkpoints:bad', { seq: 'five', updatedAt: 1 });
      await kv.put(`api_keys:${'K'.repeat(12)}`, ['C'.repeat(16), 'short', null, null, 'k', 1]);
      await expectTapioError(store.users.get(id), 'ERR_METADATA_CORRUPT', new RegExp(`users:${id}`));
      await expectTapioError(store.users.list(), 'ERR_METADATA_CORRUPT', /users:C+.*name/);
      await expectTapioError(store.resources.get('pods', 'bad'), 'ERR_METADATA_CORRUPT', /resources:pods:bad.*value/);
      await expectTapioError(store.checkpoints.get('bad'), 'ERR_METADATA_CORRUPT', /checkpoints:bad.*seq/);
      const body = `tap_${'K'.repeat(12)}_${'s'.repeat(43)}`;
      await expectTapioError(store.apiKeys.verify(body + checksumOf(body)), 'ERR_METADATA_CORRUPT', /api_keys:K{12}.*1: must be a base64 SHA-256 digest/);
      await expectTapioError(store.apiKeys.get('K'.repeat(12)), 'ERR_METADATA_CORRUPT', /api_keys:K{12}/);
    });
  });
});
