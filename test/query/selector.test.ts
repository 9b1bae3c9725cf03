// Label selectors: the cases of Kubernetes' own selector tests (selector-cases.json, by name of
// the Go test they come from), this project's extra tables, and properties over generated
// selectors and junk text.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import {
  compareBytes,
  createRequirement,
  parseInt64,
  parseKubernetesSelector,
  parseSelector,
  SELECTOR_REGEX_MAX_LENGTH,
  tokenizeSelector,
  type Labels,
  type Requirement,
  type Selector,
  type SelectorOperator,
} from '../../src/query/selector.js';

type Req = [string, string, string[]];
type LabelObject = Record<string, string | string[]>;
interface MatchCase {
  selector: string;
  labels: LabelObject;
  match: boolean;
}
interface Cases {
  TestSelectorParse: { good: Array<{ text: string; canonical: string }>; bad: Array<{ text: string; offset: number }> };
  TestDeterministicParse: Array<[string, string]>;
  TestSelectorMatches: MatchCase[];
  TestSetMatches: MatchCase[];
  TestLexer: Array<{ text: string; kind: string }>;
  TestLexerSequence: Array<{ text: string; kinds: string[] }>;
  TestParseOperator: Array<{ operator: string; valid: boolean }>;
  TestRequirementConstructor: Array<{ key: string; operator: string; values: string[]; field: string | null }>;
  TestValidatedSelectorFromSet: Array<{ key: string; operator: string; values: string[]; field: string | null }>;
  TestToString: Array<{ requirements: Req[]; out: string }>;
  TestRequirementSelectorMatching: Array<{ labels: LabelObject; requirements: Req[]; match: boolean }>;
  TestSetSelectorParser: Array<{ text: string; valid: boolean; requirements?: Req[]; offset?: number }>;
  TestMatchesNothing: Array<{ text: string; canonical: string }>;
  accepted: Array<{ text: string; canonical: string }>;
  rejected: Array<{ text: string; offset: number; found?: string }>;
  multiValued: MatchCase[];
  extensions: Array<{ text: string; canonical: string; kubernetesOffset: number }>;
  extensionRejected: Array<{ text: string; offset: number }>;
}

const cases = JSON.parse(readFileSync(join(import.meta.dirname, 'selector-cases.json'), 'utf8')) as Cases;

/** The ERR_SELECTOR_SYNTAX `parse` throws for `text`, checked for a numeric offset and a caret line. */
function syntaxError(text: string, parse: (t: string) => Selector = parseSelector): TapioError {
  let caught: unknown;
  try {
    parse(text);
  } catch (err) {
    caught = err;
  }
  expect(caught, `${JSON.stringify(text)} parsed`).toBeInstanceOf(TapioError);
  const err = caught as TapioError;
  expect(err.code).toBe('ERR_SELECTOR_SYNTAX');
  const offset = err.details?.offset;
  expect(typeof offset).toBe('number');
  expect(offset).toBeGreaterThanOrEqual(0);
  expect(offset).toBeLessThanOrEqual(text.length);
  const lines = err.message.split('\n');
  expect(lines[0]).toMatch(/^found .+, expected: .+ at offset \d+$/);
  expect(lines[0]).toContain(`at offset ${offset as number}`);
  expect(lines.at(-1)).toMatch(/^ *\^$/);
  if (/^[\x20-\x7e]{0,100}$/.test(text)) {
    expect(lines.at(-2)).toBe(`  ${text}`);
    expect(lines.at(-1)!.length - 3).toBe(offset);
  }
  return err;
}

function offsetOf(err: TapioError): number {
  return err.details!.offset as number;
}

function shape(r: Requirement): Req {
  return [r.key, r.operator, [...r.values]];
}

function asMap(labels: LabelObject): Map<string, string | string[]> {
  return new Map(Object.entries(labels));
}

