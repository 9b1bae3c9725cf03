/**
 * zod schemas of the metadata store: what callers may pass (inputs) and what a stored value must
 * look like when it is read back (records). Times are stored as epoch milliseconds.
 */

import { z } from 'zod';
import { TapioError, type TapioErrorCode } from '../errors.js';
import { textOk } from '../text-check.js';
import { KEY_ID_LENGTH } from './api-key-format.js';

// ---------------------------------------------------------------------------------------------
// Limits

export const METADATA_LIMITS = {
  userName: 128,
  role: 64,
  roles: 64,
  email: 254,
  apiKeyName: 128,
  resourceType: 64,
  resourceName: 253,
  /** Bytes of the resource value as JSON. */
  resourceValueBytes: 1024 * 1024,
  /** Levels of nested objects and arrays in a resource value, the value itself being level 1. */
  resourceValueDepth: 64,
  checkpointName: 256,
  listLimit: 1000,
  defaultListLimit: 100,
  cursor: 4096,
} as const;

export const USER_ID_LENGTH = 16;

// ---------------------------------------------------------------------------------------------
// Building blocks

// Control characters are refused in every key part: lmdb's key encoding escapes some of them in
// short strings only, which would make the two backends order keys differently.
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * An argument schema with a predicate that accepts exactly what the schema accepts. Calls check
 * the predicate first (tens of nanoseconds) and run the zod schema only to describe a refusal;
 * a test checks on random inputs that the two agree.
 */
export interface ArgSchema<T> {
  schema: z.ZodType<T>;
  ok: (value: unknown) => value is T;
}

/** A non-empty text field of at most `max` characters, usable as part of a key. */
function keyText(max: number, options: { noColon?: boolean } = {}): ArgSchema<string> {
  let schema = z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `must be at most ${max} characters` })
    .regex(NO_CONTROL, { error: 'must not contain control characters' })
    .refine((s) => !LONE_SURROGATE.test(s), { error: 'must not contain unpaired UTF-16 surrogates' });
  if (options.noColon) schema = schema.refine((s) => !s.includes(':'), { error: "must not contain ':'" });
  const noColon = options.noColon === true;
  return { schema, ok: (v): v is string => textOk(v, max, noColon) };
}

function base62Id(length: number): ArgSchema<string> {
  const re = new RegExp(`^[0-9A-Za-z]{${length}}$`);
  return {
    schema: z.string().regex(re, { error: `must be a ${length}-character id of letters and digits` }),
    ok: (v): v is string => typeof v === 'string' && re.test(v),
  };
}

export const userIdArg = base62Id(USER_ID_LENGTH);
export const apiKeyIdArg = base62Id(KEY_ID_LENGTH);
export const userIdSchema = userIdArg.schema;
export const apiKeyIdSchema = apiKeyIdArg.schema;

const epochMs = z.int().min(0);
const bytes32 = z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === 32, { error: 'must be 32 bytes' });

/** A point in time given as a Date or as epoch milliseconds; yields epoch milliseconds. */
const timestampInput = z
  .custom<Date | number>(
    (v) => (v instanceof Date && Number.isFinite(v.getTime()) && v.getTime() >= 0) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
    { error: 'must be a valid Date or epoch milliseconds (a non-negative integer)' },
  )
  .transform((v) => (v instanceof Date ? v.getTime() : v));

// ---------------------------------------------------------------------------------------------
// Inputs

export const userNameArg = keyText(METADATA_LIMITS.userName);

export const userCreateInputSchema = z.strictObject({
  // Names stored before this rule may have such spaces; they are still found, as given.
  name: userNameArg.schema.refine((s) => s.trim() === s, { error: 'must not start or end with white space' }),
  roles: z
    .array(
      z
        .string()
        .min(1, { error: 'must not be empty' })
        .max(METADATA_LIMITS.role, { error: `must be at most ${METADATA_LIMITS.role} characters` })
        .regex(/^[A-Za-z0-9_.:-]+$/, { error: 'must use only letters, digits and _ . : -' }),
    )
    .max(METADATA_LIMITS.roles, { error: `must have at most ${METADATA_LIMITS.roles} roles` })
    .refine((roles) => new Set(roles).size === roles.length, { error: 'must not repeat a role' })
    .default([]),
  email: z.email({ error: 'must be an email address' }).max(METADATA_LIMITS.email).optional(),
});
export type UserCreateInput = z.input<typeof userCreateInputSchema>;

export const apiKeyCreateInputSchema = z.strictObject({
  name: keyText(METADATA_LIMITS.apiKeyName).schema,
  expiresAt: timestampInput.nullable().optional(),
});
export type ApiKeyCreateInput = z.input<typeof apiKeyCreateInputSchema>;

export const userCreateOptionsSchema = z
  .strictObject({
    apiKey: apiKeyCreateInputSchema.optional(),
  })
  .optional();

