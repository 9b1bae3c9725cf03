/**
 * The typed operations of the metadata store, written once as synchronous functions over the
 * key-value interface. A {@link MetadataReader} reads the committed state; a
 * {@link MetadataTransaction} reads and writes inside one atomic transaction. The asynchronous
 * API of {@link MetadataStore} is built on these.
 */

import { TapioError } from '../errors.js';
import { generateApiKey, randomBase62, scanApiKey } from './api-key-format.js';
import type { HmacKey } from './hmac-secret.js';
import {
  PREFIX,
  apiKeyKey,
  apiKeyOfUserKey,
  apiKeysOfUserPrefix,
  checkpointKey,
  resourceKey,
  resourcesOfTypePrefix,
  foldUserName,
  userByFoldedNameKey,
  userByNameKey,
  userKey,
} from './keys.js';
import type { KvReader, KvWriter } from './kv.js';
import {
  USER_ID_LENGTH,
  apiKeyCreateInputSchema,
  apiKeyFromTuple,
  apiKeyToTuple,
  apiKeyIdArg,
  apiKeyOfUserRecord,
  apiKeyRecord,
  checkpointNameArg,
  checkpointRecord,
  checkpointSeqSchema,
  listOptionsSchema,
  METADATA_LIMITS,
  isJsonObject,
  nestsDeeperThan,
  parseArg,
  parseInput,
  parseRecord,
  resourceNameArg,
  resourceRecord,
  resourceTypeArg,
  resourceValueSchema,
  userByNameRecord,
  userCreateInputSchema,
  userCreateOptionsSchema,
  userIdArg,
  userNameArg,
  userRecord,
  type ApiKeyCreateInput,
  type ApiKeyRecord,
  type CheckpointRecord,
  type ListOptions,
  type ResourceRecord,
  type UserCreateInput,
  type UserRecord,
} from './schemas.js';

// ---------------------------------------------------------------------------------------------
// Public shapes

/** A user. `email` is present only when one was given. Times are epoch milliseconds. */
export interface User {
  id: string;
  name: string;
  roles: string[];
  email?: string;
  createdAt: number;
}

/** An API key as listed: never the key itself, never its hash. Times are epoch milliseconds. */
export interface ApiKeyInfo {
  id: string;
  userId: string;
  name: string;
  createdAt: number;
  /** After this instant the key is refused; null: never expires. */
  expiresAt: number | null;
  /** When it was revoked; null: not revoked. */
  revokedAt: number | null;
}

/** A key just created: the only time the full `key` is returned. */
export interface CreatedApiKey extends ApiKeyInfo {
  key: string;
}

/** What `users.create(input, { apiKey })` returns. */
export type UserWithApiKey = User & { apiKey: CreatedApiKey };

export interface UserCreateOptions {
  /** Also create the user's first API key, in the same transaction. */
  apiKey?: ApiKeyCreateInput;
}

export interface Resource {
  type: string;
  name: string;
  value: Record<string, unknown>;
  /** Epoch milliseconds of the last put. */
  updatedAt: number;
}

export interface Checkpoint {
  name: string;
  /** A sequence number, a non-negative safe integer. */
  seq: number;
  /** Epoch milliseconds of the last set. */
  updatedAt: number;
}

/**
 * One page of a listing. `cursor` is null on the last page; otherwise pass it back as
 * `options.cursor` to get the items strictly after this page. It is an opaque string.
 */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

// ---------------------------------------------------------------------------------------------
// Shared machinery

/** What the views work on. `kv` is replaced by a closed stand-in when the store closes. */
export interface ViewContext {
  kv: KvReader;
  readonly hmac: HmacKey;
  readonly now: () => number;
}

interface WriteContext extends ViewContext {
  kv: KvWriter;
}

function listPage<T>(kv: KvReader, prefix: string, options: ListOptions | undefined, context: string, map: (key: string, value: unknown) => T): Page<T> {
  const { limit, cursor } = parseInput(listOptionsSchema, options, 'ERR_INVALID_ARGUMENT', context, 'options');
  if (cursor != null && !cursor.startsWith(prefix)) {
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `${context}: options.cursor was not returned by this listing; pass the cursor of the previous page of the same list.`,
    );
  }
  const entries = kv.range(prefix, cursor ?? undefined, limit + 1);
  const more = entries.length > limit;
  if (more) entries.length = limit;
  return { items: entries.map((e) => map(e.key, e.value)), cursor: more ? (entries[entries.length - 1] as { key: string }).key : null };
}

