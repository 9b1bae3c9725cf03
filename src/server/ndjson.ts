/**
 * The NDJSON check of the ingest path (POST /v1/events): the TypeScript twin of
 * native/core/json_check.h, and the choice between the two. One pass over a request body finds
 * its non-blank lines (cut exactly as splitLines in ./http.ts cuts them) and proves each is one
 * JSON value (RFC 8259, strict UTF-8) that is an object, without JSON.parse and without a string
 * per line. The header states the rules, the offsets and the one departure from JSON.parse (a
 * nesting limit of JSON_MAX_DEPTH); both paths give the same outcome, fault, offsets and line
 * ranges for every body, and throw the same ERR_INVALID_ARGUMENT messages.
 */
import { TapioError } from '../errors.js';
import { loadNative } from '../native/loader.js';

/** How deep arrays and objects may nest (`{}` is depth 1); kMaxDepth in json_check.h. */
export const JSON_MAX_DEPTH = 512;

/** What became of a body, in the order of TAPIO_NDJSON_OUTCOMES (json_check.h): the number is the position. */
export const NDJSON_OUTCOMES = ['ok', 'line-too-long', 'too-many-lines', 'not-json', 'not-object'] as const;
export type NdjsonOutcome = (typeof NDJSON_OUTCOMES)[number];

/** Why a line is not JSON, in the order of TAPIO_JSON_FAULTS (json_check.h). */
export const JSON_FAULTS = [
  'none',
  'unexpected-end',
  'unexpected-byte',
  'bad-utf8',
  'control-char',
  'bad-escape',
  'bad-number',
  'bad-literal',
  'too-deep',
  'trailing-data',
] as const;
export type JsonFault = (typeof JSON_FAULTS)[number];

/**
 * The entries of the `result` array checkNdjson fills: outcome and fault (positions in the lists
 * above), count, line, offset, length, lineStart (NdjsonFailure says what each is).
 */
export const RESULT_SLOTS = 7;

/** The largest body checkNdjson takes: line ranges are 32-bit offsets. */
export const MAX_NDJSON_BODY = 0xffffffff;

/** The most lines checkNdjson writes for a body of `length` bytes: min(maxLines, ceil(length / 2)). */
export function ndjsonLineBound(length: number, maxLines: number): number {
  return Math.min(maxLines, Math.ceil(length / 2));
}

const SIGNATURE = 'checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array)';

function fail(what: string): never {
  throw new TapioError('ERR_INVALID_ARGUMENT', `${SIGNATURE}: ${what}`);
}

function faultCode(name: JsonFault): number {
  return JSON_FAULTS.indexOf(name);
}

const NONE = faultCode('none');
const END = faultCode('unexpected-end');
const BYTE = faultCode('unexpected-byte');
const UTF8 = faultCode('bad-utf8');
const CONTROL_CHAR = faultCode('control-char');
const ESCAPE = faultCode('bad-escape');
const NUMBER = faultCode('bad-number');
const LITERAL = faultCode('bad-literal');
const DEEP = faultCode('too-deep');
const TRAILING = faultCode('trailing-data');

const OK = NDJSON_OUTCOMES.indexOf('ok');
const LINE_TOO_LONG = NDJSON_OUTCOMES.indexOf('line-too-long');
const TOO_MANY_LINES = NDJSON_OUTCOMES.indexOf('too-many-lines');
const NOT_JSON = NDJSON_OUTCOMES.indexOf('not-json');
const NOT_OBJECT = NDJSON_OUTCOMES.indexOf('not-object');

// What a byte is inside a string (json_check.cc has the same classes).
const PLAIN = 0;
const QUOTE = 1;
const BACKSLASH = 2;
const CONTROL = 3;
const BAD_LEAD = 4;
const LEAD = 5; // 5..11: a lead byte; LEAD_FIRST_LO/HI and LEAD_MORE say what follows

/** Per lead class (index class - LEAD): the range of the byte after the lead, and how many bytes follow. */
const LEAD_FIRST_LO = Uint8Array.of(0x80, 0xa0, 0x80, 0x80, 0x90, 0x80, 0x80);
const LEAD_FIRST_HI = Uint8Array.of(0xbf, 0xbf, 0xbf, 0x9f, 0xbf, 0xbf, 0x8f);
const LEAD_MORE = Uint8Array.of(1, 2, 2, 2, 3, 3, 3);

