/**
 * The configuration's keys, defaults, limits and types, and the zod schema that checks a
 * configuration object key by key. The schema leaves store paths unset when they are not
 * given; `resolveConfig` (load.ts) places them and makes every path absolute.
 */
import { z } from 'zod';

import { MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SEGMENT_HEADER_SIZE } from '../transit/format.js';
import { MAX_RING_CAPACITY } from '../transit/limits.js';
import { checkDuration, checkSize, DURATION_EXPECTED, formatSize, SIZE_EXPECTED, withHint } from './units.js';

const KiB = 1024;
const MiB = 1024 ** 2;

/**
 * Every default, written as it would be written in a YAML file. A store whose path is not set
 * goes under `dataDir` (see {@link STORE_DIRS}); relative paths are resolved against the
 * current directory (in a file: the file's directory), or the `baseDir` option.
 *
 * @example
 * ```ts
 * DEFAULTS.storage.transit.ring_capacity; // '64MB' (resolved: rounded up to 64MiB)
 * ```
 */
export const DEFAULTS = {
  dataDir: './data',
  storage: {
    correlations: {
      type: 'frostdb',
      active_memory: '512MB',
      wal_enabled: true,
      compaction: { l0_size: '100MB', l1_size: '1GB' },
      retention: '30d',
      embedding_dim: 128,
      finding_types: ['anomaly', 'attack', 'misconfiguration'],
    },
    metadata: {
      type: 'badger',
      in_memory: false,
      compression: true,
    },
    transit: {
      retention: '1h',
      direct_io: 'auto',
      ring_capacity: '64MB',
      segment_size: '64MiB',
    },
  },
  server: {
    host: '127.0.0.1',
    port: 7700,
    correlator: 'builtin',
    max_body: '16MB',
    max_line: '1MB',
    max_events: 100_000,
    request_timeout: '30s',
    query_limit: 10_000,
    max_inflight: 256,
  },
} as const;

/** The directory under `dataDir` of each store whose path is not set. */
export const STORE_DIRS = {
  correlations: 'correlations',
  metadata: 'metadata',
  transit: 'wal',
} as const;

/** The bounds the schema enforces, in bytes. */
export const LIMITS = {
  /** Any size in range is accepted and rounded up to the next power of two. */
  ring_capacity: { min: 64 * KiB, max: MAX_RING_CAPACITY }, // the rings index it with 32-bit offsets
  segment_size: { min: MIN_SEGMENT_SIZE, max: MAX_SEGMENT_SIZE, multipleOf: SEGMENT_HEADER_SIZE },
  active_memory: { min: MiB },
  embedding_dim: { min: 1, max: 65536 },
  /** `finding_types`: how many names, and the longest name. */
  finding_types: { max: 255, nameLength: 63 },
} as const;

/** `direct_io`: `auto` uses O_DIRECT where the filesystem supports it. */
export type DirectIo = 'auto' | 'on' | 'off';

/** Correlation store compaction thresholds, in bytes. */
export interface CompactionConfig {
  l0_size: number;
  l1_size: number;
}

/** The correlation store (the columnar store; `frostdb` names the role). */
export interface CorrelationsConfig {
  type: 'frostdb';
  /** Absolute directory. */
  path: string;
  /** Bytes. */
  active_memory: number;
  wal_enabled: boolean;
  compaction: CompactionConfig;
  /** Milliseconds. */
  retention: number;
  embedding_dim: number;
  /** The values a finding's `type` may take, in the order their codes are given (never reorder a store's list: add at the end). */
  finding_types: string[];
}

/** The metadata store (the lmdb store; `badger` names the role). */
export interface MetadataConfig {
  type: 'badger';
  /** Absolute directory. */
  path: string;
  in_memory: boolean;
  compression: boolean;
}

/** The transit write-ahead log and its ring buffer. */
export interface TransitConfig {
  /** Absolute directory. */
  wal_path: string;
  /** Milliseconds. */
  retention: number;
  direct_io: DirectIo;
  /** Bytes, always a power of two (a configured size is rounded up). */
  ring_capacity: number;
  /** Bytes, a multiple of 4096. */
  segment_size: number;
}

