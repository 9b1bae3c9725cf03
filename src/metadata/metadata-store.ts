/**
 * The metadata store: users, API keys, resource metadata and consumer checkpoints, in lmdb (or
 * in memory), behind typed, validated, asynchronous APIs.
 */

import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { TapioError } from '../errors.js';
import { DEFAULT_SECRET_FILE, fsyncDirectory, prepareMetadataDir, removeCreatedLockFile, type PreparedDir } from './data-dir.js';
import { HmacKey, createSecretFile, readSecretFile } from './hmac-secret.js';
import { FORMAT_KEY, PREFIX } from './keys.js';
import type { KvReader, KvStore, KvWriter } from './kv.js';
import { openLmdbKv } from './kv-lmdb.js';
import { openMemoryKv } from './kv-memory.js';
import {
  FORMAT_KIND,
  FORMAT_VERSION,
  formatHeaderSchema,
  formatRecord,
  parseInput,
  parseRecord,
  type ApiKeyCreateInput,
  type FormatRecord,
  type ListOptions,
  type UserCreateInput,
} from './schemas.js';
import { hookedWriter, registerKv, timeOf, writeHookOf } from './test-hooks.js';
import { TurnBudget } from './turn-budget.js';
import {
  MetadataReader,
  MetadataTransaction,
  checkpointKeyOf,
  indexFoldedUserNames,
  needsFoldedUserNameIndex,
  prepareCheckpointSet,
  prepareResourcePut,
  resourceKeyOf,
  type ApiKeyInfo,
  type Checkpoint,
  type CreatedApiKey,
  type Page,
  type Resource,
  type User,
  type UserCreateOptions,
  type UserWithApiKey,
  type ViewContext,
} from './views.js';

/**
 * The metadata section of the configuration, as resolved by the configuration module.
 * `type: 'badger'` names the role (this project's lmdb store).
 */
export interface MetadataConfig {
  type: 'badger';
  /** Absolute path of the metadata directory. */
  path: string;
  /** Keep everything in memory; nothing is read from or written to `path`. */
  in_memory: boolean;
  /** lmdb LZ4 compression of values of 1000 bytes and more. Fixed when the store is created. */
  compression: boolean;
}

export interface MetadataOpenOptions {
  /** Where the HMAC secret file lives; default `<path>/hmac.key`. Ignored when in_memory. */
  secretPath?: string;
  /**
   * Create the store when `path` holds none (default true). With false, a missing directory or
   * one without data.mdb is refused with ERR_NO_STORE and nothing is created. Ignored when in_memory.
   */
  create?: boolean;
}

/** What an open store is. */
export interface MetadataStoreInfo {
  inMemory: boolean;
  /** The directory, or null when in memory. */
  path: string | null;
  /** The secret file, or null when in memory. */
  secretPath: string | null;
  /** Whether values are compressed: the setting the store was created with. */
  compression: boolean;
  formatVersion: number;
}

const configSchema = z.object({
  type: z.literal('badger', { error: "must be 'badger'" }),
  path: z.string().min(1, { error: 'must not be empty' }).refine(isAbsolute, { error: 'must be an absolute path' }),
  in_memory: z.boolean(),
  compression: z.boolean(),
});

const openOptionsSchema = z
  .strictObject({
    secretPath: z.string().min(1).refine(isAbsolute, { error: 'must be an absolute path' }).optional(),
    create: z.boolean().optional(),
  })
  .default({});

/** Reads that fail after close(). */
const closedKv: KvReader = {
  get: () => {
    throw closedError();
  },
  range: () => {
    throw closedError();
  },
};

function closedError(): TapioError {
  return new TapioError('ERR_CLOSED', 'The metadata store is closed; open it again to use it.');
}

/** @internal What the sub-APIs share with the store; not exported from the package. */
export class StoreCore {
  readonly kv: KvStore;
  readonly ctx: ViewContext;
  readonly #reader: MetadataReader;
  readonly owner: object;
  closing: Promise<void> | null = null;