const STRING_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  let k: number;
  if (c < 0x20) k = CONTROL;
  else if (c === 0x22) k = QUOTE;
  else if (c === 0x5c) k = BACKSLASH;
  else if (c < 0x80) k = PLAIN;
  else if (c < 0xc2) k = BAD_LEAD;
  else if (c < 0xe0)
    k = LEAD; // C2..DF
  else if (c === 0xe0)
    k = LEAD + 1; // A0..BF: no overlong forms
  else if (c === 0xed)
    k = LEAD + 3; // 80..9F: no encoded surrogates
  else if (c < 0xf0)
    k = LEAD + 2; // E1..EC, EE..EF
  else if (c === 0xf0)
    k = LEAD + 4; // 90..BF: no overlong forms
  else if (c < 0xf4)
    k = LEAD + 5; // F1..F3
  else if (c === 0xf4)
    k = LEAD + 6; // 80..8F: nothing above U+10FFFF
  else k = BAD_LEAD;
  STRING_CLASS[c] = k;
}

const SPACE = 1;
const DIGIT = 2;
const HEX_LETTER = 3;
const BYTE_CLASS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0d, 0x0a]) BYTE_CLASS[c] = SPACE;
for (let c = 0x30; c <= 0x39; c++) BYTE_CLASS[c] = DIGIT;
for (let c = 0x61; c <= 0x66; c++) BYTE_CLASS[c] = HEX_LETTER;
for (let c = 0x41; c <= 0x46; c++) BYTE_CLASS[c] = HEX_LETTER;

/** 1 for the letters that may follow a backslash other than u. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

const TRUE = Uint8Array.from(Buffer.from('true'));
const FALSE = Uint8Array.from(Buffer.from('false'));
const NULL = Uint8Array.from(Buffer.from('null'));

/** Whether each open container is an array (1) or an object (0). */
const OPEN = new Uint8Array(JSON_MAX_DEPTH);

// The scanners below return the position after what they read, or -1 with the fault and its
// position (from the body's start) here.
let faultCodeNow = NONE;
let faultPos = 0;

function failed(code: number, pos: number): number {
  faultCodeNow = code;
  faultPos = pos;
  return -1;
}

function skipSpace(b: Uint8Array, i: number, n: number): number {
  while (i < n && BYTE_CLASS[b[i]!] === SPACE) i++;
  return i;
}

/** i at the opening quote. */
function scanString(b: Uint8Array, i: number, n: number): number {
  i++;
  for (;;) {
    while (i < n && STRING_CLASS[b[i]!] === PLAIN) i++;
    if (i >= n) return failed(END, n);
    const k = STRING_CLASS[b[i]!]!;
    if (k === QUOTE) return i + 1;
    if (k === BACKSLASH) {
      i++;
      if (i >= n) return failed(END, n);
      const e = b[i]!;
      i++;
      if (e === 0x75) {
        for (const stop = i + 4; i < stop; i++) {
          if (i >= n) return failed(END, n);
          if (BYTE_CLASS[b[i]!]! < DIGIT) return failed(ESCAPE, i);
        }
      } else if (SIMPLE_ESCAPE[e] !== 1) {
        return failed(ESCAPE, i - 1);
      }
      continue;
    }
    if (k === CONTROL) return failed(CONTROL_CHAR, i);
    if (k === BAD_LEAD) return failed(UTF8, i);
    const lead = k - LEAD;
    let lo = LEAD_FIRST_LO[lead]!;
    let hi = LEAD_FIRST_HI[lead]!;
    i++;
    for (const stop = i + LEAD_MORE[lead]!; i < stop; i++) {
      if (i >= n) return failed(END, n);
      const c = b[i]!;
      if (c < lo || c > hi) return failed(UTF8, i);
      lo = 0x80;
      hi = 0xbf;
    }
  }
}

function isDigit(b: Uint8Array, i: number, n: number): boolean {
  return i < n && BYTE_CLASS[b[i]!] === DIGIT;
}

/** A digit is needed at i: the end of the line, or a bad number. */
function needDigit(i: number, n: number): number {
  return failed(i >= n ? END : NUMBER, i >= n ? n : i);
}

/** i at '-' or a digit. */
function scanNumber(b: Uint8Array, i: number, n: number): number {
  if (b[i] === 0x2d) {
    i++;
    if (!isDigit(b, i, n)) return needDigit(i, n);
  }
  if (b[i] === 0x30) {
    i++;
    if (isDigit(b, i, n)) return failed(NUMBER, i);
  } else {
    while (isDigit(b, i, n)) i++;
  }
  if (i < n && b[i] === 0x2e) {
    i++;
    if (!isDigit(b, i, n)) return needDigit(i, n);
    while (isDigit(b, i, n)) i++;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (!isDigit(b, i, n)) return needDigit(i, n);
    while (isDigit(b, i, n)) i++;
  }
  return i;
}

