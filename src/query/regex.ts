/**
 * A regular-expression engine for the `=~` and `!~` selector operators that cannot backtrack:
 * a pattern is parsed into a small tree, compiled into a Thompson NFA and run by keeping the set
 * of live states for each input character (a Pike VM without captures). A test therefore costs
 * at most (input length) x (program size) steps, whatever the pattern, so a selector sent by a
 * caller cannot stall the process (`(a*)*b` against a long run of `a` is as cheap as `ab`).
 *
 * The subset (docs/SELECTORS.md repeats it for users):
 * - literal characters; `.` matches any character, line breaks included;
 * - escapes `\d \w \s \D \W \S` (as JavaScript defines them) and a backslash before any ASCII
 *   punctuation character for that character itself (`\.`, `\\`, `\(`, `\-`, ...);
 * - classes `[a-z0-9_-]` and negated classes `[^...]`, holding characters, ranges and the six
 *   class escapes; a literal `]` or `[` inside a class is written `\]`, `\[`;
 * - groups `( )` and `(?: )` (nothing is captured), alternation `|`;
 * - quantifiers `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` with m, n at most
 *   {@link REGEX_MAX_REPEAT}; a lazy form (`*?`, `{2,3}?`) is accepted and means the same, since
 *   only whether the whole input matches is asked.
 * Matching is anchored (the whole input must match) and works on Unicode code points. Anything
 * else (anchors `^ $`, backreferences, lookaround, named groups, `\b`, `\n`, `\uXXXX`, flags) is
 * refused with ERR_SELECTOR_SYNTAX and the offset in the pattern.
 */
import { TapioError } from '../errors.js';

/** The largest count a `{m,n}` quantifier may name. */
export const REGEX_MAX_REPEAT = 100;
/** The largest compiled program (NFA states) a pattern may produce. */
export const REGEX_MAX_PROGRAM = 10_000;
/** How deeply groups may nest (keeps the recursive parser's stack small). */
export const REGEX_MAX_NESTING = 100;

/** A compiled pattern. */
export interface CompiledRegex {
  /** The pattern as given. */
  readonly source: string;
  /** Whether the WHOLE of `input` matches the pattern. */
  test(input: string): boolean;
}

const MAX_CODE_POINT = 0x10ffff;

/** A set of code points as sorted, disjoint, non-adjacent inclusive ranges [lo0, hi0, lo1, hi1, ...]. */
type RangeSet = readonly number[];

const DIGIT: RangeSet = [0x30, 0x39];
const WORD: RangeSet = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: RangeSet = normalize([
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
]);
const ANY: RangeSet = [0, MAX_CODE_POINT];