function newId(length: number, isFree: (id: string) => boolean): string {
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = randomBase62(length);
    if (isFree(id)) return id;
  }
  throw new TapioError('ERR_METADATA_IO', 'Could not draw an unused random id in 8 attempts; the random source is broken.');
}

function toUser(r: UserRecord): User {
  const user: User = { id: r.id, name: r.name, roles: r.roles, createdAt: r.createdAt };
  if (r.email !== undefined) user.email = r.email;
  return user;
}

function toApiKeyInfo(r: ApiKeyRecord): ApiKeyInfo {
  return {
    id: r.id,
    userId: r.userId,
    name: r.name,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
  };
}

function readUser(kv: KvReader, id: string): UserRecord | undefined {
  const key = userKey(id);
  const raw = kv.get(key);
  return raw === undefined ? undefined : parseRecord(userRecord, raw, key);
}

function readApiKey(kv: KvReader, id: string): ApiKeyRecord | undefined {
  const key = apiKeyKey(id);
  const raw = kv.get(key);
  return raw === undefined ? undefined : apiKeyFromTuple(id, parseRecord(apiKeyRecord, raw, key));
}

function writeApiKey(kv: KvWriter, record: ApiKeyRecord): void {
  kv.put(apiKeyKey(record.id), apiKeyToTuple(record));
}

// ---------------------------------------------------------------------------------------------
// Users

export class UserReader {
  protected readonly ctx: ViewContext;

  constructor(ctx: ViewContext) {
    this.ctx = ctx;
  }

  /** The user with this id, or null. */
  get(id: string): User | null {
    parseArg(userIdArg, id, 'users.get', 'id');
    const record = readUser(this.ctx.kv, id);
    return record === undefined ? null : toUser(record);
  }

  /**
   * The user with exactly this name, or else the one whose name is this one ignoring case (names
   * are unique ignoring case; see foldUserName), or null.
   */
  getByName(name: string): User | null {
    parseArg(userNameArg, name, 'users.getByName', 'name');
    const exact = this.#byIndex(userByNameKey(name), (r) => r.name === name);
    return exact ?? this.#byIndex(userByFoldedNameKey(name), (r) => foldUserName(r.name) === foldUserName(name));
  }

  #byIndex(indexKey: string, matches: (record: UserRecord) => boolean): User | null {
    const raw = this.ctx.kv.get(indexKey);
    if (raw === undefined) return null;
    const id = parseRecord(userByNameRecord, raw, indexKey);
    const record = readUser(this.ctx.kv, id);
    if (record === undefined || !matches(record)) {
      throw new TapioError('ERR_METADATA_CORRUPT', `Metadata index '${indexKey}' points to user ${id}, which does not exist or has another name.`, {
        details: { key: indexKey },
      });
    }
    return toUser(record);
  }

  /** Users in id order. */
  list(options?: ListOptions): Page<User> {
    return listPage(this.ctx.kv, PREFIX.users, options, 'users.list', (key, value) => toUser(parseRecord(userRecord, value, key)));
  }
}

export class UserWriter extends UserReader {
  declare protected readonly ctx: WriteContext;
  readonly #apiKeys: ApiKeyWriter;

  constructor(ctx: WriteContext, apiKeys: ApiKeyWriter) {
    super(ctx);
    this.#apiKeys = apiKeys;
  }

