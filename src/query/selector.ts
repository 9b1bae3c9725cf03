/**
 * Label selectors: the Kubernetes syntax (k8s.io/apimachinery pkg/labels), parsed, validated,
 * matched and printed as Kubernetes does, plus four operators Kubernetes refuses today (`>=`,
 * `<=`, `=~`, `!~`), so that no selector Kubernetes accepts changes meaning. docs/SELECTORS.md
 * is the user's reference; the comments here say where and why the code follows Kubernetes.
 *
 * Labels here may hold several values under one key (a finding's `pods` label lists every pod):
 * a positive requirement holds when some value passes, a negative one when none does. For a key
 * with one value that is exactly Kubernetes' rule, including an absent key matching `!=` and
 * `notin`.
 */
import { TapioError } from '../errors.js';
import { compileRegex, pointAt, type CompiledRegex } from './regex.js';

/** A requirement's operator. `exists` is a bare key, `!` a key that must be absent. */
export type SelectorOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | '>' | '<' | '>=' | '<=' | '=~' | '!~';

/**
 * The labels a selector is matched against: each key holds one value, several values, or none
 * (an empty array or `undefined` is an absent key; the string `''` is a present, empty value).
 */
export type Labels = Readonly<Record<string, string | readonly string[] | undefined>> | ReadonlyMap<string, string | readonly string[]>;

/**
 * One comma-separated part of a selector.
 *
 * @example
 * ```ts
 * const [r] = parseSelector('pods notin (web-0)').requirements;
 * r.negative; // true
 * r.valueTest('web-0'); // true: the value is in the set
 * r.matchesValues(['web-0', 'db-0']); // false: some value is in the set
 * r.matchesValues([]); // true: an absent key is not in the set
 * ```
 */
export interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** in/notin: deduplicated, byte-order sorted; =, ==, !=, >, <, >=, <=, =~, !~: one value; exists and '!': none. */
  readonly values: readonly string[];
  /** True for '!=', 'notin', '!~' and '!': the requirement holds when no value of the key passes valueTest. */
  readonly negative: boolean;
  /** Whether ONE label value passes the positive form of the test: '='/'=='/'!=' equality, 'in'/'notin' membership, '>','<','>=','<=' integer comparison, '=~'/'!~' regex match; exists and '!' always true. */
  valueTest(value: string): boolean;
  /** Whether the requirement holds for these values of its key (empty array = key absent). */
  matchesValues(values: readonly string[]): boolean;
  toString(): string;
}

/**
 * A parsed selector: the AND of its requirements.
 *
 * @example
 * ```ts
 * const s = parseSelector('tier in (web), !canary');
 * s.matches({ tier: 'web' }); // true
 * s.matches(new Map<string, string | string[]>([['tier', ['db', 'web']], ['canary', '']])); // false: canary is present
 * s.toString(); // '!canary,tier in (web)'
 * ```
 */
export interface Selector {
  /** Sorted by key (a stable sort: requirements on one key keep their order). */
  readonly requirements: readonly Requirement[];
  /** True when it has no requirement (matches everything). */
  readonly empty: boolean;
  matches(labels: Labels): boolean;
  /** The canonical form: Kubernetes' own for the operators Kubernetes has. */
  toString(): string;
}

/**
 * The longest pattern `=~` and `!~` take, in UTF-16 code units (a JavaScript string's length).
 *
 * @example
 * ```ts
 * parseSelector(`app=~"${'a'.repeat(SELECTOR_REGEX_MAX_LENGTH + 1)}"`); // throws ERR_SELECTOR_SYNTAX
 * ```
 */
export const SELECTOR_REGEX_MAX_LENGTH = 256;

// Kubernetes' limits and character rules for keys and values (pkg/api/validate/content).
const NAME_MAX = 63;
const PREFIX_MAX = 253;
const VALUE_MAX = 63;
const NAME_RE = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64): an optional sign, ASCII digits, in int64 range; else undefined. */
export function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** Go's string order (UTF-8 bytes), which is code point order; JavaScript's `<` compares UTF-16 units. */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Units differ: only when one is a surrogate and the other at or above U+E000 does the
    // unit order disagree with the code point order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys && (xs ? y : x) >= 0xe000) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Kubernetes' label-key rules (content.IsLabelKey): the problems found, empty when valid. */
