// The check of names and ids: printable ASCII takes a shortcut; every string must get the answer
// of the plain rule (1..max UTF-16 code units, no control character, no unpaired surrogate, no ':'
// when asked).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { textOk } from '../src/text-check.js';

/** The rule, spelled out code unit by code unit. */
function reference(v: unknown, max: number, noColon: boolean): boolean {
  if (typeof v !== 'string' || v.length < 1 || v.length > max) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (noColon && c === 0x3a)) return false;
    const high = c >= 0xd800 && c <= 0xdbff;
    const low = c >= 0xdc00 && c <= 0xdfff;
    if (low) return false;
    if (high) {
      const next = v.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

describe('textOk', () => {
  it('answers as the plain rule does, for ASCII and for any other code units', () => {
    const unit = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.constantFrom(0x00, 0x09, 0x1f, 0x3a, 0x7f, 0x80, 0xe9, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfffd),
    );
    const text = fc.array(unit, { maxLength: 12 }).map((units) => String.fromCharCode(...units));
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 10 }), fc.boolean(), (v, max, noColon) => {
        expect(textOk(v, max, noColon)).toBe(reference(v, max, noColon));
      }),
      { numRuns: 5000, seed: 11 },
    );
  });

  it('takes printable ASCII and well-formed non-ASCII text, and refuses what is not a string', () => {
    expect(textOk('web-7f9c', 253)).toBe(true);
    expect(textOk('a:b', 253)).toBe(true);
    expect(textOk('a:b', 253, true)).toBe(false);
    expect(textOk('café', 253)).toBe(true);
    expect(textOk('\ud83d\ude00', 253)).toBe(true);
    expect(textOk('x'.repeat(254), 253)).toBe(false);
    expect(textOk('', 253)).toBe(false);
    expect(textOk(7, 253)).toBe(false);
  });
});