  /**
   * Creates a user with a unique name, and its first API key when `options.apiKey` is given.
   *
   * @throws ERR_VALIDATION (bad input), ERR_ALREADY_EXISTS (the name is taken)
   */
  create(input: UserCreateInput): User;
  create(input: UserCreateInput, options: UserCreateOptions & { apiKey: ApiKeyCreateInput }): UserWithApiKey;
  create(input: UserCreateInput, options?: UserCreateOptions): User | UserWithApiKey;
  create(input: UserCreateInput, options?: UserCreateOptions): User | UserWithApiKey {
    const data = parseInput(userCreateInputSchema, input, 'ERR_VALIDATION', 'users.create');
    const opts = parseInput(userCreateOptionsSchema, options, 'ERR_VALIDATION', 'users.create', 'options');
    const kv = this.ctx.kv;
    const nameKey = userByNameKey(data.name);
    const foldedKey = userByFoldedNameKey(data.name);
    // The exact index too: a store may hold names indexed before the folded index existed.
    const takenBy = kv.get(nameKey) ?? kv.get(foldedKey);
    if (takenBy !== undefined) {
      const holder = typeof takenBy === 'string' ? readUser(kv, takenBy) : undefined;
      const same = holder === undefined || holder.name === data.name ? '' : ` as '${holder.name}' (names are unique ignoring case)`;
      throw new TapioError(
        'ERR_ALREADY_EXISTS',
        `users.create: a user named '${data.name}' already exists${same} (id ${String(takenBy)}). Use it, or choose another name.`,
        {
          details: { name: data.name },
        },
      );
    }
    const id = newId(USER_ID_LENGTH, (candidate) => kv.get(userKey(candidate)) === undefined);
    const record: UserRecord = { id, name: data.name, roles: data.roles, createdAt: this.ctx.now() };
    if (data.email !== undefined) record.email = data.email;
    kv.put(userKey(id), record);
    kv.put(nameKey, id);
    kv.put(foldedKey, id);
    const user = toUser(record);
    if (opts?.apiKey === undefined) return user;
    return { ...user, apiKey: this.#apiKeys.create(id, opts.apiKey) };
  }

  /**
   * Deletes a user and revokes every API key it has, atomically. False when there was no such user.
   */
  delete(id: string): boolean {
    parseArg(userIdArg, id, 'users.delete', 'id');
    const kv = this.ctx.kv;
    const record = readUser(kv, id);
    if (record === undefined) return false;
    kv.remove(userKey(id));
    const nameKey = userByNameKey(record.name);
    if (kv.get(nameKey) === id) kv.remove(nameKey);
    const foldedKey = userByFoldedNameKey(record.name);
    if (kv.get(foldedKey) === id) kv.remove(foldedKey);
    const now = this.ctx.now();
    const prefix = apiKeysOfUserPrefix(id);
    let after: string | undefined;
    for (;;) {
      const batch = kv.range(prefix, after, 256);
      for (const { key } of batch) {
        const keyId = key.slice(prefix.length);
        const apiKey = readApiKey(kv, keyId);
        if (apiKey !== undefined && apiKey.revokedAt === null) writeApiKey(kv, { ...apiKey, revokedAt: now });
      }
      if (batch.length < 256) break;
      after = (batch[batch.length - 1] as { key: string }).key;
    }
    return true;
  }
}

/**
 * Fills the folded-name index (users_by_folded_name:) from the users of a store written before
 * it existed, in one transaction: each user whose folded name is free gets an entry, in id
 * order. Users whose names differ only in case keep their exact-name entries, so each is still
 * found by its exact name. Returns how many entries were written.
 */
export function indexFoldedUserNames(kv: KvWriter): number {
  let written = 0;
  let after: string | undefined;
  for (;;) {
    const batch = kv.range(PREFIX.users, after, 256);
    for (const { key, value } of batch) {
      const record = parseRecord(userRecord, value, key);
      const foldedKey = userByFoldedNameKey(record.name);
      if (kv.get(foldedKey) !== undefined) continue;
      kv.put(foldedKey, record.id);
      written++;
    }
    if (batch.length < 256) return written;
    after = (batch[batch.length - 1] as { key: string }).key;
  }
}

/** True when the store has users but no folded-name index: it was written before the index existed. */
export function needsFoldedUserNameIndex(kv: KvReader): boolean {
  return kv.range(PREFIX.users, undefined, 1).length > 0 && kv.range(PREFIX.usersByFoldedName, undefined, 1).length === 0;
}

// ---------------------------------------------------------------------------------------------
// API keys

export class ApiKeyReader {
  protected readonly ctx: ViewContext;

  constructor(ctx: ViewContext) {
    this.ctx = ctx;
  }

  /** The key's record (without secret or hash), or null. */
  get(id: string): ApiKeyInfo | null {
    parseArg(apiKeyIdArg, id, 'apiKeys.get', 'id');
    const record = readApiKey(this.ctx.kv, id);
    return record === undefined ? null : toApiKeyInfo(record);
  }