export const listOptionsSchema = z
  .strictObject({
    limit: z
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be at least 1' })
      .max(METADATA_LIMITS.listLimit, { error: `must be at most ${METADATA_LIMITS.listLimit}` })
      .default(METADATA_LIMITS.defaultListLimit),
    cursor: z.string().max(METADATA_LIMITS.cursor).nullable().optional(),
  })
  .default({ limit: METADATA_LIMITS.defaultListLimit });
/** Paging of every list call: at most `limit` items (1..1000, default 100), starting after `cursor`. */
export type ListOptions = z.input<typeof listOptionsSchema>;

export const resourceTypeArg = keyText(METADATA_LIMITS.resourceType, { noColon: true });
export const resourceNameArg = keyText(METADATA_LIMITS.resourceName);
/** The JSON schema of a resource value: a plain object of JSON values, at most 1 MiB as JSON. */
export const resourceValueSchema = z.record(z.string(), z.json()).superRefine((value, ctx) => {
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > METADATA_LIMITS.resourceValueBytes) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${METADATA_LIMITS.resourceValueBytes} bytes as JSON, it is ${bytes}` });
  }
});

/**
 * A fast, sound test for resource values: true only for plain objects of plain JSON values
 * (finite numbers, strings, booleans, null, arrays without holes, objects with the ordinary or
 * a null prototype and only enumerable string keys), nested at most `maxDepth` levels. Every
 * value it accepts, resourceValueSchema's JSON part accepts too and returns unchanged (a test
 * checks both), so an accepted value is stored as given; anything else goes to zod, which has
 * the final word. Unlike exact predicates elsewhere, this one may refuse what zod would accept.
 */
export function isJsonObject(v: unknown, depth = 0): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || depth >= METADATA_LIMITS.resourceValueDepth) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(v);
  if (keys.length !== Reflect.ownKeys(v).length) return false; // symbol or non-enumerable keys: let zod decide
  for (const key of keys) {
    if (key === '__proto__' || !isJsonValue((v as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

function isJsonValue(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      if (v === null) return true;
      if (!Array.isArray(v)) return isJsonObject(v, depth);
      if (depth >= METADATA_LIMITS.resourceValueDepth || Object.getPrototypeOf(v) !== Array.prototype) return false;
      for (let i = 0; i < v.length; i++) if (!isJsonValue(v[i], depth + 1)) return false;
      return true;
    default:
      return false;
  }
}

/** True when `v` nests objects or arrays deeper than `max` levels (checked without recursion). */
export function nestsDeeperThan(v: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null || seen.has(item)) continue;
    if (depth >= max) return true;
    seen.add(item);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

export const checkpointNameArg = keyText(METADATA_LIMITS.checkpointName);
const MAX_SEQ = BigInt(Number.MAX_SAFE_INTEGER);
export const checkpointSeqSchema = z
  .custom<number | bigint>((v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n && v <= MAX_SEQ), {
    error: `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER} (a number or a bigint)`,
  })
  .transform((v) => Number(v));

// ---------------------------------------------------------------------------------------------
// Stored records

export const FORMAT_KIND = 'tapio-metadata';
export const FORMAT_VERSION = 1;

/** Read first, loosely, so another version is told apart from damage. */
export const formatHeaderSchema = z.looseObject({ kind: z.string(), version: z.int() });
export const formatRecordSchema = z.strictObject({
  kind: z.literal(FORMAT_KIND),
  version: z.literal(FORMAT_VERSION),
  compression: z.boolean(),
  secretCheck: bytes32,
  createdAt: epochMs,
});
export type FormatRecord = z.output<typeof formatRecordSchema>;
/** Read once per open: zod alone. */
export const formatRecord: RecordSchema<FormatRecord> = { schema: formatRecordSchema, ok: (_v): _v is FormatRecord => false };

// Every value read from the store is checked against its record schema. Like arguments, each
// record schema pairs a zod schema (the specification, which also describes a refusal) with a
// predicate that accepts exactly the same values and runs first: a read then costs a few
// property checks instead of zod's copy of the record. A test checks on random values that the
// two agree. Unknown extra fields are tolerated (and stripped by zod) in both.

/** A stored record's schema: `ok` decides, `schema` describes a refusal. */
export interface RecordSchema<T> {
  schema: z.ZodType<T>;
  ok: (value: unknown) => value is T;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  isObject(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;
const BASE64_CHAR = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_CHAR[ch.charCodeAt(0)] = 1;
/** Whether `v` matches BASE64_32 (a loop over a lookup table: cheaper than the regex). */
function isBase64Digest(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 44 || v.charCodeAt(43) !== 0x3d) return false;
  for (let i = 0; i < 43; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || BASE64_CHAR[c] === 0) return false;
  }
  return true;
}
function isStringArray(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false; // holes count, as in zod
  return true;
}

const nat = z.int().min(0);
const plainObject = z.custom<Record<string, unknown>>(isPlainObject, { error: 'must be a plain object' });

export const userRecord: RecordSchema<UserRecord> = {
  schema: z.object({
    id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    email: z.string().optional(),
    createdAt: nat,
  }),
  ok: (v): v is UserRecord =>
    isObject(v) &&
    typeof v.id === 'string' &&
    typeof v.name === 'string' &&
    isStringArray(v.roles) &&
    (v.email === undefined || typeof v.email === 'string') &&
    isNat(v.createdAt),
};
export interface UserRecord {
  id: string;
  name: string;
  roles: string[];
  email?: string | undefined;
  createdAt: number;
}

export const userByNameRecord: RecordSchema<string> = {
  schema: z.string(),
  ok: (v): v is string => typeof v === 'string',
};

/** An API key's record as the code uses it. */
export interface ApiKeyRecord {
  id: string;
  userId: string;
  name: string;
  /** HMAC-SHA256 of the key body under the store secret, base64. */
  hash: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

/**
 * An API key's record as stored at `api_keys:{keyId}`: a tuple
 * `[userId, hash, expiresAt, revokedAt, name, createdAt]` (the id is the key's suffix). A
 * MessagePack array decodes in about half the time of the same fields as a map, and every
 * verification decodes one.
 */
export type ApiKeyTuple = [userId: string, hash: string, expiresAt: number | null, revokedAt: number | null, name: string, createdAt: number];
export const apiKeyRecord: RecordSchema<ApiKeyTuple> = {
  schema: z.tuple([
    z.string(),
    z.string().regex(BASE64_32, { error: 'must be a base64 SHA-256 digest (44 characters)' }),
    nat.nullable(),
    nat.nullable(),
    z.string(),
    nat,
  ]),
  ok: (v): v is ApiKeyTuple =>
    Array.isArray(v) &&
    v.length === 6 &&
    typeof v[0] === 'string' &&
    isBase64Digest(v[1]) &&
    (v[2] === null || isNat(v[2])) &&
    (v[3] === null || isNat(v[3])) &&
    typeof v[4] === 'string' &&
    isNat(v[5]),
};

export function apiKeyToTuple(r: ApiKeyRecord): ApiKeyTuple {
  return [r.userId, r.hash, r.expiresAt, r.revokedAt, r.name, r.createdAt];
}

export function apiKeyFromTuple(id: string, t: ApiKeyTuple): ApiKeyRecord {
  return { id, userId: t[0], hash: t[1], expiresAt: t[2], revokedAt: t[3], name: t[4], createdAt: t[5] };
}

export const apiKeyOfUserRecord: RecordSchema<true> = {
  schema: z.literal(true),
  ok: (v): v is true => v === true,
};

export interface ResourceRecord {
  value: Record<string, unknown>;
  updatedAt: number;
}
export const resourceRecord: RecordSchema<ResourceRecord> = {
  schema: z.object({ value: plainObject, updatedAt: nat }),
  ok: (v): v is ResourceRecord => isObject(v) && isPlainObject(v.value) && isNat(v.updatedAt),
};

export interface CheckpointRecord {
  seq: number;
  updatedAt: number;
}
export const checkpointRecord: RecordSchema<CheckpointRecord> = {
  schema: z.object({ seq: nat, updatedAt: nat }),
  ok: (v): v is CheckpointRecord => isObject(v) && isNat(v.seq) && isNat(v.updatedAt),
};

// ---------------------------------------------------------------------------------------------
// Turning zod results into TapioErrors

interface Issue {
  path: string;
  message: string;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], root: string | undefined): Issue[] {
  return issues.map((issue) => {
    const path = [...(root === undefined ? [] : [root]), ...issue.path.map(String)].join('.');
    const message =
      issue.code === 'invalid_union' && issue.message === 'Invalid input'
        ? 'must be a JSON value (string, finite number, boolean, null, array or plain object)'
        : issue.message;
    return { path, message };
  });
}

/**
 * `value` parsed by `schema`, or a TapioError with `code` whose message starts with `context`
 * (the call, e.g. 'users.create') and names each offending field. `field` names a positional
 * argument.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, code: TapioErrorCode, context: string, field?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = describeIssues(result.error.issues, field);
  const text = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  return throwError(new TapioError(code, `${context}: ${text}. Nothing stored was changed.`, { details: { issues } }));
}

/** An argument that must pass `arg`: the predicate decides, zod describes a refusal (ERR_INVALID_ARGUMENT). */
export function parseArg<T>(arg: ArgSchema<T>, value: unknown, context: string, field: string): T {
  if (arg.ok(value)) return value;
  return parseInput(arg.schema, value, 'ERR_INVALID_ARGUMENT', context, field);
}

/** A value read from the store, checked against its schema; damage is ERR_METADATA_CORRUPT. */
export function parseRecord<T>(record: RecordSchema<T>, value: unknown, key: string): T {
  if (record.ok(value)) return value;
  const result = record.schema.safeParse(value);
  if (result.success) return result.data;
  const issues = describeIssues(result.error.issues, undefined);
  const text = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  return throwError(
    new TapioError('ERR_METADATA_CORRUPT', `Metadata record '${key}' does not match its schema (${text}); it is damaged or was not written by tapio-storage.`, {
      details: { key, issues },
    }),
  );
}

function throwError(err: TapioError): never {
  throw err;
}