function keyProblems(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return ["it holds more than one '/' (a key is a name with an optional DNS subdomain prefix and '/', as example.com/MyName)"];
  const problems: string[] = [];
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === '') problems.push('the prefix before the / is empty');
    else {
      if (utf8Length(prefix) > PREFIX_MAX) problems.push(`the prefix is longer than ${PREFIX_MAX} characters`);
      if (!DNS_SUBDOMAIN_RE.test(prefix)) {
        problems.push(
          "the prefix is not a lowercase DNS subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, as example.com)",
        );
      }
    }
  }
  if (name === '') problems.push('the name is empty');
  else if (utf8Length(name) > NAME_MAX) problems.push(`the name is longer than ${NAME_MAX} characters`);
  if (!NAME_RE.test(name))
    problems.push("the name does not consist of letters, digits, '-', '_' and '.' starting and ending with a letter or digit (as MyName, my.name, 123-abc)");
  return problems;
}

/** Kubernetes' label-value rules (content.IsLabelValue). */
function valueProblems(value: string): string[] {
  const problems: string[] = [];
  if (utf8Length(value) > VALUE_MAX) problems.push(`it is longer than ${VALUE_MAX} characters`);
  if (value !== '' && !NAME_RE.test(value)) {
    problems.push("it is neither empty nor letters, digits, '-', '_' and '.' starting and ending with a letter or digit (as MyValue, my_value, 12345)");
  }
  return problems;
}

const NEGATIVE: ReadonlySet<SelectorOperator> = new Set(['!=', 'notin', '!~', '!']);
const BINARY_OPERATORS = 'in, notin, =, ==, !=, >, <, >=, <=, =~, !~';
const KUBERNETES_BINARY_OPERATORS = 'in, notin, =, ==, !=, >, <';

/** One problem with a requirement, located by the field path Kubernetes' NewRequirement gives it. */
interface Problem {
  /** 'key', 'operator', 'values', 'values[i]' (an integer problem) or 'values[i][key]' (a label-value problem). */
  readonly field: string;
  /** Index into the values when the problem is one value's. */
  readonly index?: number;
  readonly found: string;
  readonly expected: string;
  /** For a regex problem: the offset inside the pattern. */
  readonly patternOffset?: number;
}

function quote(s: string): string {
  return `'${s}'`;
}

/**
 * Checks a requirement as Kubernetes' NewRequirement does, in its order (key, the operator's
 * own rules, then each value), plus the rules of the extension operators. `values` must already
 * be deduplicated and sorted for in/notin.
 */
