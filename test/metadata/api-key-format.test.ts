import { crc32 } from 'node:zlib';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import {
  API_KEY_LENGTH,
  API_KEY_PATTERN,
  checksumOf,
  crc32Ascii,
  decodeBase62,
  encodeBase62,
  generateApiKey,
  parseApiKey,
  randomBase62,
  scanApiKey,
} from '../../src/metadata/api-key-format.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_RE = /^tap_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$/;

function formatError(key: unknown): TapioError {
  try {
    parseApiKey(key);
  } catch (err) {
    expect(err).toBeInstanceOf(TapioError);
    expect((err as TapioError).code).toBe('ERR_API_KEY_FORMAT');
    return err as TapioError;
  }
  throw new Error('parseApiKey accepted the key');
}

describe('API key format', () => {
  it('generates 66-character keys tap_<12 id>_<43 secret><6 check> that parse back', () => {
    for (let i = 0; i < 200; i++) {
      const g = generateApiKey();
      expect(API_KEY_LENGTH).toBe(66);
      expect(g.key).toHaveLength(66);
      expect(g.key).toMatch(KEY_RE);
      expect(g.key).toBe(`tap_${g.keyId}_${g.secret}${checksumOf(g.body)}`);
      expect(g.body).toBe(`tap_${g.keyId}_${g.secret}`);
      expect(parseApiKey(g.key)).toEqual({ keyId: g.keyId, secret: g.secret, body: g.body });
      expect(scanApiKey(g.key)).toEqual({ keyId: g.keyId, body: g.body });
      expect(decodeBase62(g.secret, 32)).toHaveLength(32);
    }
  });

  it('keeps the checksum encoding stable (keys already handed out must stay valid)', () => {
    expect(checksumOf('123456789')).toBe('3jZRME'); // CRC32 0xCBF43926
    expect(checksumOf('')).toBe('000000');
    expect(encodeBase62(Buffer.alloc(32, 0xff), 43)).toBe('yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1');
    expect(encodeBase62(Buffer.alloc(32, 0), 43)).toBe('0'.repeat(43));
  });

  it('computes the same CRC-32 as zlib for ASCII text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 100 }), (text) => {
        expect(crc32Ascii(text)).toBe(crc32(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts a key only when it matches the documented pattern', () => {
    const { key } = generateApiKey();
    const anyChar = fc.oneof(fc.constantFrom(...BASE62, '_', '-', '=', ' ', 'é', '\u0000', '😀', '\u0130'), fc.string({ minLength: 1, maxLength: 1 }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: API_KEY_LENGTH }), anyChar, fc.boolean(), (pos, ch, insert) => {
        const candidate = key.slice(0, pos) + ch + key.slice(insert ? pos : pos + 1);
        if (!API_KEY_PATTERN.test(candidate)) expect(scanApiKey(candidate)).toBeNull();
        if (scanApiKey(candidate) !== null) expect(API_KEY_PATTERN.test(candidate)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(API_KEY_PATTERN.test(key)).toBe(true);
  });

  it('encodes any 32 bytes as exactly 43 base62 digits and decodes them back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const text = encodeBase62(bytes, 43);
        expect(text).toMatch(/^[0-9A-Za-z]{43}$/);
        expect(decodeBase62(text, 32)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('draws random base62 strings of the asked length from the whole alphabet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = randomBase62(12);
      expect(s).toMatch(/^[0-9A-Za-z]{12}$/);
      for (const ch of s) seen.add(ch);
    }
    expect(seen.size).toBe(62);
  });

  it('refuses every single-character substitution (the checksum catches it)', () => {
    const { key } = generateApiKey();
    fc.assert(
      fc.property(fc.integer({ min: 4, max: API_KEY_LENGTH - 1 }), fc.constantFrom(...BASE62), (pos, ch) => {
        fc.pre(pos !== 16 && key[pos] !== ch);
        const typo = key.slice(0, pos) + ch + key.slice(pos + 1);
        expect(scanApiKey(typo)).toBeNull();
        expect(() => parseApiKey(typo)).toThrow(TapioError);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every transposition of two different adjacent characters', () => {
    const { key } = generateApiKey();
    for (let pos = 17; pos < API_KEY_LENGTH - 1; pos++) {
      if (key[pos] === key[pos + 1]) continue;
      const swapped = key.slice(0, pos) + key[pos + 1] + key[pos] + key.slice(pos + 2);
      expect(scanApiKey(swapped)).toBeNull();
      expect(formatError(swapped).message).toBe(
        'Not a valid tapio API key: its checksum (the last 6 characters) does not match the rest of the key: a character was mistyped or changed.',
      );
    }
  });

  it.each([
    [42, /an API key must be a string, got number/],
    [null, /an API key must be a string, got null/],
    ['', /it does not start with 'tap_'/],
    ['Bearer tap_abc', /it does not start with 'tap_'/],
    ['tap_short', /it is 9 characters long, an API key has 66/],
  ])('says what is wrong with %j', (key, message) => {
    expect(formatError(key).message).toMatch(message);
  });

  it('says which character is wrong, without quoting the key', () => {
    const { key, secret } = generateApiKey();
    const noSeparator = `${key.slice(0, 16)}x${key.slice(17)}`;
    expect(formatError(noSeparator).message).toBe("Not a valid tapio API key: character 17 must be '_' (after the 12-character key id).");
    const badChar = `${key.slice(0, 30)}-${key.slice(31)}`;
    expect(formatError(badChar).message).toBe('Not a valid tapio API key: character 31 is not a letter or digit.');
    const typo = `${key.slice(0, 30)}${key[30] === 'a' ? 'b' : 'a'}${key.slice(31)}`;
    const err = formatError(typo);
    expect(err.message).toMatch(/checksum/);
    for (const e of [formatError(noSeparator), formatError(badChar), err, formatError(key.slice(0, 65))]) {
      expect(e.message).not.toContain(secret.slice(0, 10));
      expect(e.message).not.toContain(key.slice(4, 16));
    }
  });

  it('never accepts random strings of the right shape (checksum)', () => {
    let accepted = 0;
    let acceptedOnceChecksummed = 0;
    for (let i = 0; i < 5000; i++) {
      const candidate = `tap_${randomBase62(12)}_${randomBase62(49)}`;
      if (scanApiKey(candidate) !== null) accepted++;
      // The same string with its last 6 characters made its checksum: only the checksum was wrong.
      const body = candidate.slice(0, -6);
      if (scanApiKey(body + checksumOf(body)) !== null) acceptedOnceChecksummed++;
    }
    // 6 base62 check digits carry a 32-bit CRC: about 1 in 4e9 random strings passes.
    expect(accepted).toBe(0);
    expect(acceptedOnceChecksummed).toBe(5000);
  });
});
