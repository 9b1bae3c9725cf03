import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { HmacKey, createSecretFile, readSecretFile } from '../../src/metadata/hmac-secret.js';
import { cleanup, expectTapioError, tempDir } from './helpers.js';

describe('HmacKey', () => {
  it('computes exactly what crypto.createHmac computes, for any key up to 64 bytes and ASCII message up to 256 characters', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 256 }),
        (key, message) => {
          const hmac = new HmacKey(key);
          const expected = createHmac('sha256', key).update(message, 'latin1').digest();
          expect(hmac.digest(message)).toEqual(expected);
          expect(hmac.digestBase64(message)).toBe(expected.toString('base64'));
          expect(hmac.verifyBase64(message, expected.toString('base64'))).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives the same digest on repeated use (no state leaks between calls)', () => {
    const key = new HmacKey(randomBytes(32));
    const a = key.digest('tap_a');
    key.digest('x'.repeat(200));
    expect(key.digest('tap_a')).toEqual(a);
  });

  it('verifies a stored base64 digest only when it matches exactly', () => {
    const key = new HmacKey(randomBytes(32));
    const good = key.digestBase64('tap_body');
    expect(key.verifyBase64('tap_body', good)).toBe(true);
    expect(key.verifyBase64('tap_bodz', good)).toBe(false);
    const flipped = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
    expect(key.verifyBase64('tap_body', flipped)).toBe(false);
    expect(key.verifyBase64('tap_body', good.slice(0, 43))).toBe(false);
    expect(key.verifyBase64('tap_body', '')).toBe(false);
    expect(new HmacKey(randomBytes(32)).verifyBase64('tap_body', good)).toBe(false);
  });

  it("matches its own check and not another key's", () => {
    const one = new HmacKey(randomBytes(32));
    const two = new HmacKey(randomBytes(32));
    expect(one.matches(one.check())).toBe(true);
    expect(one.matches(two.check())).toBe(false);
    expect(one.matches(Buffer.alloc(31))).toBe(false);
  });

  it('refuses keys longer than a block and messages longer than 256 characters', () => {
    expect(() => new HmacKey(Buffer.alloc(65))).toThrow(RangeError);
    expect(() => new HmacKey(Buffer.alloc(32)).digest('x'.repeat(257))).toThrow(RangeError);
  });
});

describe('secret file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await cleanup(dir);
  });

  it('is created with 32 random bytes and mode 0600, and read back as the same key', async () => {
    const file = join(dir, 'hmac.key');
    const created = await createSecretFile(file);
    const s = await stat(file);
    expect(s.mode & 0o777).toBe(0o600);
    expect(s.size).toBe(32);
    const bytes = await readFile(file);
    expect(created.digest('m')).toEqual(createHmac('sha256', bytes).update('m').digest());
    const read = await readSecretFile(file);
    expect(read?.digest('m')).toEqual(created.digest('m'));
  });

  it('reads null for a missing file', async () => {
    expect(await readSecretFile(join(dir, 'none.key'))).toBeNull();
  });

  it('returns the existing secret when the file appears first (O_EXCL)', async () => {
    const file = join(dir, 'hmac.key');
    const bytes = randomBytes(32);
    await writeFile(file, bytes, { mode: 0o600 });
    const key = await createSecretFile(file);
    expect(key.digest('m')).toEqual(createHmac('sha256', bytes).update('m').digest());
    expect(await readFile(file)).toEqual(bytes);
  });

  it('refuses a symbolic link', async () => {
    const target = join(dir, 'real.key');
    await writeFile(target, randomBytes(32), { mode: 0o600 });
    const link = join(dir, 'hmac.key');
    await symlink(target, link);
    await expectTapioError(readSecretFile(link), 'ERR_METADATA_SECRET', /is a symbolic link/);
  });

  it('refuses a directory in its place', async () => {
    await expectTapioError(readSecretFile(dir), 'ERR_METADATA_SECRET', /is not a regular file/);
  });
});