  /**
   * Keys in id order: all of them, or those of one user (revoked ones included, with revokedAt).
   * `list(options)` is accepted as `list(undefined, options)`.
   */
  list(userId?: string | null, options?: ListOptions): Page<ApiKeyInfo>;
  list(options: ListOptions): Page<ApiKeyInfo>;
  list(userIdOrOptions?: string | null | ListOptions, options?: ListOptions): Page<ApiKeyInfo> {
    const kv = this.ctx.kv;
    if (userIdOrOptions !== null && typeof userIdOrOptions === 'object') {
      options = userIdOrOptions;
      userIdOrOptions = undefined;
    }
    if (userIdOrOptions == null) {
      return listPage(kv, PREFIX.apiKeys, options, 'apiKeys.list', (key, value) =>
        toApiKeyInfo(apiKeyFromTuple(key.slice(PREFIX.apiKeys.length), parseRecord(apiKeyRecord, value, key))),
      );
    }
    const userId = parseArg(userIdArg, userIdOrOptions, 'apiKeys.list', 'userId');
    const prefix = apiKeysOfUserPrefix(userId);
    return listPage(kv, prefix, options, 'apiKeys.list', (key, value) => {
      parseRecord(apiKeyOfUserRecord, value, key);
      const keyId = key.slice(prefix.length);
      const record = readApiKey(kv, keyId);
      if (record === undefined || record.userId !== userId) {
        throw new TapioError('ERR_METADATA_CORRUPT', `Metadata index '${key}' points to API key ${keyId}, which does not exist or belongs to another user.`, {
          details: { key },
        });
      }
      return toApiKeyInfo(record);
    });
  }

  /**
   * The id of the user the key belongs to, or null when the key is malformed, unknown, revoked,
   * expired or wrong. A malformed key is refused before any lookup; the stored HMAC is compared
   * in constant time.
   */
  verify(key: string): string | null {
    const parsed = scanApiKey(key);
    if (parsed === null) return null;
    const recordKey = apiKeyKey(parsed.keyId);
    const raw = this.ctx.kv.get(recordKey);
    if (raw === undefined) return null;
    // The stored tuple is read in place: [userId, hash, expiresAt, revokedAt, name, createdAt].
    const t = apiKeyRecord.ok(raw) ? raw : parseRecord(apiKeyRecord, raw, recordKey);
    if (t[3] !== null) return null;
    if (t[2] !== null && t[2] <= this.ctx.now()) return null;
    return this.ctx.hmac.verifyBase64(parsed.body, t[1]) ? t[0] : null;
  }
}

export class ApiKeyWriter extends ApiKeyReader {
  declare protected readonly ctx: WriteContext;

  /**
   * Creates a key for an existing user. The returned `key` is shown only here: only an HMAC of it is stored.
   *
   * @throws ERR_INVALID_ARGUMENT (bad userId), ERR_VALIDATION (bad input, expiresAt not in the future), ERR_NOT_FOUND (no such user)
   */
  create(userId: string, input: ApiKeyCreateInput): CreatedApiKey {
    parseArg(userIdArg, userId, 'apiKeys.create', 'userId');
    const data = parseInput(apiKeyCreateInputSchema, input, 'ERR_VALIDATION', 'apiKeys.create');
    const kv = this.ctx.kv;
    const now = this.ctx.now();
    const expiresAt = data.expiresAt ?? null;
    if (expiresAt !== null && expiresAt <= now) {
      throw new TapioError(
        'ERR_VALIDATION',
        `apiKeys.create: expiresAt must be in the future (it is ${new Date(expiresAt).toISOString()}). Nothing stored was changed.`,
        {
          details: { issues: [{ path: 'expiresAt', message: 'must be in the future' }] },
        },
      );
    }
    if (readUser(kv, userId) === undefined) {
      throw new TapioError('ERR_NOT_FOUND', `apiKeys.create: there is no user with id ${userId}.`, { details: { userId } });
    }
    let generated = generateApiKey();
    for (let attempt = 0; kv.get(apiKeyKey(generated.keyId)) !== undefined; attempt++) {
      if (attempt === 8) throw new TapioError('ERR_METADATA_IO', 'Could not draw an unused API key id in 8 attempts; the random source is broken.');
      generated = generateApiKey();
    }
    const record: ApiKeyRecord = {
      id: generated.keyId,
      userId,
      name: data.name,
      hash: this.ctx.hmac.digestBase64(generated.body),
      createdAt: now,
      expiresAt,
      revokedAt: null,
    };
    writeApiKey(kv, record);
    kv.put(apiKeyOfUserKey(userId, record.id), true);
    // Built whole rather than spread from toApiKeyInfo: a burst's results live until its caller is done.
    return { id: record.id, userId, name: record.name, createdAt: now, expiresAt, revokedAt: null, key: generated.key };
  }