function requirementProblems(key: string, operator: string, values: readonly string[]): { problems: Problem[]; regex?: CompiledRegex } {
  const problems: Problem[] = [];
  const kp = keyProblems(key);
  if (kp.length > 0) problems.push({ field: 'key', found: `the key ${quote(key)}`, expected: `a valid label key, but ${kp.join('; ')}` });
  let regex: CompiledRegex | undefined;
  let labelValues = true;
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) problems.push({ field: 'values', found: 'no values', expected: `at least one value for '${operator}'` });
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) problems.push({ field: 'values', found: `${values.length} values`, expected: `exactly one value for '${operator}'` });
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) problems.push({ field: 'values', found: `${values.length} values`, expected: `no value for '${operator}'` });
      break;
    case '>':
    case '<':
    case '>=':
    case '<=':
      if (values.length !== 1) problems.push({ field: 'values', found: `${values.length} values`, expected: `exactly one value for '${operator}'` });
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined) {
          problems.push({
            field: `values[${i}]`,
            index: i,
            found: v === '' ? 'no value' : `the value ${quote(v)}`,
            expected: `a base-10 integer from ${INT64_MIN} to ${INT64_MAX} for '${operator}'`,
          });
        }
      });
      break;
    case '=~':
    case '!~':
      labelValues = false;
      if (values.length !== 1) {
        problems.push({ field: 'values', found: `${values.length} values`, expected: `exactly one regular expression for '${operator}'` });
        break;
      }
      if (values[0]!.length > SELECTOR_REGEX_MAX_LENGTH) {
        problems.push({
          field: 'values[0]',
          index: 0,
          found: `a regular expression of ${values[0]!.length} characters`,
          expected: `at most ${SELECTOR_REGEX_MAX_LENGTH} characters (SELECTOR_REGEX_MAX_LENGTH)`,
        });
        break;
      }
      try {
        regex = compileRegex(values[0]!);
      } catch (err) {
        if (!(err instanceof TapioError) || err.code !== 'ERR_SELECTOR_SYNTAX') throw err;
        // The engine's reason reads "found X, expected: Y"; X is set in the selector's context.
        const reason = String(err.details?.reason ?? err.message);
        const split = reason.indexOf(', expected: ');
        const found = (split < 0 ? reason : reason.slice(0, split)).replace(/^found /, '');
        problems.push({
          field: 'values[0]',
          index: 0,
          found: `${found} (in the regular expression)`,
          expected: split < 0 ? 'a regular expression of the supported subset' : reason.slice(split + ', expected: '.length),
          patternOffset: Number(err.details?.offset ?? 0),
        });
      }
      break;
    default:
      labelValues = false;
      problems.push({ field: 'operator', found: `the operator ${quote(operator)}`, expected: `one of ${BINARY_OPERATORS}, exists, !` });
  }
  if (labelValues) {
    values.forEach((v, i) => {
      const vp = valueProblems(v);
      if (vp.length > 0)
        problems.push({ field: `values[${i}][${key}]`, index: i, found: `the value ${quote(v)}`, expected: `a valid label value, but ${vp.join('; ')}` });
    });
  }
  return regex === undefined ? { problems } : { problems, regex };
}

function labelValues(labels: Labels, key: string): readonly string[] {
  const v =
    typeof (labels as { get?: unknown }).get === 'function' ? (labels as ReadonlyMap<string, string | readonly string[]>).get(key) : ownValue(labels, key);
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : v;
}

function ownValue(labels: Labels, key: string): string | readonly string[] | undefined {
  // Own keys only: 'constructor' or '__proto__' are valid label keys, not inherited members.
  return Object.hasOwn(labels, key) ? (labels as Record<string, string | readonly string[] | undefined>)[key] : undefined;
}

