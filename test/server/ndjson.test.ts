// The NDJSON check of the ingest path on both paths (src/server/ndjson.ts picks one and is the
// TypeScript twin of native/core/json_check.h): the names and limits agree with the header; a table
// of lines (objects and other values, numbers, literals, escapes, UTF-8, whitespace, nesting) with
// the fault and byte offset of each refusal; bodies (CRLF, blank lines, the limits and which
// failure wins); bad arguments refused with the same words; and properties: serialized JSON values
// are accepted exactly when they are objects, random and mutated lines and bodies get the verdict
// of strict UTF-8 decoding plus JSON.parse over the lines splitLines cuts, and native and
// TypeScript agree on every output.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { isTapioError } from '../../src/errors.js';
import { loadNative } from '../../src/native/loader.js';
import { splitLines } from '../../src/server/http.js';
import {
  describeJsonFault,
  JSON_FAULTS,
  JSON_MAX_DEPTH,
  NDJSON_OUTCOMES,
  ndjsonLineBound,
  ndjsonValidator,
  RESULT_SLOTS,
  type NdjsonResult,
  type NdjsonValidator,
} from '../../src/server/ndjson.js';
import { libPath } from '../built-lib.js';
import { nativeMissingReason, paths } from '../paths.js';

const addon = loadNative();
const nativeValidator = addon === null ? null : ndjsonValidator('native');
const typescriptValidator = ndjsonValidator('typescript');
const skipNative = addon === null ? ` (skipped: ${nativeMissingReason() ?? 'the addon did not load'})` : '';

const BIG = 1 << 20;

const bytes = (text: string | Uint8Array): Buffer => (typeof text === 'string' ? Buffer.from(text, 'latin1') : Buffer.from(text));
/** A string's UTF-8 bytes (the table's texts are latin1 so that they can hold any byte). */
const utf8 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** The outcome of one line, as the table states it: 'ok' | 'not-object' | '<fault>@<offset>'. */
function lineVerdict(v: NdjsonValidator, line: string): string {
  const r = v.validate(bytes(line), BIG, BIG);
  if (r.ok) return r.count === 1 ? 'ok' : `ok, ${r.count} lines`;
  if (r.outcome === 'not-object') return `not-object@${r.offset}`;
  if (r.outcome === 'not-json') return `${r.fault}@${r.offset}`;
  return r.outcome;
}

/** Every output of a result, for comparing paths. */
function shown(r: NdjsonResult): string {
  return JSON.stringify({ ...r, ranges: Array.from(r.ranges) });
}

function nested(depth: number, inner: string): string {
  let s = '';
  for (let d = 0; d < depth; d++) s += d % 2 === 0 ? '{"a":' : '[';
  s += inner;
  for (let d = depth - 1; d >= 0; d--) s += d % 2 === 0 ? '}' : ']';
  return s;
}

