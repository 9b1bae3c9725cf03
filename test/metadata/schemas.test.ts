import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  apiKeyIdArg,
  apiKeyOfUserRecord,
  apiKeyRecord,
  checkpointNameArg,
  checkpointRecord,
  isJsonObject,
  nestsDeeperThan,
  resourceNameArg,
  resourceRecord,
  resourceTypeArg,
  userByNameRecord,
  userIdArg,
  userNameArg,
  userRecord,
  type ArgSchema,
  type RecordSchema,
} from '../../src/metadata/schemas.js';

// Every argument and record schema pairs a fast predicate with a zod schema; calls trust the
// predicate and use zod only to describe a refusal. These properties check that the two agree.

const tricky = fc.constantFrom('', ':', 'a:b', '\n', '\t', '\u007f', '\u0000', '\ud800', '\udc00', '😀', '\ud83d\ude00', 'é', 'x', 'A', '9', ' ', '-');
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(tricky, { maxLength: 12 }).map((parts) => parts.join('')),
  fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'), minLength: 10, maxLength: 18 }),
  fc.integer({ min: 60, max: 300 }).map((n) => 'n'.repeat(n)),
);
const anyArb = fc.oneof(textArb, fc.anything());

describe.each<[string, ArgSchema<string>]>([
  ['userId', userIdArg],
  ['apiKeyId', apiKeyIdArg],
  ['userName', userNameArg],
  ['resourceType', resourceTypeArg],
  ['resourceName', resourceNameArg],
  ['checkpointName', checkpointNameArg],
])('argument schema %s', (_name, arg) => {
  it('its predicate accepts exactly what its zod schema accepts', () => {
    fc.assert(
      fc.property(anyArb, (value) => {
        expect(arg.ok(value)).toBe(arg.schema.safeParse(value).success);
      }),
      { numRuns: 3000 },
    );
  });
});

// Mostly valid fields, so that whole records are often valid too, with every kind of wrong value mixed in.
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: invalid, weight: 1 });
const natOrNot = mostly(
  fc.oneof(fc.nat(), fc.constant(-0), fc.constant(Number.MAX_SAFE_INTEGER)),
  fc.constantFrom(-1, 1.5, 2 ** 53, Number.NaN, Infinity, '5', null, undefined, 5n, true),
);
const digestOrNot = mostly(
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64')),
  fc.oneof(
    fc.uint8Array({ minLength: 30, maxLength: 34 }).map((b) => Buffer.from(b).toString('base64')),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.constantFrom(
      'x'.repeat(44),
      `${'A'.repeat(43)}=\n`,
      `${'A'.repeat(42)}==`,
      `é${'A'.repeat(42)}=`,
      `${'A'.repeat(42)}-=`,
      `${'A'.repeat(44)}`,
      null,
      [1, 2],
    ),
  ),
);
const strOrNot = mostly(fc.string({ maxLength: 5 }), fc.constantFrom(1, null, undefined, ['a'], {}));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const withExtra = (arb: fc.Arbitrary<Record<string, unknown>>) =>
  fc
    .tuple(arb, fc.option(fc.dictionary(fc.string({ maxLength: 3 }), fc.anything(), { maxKeys: 2 })))
    .map(([rec, extra]) => (extra ? { ...extra, ...rec } : rec));
const recordOrNot = (arb: fc.Arbitrary<Record<string, unknown>>) =>
  mostly(withExtra(arb), fc.oneof(fc.anything(), fc.constantFrom(null, [], new Date(0), Object.create(null) as object)));

