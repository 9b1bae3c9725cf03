// The selector's regular-expression engine against JavaScript's own RegExp (anchored, with the
// flags that give the same meaning: 's' so '.' takes line breaks, 'u' for code points), on a
// table and on generated patterns, plus what it refuses and the inputs that make a backtracking
// engine take exponential time.
import vm from 'node:vm';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { compileRegex, REGEX_MAX_PROGRAM, REGEX_MAX_REPEAT } from '../../src/query/regex.js';

function reference(pattern: string): RegExp {
  // A backslash before punctuation JavaScript does not let be escaped under 'u' (as \- outside a
  // class, or \,) stands for that character here; \xHH says the same to JavaScript.
  const js = pattern.replace(/\\(.)/gsu, (all, c: string) =>
    /[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(c) && !'^$\\.*+?()[]{}|/'.includes(c) ? `\\x${c.charCodeAt(0).toString(16)}` : all,
  );
  return new RegExp(`^(?:${js})$`, 'su');
}

// JavaScript's RegExp backtracks: a generated pattern with nested repetitions can take it minutes
// on a ten-character input (seen: `(\*{1,})?(?:|((?:|[a-c]*\w*){2}|...){1,3}?...){1,}` took 5.3 s
// on one input, `|(|((|(a*))a?)+){1,}` over 0.5 s on "aaaaaa😀", and one run of the property took
// 392 s). So the reference runs under a time limit, in a context of its own; a case it cannot
// answer in time is not compared (ours still answers it), and each test requires such cases to
// stay rare (about 1 in 1,000 generated patterns).
const REFERENCE_LIMIT_MS = 500;
const referenceContext = vm.createContext({ re: /$^/, inputs: [] as string[] });
const referenceScript = new vm.Script('inputs.map((input) => re.test(input))');

function referenceAnswers(pattern: string, inputs: readonly string[]): boolean[] | undefined {
  referenceContext.re = reference(pattern);
  referenceContext.inputs = inputs;
  try {
    return referenceScript.runInContext(referenceContext, { timeout: REFERENCE_LIMIT_MS }) as boolean[];
  } catch (err) {
    if ((err as { code?: unknown } | undefined)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw err;
  }
}

/** Compares ours with the reference on each input; false when the reference ran out of time. */
function agrees(pattern: string, inputs: readonly string[]): boolean {
  const ours = compileRegex(pattern);
  const answers = inputs.map((input) => ours.test(input));
  const theirs = referenceAnswers(pattern, inputs);
  if (theirs === undefined) return false;
  inputs.forEach((input, i) => expect(answers[i], `${pattern} on ${JSON.stringify(input)}`).toBe(theirs[i]));
  return true;
}

function refusal(pattern: string): TapioError {
  let caught: unknown;
  try {
    compileRegex(pattern);
  } catch (err) {
    caught = err;
  }
  expect(caught, pattern).toBeInstanceOf(TapioError);
  const err = caught as TapioError;
  expect(err.code).toBe('ERR_SELECTOR_SYNTAX');
  expect(typeof err.details?.offset).toBe('number');
  expect(err.message).toMatch(/\n {2}.*\n {2} *\^$/);
  return err;
}

const TABLE: Array<[string, string[]]> = [
  ['', ['', 'a']],
  ['abc', ['abc', 'ab', 'abcd', 'xabc']],
  ['a.c', ['abc', 'a\nc', 'ac', 'a😀c']],
  ['nginx-.*', ['nginx-', 'nginx-abc', 'my-nginx-abc', 'nginx']],
  ['a|b|', ['a', 'b', '', 'ab']],
  ['(a|b)*c', ['c', 'abac', 'abab', 'abcc']],
  ['(?:ab)+', ['ab', 'abab', 'aba', '']],
  ['a?b?', ['', 'a', 'b', 'ab', 'ba']],
  ['a{3}', ['aa', 'aaa', 'aaaa']],
  ['a{2,}', ['a', 'aa', 'aaaaa']],
  ['a{2,4}', ['a', 'aa', 'aaaa', 'aaaaa']],
  ['a{0}b', ['b', 'ab']],
  ['a{0,1}', ['', 'a', 'aa']],
  ['a*?b+?c??', ['abc', 'b', 'aabbc', 'c']],
  ['[a-z0-9_-]+', ['abc-1_2', 'ABC', 'a.b', '-']],
  ['[^a-c]', ['a', 'd', '-', '\n']],
  ['[^,]*', ['abc', 'a,b', '']],
  ['[\\w.-]+', ['my.pod-1_x', 'my pod']],
  ['[\\d\\s]+', ['1 2\t3', '1a']],
  ['[\\D]', ['a', '1']],
  ['[\\]\\[\\-\\^\\\\]+', [']', '[-^\\', 'a']],
  ['\\d+', ['0123', '12a', '']],
  ['\\D\\W\\S', ['a-b', '1-b', 'a b']],
  ['\\w+\\s\\w+', ['a b', 'a\tb', 'a  b', 'a\u00a0b', 'a\u3000b']],
  ['\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\^\\$\\/', ['.*+?()[]{}|\\^$/', 'x']],
  ['😀+', ['😀😀', '😀', '\ud83d']],
  ['[😀-😂]', ['😁', '😃']],
  ['.', ['\ud83d', '😀', '']],
  ['(a*)*b', ['b', 'aaab', 'aaa']],
  ['((a|b)(c|d)){2}', ['acbd', 'acb', 'adad']],
  ['()', ['', 'a']],
  ['(|a)+', ['', 'aaa', 'b']],
  ['x(?:y|z(?:w|v)*)?', ['x', 'xy', 'xzwvw', 'xzy']],
  ['café|naïve', ['café', 'naïve', 'cafe']],
];

describe('compileRegex', () => {
  it('matches whole strings exactly as an anchored JavaScript RegExp does (table)', () => {
    for (const [pattern, inputs] of TABLE) {
      const re = compileRegex(pattern);
      expect(re.source).toBe(pattern);
      for (const input of inputs) expect(re.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(reference(pattern).test(input));
    }
  });

  it('refuses what lies outside the subset, at the offset of the refused part', () => {
    const refused: Array<[string, number]> = [
      ['(a', 2],
      ['a)', 1],
      ['[a', 0],
      ['[]', 1],
      ['[^]', 2],
      ['[z-a]', 3],
      ['[\\d-z]', 1],
      ['[[]', 1],
      ['*a', 0],
      ['a|+', 2],
      ['a**', 2],
      ['a+*', 2],
      ['a{2}{3}', 4],
      ['a{', 2],
      ['a{,3}', 2],
      ['a{2,1}', 1],
      ['a{1,x}', 4],
      [`a{${REGEX_MAX_REPEAT + 1}}`, 2],
      ['a{99999999999}', 2],
      ['}', 0],
      [']', 0],
      ['^a', 0],
      ['a$', 1],
      ['(?=a)', 0],
      ['(?!a)', 0],
      ['(?<=a)b', 0],
      ['(?<n>a)', 0],
      ['(?i)a', 0],
      ['(a)\\1', 3],
      ['\\b', 0],
      ['\\n', 0],
      ['\\u0041', 0],
      ['\\x41', 0],
      ['\\k<n>', 0],
      ['\\p{L}', 0],
      ['a\\', 1],
      ['[a\\b]', 2],
    ];
    for (const [pattern, offset] of refused) expect(refusal(pattern).details?.offset, pattern).toBe(offset);
    expect(refusal('(a').message).toBe("invalid regular expression: found end of pattern in a group, expected: ')' at offset 2\n  (a\n    ^");
  });

  it(`caps the compiled program at ${REGEX_MAX_PROGRAM} states and the nesting of groups`, () => {
    expect(compileRegex('(?:a{100}){99}').test('a'.repeat(9900))).toBe(true);
    expect(refusal('(?:a{100}){100}').message).toContain(`at most ${REGEX_MAX_PROGRAM}`);
    expect(refusal('((a{100}){10}){10}').details?.offset).toBe(14);
    expect(refusal('x'.repeat(REGEX_MAX_PROGRAM)).message).toContain('states');
    expect(refusal(`${'('.repeat(200)}a${')'.repeat(200)}`).message).toContain('nested too deeply');
    expect(compileRegex(`${'('.repeat(50)}a${')'.repeat(50)}`).test('a')).toBe(true);
  });

  it('refuses a non-string with ERR_INVALID_ARGUMENT', () => {
    expect(() => compileRegex(undefined as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('answers patterns that make a backtracking engine exponential', () => {
    const as = 'a'.repeat(10_000);
    expect(compileRegex('(a*)*b').test(as)).toBe(false);
    expect(compileRegex('(a|a)*c').test(as)).toBe(false);
    expect(compileRegex('(a|aa)+').test(as)).toBe(true);
    expect(compileRegex('(a*)*b').test(`${as}b`)).toBe(true);
    expect(compileRegex('(.*a){20}').test(as)).toBe(true);
    expect(compileRegex('(.*a){20}').test(`${as}b`)).toBe(false);
    expect(compileRegex('(x+x+)+y').test('x'.repeat(5_000))).toBe(false);
    // Found by the generated tests below: JavaScript takes over half a second on these seven characters.
    expect(compileRegex('|(|((|(a*))a?)+){1,}').test('aaaaaa😀')).toBe(false);
    expect(compileRegex('|(|((|(a*))a?)+){1,}').test('a'.repeat(10_000))).toBe(true);
  });
});

// Patterns from the subset that JavaScript reads the same way (with flags 'su').
const atomArb: fc.Arbitrary<string> = fc.constantFrom(
  'a',
  'b',
  'c',
  '-',
  '.',
  '\\.',
  '\\d',
  '\\w',
  '\\s',
  '\\W',
  '[ab]',
  '[^a]',
  '[a-c]',
  '[\\d_-]',
  '[^\\s-]',
  '\\\\',
  '\\(',
  '\\*',
  '😀',
  'é',
  ' ',
);
const quantifierArb = fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{0,2}', '{1,}', '*?', '{1,3}?');

const patternArb: fc.Arbitrary<string> = fc.letrec<{ alt: string; seq: string; item: string }>((tie) => ({
  alt: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('seq'),
    fc.tuple(tie('seq'), tie('seq')).map(([x, y]) => `${x}|${y}`),
  ),
  seq: fc.array(tie('item'), { maxLength: 4 }).map((items) => items.join('')),
  item: fc
    .tuple(
      fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        atomArb,
        atomArb,
        tie('alt').map((a) => `(${a})`),
        tie('alt').map((a) => `(?:${a})`),
      ),
      quantifierArb,
    )
    .map(([atom, q]) => atom + q),
})).alt;

const inputArb = fc
  .array(fc.constantFrom('a', 'b', 'c', '-', '.', '1', '_', ' ', '\n', '\\', '(', '*', '😀', 'é', 'Z'), { maxLength: 10 })
  .map((cs) => cs.join(''));

describe('compileRegex against JavaScript RegExp on generated patterns', () => {
  it('agrees on every generated pattern and input', () => {
    let unanswered = 0;
    fc.assert(
      fc.property(patternArb, fc.array(inputArb, { minLength: 1, maxLength: 8 }), (pattern, inputs) => {
        if (!agrees(pattern, inputs)) unanswered += 1;
      }),
      { numRuns: 1500 },
    );
    expect(unanswered).toBeLessThan(15);
  });

  it('agrees on strings built from the pattern itself (so that matches are common)', () => {
    let unanswered = 0;
    fc.assert(
      fc.property(patternArb, fc.array(fc.nat(), { maxLength: 6 }), (pattern, picks) => {
        const plain = pattern.replace(/[\\()[\]{}|*+?^]/g, '');
        const chars = [...plain];
        const input = chars.length === 0 ? '' : picks.map((p) => chars[p % chars.length]).join('');
        if (!agrees(pattern, [input])) unanswered += 1;
      }),
      { numRuns: 1500 },
    );
    expect(unanswered).toBeLessThan(15);
  });

  it('throws only ERR_SELECTOR_SYNTAX on arbitrary text, and agrees with RegExp whenever it compiles', () => {
    const junkArb = fc
      .array(fc.constantFrom('a', 'b', '(', ')', '[', ']', '{', '}', ',', '1', '2', '*', '+', '?', '|', '\\', '^', '-', '.', 'd', ':', '='), { maxLength: 12 })
      .map((cs) => cs.join(''));
    let unanswered = 0;
    fc.assert(
      fc.property(junkArb, inputArb, (pattern, input) => {
        try {
          compileRegex(pattern);
        } catch (err) {
          expect(err).toBeInstanceOf(TapioError);
          expect((err as TapioError).code).toBe('ERR_SELECTOR_SYNTAX');
          const offset = (err as TapioError).details!.offset as number;
          expect(offset >= 0 && offset <= pattern.length).toBe(true);
          return;
        }
        // Whatever compiles is read the way JavaScript reads it.
        if (!agrees(pattern, [input])) unanswered += 1;
      }),
      { numRuns: 3000 },
    );
    expect(unanswered).toBeLessThan(30);
  });
});