/** Sorts and merges ranges given as pairs. */
function normalize(pairs: readonly number[]): RangeSet {
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < pairs.length; i += 2) ranges.push([pairs[i]!, pairs[i + 1]!]);
  ranges.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(set: RangeSet): RangeSet {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < set.length; i += 2) {
    if (set[i]! > next) out.push(next, set[i]! - 1);
    next = set[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

function contains(set: RangeSet, cp: number): boolean {
  // Classes are short; a linear scan over the pairs beats a binary search for them.
  for (let i = 0; i < set.length; i += 2) {
    if (cp < set[i]!) return false;
    if (cp <= set[i + 1]!) return true;
  }
  return false;
}

type Node =
  | { readonly kind: 'empty' }
  | { readonly kind: 'char'; readonly set: RangeSet }
  | { readonly kind: 'concat'; readonly items: readonly Node[] }
  | { readonly kind: 'alt'; readonly branches: readonly Node[] }
  | { readonly kind: 'repeat'; readonly item: Node; readonly min: number; readonly max: number };

/** max === Infinity for an unbounded repetition. */
function programSize(node: Node): number {
  switch (node.kind) {
    case 'empty':
      return 0;
    case 'char':
      return 1;
    case 'concat':
      return node.items.reduce((n, item) => n + programSize(item), 0);
    case 'alt':
      return node.branches.reduce((n, b) => n + programSize(b), 0) + 2 * (node.branches.length - 1);
    case 'repeat': {
      const s = programSize(node.item);
      if (node.max === Infinity) return node.min === 0 ? s + 2 : node.min * s + 1;
      return node.min * s + (node.max - node.min) * (s + 1);
    }
  }
}

/** Shows `text` with its control characters escaped, and a caret under `offset` (one line each, indented by two spaces). */
export function pointAt(text: string, offset: number): string {
  let shown = '';
  let caret = 0;
  let i = 0;
  for (const ch of text) {
    if (i === offset) caret = shown.length;
    shown += displayChar(ch);
    i += ch.length;
  }
  if (offset >= text.length) caret = shown.length;
  // A long text is cut to a window around the offset so the caret stays readable.
  const width = 100;
  if (shown.length > width) {
    const start = Math.max(0, Math.min(caret - width / 2, shown.length - width));
    const head = start > 0 ? '...' : '';
    const tail = start + width < shown.length ? '...' : '';
    return `  ${head}${shown.slice(start, start + width)}${tail}\n  ${' '.repeat(caret - start + head.length)}^`;
  }
  return `  ${shown}\n  ${' '.repeat(caret)}^`;
}

function displayChar(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return ch;
}

/** Describes the character at `offset` of `text` for a message. */
export function describeAt(text: string, offset: number): string {
  if (offset >= text.length) return 'end of pattern';
  const cp = text.codePointAt(offset)!;
  return `'${displayChar(String.fromCodePoint(cp))}'`;
}

function isAsciiPunctuation(cp: number): boolean {
  return (cp >= 0x21 && cp <= 0x2f) || (cp >= 0x3a && cp <= 0x40) || (cp >= 0x5b && cp <= 0x60) || (cp >= 0x7b && cp <= 0x7e);
}

class PatternParser {
  #pos = 0;
  #depth = 0;

  constructor(readonly src: string) {}

  parse(): Node {
    const node = this.#alternation();
    if (this.#pos < this.src.length) {
      // Only an unmatched ')' stops an alternation early.
      this.#fail(this.#pos, `found ${describeAt(this.src, this.#pos)} without a matching '('`, 'a character, or escape a literal parenthesis as \\)');
    }
    this.#checkSize(node, 0);
    return node;
  }

  #fail(offset: number, found: string, expected: string): never {
    throw new TapioError(
      'ERR_SELECTOR_SYNTAX',
      `invalid regular expression: ${found}, expected: ${expected} at offset ${offset}\n${pointAt(this.src, offset)}`,
      {
        details: { offset, reason: `${found}, expected: ${expected}` },
      },
    );
  }

  #checkSize(node: Node, offset: number): void {
    const size = programSize(node);
    if (size + 1 > REGEX_MAX_PROGRAM) {
      this.#fail(offset, `a pattern that compiles to ${size + 1} states`, `at most ${REGEX_MAX_PROGRAM} (lower the repetition counts)`);
    }
  }

  #peek(): number | undefined {
    return this.#pos < this.src.length ? this.src.codePointAt(this.#pos) : undefined;
  }

  #next(): number {
    const cp = this.src.codePointAt(this.#pos)!;
    this.#pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  #alternation(): Node {
    const branches: Node[] = [this.#sequence()];
    while (this.#peek() === 0x7c /* | */) {
      this.#pos++;
      branches.push(this.#sequence());
    }
    return branches.length === 1 ? branches[0]! : { kind: 'alt', branches };
  }

  #sequence(): Node {
    const items: Node[] = [];
    for (;;) {
      const cp = this.#peek();
      if (cp === undefined || cp === 0x7c /* | */ || cp === 0x29 /* ) */) break;
      items.push(this.#quantified(this.#atom()));
    }
    if (items.length === 0) return { kind: 'empty' };
    return items.length === 1 ? items[0]! : { kind: 'concat', items };
  }

  #quantified(atom: Node): Node {
    const at = this.#pos;
    const cp = this.#peek();
    let min: number;
    let max: number;
    if (cp === 0x2a /* * */ || cp === 0x2b /* + */ || cp === 0x3f /* ? */) {
      [min, max] = cp === 0x2a ? [0, Infinity] : cp === 0x2b ? [1, Infinity] : [0, 1];
      this.#pos++;
    } else if (cp === 0x7b /* { */) {
      [min, max] = this.#counts();
    } else {
      return atom;
    }
    if (this.#peek() === 0x3f /* ? */) this.#pos++; // lazy: the same answer for a whole-input test
    const next = this.#peek();
    if (next === 0x2a || next === 0x2b || next === 0x3f || next === 0x7b) {
      this.#fail(
        this.#pos,
        `found ${describeAt(this.src, this.#pos)} right after a quantifier`,
        'a character, a group or the end of the pattern (wrap the repeated part in (?: ) to repeat it again)',
      );
    }
    const node: Node = { kind: 'repeat', item: atom, min, max };
    this.#checkSize(node, at);
    return node;
  }

  /** Reads `{m}`, `{m,}` or `{m,n}` at the current position (which is '{'), leaving the position after '}'. */
  #counts(): [number, number] {
    const open = this.#pos;
    this.#pos++;
    const m = this.#number();
    let n = m;
    if (this.#peek() === 0x2c /* , */) {
      this.#pos++;
      n = this.#peek() === 0x7d /* } */ ? Infinity : this.#number();
    }
    if (this.#peek() !== 0x7d /* } */) {
      this.#fail(
        this.#pos,
        `found ${describeAt(this.src, this.#pos)} in a repetition count`,
        "'}' closing {m}, {m,} or {m,n} (a literal brace is written \\{)",
      );
    }
    this.#pos++;
    if (n < m) this.#fail(open, `the repetition {${m},${n}} whose maximum is below its minimum`, 'a minimum no larger than the maximum');
    return [m, n];
  }

  #number(): number {
    const start = this.#pos;
    while (this.#peek() !== undefined && this.#peek()! >= 0x30 && this.#peek()! <= 0x39) this.#pos++;
    if (this.#pos === start) {
      this.#fail(this.#pos, `found ${describeAt(this.src, this.#pos)} in a repetition count`, 'a number (a literal brace is written \\{)');
    }
    const digits = this.src.slice(start, this.#pos);
    const value = digits.length > 4 ? Infinity : Number(digits);
    if (value > REGEX_MAX_REPEAT) this.#fail(start, `the repetition count ${digits}`, `a count of at most ${REGEX_MAX_REPEAT}`);
    return value;
  }

  #atom(): Node {
    const start = this.#pos;
    const cp = this.#next();
    switch (cp) {
      case 0x2e /* . */:
        return { kind: 'char', set: ANY };
      case 0x5b /* [ */:
        return this.#class(start);
      case 0x28 /* ( */:
        return this.#group(start);
      case 0x5c /* \ */:
        return { kind: 'char', set: this.#escape(start, false) };
      case 0x2a /* * */:
      case 0x2b /* + */:
      case 0x3f /* ? */:
      case 0x7b /* { */:
        return this.#fail(
          start,
          `found '${String.fromCodePoint(cp)}' with nothing before it to repeat`,
          'a character or a group before a quantifier (a literal one is escaped, as \\*)',
        );
      case 0x5d /* ] */:
      case 0x7d /* } */:
        return this.#fail(start, `found an unmatched '${String.fromCodePoint(cp)}'`, `a character (a literal one is written \\${String.fromCodePoint(cp)})`);
      case 0x5e /* ^ */:
      case 0x24 /* $ */:
        return this.#fail(
          start,
          `found the anchor '${String.fromCodePoint(cp)}'`,
          `a character: the pattern always has to match the whole value, so anchors are implied (a literal one is written \\${String.fromCodePoint(cp)})`,
        );
      default:
        return { kind: 'char', set: [cp, cp] };
    }
  }

  #group(start: number): Node {
    if (this.src.startsWith('?', this.#pos)) {
      if (!this.src.startsWith('?:', this.#pos)) {
        this.#fail(start, `found '${this.src.slice(start, start + 3)}' (lookaround, named groups and inline flags are not supported)`, "'(' or '(?:'");
      }
      this.#pos += 2;
    }
    if (++this.#depth > REGEX_MAX_NESTING) this.#fail(start, 'groups nested too deeply', `at most ${REGEX_MAX_NESTING} levels of groups`);
    const inner = this.#alternation();
    this.#depth--;
    if (this.#peek() !== 0x29 /* ) */) this.#fail(this.#pos, `found ${describeAt(this.src, this.#pos)} in a group`, "')'");
    this.#pos++;
    return inner;
  }

  /** After a backslash at `start`: the set the escape stands for. */
  #escape(start: number, inClass: boolean): RangeSet {
    const cp = this.#peek();
    if (cp === undefined) this.#fail(start, 'found a backslash at the end of the pattern', 'a character after it (a literal backslash is written \\\\)');
    this.#next();
    switch (cp) {
      case 0x64 /* d */:
        return DIGIT;
      case 0x44 /* D */:
        return complement(DIGIT);
      case 0x77 /* w */:
        return WORD;
      case 0x57 /* W */:
        return complement(WORD);
      case 0x73 /* s */:
        return SPACE;
      case 0x53 /* S */:
        return complement(SPACE);
    }
    if (isAsciiPunctuation(cp)) return [cp, cp];
    return this.#fail(
      start,
      `found the escape '\\${String.fromCodePoint(cp)}'${inClass ? ' in a class' : ''}`,
      'one of \\d \\w \\s \\D \\W \\S, or a backslash before a punctuation character such as \\. or \\\\',
    );
  }

  #class(start: number): Node {
    let negated = false;
    if (this.#peek() === 0x5e /* ^ */) {
      negated = true;
      this.#pos++;
    }
    const pairs: number[] = [];
    let first = true;
    for (;;) {
      const cp = this.#peek();
      if (cp === undefined) this.#fail(start, 'found a class that is not closed', "']' closing the class opened here");
      if (cp === 0x5d /* ] */) {
        if (first) this.#fail(this.#pos, 'found an empty class', 'at least one character in the class (a literal ] is written \\])');
        this.#pos++;
        break;
      }
      first = false;
      const lowAt = this.#pos;
      const low = this.#classAtom();
      if (this.#peek() === 0x2d /* - */ && this.src.codePointAt(this.#pos + 1) !== 0x5d /* ] */ && this.#pos + 1 < this.src.length) {
        this.#pos++;
        const highAt = this.#pos;
        const high = this.#classAtom();
        if (low.length !== 2 || low[0] !== low[1] || high.length !== 2 || high[0] !== high[1]) {
          this.#fail(lowAt, 'found a range with a class escape as an end', 'single characters at both ends of a range (a literal - is written \\-)');
        }
        if (high[0]! < low[0]!) this.#fail(highAt, 'found a range whose end is below its start', 'ranges written low-high, as a-z');
        pairs.push(low[0]!, high[0]!);
      } else {
        pairs.push(...low);
      }
    }
    const set = normalize(pairs);
    return { kind: 'char', set: negated ? complement(set) : set };
  }

  #classAtom(): RangeSet {
    const at = this.#pos;
    const cp = this.#next();
    if (cp === 0x5c /* \ */) return this.#escape(at, true);
    if (cp === 0x5b /* [ */) this.#fail(at, "found '[' inside a class", 'a character (a literal [ inside a class is written \\[)');
    return [cp, cp];
  }
}