/** i at the first letter of `word`. */
function scanLiteral(b: Uint8Array, i: number, n: number, word: Uint8Array): number {
  i++;
  for (let k = 1; k < word.length; k++, i++) {
    if (i >= n) return failed(END, n);
    if (b[i] !== word[k]) return failed(LITERAL, i);
  }
  return i;
}

/** A member's key and its ':' from i; returns where its value starts. */
function scanMember(b: Uint8Array, i: number, n: number): number {
  i = skipSpace(b, i, n);
  if (i >= n) return failed(END, n);
  if (b[i] !== 0x22) return failed(BYTE, i);
  i = scanString(b, i, n);
  if (i < 0) return -1;
  i = skipSpace(b, i, n);
  if (i >= n) return failed(END, n);
  if (b[i] !== 0x3a) return failed(BYTE, i);
  return i + 1;
}

/** One value from i, with everything nested in it (iteratively: OPEN is the stack). */
function scanValue(b: Uint8Array, i: number, n: number): number {
  let depth = 0;
  for (;;) {
    // A value starts here.
    i = skipSpace(b, i, n);
    if (i >= n) return failed(END, n);
    const c = b[i]!;
    if (c === 0x7b || c === 0x5b) {
      if (depth === JSON_MAX_DEPTH) return failed(DEEP, i);
      const array = c === 0x5b;
      OPEN[depth++] = array ? 1 : 0;
      i = skipSpace(b, i + 1, n);
      if (i < n && b[i] === (array ? 0x5d : 0x7d)) {
        i++;
        depth--;
      } else if (array) {
        continue; // the first element
      } else {
        i = scanMember(b, i, n);
        if (i < 0) return -1;
        continue; // the first member's value
      }
    } else if (c === 0x22) {
      i = scanString(b, i, n);
    } else if (c === 0x2d || BYTE_CLASS[c] === DIGIT) {
      i = scanNumber(b, i, n);
    } else if (c === 0x74) {
      i = scanLiteral(b, i, n, TRUE);
    } else if (c === 0x66) {
      i = scanLiteral(b, i, n, FALSE);
    } else if (c === 0x6e) {
      i = scanLiteral(b, i, n, NULL);
    } else {
      return failed(BYTE, i);
    }
    if (i < 0) return -1;
    // A value ended: close containers until one goes on with ','.
    for (;;) {
      if (depth === 0) return i;
      i = skipSpace(b, i, n);
      if (i >= n) return failed(END, n);
      const d = b[i]!;
      const array = OPEN[depth - 1] === 1;
      if (d === 0x2c) {
        i++;
        if (!array) {
          i = scanMember(b, i, n);
          if (i < 0) return -1;
        }
        break; // the next element or member value
      }
      if (d !== (array ? 0x5d : 0x7d)) return failed(BYTE, i);
      i++;
      depth--;
    }
  }
}

/**
 * Checks b[start, end) as one JSON text (CheckJsonText in json_check.h): the fault (NONE when
 * it is valid; faultPos is then where the value starts), faultPos from the body's start.
 */
function checkText(b: Uint8Array, start: number, end: number): number {
  const first = skipSpace(b, start, end);
  const i = scanValue(b, first, end);
  if (i < 0) return faultCodeNow;
  const after = skipSpace(b, i, end);
  if (after < end) {
    failed(TRAILING, after);
    return TRAILING;
  }
  faultPos = first;
  return NONE;
}

function checkCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= Number.MAX_SAFE_INTEGER) || Math.floor(value) !== value) {
    fail(`${name} must be a whole number from 0 to 2^53 - 1`);
  }
  return value;
}

/**
 * The TypeScript twin of CheckNdjson (json_check.h), with the addon's signature: writes the
 * trimmed (start, end) of each non-blank line into `ranges` (room for
 * 2 * ndjsonLineBound(body.length, maxLines) entries) and the outcome into `result`
 * (RESULT_SLOTS entries). Most callers want {@link NdjsonValidator.validate}.
 *
 * @example
 * ```ts
 * const body = Buffer.from('{"a":1}\n[2]\n');
 * const ranges = new Uint32Array(2 * ndjsonLineBound(body.length, 100));
 * const result = new Float64Array(RESULT_SLOTS);
 * checkNdjson(body, 1024, 100, ranges, result);
 * // result: [4 (not-object), 0, 1 (count), 2 (line), 0, 3, 8]; ranges[0..2): [0, 7]
 * ```
 */