function valuesOf(labels: LabelObject, key: string): string[] {
  const v = Object.hasOwn(labels, key) ? labels[key] : undefined;
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

describe('Kubernetes selector tests (ported cases)', () => {
  it('TestSelectorParse: good strings print back without spaces, bad ones are refused', () => {
    for (const { text, canonical } of cases.TestSelectorParse.good) {
      expect(parseSelector(text).toString(), text).toBe(canonical);
      expect(canonical).toBe(text.replaceAll(' ', ''));
    }
    for (const { text, offset } of cases.TestSelectorParse.bad) expect(offsetOf(syntaxError(text)), text).toBe(offset);
  });

  it('TestDeterministicParse: the order requirements are written in does not change the result', () => {
    for (const [a, b] of cases.TestDeterministicParse) expect(parseSelector(a).toString()).toBe(parseSelector(b).toString());
  });

  it('TestSelectorMatches and TestSetMatches: match and no-match against label sets (objects and Maps)', () => {
    for (const { selector, labels, match } of [...cases.TestSelectorMatches, ...cases.TestSetMatches]) {
      const s = parseSelector(selector);
      expect(s.matches(labels), `${selector} over ${JSON.stringify(labels)}`).toBe(match);
      expect(s.matches(asMap(labels))).toBe(match);
    }
    expect(parseSelector('').empty).toBe(true);
    expect(parseSelector('x').empty).toBe(false);
  });

  it('TestLexer and TestLexerSequence: tokens, the longest special symbol first', () => {
    for (const { text, kind } of cases.TestLexer) {
      const [first] = tokenizeSelector(text);
      expect(first!.kind, text).toBe(kind);
      expect(first!.text).toBe(text);
    }
    for (const { text, kinds } of cases.TestLexerSequence) {
      expect(
        tokenizeSelector(text).map((t) => t.kind),
        text,
      ).toEqual(kinds);
      expect(tokenizeSelector(text, false).map((t) => t.kind)).toEqual(kinds);
    }
  });

  it('TestParseOperator: which tokens stand as an operator', () => {
    for (const { operator, valid } of cases.TestParseOperator) {
      if (valid) {
        const value = operator === 'in' || operator === 'notin' ? '(a)' : operator === '>' || operator === '<' ? '1' : 'a';
        expect(parseSelector(`x ${operator} ${value}`).requirements[0]!.operator).toBe(operator);
      } else {
        const err = syntaxError(`x ${operator} a`);
        expect(offsetOf(err)).toBe(2);
        expect(err.message).toContain(`found '${operator}', expected: in, notin, =, ==, !=, >, <`);
      }
    }
  });

  it('TestRequirementConstructor and TestValidatedSelectorFromSet: construction errors name the field Kubernetes names', () => {
    for (const { key, operator, values, field } of [...cases.TestRequirementConstructor, ...cases.TestValidatedSelectorFromSet]) {
      const build = (): Requirement => createRequirement(key, operator as SelectorOperator, values);
      if (field === null) {
        expect(build().key).toBe(key);
        continue;
      }
      let caught: unknown;
      try {
        build();
      } catch (err) {
        caught = err;
      }
      expect(caught, `${key} ${operator}`).toBeInstanceOf(TapioError);
      expect((caught as TapioError).code).toBe('ERR_SELECTOR_SYNTAX');
      expect((caught as TapioError).details?.field, `${key} ${operator}`).toBe(field);
    }
  });

  it('TestToString: canonical text of requirements', () => {
    for (const { requirements, out } of cases.TestToString) {
      const built = requirements.map(([k, op, vals]) => createRequirement(k, op as SelectorOperator, vals));
      expect(built.map(String).join(',')).toBe(out);
      expect(parseSelector(out).toString()).toBe(out);
    }
  });

  it('TestRequirementSelectorMatching: requirements against label sets', () => {
    for (const { labels, requirements, match } of cases.TestRequirementSelectorMatching) {
      const built = requirements.map(([k, op, vals]) => createRequirement(k, op as SelectorOperator, vals));
      expect(
        built.every((r) => r.matchesValues(valuesOf(labels, r.key))),
        JSON.stringify(requirements),
      ).toBe(match);
      const text = built.map(String).join(',');
      expect(parseSelector(text).matches(labels)).toBe(match);
    }
  });

  it('TestSetSelectorParser: requirements parsed, sorted and deduplicated, or the error', () => {
    for (const c of cases.TestSetSelectorParser) {
      if (c.valid) expect(parseSelector(c.text).requirements.map(shape), c.text).toEqual(c.requirements);
      else expect(offsetOf(syntaxError(c.text)), c.text).toBe(c.offset);
    }
  });

  it('TestMatchesNothing: selectors that parse (conflicting ones included)', () => {
    for (const { text, canonical } of cases.TestMatchesNothing) expect(parseSelector(text).toString()).toBe(canonical);
  });
});

describe('parseSelector', () => {
  it('accepts and prints canonically', () => {
    for (const { text, canonical } of cases.accepted) {
      expect(parseSelector(text).toString(), text).toBe(canonical);
      expect(parseSelector(canonical).toString()).toBe(canonical);
      expect(parseKubernetesSelector(text).toString()).toBe(canonical);
    }
  });

  it('refuses with ERR_SELECTOR_SYNTAX at the offset of what is wrong', () => {
    for (const { text, offset, found } of cases.rejected) {
      const err = syntaxError(text);
      expect(offsetOf(err), text).toBe(offset);
      if (found !== undefined) expect(err.message).toContain(`found ${found}, expected:`);
      expect(offsetOf(syntaxError(text, parseKubernetesSelector))).toBe(offset);
    }
  });

  it('writes what was found, what was expected, the text and a caret', () => {
    expect(() => parseSelector('pods in ()x')).toThrow("found 'x', expected: ',' or 'end of string' at offset 10\n  pods in ()x\n            ^");
    const err = syntaxError('type=attack,\tseverity>high');
    expect(err.message).toContain("found the value 'high'");
    expect(err.message.split('\n').slice(1)).toEqual(['  type=attack,\\tseverity>high', `  ${' '.repeat(23)}^`]);
    expect(syntaxError('x=~"a(b"').message).toContain("found end of pattern in a group (in the regular expression), expected: ')' at offset 7");
    const long = `${'a,'.repeat(200)}-b`;
    const lines = syntaxError(long).message.split('\n');
    expect(lines[1]!.length).toBeLessThan(120);
    expect(lines[1]![lines[2]!.length - 1]).toBe('-');
  });

  it('refuses a non-string with ERR_INVALID_ARGUMENT', () => {
    for (const v of [undefined, null, 42, {}, ['x']]) {
      expect(() => parseSelector(v as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => parseSelector('x').matches(null as unknown as Labels)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('exposes each requirement: operator, sorted values, negative, valueTest', () => {
    const s = parseSelector('z notin (b,a,b),y!=1,x=~"n.*",w!~x,!v,u,t>=3,s in (q)');
    const byKey = Object.fromEntries(s.requirements.map((r) => [r.key, r]));
    expect(s.requirements.map((r) => r.key)).toEqual(['s', 't', 'u', 'v', 'w', 'x', 'y', 'z']);
    expect(byKey.z!.values).toEqual(['a', 'b']);
    expect(s.requirements.filter((r) => r.negative).map((r) => r.operator)).toEqual(['!', '!~', '!=', 'notin']);
    expect(byKey.v!.values).toEqual([]);
    expect(byKey.v!.valueTest('anything')).toBe(true);
    expect(byKey.u!.valueTest('')).toBe(true);
    expect(byKey.z!.valueTest('a')).toBe(true);
    expect(byKey.y!.valueTest('1')).toBe(true);
    expect(byKey.x!.values).toEqual(['n.*']);
    expect(byKey.x!.valueTest('nx')).toBe(true);
    expect(byKey.w!.valueTest('x')).toBe(true);
    expect(byKey.t!.valueTest('3')).toBe(true);
    expect(byKey.t!.valueTest('2')).toBe(false);
    const test = byKey.z!.valueTest; // usable on its own
    expect(['c', 'a'].some(test)).toBe(true);
  });

  it(`limits a regular expression to SELECTOR_REGEX_MAX_LENGTH (${SELECTOR_REGEX_MAX_LENGTH}) characters`, () => {
    expect(SELECTOR_REGEX_MAX_LENGTH).toBe(256);
    expect(parseSelector(`x=~"${'a'.repeat(256)}"`).matches({ x: 'a'.repeat(256) })).toBe(true);
    const err = syntaxError(`x=~"${'a'.repeat(257)}"`);
    expect(offsetOf(err)).toBe(3);
    expect(err.message).toContain('at most 256 characters');
  });

  it('compares values in byte (code point) order as Go does', () => {
    expect(compareBytes('\uffff', '\u{10000}')).toBeLessThan(0);
    expect('\uffff' < '\u{10000}').toBe(false); // JavaScript's own order differs
    expect(compareBytes('a', 'ab')).toBeLessThan(0);
    expect(compareBytes('B', 'a')).toBeLessThan(0);
    expect(compareBytes('x', 'x')).toBe(0);
    const r = createRequirement('x', '=~', ['\u{10000}|\uffff']);
    expect(r.matchesValues(['\uffff'])).toBe(true);
  });

  it('parses integers as Go strconv.ParseInt(s, 10, 64) does', () => {
    expect(parseInt64('9223372036854775807')).toBe(9223372036854775807n);
    expect(parseInt64('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(parseInt64('+0012')).toBe(12n);
    for (const bad of ['', '+', '-', '9223372036854775808', '-9223372036854775809', '1_0', '0x10', ' 1', '1 ', '١']) {
      expect(parseInt64(bad), bad).toBeUndefined();
    }
  });
});

describe('the documented examples (TSDoc and docs/SELECTORS.md)', () => {
  it('give the results they state', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'SELECTORS.md'), 'utf8');
    const example = 'severity>=3, pods=~"nginx-.*", type notin (misconfiguration)';
    expect(doc).toContain(`parseSelector('${example}')`);
    const s = parseSelector(example);
    expect(s.toString()).toBe('pods=~"nginx-.*",severity>=3,type notin (misconfiguration)');
    expect(s.matches({ severity: '4', pods: ['nginx-abc', 'redis-0'], type: 'attack' })).toBe(true);
    expect(s.matches({ severity: '2', pods: ['nginx-abc'], type: 'attack' })).toBe(false);
    expect(doc).toContain("found 'x', expected: ',' or 'end of string' at offset 10\n  pods in ()x\n            ^\n");
    expect(parseKubernetesSelector('app in (web,api),tier!=db').toString()).toBe('app in (api,web),tier!=db');
    expect(offsetOf(syntaxError('severity>=3', parseKubernetesSelector))).toBe(9);
    const r = createRequirement('pods', 'in', ['web-1', 'web-0']);
    expect(r.toString()).toBe('pods in (web-0,web-1)');
    expect(r.matchesValues(['db-0', 'web-1'])).toBe(true);
    expect(parseSelector('app=~"a b|c,d"').matches({ app: 'c,d' })).toBe(true);
    expect(parseSelector('x=~"\\d+"').toString()).toBe(parseSelector('x=~"\\\\d+"').toString());
    expect(syntaxError('x=~"(a{100}){100}"').message).toContain('at most 10000');
    const [n] = parseSelector('pods notin (web-0)').requirements;
    expect([n!.negative, n!.valueTest('web-0'), n!.matchesValues(['web-0', 'db-0']), n!.matchesValues([])]).toEqual([true, true, false, true]);
    const t = parseSelector('tier in (web), !canary');
    expect(t.matches({ tier: 'web' })).toBe(true);
    expect(
      t.matches(
        new Map<string, string | string[]>([
          ['tier', ['db', 'web']],
          ['canary', ''],
        ]),
      ),
    ).toBe(false);
    expect(t.toString()).toBe('!canary,tier in (web)');
  });
});

describe('several values under one key', () => {
  it('positive operators hold when some value passes, negative ones when none does', () => {
    for (const { selector, labels, match } of cases.multiValued) {
      const s = parseSelector(selector);
      expect(s.matches(labels), `${selector} over ${JSON.stringify(labels)}`).toBe(match);
      expect(s.matches(asMap(labels))).toBe(match);
    }
  });

  it('matchesValues takes an empty array as an absent key', () => {
    const [notIn] = parseSelector('pods notin (a)').requirements;
    expect(notIn!.matchesValues([])).toBe(true);
    const [exists] = parseSelector('pods').requirements;
    expect(exists!.matchesValues([])).toBe(false);
    expect(parseSelector('pods').matches({ pods: undefined })).toBe(false);
  });
});

describe('extensions', () => {
  // Each extension is a text Kubernetes refuses, so none changes a selector Kubernetes accepts:
  // - '>=' and '<=': Kubernetes' lexer reads '>' (or '<') and then '=' as its own token, and after
  //   '>' the parser wants a value (an identifier), so the '=' is refused.
  // - '=~': '~' is no special symbol, so the lexer reads '=' and then an identifier starting
  //   with '~' (the pattern, up to whitespace or a special symbol); no label value starts with
  //   '~', so the value is refused. With spaces ('= ~x') it is the same identifier.
  // - '!~' after a key: the lexer reads '!' (the does-not-exist token), which the parser refuses
  //   where an operator is expected; at the start of a requirement '!~x' would make '~x' a key,
  //   which no key can be (and here '!~' there is refused too).
  // - A quoted pattern is only read after '=~' or '!~', so the quoting never applies elsewhere.
  // parseKubernetesSelector is the parser with these four tokens turned off: it refuses each
  // extension text at the offset Kubernetes' parser stops at.
  it('are accepted, printed canonically (patterns always quoted), and refused by the Kubernetes grammar', () => {
    for (const { text, canonical, kubernetesOffset } of cases.extensions) {
      expect(parseSelector(text).toString(), text).toBe(canonical);
      expect(parseSelector(canonical).toString()).toBe(canonical);
      expect(offsetOf(syntaxError(text, parseKubernetesSelector)), text).toBe(kubernetesOffset);
      expect(offsetOf(syntaxError(canonical, parseKubernetesSelector))).toBeGreaterThan(0);
    }
  });

  it('refuse bad patterns and bad integers where they stand', () => {
    for (const { text, offset } of cases.extensionRejected) expect(offsetOf(syntaxError(text)), text).toBe(offset);
  });

  it('leave every selector Kubernetes accepts as it is (ported and own cases)', () => {
    const accepted = [
      ...cases.TestSelectorParse.good.map((c) => c.text),
      ...cases.TestSetSelectorParser.filter((c) => c.valid).map((c) => c.text),
      ...cases.accepted.map((c) => c.text),
      ...cases.TestMatchesNothing.map((c) => c.text),
    ];
    for (const text of accepted) expect(parseSelector(text).toString()).toBe(parseKubernetesSelector(text).toString());
  });
});

// ---- properties ----------------------------------------------------------------------------

const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?$/;
const keyArb = fc.oneof(
  fc.constantFrom('a', 'b', 'pods', 'in', 'notin', 'severity', 'example.com/app', 'x.y-z/N_1'),
  fc.tuple(fc.constantFrom('', 'k8s.io/', 'a-b.c/'), fc.stringMatching(NAME)).map(([p, n]) => p + n),
);
const valueArb = fc.oneof(fc.constantFrom('', 'a', 'b', 'in', 'notin', 'x-1', '0'), fc.stringMatching(NAME));
const intArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  fc.integer({ min: 0, max: 20 }).map(String),
  fc.constantFrom('007', '0', '9223372036854775807'),
);
const patternArb = fc.constantFrom(
  '',
  'a',
  'a.*',
  '[a-c]+',
  'x|y',
  '(a|b)*c',
  'a b',
  'x,y',
  'say "hi"',
  '\\.',
  '\\\\',
  'n\\d{1,3}',
  '[^,]*',
  '"',
  'a"b\\\\',
  'a{2,3}',
);
const wsArb = fc.constantFrom('', '', ' ', '\t', ' \n ');

interface Gen {
  key: string;
  op: SelectorOperator;
  values: string[];
  text: string;
}

const requirementArb: fc.Arbitrary<Gen> = fc
  .tuple(
    keyArb,
    fc.constantFrom<SelectorOperator>('=', '==', '!=', 'in', 'notin', 'exists', '!', '>', '<', '>=', '<=', '=~', '!~'),
    fc.array(valueArb, { minLength: 1, maxLength: 4 }),
    intArb,
    patternArb,
    fc.boolean(),
    fc.array(wsArb, { minLength: 6, maxLength: 6 }),
  )
  .map(([key, op, values, int, pattern, quoted, ws]) => {
    const [w0, w1, w2, w3, w4, w5] = ws as [string, string, string, string, string, string];
    switch (op) {
      case 'exists':
        return { key, op, values: [], text: `${w0}${key}${w1}` };
      case '!':
        return { key, op, values: [], text: `${w0}!${w1}${key}${w2}` };
      case 'in':
      case 'notin':
        return { key, op, values, text: `${w0}${key} ${w1}${op}${w2}(${values.map((v) => `${w3}${v}${w4}`).join(',')})${w5}` };
      case '>':
      case '<':
      case '>=':
      case '<=':
        return { key, op, values: [int], text: `${w0}${key}${w1}${op}${w2}${int}${w3}` };
      case '=~':
      case '!~': {
        const bare = !quoted && pattern !== '' && !/[\s,"]/.test(pattern);
        const written = bare ? pattern : `"${pattern.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
        return { key, op, values: [pattern], text: `${w0}${key}${w1}${op}${w2}${written}${w3}` };
      }
      default:
        return { key, op, values: [values[0]!], text: `${w0}${key}${w1}${op}${w2}${values[0]!}${w3}` };
    }
  });

/** The canonical text of a generated requirement, written out independently of the parser. */
function expectedText(g: Gen): string {
  switch (g.op) {
    case 'exists':
      return g.key;
    case '!':
      return `!${g.key}`;
    case 'in':
    case 'notin':
      return `${g.key} ${g.op} (${[...new Set(g.values)].sort().join(',')})`;
    case '=~':
    case '!~':
      return `${g.key}${g.op}"${g.values[0]!.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    default:
      return `${g.key}${g.op}${g.values[0]!}`;
  }
}

const labelsArb = fc.dictionary(
  fc.constantFrom('a', 'b', 'pods', 'in', 'notin', 'severity', 'example.com/app', 'k8s.io/a'),
  fc.oneof(valueArb, intArb, fc.array(fc.oneof(valueArb, intArb, fc.constantFrom('a b', 'x,y', 'nx', 'say "hi"', '.')), { maxLength: 3 })),
);

describe('properties', () => {
  it('a generated selector prints to the canonical text, which parses back to itself and matches the same labels', () => {
    fc.assert(
      fc.property(fc.array(requirementArb, { maxLength: 5 }), fc.array(labelsArb, { minLength: 1, maxLength: 5 }), (reqs, labelSets) => {
        const text = reqs.map((r) => r.text).join(',');
        const s = parseSelector(text);
        const canonical = s.toString();
        // ASCII keys: JavaScript's sort is the byte order here, and it is stable as Go's is for short lists.
        const expected = [...reqs].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)).map(expectedText);
        expect(canonical).toBe(expected.join(','));
        const again = parseSelector(canonical);
        expect(again.toString()).toBe(canonical);
        for (const labels of labelSets) {
          expect(again.matches(labels)).toBe(s.matches(labels));
          expect(s.matches(asMap(labels))).toBe(s.matches(labels));
          // The selector is the AND of its requirements over the key's values.
          expect(s.matches(labels)).toBe(s.requirements.every((r) => r.matchesValues(valuesOf(labels, r.key))));
        }
      }),
      { numRuns: 400 },
    );
  });

  const junkArb = fc.oneof(
    fc
      .array(
        fc.constantFrom(
          'a',
          'b',
          'x',
          '1',
          '0',
          '-',
          '_',
          '.',
          '/',
          '=',
          '!',
          '<',
          '>',
          '(',
          ')',
          ',',
          ' ',
          '\t',
          '~',
          '"',
          '\\',
          'in',
          'notin',
          '*',
          '|',
          '[',
          'é',
          '\0',
        ),
        { maxLength: 24 },
      )
      .map((parts) => parts.join('')),
    fc.string({ unit: 'binary', maxLength: 24 }),
  );

  it('junk either parses or throws ERR_SELECTOR_SYNTAX, and what Kubernetes accepts reads the same with the extensions', () => {
    fc.assert(
      fc.property(junkArb, (text) => {
        let ours: Selector | undefined;
        try {
          ours = parseSelector(text);
        } catch (err) {
          expect(err).toBeInstanceOf(TapioError);
          expect((err as TapioError).code).toBe('ERR_SELECTOR_SYNTAX');
          const offset = (err as TapioError).details!.offset as number;
          expect(offset >= 0 && offset <= text.length).toBe(true);
        }
        let kubernetes: Selector | undefined;
        try {
          kubernetes = parseKubernetesSelector(text);
        } catch (err) {
          expect((err as TapioError).code).toBe('ERR_SELECTOR_SYNTAX');
        }
        if (kubernetes !== undefined) {
          expect(ours).toBeDefined();
          expect(ours!.toString()).toBe(kubernetes.toString());
          expect(ours!.requirements.map(shape)).toEqual(kubernetes.requirements.map(shape));
        }
        if (ours !== undefined) expect(parseSelector(ours.toString()).toString()).toBe(ours.toString());
      }),
      { numRuns: 3000 },
    );
  });
});