function escapePattern(pattern: string): string {
  return pattern.replace(/[\\"]/g, (c) => `\\${c}`);
}

class ParsedRequirement implements Requirement {
  readonly negative: boolean;
  readonly #test: (value: string) => boolean;

  constructor(
    readonly key: string,
    readonly operator: SelectorOperator,
    readonly values: readonly string[],
    regex: CompiledRegex | undefined,
  ) {
    this.negative = NEGATIVE.has(operator);
    this.#test = valueTestFor(operator, values, regex);
  }

  /** A property, not a method on the prototype, so it can be handed around on its own. */
  readonly valueTest = (value: string): boolean => this.#test(value);

  matchesValues(values: readonly string[]): boolean {
    const test = this.#test;
    let passed = false;
    for (const v of values) {
      if (test(v)) {
        passed = true;
        break;
      }
    }
    return passed !== this.negative;
  }

  toString(): string {
    const { key, operator, values } = this;
    switch (operator) {
      case '!':
        return `!${key}`;
      case 'exists':
        return key;
      case 'in':
      case 'notin':
        return `${key} ${operator} (${values.join(',')})`;
      case '=~':
      case '!~':
        return `${key}${operator}"${escapePattern(values[0]!)}"`;
      default:
        return `${key}${operator}${values[0]!}`;
    }
  }
}

function valueTestFor(operator: SelectorOperator, values: readonly string[], regex: CompiledRegex | undefined): (value: string) => boolean {
  switch (operator) {
    case '=':
    case '==':
    case '!=': {
      const want = values[0]!;
      return (v) => v === want;
    }
    case 'in':
    case 'notin': {
      if (values.length === 1) {
        const want = values[0]!;
        return (v) => v === want;
      }
      const set = new Set(values);
      return (v) => set.has(v);
    }
    case '>':
    case '<':
    case '>=':
    case '<=': {
      const bound = parseInt64(values[0]!)!;
      const compare =
        operator === '>'
          ? (n: bigint) => n > bound
          : operator === '<'
            ? (n: bigint) => n < bound
            : operator === '>='
              ? (n: bigint) => n >= bound
              : (n: bigint) => n <= bound;
      return (v) => {
        const n = parseInt64(v);
        return n !== undefined && compare(n);
      };
    }
    case '=~':
    case '!~': {
      const re = regex!;
      return (v) => re.test(v);
    }
    case 'exists':
    case '!':
      return () => true;
  }
}

class ParsedSelector implements Selector {
  readonly empty: boolean;

  constructor(readonly requirements: readonly Requirement[]) {
    this.empty = requirements.length === 0;
  }

  matches(labels: Labels): boolean {
    if (typeof labels !== 'object' || labels === null) {
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        `Selector.matches expects the labels as an object or a Map, got ${labels === null ? 'null' : typeof labels}`,
      );
    }
    for (const r of this.requirements) if (!r.matchesValues(labelValues(labels, r.key))) return false;
    return true;
  }

  toString(): string {
    return this.requirements.map((r) => r.toString()).join(',');
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer. It follows Kubernetes' byte for byte on every text Kubernetes accepts: whitespace is
// ' ', '\t', '\r', '\n'; the special symbols are = ! ( ) , > <; a special run yields the longest
// token (==, != before = and !); anything else up to whitespace or a special symbol is an
// identifier, which is the keyword in or notin when spelled so. The extension tokens arise only
// where Kubernetes' lexer produces a sequence its parser always refuses (see docs/SELECTORS.md):
// '>' or '<' directly followed by '=', and a lone '=' or '!' directly followed by '~'.

type TokenKind = 'id' | 'in' | 'notin' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | '>' | '<' | '>=' | '<=' | '=~' | '!~' | 'regex' | 'eos' | 'error';

interface Token {
  readonly kind: TokenKind;
  /** The text as written (for 'regex' the pattern, unquoted and unescaped; for 'error' the message). */
  readonly text: string;
  readonly offset: number;
  /** For a 'regex' token: the offset in the selector of each pattern unit (quoted patterns skip escapes). */
  readonly map?: readonly number[];
}

const isWhitespace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string | undefined): boolean => c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<';

function tokenize(text: string, extensions: boolean): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  const skip = (): void => {
    while (isWhitespace(text[pos])) pos++;
  };
  for (;;) {
    skip();
    if (pos >= text.length) {
      tokens.push({ kind: 'eos', text: '', offset: text.length });
      return tokens;
    }
    const start = pos;
    const c = text[pos]!;
    if (!isSpecial(c)) {
      while (pos < text.length && !isWhitespace(text[pos]) && !isSpecial(text[pos])) pos++;
      const word = text.slice(start, pos);
      tokens.push({ kind: word === 'in' || word === 'notin' ? word : 'id', text: word, offset: start });
      continue;
    }
    const two = text.slice(pos, pos + 2);
    let kind: TokenKind;
    if (two === '==' || two === '!=') kind = two;
    else if (extensions && (two === '>=' || two === '<=' || two === '=~' || two === '!~')) kind = two;
    else kind = c as TokenKind;
    pos += kind.length;
    tokens.push({ kind, text: kind, offset: start });
    if (kind === '=~' || kind === '!~') {
      const re = scanPattern(text, pos);
      tokens.push(re.token);
      if (re.token.kind === 'error') {
        tokens.push({ kind: 'eos', text: '', offset: text.length });
        return tokens;
      }
      pos = re.end;
    }
  }
}

/** The pattern after =~ or !~: a double-quoted string (escapes \" and \\) or a run up to whitespace or ','. */
function scanPattern(text: string, from: number): { token: Token; end: number } {
  let pos = from;
  while (isWhitespace(text[pos])) pos++;
  const start = pos;
  if (text[pos] !== '"') {
    while (pos < text.length && !isWhitespace(text[pos]) && text[pos] !== ',') pos++;
    const map: number[] = [];
    for (let i = start; i <= pos; i++) map.push(i);
    return { token: { kind: 'regex', text: text.slice(start, pos), offset: start, map }, end: pos };
  }
  pos++;
  let pattern = '';
  const map: number[] = [];
  for (;;) {
    if (pos >= text.length) {
      return { token: { kind: 'error', text: "a quoted regular expression without its closing '\"'", offset: start }, end: pos };
    }
    const c = text[pos]!;
    if (c === '"') {
      map.push(pos);
      return { token: { kind: 'regex', text: pattern, offset: start, map }, end: pos + 1 };
    }
    // Only \" and \\ are escapes of the quoting; any other backslash belongs to the pattern.
    if (c === '\\' && (text[pos + 1] === '"' || text[pos + 1] === '\\')) pos++;
    map.push(pos);
    pattern += text[pos]!;
    pos++;
  }
}

// ---------------------------------------------------------------------------------------------
// Parser: Kubernetes' recursive descent (Parser.parse and its helpers), one method each, in the
// same order of checks so that the first error found is the one Kubernetes reports.

/** 'in' and 'notin' are keywords only where an operator is expected; elsewhere they are identifiers. */
type Context = 'operator' | 'values';

/** A value with where it was written (the offset of the token, or where an empty value stands). */
interface Located {
  readonly value: string;
  readonly offset: number;
  /** For a pattern: the offset in the selector of each of its units (and of its end). */
  readonly map?: readonly number[];
}

class Parser {
  readonly #tokens: Token[];
  #pos = 0;

  constructor(
    readonly text: string,
    readonly extensions: boolean,
  ) {
    this.#tokens = tokenize(text, extensions);
  }

  #lookahead(context: Context): Token {
    return this.#as(this.#tokens[this.#pos]!, context);
  }

  #consume(context: Context): Token {
    return this.#as(this.#tokens[this.#pos++]!, context);
  }

  #as(token: Token, context: Context): Token {
    if (context === 'values' && (token.kind === 'in' || token.kind === 'notin')) return { ...token, kind: 'id' };
    return token;
  }

  fail(offset: number, found: string, expected: string): never {
    throw new TapioError('ERR_SELECTOR_SYNTAX', `found ${found}, expected: ${expected} at offset ${offset}\n${pointAt(this.text, offset)}`, {
      details: { offset },
    });
  }

  #unexpected(token: Token, expected: string): never {
    if (token.kind === 'error') this.fail(token.offset, token.text, `'"' closing the pattern`);
    const found =
      token.kind === 'eos' ? "'end of string'" : token.kind === 'regex' ? `the regular expression "${escapePattern(token.text)}"` : quote(token.text);
    return this.fail(token.offset, found, expected);
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    for (;;) {
      const t = this.#lookahead('values');
      if (t.kind === 'eos') return requirements;
      if (t.kind !== 'id' && t.kind !== '!') this.#unexpected(t, "!, identifier, or 'end of string'");
      requirements.push(this.#requirement());
      const after = this.#consume('values');
      if (after.kind === 'eos') return requirements;
      if (after.kind !== ',') this.#unexpected(after, "',' or 'end of string'");
      const next = this.#lookahead('values');
      if (next.kind !== 'id' && next.kind !== '!') this.#unexpected(next, "identifier after ','");
    }
  }

  #requirement(): Requirement {
    const { key, operator: inferred } = this.#keyAndInferredOperator();
    if (inferred !== undefined) return this.#build(key, inferred, []);
    const operator = this.#operator();
    let values: Located[];
    if (operator === 'in' || operator === 'notin') values = this.#valueSet();
    else if (operator === '=~' || operator === '!~') values = [this.#pattern()];
    else values = [this.#exactValue()];
    return this.#build(key, operator, values);
  }

  #keyAndInferredOperator(): { key: Located; operator: SelectorOperator | undefined } {
    let operator: SelectorOperator | undefined;
    let t = this.#consume('values');
    if (t.kind === '!') {
      operator = '!';
      t = this.#consume('values');
    }
    if (t.kind !== 'id') this.#unexpected(t, 'identifier');
    const problems = keyProblems(t.text);
    if (problems.length > 0) this.fail(t.offset, `the key ${quote(t.text)}`, `a valid label key, but ${problems.join('; ')}`);
    const next = this.#lookahead('values').kind;
    if ((next === 'eos' || next === ',') && operator === undefined) operator = 'exists';
    // A '!key' followed by anything else stays '!': the caller's loop then refuses what follows.
    return { key: { value: t.text, offset: t.offset }, operator };
  }

  #operator(): SelectorOperator {
    const t = this.#consume('operator');
    switch (t.kind) {
      case 'in':
      case 'notin':
      case '=':
      case '==':
      case '!=':
      case '>':
      case '<':
      case '>=':
      case '<=':
      case '=~':
      case '!~':
        return t.kind;
      default:
        return this.#unexpected(t, this.extensions ? BINARY_OPERATORS : KUBERNETES_BINARY_OPERATORS);
    }
  }

  /** `( values )`; `()` is the one empty value, and so is each empty place between commas. */
  #valueSet(): Located[] {
    const open = this.#consume('values');
    if (open.kind !== '(') this.#unexpected(open, "'('");
    const t = this.#lookahead('values');
    if (t.kind === ')') {
      this.#consume('values');
      return [{ value: '', offset: t.offset }];
    }
    if (t.kind !== 'id' && t.kind !== ',') this.#unexpected(t, "',', ')' or identifier");
    const values: Located[] = [];
    for (;;) {
      const v = this.#consume('values');
      if (v.kind === 'id') {
        values.push({ value: v.text, offset: v.offset });
        const next = this.#lookahead('values');
        if (next.kind === ',') continue;
        if (next.kind === ')') break;
        this.#unexpected(next, "',' or ')'");
      } else if (v.kind === ',') {
        if (values.length === 0) values.push({ value: '', offset: v.offset });
        const next = this.#lookahead('values');
        if (next.kind === ')') {
          values.push({ value: '', offset: next.offset });
          break;
        }
        if (next.kind === ',') values.push({ value: '', offset: next.offset });
      } else {
        this.#unexpected(v, "',', or identifier");
      }
    }
    this.#consume('values'); // the ')' seen above
    return values;
  }

  #exactValue(): Located {
    const t = this.#lookahead('values');
    if (t.kind === 'eos' || t.kind === ',') return { value: '', offset: t.offset };
    this.#consume('values');
    if (t.kind !== 'id') this.#unexpected(t, 'identifier');
    return { value: t.text, offset: t.offset };
  }

  #pattern(): Located {
    const t = this.#consume('values');
    if (t.kind !== 'regex') this.#unexpected(t, 'a regular expression');
    return { value: t.text, offset: t.offset, map: t.map! };
  }

  #build(key: Located, operator: SelectorOperator, located: Located[]): Requirement {
    // Kubernetes keeps in/notin values as a set: deduplicated and sorted; the first place a value
    // was written is where an error about it points.
    const firstAt = new Map<string, Located>();
    for (const l of located) if (!firstAt.has(l.value)) firstAt.set(l.value, l);
    const values = [...firstAt.keys()].sort(compareBytes);
    const { problems, regex } = requirementProblems(key.value, operator, values);
    const first = problems[0];
    if (first !== undefined) {
      let offset = key.offset;
      if (first.index !== undefined) {
        const at = firstAt.get(values[first.index]!)!;
        offset = first.patternOffset !== undefined && at.map !== undefined ? (at.map[first.patternOffset] ?? at.offset) : at.offset;
      }
      this.fail(offset, first.found, first.expected);
    }
    return new ParsedRequirement(key.value, operator, values, regex);
  }
}