// [line (latin1: one character per byte), verdict]
const LINES: Array<[string, string]> = [
  // Objects, and values that are not.
  ['{}', 'ok'],
  ['{"a":1}', 'ok'],
  ['{"a":1,"a":2}', 'ok'], // duplicate keys: JSON.parse keeps the last
  ['{ "a" : [ 1 , { } , [ ] ] , "b" : null }', 'ok'],
  ['\t{\t"a"\t:\t1\t}\t', 'ok'],
  ['\r{"a":\r1}\r', 'ok'], // CR inside a line is JSON whitespace
  ['{"a":true,"b":false,"c":null}', 'ok'],
  ['[]', 'not-object@0'],
  ['[1,2]', 'not-object@0'],
  ['  "text"', 'not-object@2'],
  ['12', 'not-object@0'],
  ['null', 'not-object@0'],
  ['true', 'not-object@0'],
  ['\r', 'ok, 0 lines'], // one CR at the end of a line is dropped: blank
  [' \r ', 'unexpected-end@2'], // one not at the end is what the line holds: JSON whitespace, no value
  // Structure.
  ['{', 'unexpected-end@1'],
  ['{"a":', 'unexpected-end@5'],
  ['{"a":1', 'unexpected-end@6'],
  ['{"a":1   ', 'unexpected-end@6'], // trailing spaces are trimmed before the check
  ['{"a":1,}', 'unexpected-byte@7'], // trailing commas
  ['{"a":[1,]}', 'unexpected-byte@8'],
  ['{,}', 'unexpected-byte@1'],
  ['{a:1}', 'unexpected-byte@1'],
  ["{'a':1}", 'unexpected-byte@1'],
  ['{"a" 1}', 'unexpected-byte@5'],
  ['{"a":1]', 'unexpected-byte@6'],
  ['{"a":1}}', 'trailing-data@7'],
  ['{} {}', 'trailing-data@3'],
  ['{}x', 'trailing-data@2'],
  ['{"a":undefined}', 'unexpected-byte@5'],
  ['\xEF\xBB\xBF{}', 'unexpected-byte@0'], // a byte-order mark is not whitespace (JSON.parse refuses U+FEFF too)
  ['\f{}', 'unexpected-byte@0'],
  ['\v{}', 'unexpected-byte@0'],
  ['\xA0{}', 'unexpected-byte@0'],
  // Numbers.
  ['{"n":[0,-0,1,-1,0.5,-0.5,1e5,1E5,1e+2,1E+2,1E-2,1.5e10,-0.0e-0,123456789012345678901234567890]}', 'ok'],
  ['{"n":01}', 'bad-number@6'],
  ['{"n":-01}', 'bad-number@7'],
  ['{"n":1.}', 'bad-number@7'],
  ['{"n":1.e5}', 'bad-number@7'],
  ['{"n":.5}', 'unexpected-byte@5'],
  ['{"n":+1}', 'unexpected-byte@5'],
  ['{"n":-}', 'bad-number@6'],
  ['{"n":1e}', 'bad-number@7'],
  ['{"n":1e+}', 'bad-number@8'],
  ['{"n":1.5.3}', 'unexpected-byte@8'],
  ['{"n":0x10}', 'unexpected-byte@6'],
  ['{"n":NaN}', 'unexpected-byte@5'],
  ['{"n":Infinity}', 'unexpected-byte@5'],
  ['{"n":-Infinity}', 'bad-number@6'],
  ['{"n":1', 'unexpected-end@6'],
  ['{"n":-', 'unexpected-end@6'],
  // Literals.
  ['{"a":tru}', 'bad-literal@8'],
  ['{"a":True}', 'unexpected-byte@5'],
  ['{"a":nul', 'unexpected-end@8'],
  ['{"a":nulll}', 'unexpected-byte@9'],
  ['{"a":truex}', 'unexpected-byte@9'],
  // Strings and escapes.
  ['{"q":"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\uFFFF"}', 'ok'],
  ['{"lone":"\\ud800 \\udfff \\udc00\\ud800"}', 'ok'], // lone surrogate escapes, as JSON.parse takes them
  ['{"pair":"\\ud83d\\ude00"}', 'ok'],
  ['{"del":"\x7F"}', 'ok'],
  ['{"a":"\\x41"}', 'bad-escape@7'],
  ['{"a":"\\a"}', 'bad-escape@7'],
  ['{"a":"\\\'"}', 'bad-escape@7'],
  ['{"a":"\\u12G4"}', 'bad-escape@10'],
  ['{"a":"\\u123"}', 'bad-escape@11'],
  ['{"a":"\\U0041"}', 'bad-escape@7'],
  ['{"a":"\\u12', 'unexpected-end@10'],
  ['{"a":"abc', 'unexpected-end@9'],
  ['{"a":"tab\there"}', 'control-char@9'], // raw control characters
  ['{"a":"nul\0"}', 'control-char@9'],
  ['{"a":"\x1F"}', 'control-char@6'],
  ['{"a":"cr\rx"}', 'control-char@8'],
  ['{"k\x01":1}', 'control-char@3'],
  [`{"long":"${'x'.repeat(37)}\\n${'y'.repeat(20)}"}`, 'ok'],
  [`{"long":"${'x'.repeat(37)}\x02"}`, 'control-char@46'],
  // UTF-8.
  [utf8('{"a":"é € 😀 \u{10FFFF} \uFFFF \uD7FF \uE000"}'), 'ok'],
  [utf8('{"é":"ü"}'), 'ok'],
  ['{"a":"\x80"}', 'bad-utf8@6'], // a continuation byte alone
  ['{"a":"\xC0\xAF"}', 'bad-utf8@6'], // overlong '/'
  ['{"a":"\xC1\xBF"}', 'bad-utf8@6'],
  ['{"a":"\xE0\x80\xAF"}', 'bad-utf8@7'], // overlong, three bytes
  ['{"a":"\xF0\x80\x80\xAF"}', 'bad-utf8@7'], // overlong, four bytes
  ['{"a":"\xED\xA0\x80"}', 'bad-utf8@7'], // U+D800 encoded
  ['{"a":"\xED\xBF\xBF"}', 'bad-utf8@7'], // U+DFFF encoded
  ['{"a":"\xF4\x90\x80\x80"}', 'bad-utf8@7'], // U+110000
  ['{"a":"\xF5\x80\x80\x80"}', 'bad-utf8@6'],
  ['{"a":"\xFE"}', 'bad-utf8@6'],
  ['{"a":"\xFF"}', 'bad-utf8@6'],
  ['{"a":"\xC3"}', 'bad-utf8@7'], // cut short by the closing quote
  ['{"a":"\xE2\x82"}', 'bad-utf8@8'],
  ['{"a":"\xF0\x9F\x98"}', 'bad-utf8@9'],
  ['{"a":"\xF0\x9F\x98', 'unexpected-end@9'],
  ['{"a":\xC3\xA9}', 'unexpected-byte@5'], // outside a string
  // Nesting: JSON_MAX_DEPTH levels, not one more.
  [nested(JSON_MAX_DEPTH, '1'), 'ok'],
  [nested(JSON_MAX_DEPTH + 1, '1'), `too-deep@${(JSON_MAX_DEPTH / 2) * 6}`],
  ['['.repeat(JSON_MAX_DEPTH), `unexpected-end@${JSON_MAX_DEPTH}`],
  ['['.repeat(100_000), `too-deep@${JSON_MAX_DEPTH}`],
];