/** The three stores. */
export interface StorageConfig {
  correlations: CorrelationsConfig;
  metadata: MetadataConfig;
  transit: TransitConfig;
}

/** The HTTP service (`tapio-storage serve`). */
export interface ServerConfig {
  /** The address to listen on; 127.0.0.1 keeps the service on this machine. */
  host: string;
  port: number;
  /**
   * What turns events into findings: 'builtin' (the reference correlator), 'none' (no pipeline),
   * or the path of a module whose default export is the correlator (absolute once resolved).
   */
  correlator: string;
  /** Bytes of one request body at most. */
  max_body: number;
  /** Bytes of one NDJSON line (one event or finding) at most. */
  max_line: number;
  /** Events (or findings) in one request at most. */
  max_events: number;
  /** Milliseconds a request may take before it is answered 408 (or 503 for a query). */
  request_timeout: number;
  /** Findings one query returns at most (a request asking for more is refused). */
  query_limit: number;
  /** Requests in progress at once; beyond, 429 with Retry-After. */
  max_inflight: number;
}

/**
 * A resolved configuration: every key present, sizes in bytes, durations in milliseconds,
 * paths absolute. The key names are the YAML file's.
 */
export interface TapioConfig {
  /** Absolute directory. */
  dataDir: string;
  storage: StorageConfig;
  server: ServerConfig;
}

/** A size as written: `'512MB'`, `'64MiB'`, `'4096'` or a number of bytes. */
export type SizeInput = string | number;
/** A duration as written: `'500ms'`, `'30s'`, `'1h30m'`, `'30d'`. */
export type DurationInput = string;

/** What a caller may pass to `resolveConfig`: the YAML file's shape, every key optional. */
export interface TapioConfigInput {
  dataDir?: string;
  storage?: {
    correlations?: {
      type?: 'frostdb';
      path?: string;
      active_memory?: SizeInput;
      wal_enabled?: boolean;
      compaction?: { l0_size?: SizeInput; l1_size?: SizeInput };
      retention?: DurationInput;
      embedding_dim?: number;
      finding_types?: string[];
    };
    metadata?: { type?: 'badger'; path?: string; in_memory?: boolean; compression?: boolean };
    transit?: {
      wal_path?: string;
      retention?: DurationInput;
      direct_io?: DirectIo | boolean;
      ring_capacity?: SizeInput;
      segment_size?: SizeInput;
    };
  };
  server?: {
    host?: string;
    port?: number;
    correlator?: string;
    max_body?: SizeInput;
    max_line?: SizeInput;
    max_events?: number;
    request_timeout?: DurationInput;
    query_limit?: number;
    max_inflight?: number;
  };
}

/** Reports `expected` (the text after "expected" in a problem line) and yields no value. */
function fail(ctx: z.RefinementCtx, expected: string): never {
  ctx.addIssue({ code: 'custom', message: expected });
  return z.NEVER;
}

/** A size field; `bound` returns what was expected when the parsed size is out of range. */
function size(bound: (bytes: number) => string | undefined = () => undefined, finish: (bytes: number) => number = (b) => b) {
  return z.unknown().transform((input, ctx): number => {
    const parsed = checkSize(input);
    if (!parsed.ok) return fail(ctx, withHint(SIZE_EXPECTED, parsed.hint));
    const problem = bound(parsed.value);
    if (problem !== undefined) return fail(ctx, problem);
    return finish(parsed.value);
  });
}

/** A retention: a duration greater than zero. */
function retention(example: string) {
  return z.unknown().transform((input, ctx): number => {
    const parsed = checkDuration(input);
    if (!parsed.ok) return fail(ctx, withHint(DURATION_EXPECTED, parsed.hint));
    if (parsed.value <= 0) return fail(ctx, `a duration greater than 0, such as ${example}`);
    return parsed.value;
  });
}

/** A directory path as written; resolveConfig makes it absolute. */
const directory = z.unknown().transform((input, ctx): string => {
  const expected = 'a directory path (a non-empty string)';
  if (typeof input !== 'string' || input.trim() === '') return fail(ctx, expected);
  if (input.includes('\0')) return fail(ctx, withHint(expected, 'it contains a NUL character'));
  if (input === '~' || input.startsWith('~/')) {
    return fail(ctx, withHint(expected, '"~" is not expanded; write the home directory out, or use a relative path'));
  }
  return input;
});