  /**
   * Revokes a key: once the transaction that does this commits, verify refuses the key.
   * Revoking a revoked key changes nothing and returns it as it is.
   *
   * @throws ERR_NOT_FOUND (no such key)
   */
  revoke(id: string): ApiKeyInfo {
    parseArg(apiKeyIdArg, id, 'apiKeys.revoke', 'id');
    const kv = this.ctx.kv;
    const record = readApiKey(kv, id);
    if (record === undefined) throw new TapioError('ERR_NOT_FOUND', `apiKeys.revoke: there is no API key with id ${id}.`, { details: { id } });
    if (record.revokedAt !== null) return toApiKeyInfo(record);
    const revoked: ApiKeyRecord = { ...record, revokedAt: this.ctx.now() };
    writeApiKey(kv, revoked);
    return toApiKeyInfo(revoked);
  }
}

// ---------------------------------------------------------------------------------------------
// Resources

/** A validated resource put: the key, what to store, and what to return. */
export function prepareResourcePut(
  type: string,
  name: string,
  value: Record<string, unknown>,
  now: number,
): { key: string; record: ResourceRecord; resource: Resource } {
  if (!resourceTypeArg.ok(type)) parseArg(resourceTypeArg, type, 'resources.put', 'type');
  if (!resourceNameArg.ok(name)) parseArg(resourceNameArg, name, 'resources.put', 'name');
  let checked: Record<string, unknown>;
  if (isJsonObject(value)) {
    // Plain JSON (the common case): zod would accept it and return it unchanged; only the size is left.
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > METADATA_LIMITS.resourceValueBytes) checked = parseInput(resourceValueSchema, value, 'ERR_VALIDATION', 'resources.put', 'value');
    else checked = value;
  } else {
    if (nestsDeeperThan(value, METADATA_LIMITS.resourceValueDepth)) {
      throw new TapioError(
        'ERR_VALIDATION',
        `resources.put: value: must not nest objects and arrays more than ${METADATA_LIMITS.resourceValueDepth} levels deep. Nothing stored was changed.`,
        {
          details: { issues: [{ path: 'value', message: `nested more than ${METADATA_LIMITS.resourceValueDepth} levels` }] },
        },
      );
    }
    checked = parseInput(resourceValueSchema, value, 'ERR_VALIDATION', 'resources.put', 'value');
  }
  // The value is encoded when the put is queued, so later changes to the caller's object do not reach the store.
  const record: ResourceRecord = { value: checked, updatedAt: now };
  return { key: resourceKey(type, name), record, resource: { type, name, value: checked, updatedAt: now } };
}

export function resourceKeyOf(type: string, name: string, context: string): string {
  parseArg(resourceTypeArg, type, context, 'type');
  parseArg(resourceNameArg, name, context, 'name');
  return resourceKey(type, name);
}

export class ResourceReader {
  protected readonly ctx: ViewContext;

  constructor(ctx: ViewContext) {
    this.ctx = ctx;
  }

  #lastType = '';

  /** The resource, or null. */
  get(type: string, name: string): Resource | null {
    // A hot path: the predicates are called directly (monomorphic, inlined), zod only on refusal,
    // and the last type that passed is remembered (callers read many names of one type).
    if (type !== this.#lastType) {
      if (!resourceTypeArg.ok(type)) parseArg(resourceTypeArg, type, 'resources.get', 'type');
      this.#lastType = type;
    }
    if (!resourceNameArg.ok(name)) parseArg(resourceNameArg, name, 'resources.get', 'name');
    const key = resourceKey(type, name);
    const raw = this.ctx.kv.get(key);
    if (raw === undefined) return null;
    const record = resourceRecord.ok(raw) ? raw : parseRecord(resourceRecord, raw, key);
    return { type, name, value: record.value, updatedAt: record.updatedAt };
  }

