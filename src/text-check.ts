/**
 * The check of short names and ids both stores take (user names, resource names, finding ids):
 * 1..max UTF-16 code units, no control character, no unpaired surrogate, and no ':' when
 * `noColon`. Printable ASCII, the usual case, is told by one regular expression (about twice as
 * fast as the loop over code units on resource names of about 20 characters); anything else goes
 * through the loop.
 */
export function textOk(v: unknown, max: number, noColon = false): v is string {
  if (typeof v !== 'string' || v.length < 1 || v.length > max) return false;
  // Printable ASCII has no control character and no surrogate.
  if (PRINTABLE_ASCII.test(v)) return !noColon || !v.includes(':');
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (noColon && c === 0x3a)) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate must be followed by a low one; a low one must not appear alone.
      if (c >= 0xdc00) return false;
      const next = v.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