export function checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array): void {
  if (!(body instanceof Uint8Array)) fail('body must be a Uint8Array');
  const len = body.length;
  if (len > MAX_NDJSON_BODY) fail('body must hold fewer than 2^32 bytes');
  checkCount(maxLine, 'maxLine');
  checkCount(maxLines, 'maxLines');
  const need = 2 * ndjsonLineBound(len, maxLines);
  if (!(ranges instanceof Uint32Array) || ranges.length < need) {
    fail(`ranges must be a Uint32Array of at least 2 * min(maxLines, ceil(body.length / 2)) entries, ${need} here`);
  }
  if (!(result instanceof Float64Array) || result.length < RESULT_SLOTS) fail('result must be a Float64Array of at least 7 entries');
  if (need > 0 && len > 0 && ranges.buffer === body.buffer && ranges.byteOffset < body.byteOffset + len && body.byteOffset < ranges.byteOffset + need * 4) {
    fail('ranges must not share memory with body');
  }

  // The first line that failed the JSON check: outcome, fault, count, line, offset, length, lineStart.
  let jOutcome = OK;
  let jFault = NONE;
  let jCount = 0;
  let jLine = 0;
  let jOffset = 0;
  let jLength = 0;
  let jStart = 0;
  let count = 0;
  let number = 0;
  let at = 0;
  // Buffer's indexOf is memchr; Uint8Array's looks at one byte at a time, several times slower.
  const lines = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, len);
  while (at < len) {
    let nl = lines.indexOf(10, at);
    if (nl < 0) nl = len;
    number++;
    let end = nl;
    if (end > at && body[end - 1] === 13) end--;
    const lineStart = at;
    let start = at;
    while (start < end && (body[start] === 32 || body[start] === 9)) start++;
    while (end > start && (body[end - 1] === 32 || body[end - 1] === 9)) end--;
    at = nl + 1;
    if (end === start) continue;
    const length = end - start;
    if (length > maxLine || count === maxLines) {
      result[0] = length > maxLine ? LINE_TOO_LONG : TOO_MANY_LINES;
      result[1] = NONE;
      result[2] = count;
      result[3] = number;
      result[4] = 0;
      result[5] = length;
      result[6] = lineStart;
      return;
    }
    ranges[2 * count] = start;
    ranges[2 * count + 1] = end;
    if (jOutcome === OK) {
      const f = checkText(body, start, end);
      if (f !== NONE || body[faultPos] !== 0x7b) {
        jOutcome = f !== NONE ? NOT_JSON : NOT_OBJECT;
        jFault = f;
        jCount = count;
        jLine = number;
        jOffset = faultPos - lineStart;
        jLength = length;
        jStart = lineStart;
      }
    }
    count++;
  }
  result[0] = jOutcome;
  result[1] = jFault;
  result[2] = jOutcome === OK ? count : jCount;
  result[3] = jLine;
  result[4] = jOffset;
  result[5] = jLength;
  result[6] = jStart;
}

/** Every non-blank line is a JSON object: the trimmed (start, end) of each, in order. */
export interface NdjsonLines {
  ok: true;
  count: number;
  /** 2 * count entries: start and end of each line in the body. */
  ranges: Uint32Array;
}

/** Why a body was refused, and where. */
export interface NdjsonFailure {
  ok: false;
  outcome: Exclude<NdjsonOutcome, 'ok'>;
  /** Why the line is not JSON; 'none' for the other outcomes. */
  fault: JsonFault;
  /** The failing line's number, 1-based, blank lines counted. */
  line: number;
  /** Where that line starts in the body (its first byte as sent, before trimming). */
  lineStart: number;
  /**
   * not-json: the first byte of the line (from lineStart, 0-based) that cannot continue a valid
   * JSON text (the trimmed line's end for unexpected-end); not-object: where the value starts; 0
   * for the others.
   */
  offset: number;
  /** The failing line's trimmed length in bytes. */
  length: number;
  /** How many non-blank lines come before it. */
  count: number;
  /** 2 * count entries: the lines before it. */
  ranges: Uint32Array;
}

export type NdjsonResult = NdjsonLines | NdjsonFailure;

/** The NDJSON check of one path. */
export interface NdjsonValidator {
  readonly path: 'native' | 'typescript';
  /** The raw check, with the addon's signature (see {@link checkNdjson}). */
  checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array): void;
  /**
   * The lines of an NDJSON body, each a JSON object, or where and why it is refused: a line over
   * `maxLine` bytes, more than `maxLines` non-blank lines (these two first, wherever they are in
   * the body), or the first line that is not JSON or not an object.
   */
  validate(body: Uint8Array, maxLine: number, maxLines: number): NdjsonResult;
}