  /** Resources of one type, in name order (UTF-8 byte order). */
  list(type: string, options?: ListOptions): Page<Resource> {
    parseArg(resourceTypeArg, type, 'resources.list', 'type');
    const prefix = resourcesOfTypePrefix(type);
    return listPage(this.ctx.kv, prefix, options, 'resources.list', (key, value) => {
      const record = parseRecord(resourceRecord, value, key);
      return { type, name: key.slice(prefix.length), value: record.value, updatedAt: record.updatedAt };
    });
  }
}

export class ResourceWriter extends ResourceReader {
  declare protected readonly ctx: WriteContext;

  /** Creates or replaces a resource. */
  put(type: string, name: string, value: Record<string, unknown>): Resource {
    const { key, record, resource } = prepareResourcePut(type, name, value, this.ctx.now());
    this.ctx.kv.put(key, record);
    return resource;
  }

  /** False when there was no such resource. */
  delete(type: string, name: string): boolean {
    return this.ctx.kv.remove(resourceKeyOf(type, name, 'resources.delete'));
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export function prepareCheckpointSet(name: string, seq: number | bigint, now: number): { key: string; record: CheckpointRecord; checkpoint: Checkpoint } {
  parseArg(checkpointNameArg, name, 'checkpoints.set', 'name');
  const value = parseInput(checkpointSeqSchema, seq, 'ERR_VALIDATION', 'checkpoints.set', 'seq');
  return { key: checkpointKey(name), record: { seq: value, updatedAt: now }, checkpoint: { name, seq: value, updatedAt: now } };
}

export function checkpointKeyOf(name: string, context: string): string {
  parseArg(checkpointNameArg, name, context, 'name');
  return checkpointKey(name);
}

export class CheckpointReader {
  protected readonly ctx: ViewContext;

  constructor(ctx: ViewContext) {
    this.ctx = ctx;
  }

  /** The checkpoint, or null. */
  get(name: string): Checkpoint | null {
    if (!checkpointNameArg.ok(name)) parseArg(checkpointNameArg, name, 'checkpoints.get', 'name');
    const key = checkpointKey(name);
    const raw = this.ctx.kv.get(key);
    if (raw === undefined) return null;
    const record = checkpointRecord.ok(raw) ? raw : parseRecord(checkpointRecord, raw, key);
    return { name, seq: record.seq, updatedAt: record.updatedAt };
  }

  /** Checkpoints in name order. */
  list(options?: ListOptions): Page<Checkpoint> {
    return listPage(this.ctx.kv, PREFIX.checkpoints, options, 'checkpoints.list', (key, value) => {
      const record = parseRecord(checkpointRecord, value, key);
      return { name: key.slice(PREFIX.checkpoints.length), seq: record.seq, updatedAt: record.updatedAt };
    });
  }
}

export class CheckpointWriter extends CheckpointReader {
  declare protected readonly ctx: WriteContext;

  /** Sets (creates or moves) a checkpoint. */
  set(name: string, seq: number | bigint): Checkpoint {
    const { key, record, checkpoint } = prepareCheckpointSet(name, seq, this.ctx.now());
    this.ctx.kv.put(key, record);
    return checkpoint;
  }

  /** False when there was no such checkpoint. */
  delete(name: string): boolean {
    return this.ctx.kv.remove(checkpointKeyOf(name, 'checkpoints.delete'));
  }
}

// ---------------------------------------------------------------------------------------------
// Aggregates

/** Synchronous reads of the committed state, from `store.read(fn)`. */
export class MetadataReader {
  readonly users: UserReader;
  readonly apiKeys: ApiKeyReader;
  readonly resources: ResourceReader;
  readonly checkpoints: CheckpointReader;

  constructor(ctx: ViewContext) {
    this.users = new UserReader(ctx);
    this.apiKeys = new ApiKeyReader(ctx);
    this.resources = new ResourceReader(ctx);
    this.checkpoints = new CheckpointReader(ctx);
  }
}

/** Reads and writes inside one atomic transaction, from `store.transaction(fn)`. */
export class MetadataTransaction {
  readonly users: UserWriter;
  readonly apiKeys: ApiKeyWriter;
  readonly resources: ResourceWriter;
  readonly checkpoints: CheckpointWriter;

  constructor(ctx: ViewContext & { kv: KvWriter }) {
    this.apiKeys = new ApiKeyWriter(ctx);
    this.users = new UserWriter(ctx, this.apiKeys);
    this.resources = new ResourceWriter(ctx);
    this.checkpoints = new CheckpointWriter(ctx);
  }
}