  constructor(owner: object, kv: KvStore, hmac: HmacKey) {
    this.owner = owner;
    this.kv = kv;
    this.ctx = { kv, hmac, now: () => timeOf(owner) };
    this.#reader = new MetadataReader(this.ctx);
  }

  assertOpen(): void {
    if (this.closing !== null) throw closedError();
  }

  /** The reader over the committed state; ERR_CLOSED after close. */
  reader(): MetadataReader {
    this.assertOpen();
    return this.#reader;
  }

  read<T>(fn: (reader: MetadataReader) => T): T {
    return fn(this.reader());
  }

  // Not async functions: one promise per call instead of two, and no closure or object per
  // call, which counts when thousands of calls are made in one loop (every call's synchronous part
  // holds the caller's turn, and its state lives until its batch runs).
  /** Runs `fn(tx)` in a transaction of the store. */
  transaction<T>(fn: (tx: MetadataTransaction) => T): Promise<T> {
    if (this.closing !== null) return Promise.reject(closedError());
    if (typeof fn !== 'function') return Promise.reject(new TapioError('ERR_INVALID_ARGUMENT', 'transaction: fn must be a function (tx) => result.'));
    return this.kv.transaction(this.#callback as (w: KvWriter, fn: (tx: MetadataTransaction) => T) => T, fn);
  }

  /** Runs `fn` (made by {@link bind}) with `a` and `b` in a transaction of the store. */
  run<T, A, B>(fn: (w: KvWriter, a: A, b: B) => T, a: A, b: B): Promise<T> {
    if (this.closing !== null) return Promise.reject(closedError());
    return this.kv.transaction(fn, a, b);
  }

  /** The key-value transaction function that runs `op(tx, a, b)` in a transaction of this store; made once per kind of call. */
  bind<T, A, B>(op: (tx: MetadataTransaction, a: A, b: B) => T): (w: KvWriter, a: A, b: B) => T {
    return (w, a, b) => op(this.#begin(w), a, b);
  }

  readonly #callback = this.bind((tx, fn: (tx: MetadataTransaction) => unknown) => fn(tx));

  #begin(w: KvWriter): MetadataTransaction {
    const hook = writeHookOf(this.owner);
    const { hmac, now } = this.ctx;
    return new MetadataTransaction({ kv: hook === undefined ? w : hookedWriter(w, hook), hmac, now });
  }

  /** A single-key write that needs no read: no transaction callback, straight to the write queue. */
  async putOne(key: string, value: unknown): Promise<void> {
    this.assertOpen();
    await this.kv.put(key, value);
  }

  async removeOne(key: string): Promise<boolean> {
    this.assertOpen();
    return this.kv.remove(key);
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.ctx.kv = closedKv;
      this.closing = this.kv.close();
    }
    return this.closing;
  }
}

/**
 * The metadata store.
 *
 * @example
 * ```ts
 * const store = await MetadataStore.open({ type: 'badger', path: '/var/lib/tapio/metadata', in_memory: false, compression: true });
 * const user = await store.users.create({ name: 'ops', roles: ['admin'] }, { apiKey: { name: 'ci' } });
 * console.log(user.apiKey.key);                     // shown once
 * await store.apiKeys.verify(user.apiKey.key);      // user.id
 * await store.close();
 * ```
 */
export class MetadataStore {
  readonly users: Users;
  readonly apiKeys: ApiKeys;
  readonly resources: Resources;
  readonly checkpoints: Checkpoints;
  readonly info: MetadataStoreInfo;
  readonly #core: StoreCore;