const bool = z.boolean({ error: 'true or false' });

/** The smallest power of two that is at least `bytes`. */
function nextPowerOfTwo(bytes: number): number {
  let power = 1;
  while (power < bytes) power *= 2;
  return power;
}

const ringCapacity = size(
  (bytes) =>
    bytes < LIMITS.ring_capacity.min || bytes > LIMITS.ring_capacity.max
      ? `a size from 64KiB to 1GiB, such as 64MiB (it is rounded up to a power of two)`
      : undefined,
  nextPowerOfTwo,
);

const segmentSize = size((bytes) => {
  const { min, max, multipleOf } = LIMITS.segment_size;
  const expected = 'a multiple of 4096 bytes from 1MiB to 1GiB, such as 64MiB';
  if (bytes < min || bytes > max) return expected;
  if (bytes % multipleOf !== 0) {
    const below = bytes - (bytes % multipleOf);
    const above = below + multipleOf;
    const suggestions = [below, above].filter((b) => b >= min && b <= max).map(formatSize);
    return withHint(expected, `the nearest multiples are ${suggestions.join(' and ')}`);
  }
  return undefined;
});

const activeMemory = size((bytes) => (bytes < LIMITS.active_memory.min ? 'a size of at least 1MiB, such as 512MB' : undefined));
const positiveSize = (example: string) => size((bytes) => (bytes <= 0 ? `a size greater than 0, such as ${example}` : undefined));

const embeddingDim = z.unknown().transform((input, ctx): number => {
  const { min, max } = LIMITS.embedding_dim;
  if (typeof input !== 'number' || !Number.isInteger(input) || input < min || input > max) {
    return fail(ctx, `a whole number from ${min} to ${max}, such as 128`);
  }
  return input;
});

/** A finding type name: what a selector and a Parquet dictionary can hold without quoting. */
export const FINDING_TYPE_NAME = /^[a-z][a-z0-9_-]*$/;

const findingTypes = z.unknown().transform((input, ctx): string[] => {
  const { max, nameLength } = LIMITS.finding_types;
  const expected = `a list of 1 to ${max} distinct names of lowercase letters, digits, '_' and '-' (starting with a letter, at most ${nameLength} characters), such as [anomaly, attack, misconfiguration]`;
  if (!Array.isArray(input) || input.length < 1 || input.length > max) return fail(ctx, expected);
  const seen = new Set<string>();
  for (const name of input) {
    if (typeof name !== 'string' || name.length > nameLength || !FINDING_TYPE_NAME.test(name)) {
      return fail(ctx, withHint(expected, `${JSON.stringify(name)} is not such a name`));
    }
    if (seen.has(name)) return fail(ctx, withHint(expected, `${JSON.stringify(name)} is listed twice`));
    seen.add(name);
  }
  return [...input] as string[];
});

const directIo = z.unknown().transform((input, ctx): DirectIo => {
  if (input === true) return 'on';
  if (input === false) return 'off';
  if (input === 'auto' || input === 'on' || input === 'off') return input;
  return fail(ctx, '"auto", "on" or "off" (true and false mean on and off)');
});

/** `null` (a YAML key with nothing under it) counts as not set, for sections only. */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  const keys = Object.keys(shape).join(', ');
  const object = z.strictObject(shape, { error: `a mapping with the keys ${keys}` });
  // Every key of every section has a default or is optional, so {} is a valid input.
  return z.preprocess((value) => (value === null ? undefined : value), object.prefault({} as z.input<typeof object>));
}

const d = DEFAULTS.storage;

const compactionShape = {
  l0_size: positiveSize('100MB').prefault(d.correlations.compaction.l0_size),
  // l1_size > l0_size is checked by resolveConfig, which sees both raw values.
  l1_size: positiveSize('1GB').prefault(d.correlations.compaction.l1_size),
};