describe.each<[string, RecordSchema<unknown>, fc.Arbitrary<unknown>]>([
  [
    'user',
    userRecord,
    recordOrNot(
      fc.record(
        {
          id: strOrNot,
          name: strOrNot,
          roles: mostly(
            fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
            fc.oneof(fc.array(strOrNot, { maxLength: 3 }), fc.sparseArray(fc.string(), { maxLength: 3 }), fc.constant('admin')),
          ),
          email: maybe(strOrNot),
          createdAt: natOrNot,
        },
        { requiredKeys: ['id', 'name', 'roles', 'createdAt'] },
      ),
    ),
  ],
  ['userByName', userByNameRecord, anyArb],
  [
    'apiKey',
    apiKeyRecord,
    mostly(
      fc
        .tuple(strOrNot, digestOrNot, fc.oneof(fc.constant(null), natOrNot), fc.oneof(fc.constant(null), natOrNot), strOrNot, natOrNot)
        .chain((t) => fc.constantFrom<unknown[]>(t, [...t, 'extra'], t.slice(0, 5), Object.assign([...t], { note: 1 }))),
      fc.oneof(fc.anything(), fc.constantFrom(null, {}, [], new Array(6))),
    ),
  ],
  ['apiKeyOfUser', apiKeyOfUserRecord, fc.oneof(fc.constant(true), fc.anything())],
  [
    'resource',
    resourceRecord,
    recordOrNot(
      fc.record({
        value: mostly(
          fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue(), { maxKeys: 3 }), fc.constant(Object.create(null) as object)),
          fc.oneof(fc.anything(), fc.constantFrom(new Date(0), [], new Map())),
        ),
        updatedAt: natOrNot,
      }),
    ),
  ],
  ['checkpoint', checkpointRecord, recordOrNot(fc.record({ seq: natOrNot, updatedAt: natOrNot }))],
])('record schema %s', (_name, record, arb) => {
  it('its predicate accepts exactly what its zod schema accepts', () => {
    let accepted = 0;
    fc.assert(
      fc.property(arb, (value) => {
        const ok = record.ok(value);
        expect(ok).toBe(record.schema.safeParse(value).success);
        if (ok) accepted++;
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(50); // the generators do reach valid records
  });
});

describe('resource value fast path', () => {
  const zodJson = z.record(z.string(), z.json());
  const anythingArb = fc.anything({
    withNullPrototype: true,
    withBoxedValues: true,
    withMap: true,
    withSet: true,
    withDate: true,
    withTypedArray: true,
    withSparseArray: true,
    withBigInt: true,
    withObjectString: true,
    maxDepth: 4,
  });
  const objectArb = fc.oneof(
    fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 }),
    fc.dictionary(fc.string({ maxLength: 4 }), anythingArb, { maxKeys: 4 }),
    anythingArb,
    fc.constantFrom(JSON.parse('{"__proto__": {"a": 1}}') as object, Object.defineProperty({}, 'hidden', { value: () => 1, enumerable: false }), {
      [Symbol('s')]: 1,
    }),
  );

  it('accepts only what zod accepts, and zod returns it unchanged', () => {
    let accepted = 0;
    fc.assert(
      fc.property(objectArb, (value) => {
        if (!isJsonObject(value)) return;
        accepted++;
        const parsed = zodJson.safeParse(value);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(value);
        expect(JSON.stringify(parsed.data)).toBe(JSON.stringify(value)); // (a JSON round trip would turn -0 into 0)
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(500);
  });

  it('accepts ordinary JSON objects', () => {
    fc.assert(
      fc.property(
        // An own "__proto__" key at any depth is left to zod on purpose, so it is not "ordinary".
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 5 })).filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (value) => {
          expect(isJsonObject(value)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('measures nesting without recursion', () => {
    const nest = (levels: number) => {
      let v: Record<string, unknown> = { leaf: 1 };
      for (let i = 1; i < levels; i++) v = { child: v };
      return v;
    };
    expect(nestsDeeperThan(nest(64), 64)).toBe(false);
    expect(nestsDeeperThan(nest(65), 64)).toBe(true);
    expect(isJsonObject(nest(64))).toBe(true);
    expect(isJsonObject(nest(65))).toBe(false);
    expect(nestsDeeperThan(nest(200_000), 64)).toBe(true);
  });
});