/**
 * Parses a Kubernetes label selector (as `kubectl get -l` takes it) into a {@link Selector}.
 * Every selector Kubernetes accepts parses to the same requirements, matches the same labels
 * and prints (toString) the same canonical text. The extension operators `>=`, `<=` (integers)
 * and `=~`, `!~` (a whole-value regular expression, quoted or up to whitespace or ',') are
 * described in docs/SELECTORS.md.
 *
 * @throws TapioError ERR_SELECTOR_SYNTAX when the text is not a valid selector: the message says
 * what was found and what was expected and shows the text with a caret under
 * `details.offset`. ERR_INVALID_ARGUMENT when `text` is not a string.
 *
 * @example
 * ```ts
 * const s = parseSelector('severity>=3, pods=~"nginx-.*", type notin (misconfiguration)');
 * s.toString(); // 'pods=~"nginx-.*",severity>=3,type notin (misconfiguration)'
 * s.matches({ severity: '4', pods: ['nginx-abc', 'redis-0'], type: 'attack' }); // true
 * s.matches({ severity: '2', pods: ['nginx-abc'], type: 'attack' }); // false
 * ```
 */
export function parseSelector(text: string): Selector {
  return parse(text, true);
}

/**
 * Parses only what Kubernetes' own parser accepts: {@link parseSelector} without the extension
 * operators (`>=`, `<=`, `=~`, `!~` are then refused exactly where Kubernetes refuses them). For
 * callers whose selectors must stay valid for Kubernetes, and for the tests that show the
 * extensions change no selector Kubernetes accepts.
 *
 * @example
 * ```ts
 * parseKubernetesSelector('app in (web,api),tier!=db').toString(); // 'app in (api,web),tier!=db'
 * parseKubernetesSelector('severity>=3'); // throws ERR_SELECTOR_SYNTAX at offset 9
 * ```
 */
