import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { crc32c, crc32cImplementations, type Crc32cFn } from '../../src/crc32c.js';
import { nativeMissingReason, paths, typescriptOnlyAllowed } from '../paths.js';

const impls = crc32cImplementations();
const enc = new TextEncoder();

// A deterministic pseudo-random buffer (xorshift), so failures reproduce.
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe.each(paths(impls.native, impls.typescript))('crc32c on the %s path', (_name, fn: Crc32cFn | null) => {
  const f = fn!;
  it('gives the standard check value 0xE3069283 for "123456789"', () => {
    expect(f(enc.encode('123456789'))).toBe(0xe3069283);
  });

  it('matches the published test vectors', () => {
    expect(f(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(f(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(f(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(f(new Uint8Array(0))).toBe(0);
  });

  it('extends: crc(a ++ b) === crc(b, crc(a))', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        expect(f(b, f(a))).toBe(f(ab));
      }),
    );
  });
});

describe('crc32c: the two paths agree', () => {
  const native = impls.native;
  it.skipIf(native === null)('on random buffers of every length 0..4096', () => {
    const buf = bytes(4096 + 16, 7);
    for (let n = 0; n <= 4096; n++) {
      const view = buf.subarray(0, n);
      expect(native!(view)).toBe(impls.typescript(view));
    }
  });

  it.skipIf(native === null)('on unaligned views at every offset 0..15', () => {
    const buf = bytes(70_000, 11);
    for (let off = 0; off < 16; off++) {
      for (const n of [0, 1, 7, 8, 9, 63, 767, 768, 769, 24_575, 24_576, 24_577, 50_000]) {
        const view = new Uint8Array(buf.buffer, off, n);
        expect(native!(view), `offset ${off} length ${n}`).toBe(impls.typescript(view));
      }
    }
  });

  it.skipIf(native === null)('on 1 MiB + 7 bytes with a running initial value', () => {
    const buf = bytes((1 << 20) + 7, 3);
    expect(native!(buf, 0x12345678)).toBe(impls.typescript(buf, 0x12345678));
  });

  it('uses the native path unless a TypeScript-only run was asked for', () => {
    if (!typescriptOnlyAllowed()) expect(nativeMissingReason()).toBeNull();
    expect(native !== null).toBe(nativeMissingReason() === null);
  });
});

describe('crc32c: bad input', () => {
  it('refuses what is not bytes with ERR_INVALID_ARGUMENT', () => {
    expect(() => crc32c('abc' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => crc32c(new Uint8Array(1), -1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('crc32cRange: the checksum of a range without a subarray', () => {
  it('equals crc32c of the subarray, on both paths', async () => {
    const { loadNative } = await import('../../src/native/loader.js');
    const { crc32cTs, crc32cTsRange } = await import('../../src/native/crc32c.js');
    const { crc32cRange } = await import('../../src/crc32c.js');
    const b = Buffer.from(bytes(5000, 7));
    const native = loadNative();
    for (const [o, n] of [
      [0, 0],
      [0, 5000],
      [3, 200],
      [4096, 904],
      [4999, 1],
    ] as const) {
      const want = crc32cTs(b.subarray(o, o + n));
      expect(crc32cRange(b, o, n)).toBe(want);
      expect(crc32cTsRange(b, o, n)).toBe(want);
      if (o >= 1) expect(crc32cTsRange(b.subarray(1), o - 1, n)).toBe(want);
      if (native && o >= 1) expect(native.crc32cRange(b.subarray(1), o - 1, n)).toBe(want); // a view that does not start its buffer
    }
    if (native) {
      for (const [o, n] of [
        [0, 5001],
        [4999, 2],
        [-1, 1],
        [1.5, 1],
        [0, Number.NaN],
      ]) {
        expect(() => native.crc32cRange(b, o!, n!)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      }
    }
  });
});