function makeValidator(path: 'native' | 'typescript', check: NdjsonValidator['checkNdjson']): NdjsonValidator {
  // Reused by every call; validate() hands out a copy of what it found.
  let scratch = new Uint32Array(0);
  const result = new Float64Array(RESULT_SLOTS);
  return {
    path,
    checkNdjson: check,
    validate(body, maxLine, maxLines) {
      const need = 2 * ndjsonLineBound(body.length, maxLines);
      if (scratch.length < need) scratch = new Uint32Array(Math.max(need, 2 * scratch.length));
      check(body, maxLine, maxLines, scratch, result);
      const count = result[2]!;
      const ranges = scratch.slice(0, 2 * count);
      const outcome = NDJSON_OUTCOMES[result[0]!]!;
      if (outcome === 'ok') return { ok: true, count, ranges };
      return {
        ok: false,
        outcome,
        fault: JSON_FAULTS[result[1]!]!,
        count,
        line: result[3]!,
        offset: result[4]!,
        length: result[5]!,
        lineStart: result[6]!,
        ranges,
      };
    },
  };
}

/** A byte as a message shows it: 'x' when printable ASCII, else 0xNN. */
function showByte(byte: number | undefined): string {
  if (byte === undefined) return 'the end of the line';
  const hex = `0x${byte.toString(16).padStart(2, '0')}`;
  return byte >= 0x21 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `byte ${hex}`;
}

/**
 * What is wrong with a line that is not JSON, in words: the fault and where it is (the byte
 * offset in the line), for the message of the refusal.
 *
 * @example
 * ```ts
 * const r = ndjsonValidator().validate(Buffer.from('{"a":1,}\n'), 1024, 10);
 * if (!r.ok && r.outcome === 'not-json') describeJsonFault(r, body); // "unexpected '}' at byte offset 7"
 * ```
 */
export function describeJsonFault(failure: Pick<NdjsonFailure, 'fault' | 'offset' | 'lineStart' | 'length'>, body: Uint8Array): string {
  const at = `at byte offset ${failure.offset}`;
  const byte = body[failure.lineStart + failure.offset];
  const hex = byte === undefined ? '' : `0x${byte.toString(16).padStart(2, '0')}`;
  switch (failure.fault) {
    case 'unexpected-end':
      return `the line ends ${at}, inside the value`;
    case 'unexpected-byte':
      return `unexpected ${showByte(byte)} ${at}`;
    case 'bad-utf8':
      return `byte ${hex} ${at} breaks a UTF-8 sequence in a string`;
    case 'control-char':
      return `a raw control character (${hex}) in a string ${at}; escape it (\\n, \\t, \\u00XX)`;
    case 'bad-escape':
      return `an invalid escape in a string ${at} (JSON takes \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u with four hex digits)`;
    case 'bad-number':
      return `a malformed number ${at} (${showByte(byte)} where a digit or the number's end belongs)`;
    case 'bad-literal':
      return `a malformed true, false or null ${at}`;
    case 'too-deep':
      return `arrays and objects nest deeper than ${JSON_MAX_DEPTH} levels ${at}`;
    case 'trailing-data':
      return `more follows the JSON value ${at}; a line holds one value`;
    default:
      return at;
  }
}

const typescriptValidator = makeValidator('typescript', checkNdjson);

let nativeValidator: NdjsonValidator | null | undefined;

function loadNativeValidator(): NdjsonValidator | null {
  const addon = loadNative();
  if (addon === null) return null;
  return makeValidator('native', (body, maxLine, maxLines, ranges, result) => addon.checkNdjson(body, maxLine, maxLines, ranges, result));
}

/**
 * The NDJSON check: native when the addon loads, else the TypeScript twin. `path` 'typescript'
 * asks for the twin; 'native' (or nothing) for the addon's when there is one.
 *
 * @example
 * ```ts
 * const body = Buffer.from('{"kind":"pod_restart"}\n\n{"kind":"oom_killed"}\n');
 * const r = ndjsonValidator().validate(body, 1 << 20, 100_000);
 * if (r.ok) for (let i = 0; i < r.count; i++) records.push(body.subarray(r.ranges[2 * i], r.ranges[2 * i + 1]));
 * else console.log(r.outcome, r.line); // e.g. 'not-json' 3
 * ```
 */
export function ndjsonValidator(path?: 'native' | 'typescript'): NdjsonValidator {
  if (path === 'typescript') return typescriptValidator;
  if (nativeValidator === undefined) nativeValidator = loadNativeValidator();
  return nativeValidator ?? typescriptValidator;
}