  private constructor(kv: KvStore, hmac: HmacKey, info: MetadataStoreInfo) {
    this.info = Object.freeze(info);
    this.#core = new StoreCore(this, kv, hmac);
    this.users = new Users(this.#core);
    this.apiKeys = new ApiKeys(this.#core);
    this.resources = new Resources(this.#core);
    this.checkpoints = new Checkpoints(this.#core);
    registerKv(this, kv);
  }

  /**
   * Opens (creating when needed, unless `options.create` is false) the metadata store the
   * configuration describes. Other processes may open the same store at the same time (lmdb
   * takes no exclusive lock); a change one makes is seen by the others from their next event
   * loop turn.
   *
   * @throws ERR_CONFIG (bad config), ERR_NO_STORE (no store and `create: false`), ERR_DATA_DIR (the directory cannot be created, read or
   * written), ERR_FORMAT_VERSION (another format version, another kind of store, or foreign
   * files: nothing was changed), ERR_METADATA_SECRET (secret file missing, wrong or readable by
   * others), ERR_METADATA_IO (lmdb failed)
   */
  static async open(config: MetadataConfig, options?: MetadataOpenOptions): Promise<MetadataStore> {
    const cfg = parseInput(configSchema, config, 'ERR_CONFIG', 'MetadataStore.open', 'storage.metadata');
    const opts = parseInput(openOptionsSchema, options, 'ERR_INVALID_ARGUMENT', 'MetadataStore.open', 'options');
    if (cfg.in_memory) {
      // Nothing touches the disk: not the path, not a secret file.
      const kv = openMemoryKv();
      const hmac = HmacKey.random();
      const format: FormatRecord = { kind: FORMAT_KIND, version: FORMAT_VERSION, compression: false, secretCheck: hmac.check(), createdAt: Date.now() };
      await kv.put(FORMAT_KEY, format);
      return new MetadataStore(kv, hmac, { inMemory: true, path: null, secretPath: null, compression: false, formatVersion: FORMAT_VERSION });
    }
    const path = resolve(cfg.path);
    const secretPath = resolve(opts.secretPath ?? join(path, DEFAULT_SECRET_FILE));
    const ownFiles = dirname(secretPath) === path ? [basename(secretPath)] : [];
    const prepared = await prepareMetadataDir(path, ownFiles, { create: opts.create ?? true });
    const opened = await openOnDisk(path, secretPath, cfg.compression, prepared);
    return new MetadataStore(opened.kv, opened.hmac, opened.info);
  }

  /**
   * Runs `fn` synchronously against the committed state and returns what it returns. Reads use
   * lmdb's synchronous get: this is the fast path (no promise per read). Do not keep the reader
   * across an await: later reads would see later commits.
   *
   * @example
   * ```ts
   * const seq = store.read((r) => r.checkpoints.get('indexer')?.seq ?? 0);
   * ```
   */
  read<T>(fn: (reader: MetadataReader) => T): T {
    return this.#core.read(fn);
  }

  /**
   * Runs `fn` in one atomic transaction across users, API keys, resources and checkpoints. `fn`
   * must be synchronous and use only the `tx` it is given. If it throws, nothing it wrote is
   * kept and the promise rejects with what it threw. The promise resolves, with what `fn`
   * returned, once the transaction is durable.
   *
   * @example
   * ```ts
   * await store.transaction((tx) => {
   *   const user = tx.users.create({ name: 'indexer' });
   *   tx.resources.put('owners', 'indexer', { userId: user.id });
   *   tx.checkpoints.set('indexer', 0);
   * });
   * ```
   */
  transaction<T>(fn: (tx: MetadataTransaction) => T): Promise<T> {
    return this.#core.transaction(fn);
  }

  /** Waits for queued writes, then closes. Later calls reject with ERR_CLOSED. Idempotent. */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#core.closing !== null;
  }
}

// ---------------------------------------------------------------------------------------------
// Opening a store on disk

/** The format record, null for an empty store; ERR_FORMAT_VERSION for anything else. */
function readFormat(kv: KvStore, path: string): FormatRecord | null {
  const raw = kv.get(FORMAT_KEY);
  if (raw === undefined) {
    if (kv.firstKey() === undefined) return null;
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${path} holds an lmdb database that is not a tapio metadata store (it has no ${FORMAT_KEY} record). Point storage.metadata.path at an empty directory. Nothing was changed.`,
      { details: { path } },
    );
  }
  const header = formatHeaderSchema.safeParse(raw);
  if (!header.success) {
    throw new TapioError('ERR_FORMAT_VERSION', `${path} has an unreadable ${FORMAT_KEY} record, so its format is unknown. Nothing was changed.`, {
      details: { path },
    });
  }
  if (header.data.kind !== FORMAT_KIND) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${path} belongs to another kind of store ('${header.data.kind}', not '${FORMAT_KIND}'). Point storage.metadata.path at a metadata directory or an empty one. Nothing was changed.`,
      { details: { path, kind: header.data.kind } },
    );
  }
  if (header.data.version !== FORMAT_VERSION) {
    throw new TapioError(
      'ERR_FORMAT_VERSION',
      `${path} was written in metadata format version ${header.data.version}; this version of tapio-storage reads version ${FORMAT_VERSION}. Open it with the tapio-storage version that wrote it. Nothing was changed.`,
      { details: { path, version: header.data.version, supported: FORMAT_VERSION } },
    );
  }
  return parseRecord(formatRecord, raw, FORMAT_KEY);
}

async function openOnDisk(
  path: string,
  secretPath: string,
  compression: boolean,
  prepared: PreparedDir,
): Promise<{ kv: KvStore; hmac: HmacKey; info: MetadataStoreInfo }> {
  let kv = openLmdbKv({ path, compression });
  let wrote = false;
  try {
    const format = readFormat(kv, path);
    let effectiveCompression = compression;
    if (format !== null && format.compression !== compression) {
      // Values must be read with the setting they were written with: the store keeps its own.
      await kv.close();
      kv = openLmdbKv({ path, compression: format.compression });
      effectiveCompression = format.compression;
    }
    let hmac = await readSecretFile(secretPath);
    if (format !== null && hmac !== null && !hmac.matches(format.secretCheck) && hasApiKeys(kv)) {
      throw new TapioError(
        'ERR_METADATA_SECRET',
        `Metadata secret file ${secretPath} is not the secret the API keys of ${path} were made with. Restore the right file (check options.secretPath). Nothing was changed.`,
        { details: { path, secretPath } },
      );
    }
    if (format !== null && hmac === null && hasApiKeys(kv)) {
      throw new TapioError(
        'ERR_METADATA_SECRET',
        `Metadata secret file ${secretPath} is missing, and the API keys stored in ${path} cannot be verified without it. Restore it from a copy (check options.secretPath). Nothing was changed.`,
        { details: { path, secretPath } },
      );
    }
    if (hmac === null) hmac = await createSecretFile(secretPath);
    const check = hmac.check();
    if (format === null || !hmac.matches(format.secretCheck)) {
      const record: FormatRecord = {
        kind: FORMAT_KIND,
        version: FORMAT_VERSION,
        compression: effectiveCompression,
        secretCheck: check,
        createdAt: format?.createdAt ?? Date.now(),
      };
      wrote = true;
      await kv.transaction((tx) => {
        const current = tx.get(FORMAT_KEY);
        if ((current === undefined) !== (format === null)) {
          throw new TapioError('ERR_METADATA_IO', `Another process changed ${path} while it was being opened; open it again.`);
        }
        tx.put(FORMAT_KEY, record);
      });
      // lmdb does not fsync the directory after creating data.mdb and lock.mdb.
      if (format === null) await fsyncDirectory(path);
    }
    if (needsFoldedUserNameIndex(kv)) {
      // A store written before user names were unique ignoring case: index its names once.
      wrote = true;
      await kv.transaction((tx) => (needsFoldedUserNameIndex(tx) ? indexFoldedUserNames(tx) : 0));
    }
    return { kv, hmac, info: { inMemory: false, path, secretPath, compression: effectiveCompression, formatVersion: FORMAT_VERSION } };
  } catch (err) {
    await kv.close().catch(() => undefined);
    if (!wrote) await removeCreatedLockFile(path, prepared);
    throw err;
  }
}

function hasApiKeys(kv: KvReader): boolean {
  return kv.range(PREFIX.apiKeys, undefined, 1).length > 0;
}

// ---------------------------------------------------------------------------------------------
// The asynchronous sub-APIs

/** Users: names unique ignoring case (kept as given), roles, optional email. */
export class Users {
  readonly #store: StoreCore;

  /** @internal */
  constructor(core: StoreCore) {
    this.#store = core;
  }

  /**
   * Creates a user; with `options.apiKey`, also its first API key, in the same transaction
   * (either both exist afterwards or neither does).
   *
   * @throws ERR_VALIDATION, ERR_ALREADY_EXISTS (name taken)
   * @example
   * ```ts
   * const { id, apiKey } = await store.users.create({ name: 'ci', roles: ['writer'] }, { apiKey: { name: 'pipeline' } });
   * ```
   */
  create(input: UserCreateInput): Promise<User>;
  create(input: UserCreateInput, options: UserCreateOptions & { apiKey: ApiKeyCreateInput }): Promise<UserWithApiKey>;
  create(input: UserCreateInput, options?: UserCreateOptions): Promise<User | UserWithApiKey>;
  async create(input: UserCreateInput, options?: UserCreateOptions): Promise<User | UserWithApiKey> {
    return this.#store.transaction((tx) => tx.users.create(input, options));
  }

  /** The user, or null. @throws ERR_INVALID_ARGUMENT (malformed id) */
  async get(id: string): Promise<User | null> {
    return this.#store.reader().users.get(id);
  }

  /** The user with exactly this name, or else the one whose name is this one ignoring case, or null. */
  async getByName(name: string): Promise<User | null> {
    return this.#store.reader().users.getByName(name);
  }

  /** Users in id order, one page at a time. */
  async list(options?: ListOptions): Promise<Page<User>> {
    return this.#store.reader().users.list(options);
  }

  /** Deletes the user and revokes all its API keys in one transaction. False when there was no such user. */
  async delete(id: string): Promise<boolean> {
    return this.#store.transaction((tx) => tx.users.delete(id));
  }
}

/** API keys: created for a user, shown once, stored as an HMAC, verified in constant time. */
export class ApiKeys {
  readonly #store: StoreCore;
  readonly #budget = new TurnBudget<string, string | null>((key) => this.#store.reader().apiKeys.verify(key));
  readonly #create: (w: KvWriter, userId: string, input: ApiKeyCreateInput) => CreatedApiKey;

  /** @internal */
  constructor(core: StoreCore) {
    this.#store = core;
    this.#create = core.bind((tx, userId: string, input: ApiKeyCreateInput) => tx.apiKeys.create(userId, input));
  }

  /**
   * Creates a key for a user. The full key is in the result and nowhere else: store it now.
   *
   * @throws ERR_NOT_FOUND (no such user), ERR_VALIDATION, ERR_INVALID_ARGUMENT
   * @example
   * ```ts
   * const { id, key } = await store.apiKeys.create(user.id, { name: 'ci', expiresAt: Date.now() + 86_400_000 });
   * ```
   */
  create(userId: string, input: ApiKeyCreateInput): Promise<CreatedApiKey> {
    return this.#store.run(this.#create, userId, input);
  }

  /** The key's record without secret or hash, or null. */
  async get(id: string): Promise<ApiKeyInfo | null> {
    return this.#store.reader().apiKeys.get(id);
  }

  /** Keys of all users, or of one user, in id order. */
  list(userId?: string | null, options?: ListOptions): Promise<Page<ApiKeyInfo>>;
  list(options: ListOptions): Promise<Page<ApiKeyInfo>>;
  async list(userIdOrOptions?: string | null | ListOptions, options?: ListOptions): Promise<Page<ApiKeyInfo>> {
    return this.#store.reader().apiKeys.list(userIdOrOptions as string | null | undefined, options);
  }

  /** Revokes the key; once this resolves, verify refuses it. @throws ERR_NOT_FOUND */
  async revoke(id: string): Promise<ApiKeyInfo> {
    return this.#store.transaction((tx) => tx.apiKeys.revoke(id));
  }

  /**
   * The user id the key belongs to, or null (malformed, unknown, revoked, expired or wrong key).
   * Answers at once, unless this event-loop turn already spent about 4 ms (or 1,024 calls) on
   * verification: then the call waits, in call order, for a later turn, so a burst of calls does
   * not hold the event loop. A call still waiting when the store closes rejects with ERR_CLOSED.
   *
   * @example
   * ```ts
   * const userId = await store.apiKeys.verify(bearerToken);
   * if (userId === null) return reply(401);
   * ```
   */
  verify(key: string): Promise<string | null> {
    // A burst of calls (10,000 in one loop) is spread over event-loop turns; see turn-budget.ts.
    return this.#budget.run(key);
  }

  /** {@link verify} without the promise, for request hot paths. */
  verifySync(key: string): string | null {
    return this.#store.reader().apiKeys.verify(key);
  }
}

/** Resource metadata: a JSON object per (type, name). */
export class Resources {
  readonly #store: StoreCore;

  /** @internal */
  constructor(core: StoreCore) {
    this.#store = core;
  }

  /**
   * Creates or replaces a resource. Resolves once durable.
   *
   * @throws ERR_INVALID_ARGUMENT (type or name), ERR_VALIDATION (value not a JSON object, or over 1 MiB as JSON)
   * @example
   * ```ts
   * await store.resources.put('pods', 'nginx-abc', { namespace: 'web', labels: { app: 'nginx' } });
   * ```
   */
  async put(type: string, name: string, value: Record<string, unknown>): Promise<Resource> {
    const { key, record, resource } = prepareResourcePut(type, name, value, this.#store.ctx.now());
    await this.#store.putOne(key, record);
    return resource;
  }

  /** The resource, or null. */
  async get(type: string, name: string): Promise<Resource | null> {
    return this.#store.reader().resources.get(type, name);
  }

  /** False when there was no such resource. */
  async delete(type: string, name: string): Promise<boolean> {
    return this.#store.removeOne(resourceKeyOf(type, name, 'resources.delete'));
  }

  /** Resources of one type in name order (UTF-8 byte order), one page at a time. */
  async list(type: string, options?: ListOptions): Promise<Page<Resource>> {
    return this.#store.reader().resources.list(type, options);
  }
}

/** Consumer checkpoints: the last sequence number a named consumer has processed. */
export class Checkpoints {
  readonly #store: StoreCore;

  /** @internal */
  constructor(core: StoreCore) {
    this.#store = core;
  }

  /** The checkpoint, or null. */
  async get(name: string): Promise<Checkpoint | null> {
    return this.#store.reader().checkpoints.get(name);
  }

  /**
   * Sets a checkpoint; resolves once durable. Sets issued in the same event turn share one commit.
   *
   * @example
   * ```ts
   * await store.checkpoints.set('indexer', lastSeq);
   * ```
   */
  async set(name: string, seq: number | bigint): Promise<Checkpoint> {
    const { key, record, checkpoint } = prepareCheckpointSet(name, seq, this.#store.ctx.now());
    await this.#store.putOne(key, record);
    return checkpoint;
  }

  /** Checkpoints in name order, one page at a time. */
  async list(options?: ListOptions): Promise<Page<Checkpoint>> {
    return this.#store.reader().checkpoints.list(options);
  }

  /** False when there was no such checkpoint. */
  async delete(name: string): Promise<boolean> {
    return this.#store.removeOne(checkpointKeyOf(name, 'checkpoints.delete'));
  }
}