/** One NFA instruction: a character test, a fork, a jump or the accepting state. */
interface Split {
  op: 'split';
  x: number;
  y: number;
}
interface Jump {
  op: 'jmp';
  x: number;
}
type Instruction = { op: 'char'; set: RangeSet; single: number } | Split | Jump | { op: 'match' };

function emit(node: Node, prog: Instruction[]): void {
  switch (node.kind) {
    case 'empty':
      return;
    case 'char':
      prog.push({ op: 'char', set: node.set, single: node.set.length === 2 && node.set[0] === node.set[1] ? node.set[0]! : -1 });
      return;
    case 'concat':
      for (const item of node.items) emit(item, prog);
      return;
    case 'alt': {
      const jumps: Jump[] = [];
      node.branches.forEach((branch, i) => {
        if (i === node.branches.length - 1) {
          emit(branch, prog);
          return;
        }
        const split: Split = { op: 'split', x: prog.length + 1, y: 0 };
        prog.push(split);
        emit(branch, prog);
        const jmp: Jump = { op: 'jmp', x: 0 };
        prog.push(jmp);
        jumps.push(jmp);
        split.y = prog.length;
      });
      for (const jmp of jumps) jmp.x = prog.length;
      return;
    }
    case 'repeat': {
      const { item, min, max } = node;
      for (let i = 0; i < min - (max === Infinity && min > 0 ? 1 : 0); i++) emit(item, prog);
      if (max === Infinity) {
        if (min === 0) {
          // L: split L+1, out; item; jmp L
          const split: Split = { op: 'split', x: prog.length + 1, y: 0 };
          const loop = prog.length;
          prog.push(split);
          emit(item, prog);
          prog.push({ op: 'jmp', x: loop });
          split.y = prog.length;
        } else {
          // The last mandatory copy loops back: L: item; split L, out
          const loop = prog.length;
          emit(item, prog);
          prog.push({ op: 'split', x: loop, y: prog.length + 1 });
        }
        return;
      }
      for (let i = min; i < max; i++) {
        const split: Split = { op: 'split', x: prog.length + 1, y: 0 };
        prog.push(split);
        emit(item, prog);
        split.y = prog.length;
      }
      return;
    }
  }
}