const correlationsShape = {
  type: z.literal('frostdb', { error: '"frostdb" (the name of the correlation store role: this project\'s columnar store)' }).prefault(d.correlations.type),
  path: directory.optional(),
  active_memory: activeMemory.prefault(d.correlations.active_memory),
  wal_enabled: bool.prefault(d.correlations.wal_enabled),
  compaction: section(compactionShape),
  retention: retention('30d').prefault(d.correlations.retention),
  embedding_dim: embeddingDim.prefault(d.correlations.embedding_dim),
  finding_types: findingTypes.prefault([...d.correlations.finding_types]),
};

const metadataShape = {
  type: z.literal('badger', { error: '"badger" (the name of the metadata store role: this project\'s lmdb store)' }).prefault(d.metadata.type),
  path: directory.optional(),
  in_memory: bool.prefault(d.metadata.in_memory),
  compression: bool.prefault(d.metadata.compression),
};

const transitShape = {
  wal_path: directory.optional(),
  retention: retention('1h').prefault(d.transit.retention),
  direct_io: directIo.prefault(d.transit.direct_io),
  ring_capacity: ringCapacity.prefault(d.transit.ring_capacity),
  segment_size: segmentSize.prefault(d.transit.segment_size),
};

const storageShape = {
  correlations: section(correlationsShape),
  metadata: section(metadataShape),
  transit: section(transitShape),
};

const host = z.unknown().transform((input, ctx): string => {
  const expected = 'a host name or IP address to listen on, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)';
  if (typeof input !== 'string' || input.trim() === '' || /[\s/\\]/.test(input) || input.length > 253) return fail(ctx, expected);
  return input;
});

/** A whole number from `min` to `max`; `example` shows one. */
function wholeNumber(min: number, max: number, example: string) {
  return z.unknown().transform((input, ctx): number => {
    if (typeof input !== 'number' || !Number.isInteger(input) || input < min || input > max)
      return fail(ctx, `a whole number from ${min} to ${max}, such as ${example}`);
    return input;
  });
}

const correlator = z.unknown().transform((input, ctx): string => {
  const expected = '"builtin", "none" or the path of a module whose default export turns a batch of events into findings';
  if (typeof input !== 'string' || input.trim() === '' || input.includes('\0')) return fail(ctx, expected);
  return input;
});

const sv = DEFAULTS.server;

const serverShape = {
  host: host.prefault(sv.host),
  port: wholeNumber(0, 65535, '7700 (0 picks a free port)').prefault(sv.port),
  correlator: correlator.prefault(sv.correlator),
  max_body: size((bytes) => (bytes < 1024 || bytes > 1024 * MiB ? 'a size from 1KiB to 1GiB, such as 16MB' : undefined)).prefault(sv.max_body),
  max_line: size((bytes) => (bytes < 256 || bytes > 64 * MiB ? 'a size from 256 bytes to 64MiB, such as 1MB' : undefined)).prefault(sv.max_line),
  max_events: wholeNumber(1, 10_000_000, '100000').prefault(sv.max_events),
  request_timeout: retention('30s').prefault(sv.request_timeout),
  query_limit: wholeNumber(1, 10_000_000, '10000').prefault(sv.query_limit),
  max_inflight: wholeNumber(1, 100_000, '256').prefault(sv.max_inflight),
};

const rootShape = {
  dataDir: directory.prefault(DEFAULTS.dataDir),
  storage: section(storageShape),
  server: section(serverShape),
};

/**
 * The whole configuration. Output: sizes in bytes, durations in milliseconds, store paths
 * as written or undefined. Every issue's message is the text after "expected" in a problem
 * line, except `unrecognized_keys`, which resolveConfig words itself.
 */
export const configSchema = z.strictObject(rootShape, { error: 'a mapping with the keys dataDir, storage, server' });

/** The keys allowed at each level, by dotted path ('' is the top level). */
export const ALLOWED_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(rootShape),
  storage: Object.keys(storageShape),
  'storage.correlations': Object.keys(correlationsShape),
  'storage.correlations.compaction': Object.keys(compactionShape),
  'storage.metadata': Object.keys(metadataShape),
  'storage.transit': Object.keys(transitShape),
  server: Object.keys(serverShape),
};