describe('the NDJSON check and its native twin', () => {
  const header = readFileSync(new URL('../../native/core/json_check.h', import.meta.url), 'utf8');
  const binding = readFileSync(new URL('../../native/binding/json_check_binding.cc', import.meta.url), 'utf8');

  /** The names of an X-macro list of the header, in order. */
  function names(macro: string): string[] {
    const start = header.indexOf(`#define ${macro}(X)`);
    expect(start, macro).toBeGreaterThanOrEqual(0);
    const body = header.slice(start, header.indexOf('\n\n', start));
    return [...body.matchAll(/X\(k\w+, "([^"]+)"\)/g)].map((m) => m[1]!);
  }

  it('have the same outcomes, faults, depth limit and result slots', () => {
    expect(names('TAPIO_NDJSON_OUTCOMES')).toEqual([...NDJSON_OUTCOMES]);
    expect(names('TAPIO_JSON_FAULTS')).toEqual([...JSON_FAULTS]);
    expect(Number(/constexpr size_t kMaxDepth = (\d+);/.exec(header)?.[1])).toBe(JSON_MAX_DEPTH);
    expect(Number(/constexpr size_t kResultSlots = (\d+);/.exec(binding)?.[1])).toBe(RESULT_SLOTS);
  });

  it('bound the lines of a body as the header does', () => {
    expect([0, 1, 2, 3, 4, 100].map((n) => ndjsonLineBound(n, 10))).toEqual([0, 1, 1, 2, 2, 10]);
  });

  it('the TypeScript path runs when TAPIO_NATIVE=0, the native one otherwise', () => {
    const script = `import(${JSON.stringify(libPath('server', 'ndjson.js'))}).then((m) => process.stdout.write(m.ndjsonValidator().path))`;
    const run = (env: Record<string, string>) =>
      execFileSync(process.execPath, ['--no-warnings', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(run({ TAPIO_NATIVE: '0' })).toBe('typescript');
    expect(run({ TAPIO_NATIVE: '1' })).toBe(addon === null ? 'typescript' : 'native');
  });
});

describe.each(paths(nativeValidator, typescriptValidator))('the NDJSON check, %s path', (path, v: NdjsonValidator) => {
  it('is the path it says', () => {
    expect(v.path).toBe(path);
  });

  it.each(LINES.map(([line, want]) => [JSON.stringify(line).slice(0, 80), want, line]))('%s: %s', (_, want, line) => {
    expect(lineVerdict(v, line!)).toBe(want);
  });

  it('cuts lines as splitLines does: CRLF, blank and whitespace-only lines, numbering that counts them', () => {
    const body = bytes('{"a":1}\r\n\n  \t\r\n \t{"b":2} \t\r\n{"c":3}');
    const r = v.validate(body, BIG, BIG);
    expect(r.ok).toBe(true);
    expect(r.count).toBe(3);
    const lines = Array.from({ length: r.count }, (_, i) => body.toString('latin1', r.ranges[2 * i], r.ranges[2 * i + 1]));
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    const split = splitLines(body, BIG, BIG, 'events');
    expect(split.map((l) => [l.start, l.end])).toEqual(Array.from({ length: r.count }, (_, i) => [r.ranges[2 * i], r.ranges[2 * i + 1]]));
    expect(v.validate(bytes(''), BIG, BIG)).toMatchObject({ ok: true, count: 0 });
    expect(v.validate(bytes('\n\n \t\r\n\r\n'), BIG, BIG)).toMatchObject({ ok: true, count: 0 });
    // A '\r' before a '\r\n' is what the line holds: JSON whitespace, so no value.
    expect(v.validate(bytes('{}\n\r\r\n'), BIG, BIG)).toMatchObject({
      ok: false,
      outcome: 'not-json',
      fault: 'unexpected-end',
      line: 2,
      offset: 1,
      lineStart: 3,
    });
    // A '\r' inside the line stays in the record.
    const cr = v.validate(bytes('\r{}\r\r\n'), BIG, BIG);
    expect(cr.ok && Array.from(cr.ranges)).toEqual([0, 4]);
  });

  it('names the failing line (blank lines counted), its start and the byte offset in it', () => {
    expect(v.validate(bytes('{"a":1}\n\n  {"a":\n{}'), BIG, BIG)).toEqual({
      ok: false,
      outcome: 'not-json',
      fault: 'unexpected-end',
      count: 1,
      line: 3,
      offset: 7,
      length: 5,
      lineStart: 9,
      ranges: Uint32Array.of(0, 7),
    });
    expect(v.validate(bytes('{}\n  [1,2]  \n'), BIG, BIG)).toMatchObject({ outcome: 'not-object', line: 2, offset: 2, count: 1 });
    expect(v.validate(bytes('{}\n{}\n{"a":tru}\n[]'), BIG, BIG)).toMatchObject({ outcome: 'not-json', fault: 'bad-literal', line: 3, offset: 8 });
    expect(v.validate(bytes('[]\n{'), BIG, BIG)).toMatchObject({ outcome: 'not-object', line: 1 });
  });

  it('refuses a line over maxLine (trimmed length) and lines beyond maxLines, naming the line', () => {
    expect(v.validate(bytes('  {"a":1}  \n'), 7, BIG)).toMatchObject({ ok: true, count: 1 });
    expect(v.validate(bytes('{}\n{"a":12}\n'), 7, BIG)).toMatchObject({ ok: false, outcome: 'line-too-long', line: 2, length: 8, count: 1 });
    expect(v.validate(bytes('{}\n\n{}\n'), BIG, 2)).toMatchObject({ ok: true, count: 2 });
    expect(v.validate(bytes('{}\n\n{}\n{}'), BIG, 2)).toMatchObject({ ok: false, outcome: 'too-many-lines', line: 4, count: 2 });
    expect(v.validate(bytes('{}'), BIG, 0)).toMatchObject({ ok: false, outcome: 'too-many-lines', line: 1, count: 0 });
    expect(v.validate(bytes('\n\n'), BIG, 0)).toMatchObject({ ok: true, count: 0 });
    expect(v.validate(bytes('{}'), 0, 5)).toMatchObject({ ok: false, outcome: 'line-too-long', line: 1 });
    expect(v.validate(bytes('{}\n{"a":1}'), 5, 1)).toMatchObject({ ok: false, outcome: 'line-too-long', line: 2 });
  });

  it('reports a limit anywhere in the body before a line that is not JSON, as cutting first and parsing after did', () => {
    expect(v.validate(bytes('{}\nnope\n{}\n{"long":1}\n'), 8, BIG)).toMatchObject({ outcome: 'line-too-long', line: 4, count: 3 });
    const many = v.validate(bytes('nope\n[]\n{}\n{}\n'), BIG, 3);
    expect(many).toMatchObject({ outcome: 'too-many-lines', line: 4, count: 3 });
    expect(Array.from(many.ranges)).toEqual([0, 4, 5, 7, 8, 10]);
    expect(v.validate(bytes('{}\nnope\n[]\n'), BIG, 3)).toMatchObject({ outcome: 'not-json', fault: 'bad-literal', line: 2, offset: 1 });
  });

  it('gives each refusal words that name what is wrong and where', () => {
    const words = (text: string) => {
      const body = bytes(text);
      const r = v.validate(body, BIG, BIG);
      return r.ok ? 'ok' : describeJsonFault(r, body);
    };
    expect(words('{"a":1,}')).toBe("unexpected '}' at byte offset 7");
    expect(words('  {"a":"x\ty"}')).toBe('a raw control character (0x09) in a string at byte offset 9; escape it (\\n, \\t, \\u00XX)');
    expect(words('{"a":"\xC0"}')).toBe('byte 0xc0 at byte offset 6 breaks a UTF-8 sequence in a string');
    expect(words('{"a":01}')).toBe("a malformed number at byte offset 6 ('1' where a digit or the number's end belongs)");
    expect(words('{"a":')).toBe('the line ends at byte offset 5, inside the value');
    expect(words('{} x')).toBe('more follows the JSON value at byte offset 3; a line holds one value');
    expect(words(nested(JSON_MAX_DEPTH + 1, ''))).toMatch(/^arrays and objects nest deeper than 512 levels at byte offset \d+$/);
  });

  it('refuses bad arguments with ERR_INVALID_ARGUMENT, in the same words on both paths', () => {
    const sig = 'checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array): ';
    const refusal = (...args: unknown[]): string => {
      try {
        (v.checkNdjson as (...a: unknown[]) => void)(...args);
      } catch (err) {
        expect(isTapioError(err) && err.code === 'ERR_INVALID_ARGUMENT').toBe(true);
        return (err as Error).message.slice(sig.length);
      }
      throw new Error('expected ERR_INVALID_ARGUMENT, nothing was thrown');
    };
    const body = bytes('{}\n{}\n');
    const ranges = new Uint32Array(4);
    const result = new Float64Array(RESULT_SLOTS);
    expect(refusal('{}', 10, 10, ranges, result)).toBe('body must be a Uint8Array');
    expect(refusal(new Uint16Array(2), 10, 10, ranges, result)).toBe('body must be a Uint8Array');
    expect(refusal(body, -1, 10, ranges, result)).toBe('maxLine must be a whole number from 0 to 2^53 - 1');
    expect(refusal(body, 1.5, 10, ranges, result)).toBe('maxLine must be a whole number from 0 to 2^53 - 1');
    expect(refusal(body, '10', 10, ranges, result)).toBe('maxLine must be a whole number from 0 to 2^53 - 1');
    expect(refusal(body, 10, NaN, ranges, result)).toBe('maxLines must be a whole number from 0 to 2^53 - 1');
    expect(refusal(body, 10, Infinity, ranges, result)).toBe('maxLines must be a whole number from 0 to 2^53 - 1');
    expect(refusal(body, 10, 10, new Uint32Array(3), result)).toBe(
      'ranges must be a Uint32Array of at least 2 * min(maxLines, ceil(body.length / 2)) entries, 6 here',
    );
    expect(refusal(body, 10, 1, new Int32Array(2), result)).toBe(
      'ranges must be a Uint32Array of at least 2 * min(maxLines, ceil(body.length / 2)) entries, 2 here',
    );
    expect(refusal(body, 10, 1, ranges, new Float64Array(6))).toBe('result must be a Float64Array of at least 7 entries');
    expect(refusal(body, 10, 1, ranges, new Float32Array(7))).toBe('result must be a Float64Array of at least 7 entries');
    const shared = new ArrayBuffer(256);
    expect(refusal(new Uint8Array(shared, 0, 16), 10, 10, new Uint32Array(shared, 12, 16), result)).toBe('ranges must not share memory with body');
    // What is enough is taken: exactly the bound, memory beside the body's.
    expect(() => v.checkNdjson(new Uint8Array(shared, 128, 16), 10, 10, new Uint32Array(shared, 0, 16), result)).not.toThrow();
    expect(() => v.checkNdjson(body, 10, 10, new Uint32Array(6), result)).not.toThrow();
    expect(() => v.checkNdjson(body, 10, 1, new Uint32Array(2), result)).not.toThrow();
    expect(() => v.checkNdjson(new Uint8Array(0), 0, 0, new Uint32Array(0), result)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What a line (trimmed, non-blank) is by JSON.parse after strict UTF-8 decoding. */
function parseVerdict(line: Uint8Array): 'ok' | 'not-object' | 'not-json' {
  let value: unknown;
  try {
    value = JSON.parse(strict.decode(line));
  } catch {
    return 'not-json';
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? 'ok' : 'not-object';
}

/** The body's verdict as ingest gave it before this check, with strict UTF-8: splitLines, then JSON.parse per line. */
function referenceVerdict(body: Buffer, maxLine: number, maxLines: number): { outcome: string; line: number; count: number } {
  let lines;
  try {
    lines = splitLines(body, maxLine, maxLines, 'events');
  } catch (err) {
    const e = err as Error & { details: { line: number } };
    const outcome = /over server\.max_line/.test(e.message) ? 'line-too-long' : 'too-many-lines';
    return { outcome, line: e.details.line, count: -1 };
  }
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const verdict = parseVerdict(body.subarray(l.start, l.end));
    if (verdict !== 'ok') return { outcome: verdict, line: l.number, count: i };
  }
  return { outcome: 'ok', line: 0, count: lines.length };
}

function outcomeOf(r: NdjsonResult): { outcome: string; line: number; count: number } {
  return r.ok ? { outcome: 'ok', line: 0, count: r.count } : { outcome: r.outcome, line: r.line, count: r.outcome.startsWith('not-') ? r.count : -1 };
}

/** Checks `body` on every path: each agrees with the reference, and the paths agree on every output. */
function checkBody(body: Buffer, maxLine = BIG, maxLines = BIG): void {
  const want = referenceVerdict(body, maxLine, maxLines);
  const results = paths(nativeValidator, typescriptValidator).map(([name, v]) => [name, v.validate(body, maxLine, maxLines)] as const);
  for (const [name, r] of results) expect(outcomeOf(r), `${name}: ${JSON.stringify(body.toString('latin1'))}`).toEqual(want);
  if (results.length === 2) expect(shown(results[0]![1])).toBe(shown(results[1]![1]));
}

const stringUnits = fc.constantFrom<'grapheme' | 'grapheme-ascii' | 'binary' | 'binary-ascii'>('grapheme', 'grapheme-ascii', 'binary', 'binary-ascii');
/** JSON values with every kind of string, lone surrogates included (JSON.stringify escapes those). */
const jsonValue = stringUnits.chain((unit) => fc.jsonValue({ stringUnit: unit, maxDepth: 4 }));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyValue = fc.oneof(
  jsonValue,
  fc.object({ maxDepth: 3 }),
  fc.dictionary(fc.oneof(fc.string(), loneSurrogate), fc.oneof(jsonValue, loneSurrogate, fc.double())),
);

/** A value as one line: compact, or indented with CR in place of LF (whitespace to JSON), spaces or tabs. */
const serialized = fc.tuple(anyValue, fc.constantFrom('', ' ', '\t', '\r')).map(([value, indent]) => {
  const text = indent === '' ? JSON.stringify(value) : JSON.stringify(value, null, indent === '\r' ? ' ' : indent).replace(/\n/g, '\r');
  return { value, text: text ?? 'null' };
});

const interestingByte = fc.oneof(
  fc.constantFrom(
    ...[...'"\\{}[],:01-+.eEutnfl \t\r'].map((c) => c.charCodeAt(0)),
    0x00,
    0x1f,
    0x7f,
    0x80,
    0xbf,
    0xc0,
    0xc2,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
    0xa0,
    0x90,
    0x8f,
    0x0a,
  ),
  fc.integer({ min: 0, max: 255 }),
);

/** Up to four edits: replace, insert or delete a byte, or cut the rest. */
function mutate(b: Uint8Array, edits: Array<[number, number, number]>): Buffer {
  let out = Array.from(b);
  for (const [op, where, byte] of edits) {
    const at = out.length === 0 ? 0 : where % out.length;
    if (op === 0 && out.length > 0) out[at] = byte;
    else if (op === 1) out.splice(at, 0, byte);
    else if (op === 2) out.splice(at, 1);
    else out = out.slice(0, at);
  }
  return Buffer.from(out);
}
const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(), interestingByte), { minLength: 1, maxLength: 4 });

describe(`the NDJSON check against JSON.parse, on both paths${skipNative}`, () => {
  it('accepts a serialized JSON value exactly when it is an object', () => {
    fc.assert(
      fc.property(serialized, ({ value, text }) => {
        const body = Buffer.from(text, 'utf8');
        const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
        for (const [name, v] of paths(nativeValidator, typescriptValidator)) {
          const r = v.validate(body, BIG, BIG);
          expect(r.ok ? 'ok' : r.outcome, `${name}: ${text}`).toBe(isObject ? 'ok' : 'not-object');
        }
        checkBody(body);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives mutated lines the verdict of strict UTF-8 decoding and JSON.parse', () => {
    fc.assert(
      fc.property(serialized, edits, ({ text }, e) => checkBody(mutate(Buffer.from(text, 'utf8'), e))),
      { numRuns: 5000 },
    );
  });

  it('gives random bytes the same verdict', () => {
    fc.assert(
      fc.property(fc.array(interestingByte, { maxLength: 40 }), (b) => checkBody(Buffer.from(b))),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (b) => checkBody(Buffer.from(b))),
      { numRuns: 1000 },
    );
  });

  it('gives bodies of many lines, blank ones, CRLF and limits the verdict of splitLines and JSON.parse', () => {
    const line = fc.oneof(
      { weight: 5, arbitrary: serialized.map(({ text }) => Buffer.from(text, 'utf8')) },
      { weight: 2, arbitrary: fc.tuple(serialized, edits).map(([{ text }, e]) => mutate(Buffer.from(text, 'utf8'), e)) },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t \t', '\r').map((s) => Buffer.from(s)) },
    );
    const body = fc.tuple(fc.array(fc.tuple(line, fc.constantFrom('\n', '\r\n', ' \n', '\t\r\n')), { maxLength: 8 }), fc.boolean()).map(([lines, last]) => {
      const parts: Buffer[] = [];
      lines.forEach(([l, end], i) => parts.push(l, i + 1 < lines.length || last ? Buffer.from(end) : Buffer.alloc(0)));
      return Buffer.concat(parts);
    });
    fc.assert(
      fc.property(
        body,
        fc.oneof(fc.constant(BIG), fc.integer({ min: 0, max: 60 })),
        fc.oneof(fc.constant(BIG), fc.integer({ min: 0, max: 6 })),
        (b, maxLine, maxLines) => checkBody(b, maxLine, maxLines),
      ),
      { numRuns: 3000 },
    );
  });
});