/** Runs the program over `input`, keeping each live state once per step. */
function run(prog: readonly Instruction[], input: string): boolean {
  const n = prog.length;
  let current = new Int32Array(n);
  let next = new Int32Array(n);
  let currentCount = 0;
  let nextCount = 0;
  // mark[pc] === generation: pc is already in the list being built for this step.
  const mark = new Uint32Array(n);
  let generation = 1;
  // Each state is expanded at most once per step, and only a split leaves the stack one entry
  // longer, so n + 1 entries would do; twice that costs nothing and needs no argument.
  const stack = new Int32Array(2 * n + 2);

  // Adds pc and every state reachable from it without reading a character to `list`.
  const addClosure = (list: Int32Array, count: number, start: number): number => {
    let sp = 0;
    stack[sp++] = start;
    while (sp > 0) {
      const pc = stack[--sp]!;
      if (mark[pc] === generation) continue;
      mark[pc] = generation;
      const ins = prog[pc]!;
      switch (ins.op) {
        case 'jmp':
          stack[sp++] = ins.x;
          break;
        case 'split':
          // Order does not matter: only acceptance is asked.
          stack[sp++] = ins.y;
          stack[sp++] = ins.x;
          break;
        default:
          list[count++] = pc;
      }
    }
    return count;
  };

  currentCount = addClosure(current, 0, 0);
  let i = 0;
  while (i < input.length) {
    if (currentCount === 0) return false;
    const cp = input.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    generation++;
    nextCount = 0;
    for (let k = 0; k < currentCount; k++) {
      const ins = prog[current[k]!]!;
      if (ins.op !== 'char') continue;
      if (ins.single >= 0 ? ins.single === cp : contains(ins.set, cp)) nextCount = addClosure(next, nextCount, current[k]! + 1);
    }
    [current, next] = [next, current];
    currentCount = nextCount;
  }
  for (let k = 0; k < currentCount; k++) if (prog[current[k]!]!.op === 'match') return true;
  return false;
}

/**
 * Compiles a pattern of the supported subset (see the module comment and docs/SELECTORS.md).
 * The result tests whether a whole string matches, in time linear in the string's length times
 * the program's size: no pattern backtracks.
 *
 * @throws TapioError ERR_SELECTOR_SYNTAX, with `details.offset` the offset in `source` of what is
 * refused and `details.reason` the message without the caret lines.
 *
 * @example
 * ```ts
 * const re = compileRegex('nginx-[a-z0-9]{5}');
 * re.test('nginx-7f9c2'); // true
 * re.test('my-nginx-7f9c2'); // false: the whole value must match
 * ```
 */
export function compileRegex(source: string): CompiledRegex {
  if (typeof source !== 'string') {
    throw new TapioError('ERR_INVALID_ARGUMENT', `compileRegex expects the pattern as a string, got ${source === null ? 'null' : typeof source}`);
  }
  const tree = new PatternParser(source).parse();
  const prog: Instruction[] = [];
  emit(tree, prog);
  prog.push({ op: 'match' });
  return {
    source,
    test: (input: string): boolean => run(prog, input),
  };
}