export function parseKubernetesSelector(text: string): Selector {
  return parse(text, false);
}

function parse(text: string, extensions: boolean): Selector {
  if (typeof text !== 'string') {
    throw new TapioError('ERR_INVALID_ARGUMENT', `parseSelector expects the selector as a string, got ${text === null ? 'null' : typeof text}`);
  }
  const parser = new Parser(text, extensions);
  // Kubernetes' lexer reads a NUL byte as the end of the input and goes on after it, so text
  // after a NUL is dropped or glued to what precedes it; refused here instead.
  const nul = text.indexOf('\0');
  if (nul >= 0) parser.fail(nul, 'a NUL character', 'text without NUL characters');
  const requirements = parser.parse();
  // Array.prototype.sort is stable: requirements on one key keep the order they were written in.
  requirements.sort((a, b) => compareBytes(a.key, b.key));
  return new ParsedSelector(requirements);
}

/**
 * The tokens of a selector as the parser sees them (for tests of the lexer).
 *
 * @internal
 */
export function tokenizeSelector(text: string, extensions = true): Array<{ kind: string; text: string; offset: number }> {
  return tokenize(text, extensions).map(({ kind, text: t, offset }) => ({ kind, text: t, offset }));
}

/**
 * Builds one requirement from its parts, checked as Kubernetes' NewRequirement checks them
 * (plus the extension operators' rules). in/notin values are deduplicated and sorted.
 *
 * @throws TapioError ERR_SELECTOR_SYNTAX with `details.field` the part at fault, named as
 * Kubernetes names it: 'key', 'operator', 'values', 'values[i]' (not an integer, or a bad
 * regular expression) or 'values[i][key]' (not a valid label value).
 *
 * @example
 * ```ts
 * const r = createRequirement('pods', 'in', ['web-1', 'web-0']);
 * r.toString(); // 'pods in (web-0,web-1)'
 * r.matchesValues(['db-0', 'web-1']); // true
 * ```
 */
export function createRequirement(key: string, operator: SelectorOperator, values: readonly string[]): Requirement {
  if (typeof key !== 'string' || typeof operator !== 'string' || !Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
    throw new TapioError('ERR_INVALID_ARGUMENT', 'createRequirement expects a key string, an operator string and an array of value strings');
  }
  const sorted = operator === 'in' || operator === 'notin' ? [...new Set(values)].sort(compareBytes) : [...values];
  const { problems, regex } = requirementProblems(key, operator, sorted);
  const first = problems[0];
  if (first !== undefined) {
    throw new TapioError('ERR_SELECTOR_SYNTAX', `invalid requirement: found ${first.found}, expected: ${first.expected} (field ${first.field})`, {
      details: { field: first.field },
    });
  }
  return new ParsedRequirement(key, operator, sorted, regex);
}
