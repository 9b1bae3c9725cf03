/**
 * Chooses between the native addon and the TypeScript twins. The addon is used when it loads;
 * `TAPIO_NATIVE=0` (or `false`) forces the TypeScript path; `1` or `true`, or no value, leaves the
 * choice to the loader. Any other value is refused with ERR_CONFIG, at the first use of either
 * path, as an unknown configuration value is. When the addon cannot be used, one warning says
 * why, once per process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TapioError } from '../errors.js';
import type { CosineTopKArgs, CosineTopKResult } from '../query/cosine.js';
import { reasonError, type Reasoned } from '../transit/reasons.js';

declare const fileLockHandle: unique symbol;
/** A lock taken by {@link NativeAddon.lockFile}: opaque, released by unlockFile. */
export type NativeFileLockHandle = { readonly [fileLockHandle]: true };

declare const directReaderHandle: unique symbol;
/** A file open for direct reads by {@link NativeAddon.openDirectReader}: opaque, closed by closeDirectReader. */
export type NativeDirectReaderHandle = { readonly [directReaderHandle]: true };
declare const sequentialWriterHandle: unique symbol;
/** A file being written by {@link NativeAddon.createSequentialWriter}: opaque, ended by finishSequentialWriter or abortSequentialWriter. */
export type NativeSequentialWriterHandle = { readonly [sequentialWriterHandle]: true };

/** Bytes the addon reads in place: any typed array or DataView (the bytes it views), or an ArrayBuffer. */
export type NativeBytes = ArrayBufferView | ArrayBuffer;

/** What the CPU offers and which kernels the addon chose at load (addon.cc). */
export interface NativeFeatures {
  simd: 'avx512' | 'avx2' | 'neon' | 'scalar';
  crc32c: 'hardware' | 'table';
  sse42: boolean;
  pclmul: boolean;
  avx2: boolean;
  avx512: boolean;
  neon: boolean;
}

/**
 * The options openWal() reads (wal_binding.cc). `directIo` other than 'on' or 'off' means
 * 'auto'; `recovery` other than 'salvage' means 'strict'.
 */
export interface NativeWalOpenOptions {
  dir: string;
  segmentSize: number;
  ringCapacity: number;
  directIo: 'auto' | 'on' | 'off';
  recovery: 'strict' | 'salvage';
  /** Default: the writer's own (core/wal_writer.h). */
  maxGroupBytes?: number;
  faultInjection?: { failWriteAt?: number; failSyncAt?: number };
}

/** What recovery found and did, as the addon reports it (RecoveryToJs in wal_binding.cc). */
export interface NativeRecovery {
  segments: number;
  firstSeq: number;
  lastSeq: number;
  bytesScanned: number;
  tornBytes: number;
  brokenFile?: string;
  /** Each damaged stretch salvage set aside, with what was wrong as a reason and its details (reasons.ts words it). */
  salvaged: Array<{ segment: string; offset: number; bytes: number; damage: Reasoned }>;
  sealedSegments: number;
  /** Why CHECKPOINT was not used, when it exists but was not. */
  checkpointIgnored?: Reasoned;
  removedFiles: string[];
  setAside: Array<{ segment: string; offset: number; bytes: number; lostFrom: number; lostCount: number }>;
  /** Why SALVAGED was not used, when it exists but was not. */
  setAsideIgnored?: Reasoned;
  /** The store id, 32 hex digits. */
  storeId: string;
  /** The usable segments as (number, first sequence number, 1 when scanned else 0) triples. */
  segmentList: Float64Array;
  /** The index entries of the scanned segments: (segment, seq, offset) triples. */
  indexPoints: Float64Array;
}

/** The writer's counters (StatsObject in wal_binding.cc). */
export interface NativeWalStats {
  records: number;
  /** Payload bytes of the durable records. */
  bytes: number;
  groups: number;
  segmentsCreated: number;
  /** fdatasync latency histogram; the last bucket's `le` is Infinity. */
  syncLatencyUs: Array<{ le: number; count: number }>;
  ringUsedBytes: number;
  ringCapacity: number;
  directIo: boolean;
  /** Why direct I/O is off (direct-io-off, direct-io-refused, ...); null when it is on. */
  directIoRefusal: Reasoned | null;
  alignment: number;
  durableSeq: number;
  /** The failure that stopped the writer (writer-failed, with its cause's details), or null. */
  failed: Reasoned | null;
}

/** An open native WAL (NativeWalWriter in wal_binding.cc); made by openWal() only. */
export interface NativeWalWriter {
  /** The id producers attach with; 0 once closed. */
  readonly id: number;
  readonly recovery: NativeRecovery;
  /** Throws ERR_CLOSED once close() was called. */
  stats(): NativeWalStats;
  /** stats().durableSeq alone (no object made); throws ERR_CLOSED once close() was called. */
  durableSeq(): number;
  /** Index entries made since the last call: (segment, seq, offset) triples; undefined when none. */
  takeIndexPoints(): Float64Array | undefined;
  /** Writes and syncs what was queued, stops the writer's threads, resolves with the final counters (undefined when already closed). */
  close(): Promise<NativeWalStats | undefined>;
}

/**
 * Called on the producer's thread after an fdatasync or when ring space was freed: `acks` holds
 * (ticket, firstSeq, lastSeq) triples, firstSeq -1 for a failed batch; `failure` is the writer's
 * failure once it failed, as reasonError built it; `space` says ring space was freed.
 */
export type NativeProducerEvents = (acks: Float64Array, failure: TapioError | undefined, space: boolean) => void;

/** One JavaScript thread's way into an open WAL (NativeProducer in wal_binding.cc). */
export interface NativeProducer {
  /**
   * Queues `count` batches: batch i is batches[2i] (its ticket) and batches[2i+1] (its record
   * count), whose lengths and bytes follow one another in `lengths` and `bytes`. Returns how many
   * it handled and sets status[i]: 0 queued, 1 no room in the ring now (handling stopped there),
   * 2 too large, 3 closed or failed.
   */
  pushBatches(bytes: Uint8Array, lengths: Uint32Array, batches: Float64Array, count: number, status: Uint8Array): number;
  /** Keeps the event loop alive (while appends are pending). */
  ref(): void;
  unref(): void;
  /** Detaches from the writer; later pushes throw ERR_CLOSED. */
  detach(): void;
  readonly id: number;
}

/** The ring buffer alone, without a writer (ring_binding.cc), for benchmarks and tests. */
export interface NativeRing {
  /** Pushes one batch; `producerId` and `ticket` default to 0. */
  push(records: readonly NativeBytes[], producerId?: number, ticket?: number): 'ok' | 'full' | 'too-large';
  /** Consumes and releases every committed entry; returns the number of records in them. */
  drain(): number;
  usedBytes(): number;
}

/** The options syncProbe() reads (sync_probe_binding.cc); omitted sizes take the core's defaults. */
export interface NativeSyncProbeOptions {
  dir: string;
  /** One of the probe's mode names (SYNC_PROBE_MODES); any other is refused. */
  mode: string;
  writeBytes?: number;
  fileBytes?: number;
  maxCycles?: number;
  maxMicros?: number;
}

/** One mode's timed cycles, or why the mode cannot run on this file system. */
export type NativeSyncProbeResult = { cycleMicros: Float64Array; writeBytes: number; alignment: number; files: number } | { notRun: Reasoned };

/**
 * Everything the addon exports (native/binding/, registered in addon.cc), and nothing else:
 * test/native/loader.test.ts checks the loaded addon against this list.
 */
export interface NativeAddon {
  /**
   * Hands over the class the binding's own argument errors are built from, and reasonError, which
   * builds the TapioError of every failed core status (a reason and its details); called once by
   * the loader.
   */
  init(errorClass: typeof TapioError, reasonError: (reason: string, details: Record<string, string | number | boolean>) => TapioError): void;
  features(): NativeFeatures;
  /** Checked by the loader: an addon built from other sources is refused as stale. */
  readonly abiVersion: number;
  /** CRC32C of the bytes, extending `initial` (default 0). */
  crc32c(bytes: NativeBytes, initial?: number): number;
  /** CRC32C of bytes[offset, offset + length), from 0; throws ERR_INVALID_ARGUMENT for a range outside the bytes. */
  crc32cRange(bytes: NativeBytes, offset: number, length: number): number;
  /** Does nothing: the baseline cost of a call into the addon. */
  noop(): void;
  /** Compaction's merge kernel (native/core/merge_order.h): pairs (input, offset) of a stable k-way merge by timestamp. */
  mergeOrder(inputs: Float64Array[], want: number): Uint32Array;
  /** flock(LOCK_EX | LOCK_NB) of `path`, then writes `contents` into it; null when another process holds it (file_lock_binding.cc). */
  lockFile(path: string, contents: string): NativeFileLockHandle | null;
  unlockFile(handle: NativeFileLockHandle): void;
  /** Recovers the WAL directory and starts the writer's threads, off the event loop. */
  openWal(options: NativeWalOpenOptions): Promise<NativeWalWriter>;
  /** WAL writers whose memory the process still holds: open ones, and closed ones a handle still owns. */
  liveWalWriters(): number;
  /** Attaches a producer to the open writer with id `writerId` (from any thread of the process). */
  NativeProducer: new (writerId: number, onEvents: NativeProducerEvents) => NativeProducer;
  /** A ring buffer of `capacity` bytes (a power of two). */
  NativeRing: new (capacity: number) => NativeRing;
  /** Times write + fdatasync cycles in `dir` in one mode, on a native thread. */
  syncProbe(options: NativeSyncProbeOptions): Promise<NativeSyncProbeResult>;
  /**
   * Exact cosine top k (native/core/cosine.h; src/query/cosine.ts is its twin): rows read in
   * place, on this thread, so for small blocks. Throws ERR_INVALID_ARGUMENT for bad arguments.
   */
  cosineTopK(...args: CosineTopKArgs): CosineTopKResult;
  /** cosineTopK on the libuv pool; holds the arrays until it settles (they must not be detached meanwhile). Throws synchronously for bad arguments. */
  cosineTopKAsync(...args: CosineTopKArgs): Promise<CosineTopKResult>;
  /** The square root of the canonical dot product of `query` with itself (core/cosine.h). */
  queryNorm(query: Float32Array): number;
  /** Reads every byte once and returns a checksum of them: the memory-bandwidth ceiling of benchmarks. */
  memoryScan(bytes: Uint8Array | Float32Array): number;
  /**
   * The rows i < rows with from <= ts[i] < to (native/core/select_kernels.h; src/query/select-kernels.ts
   * is its twin), or null when every row passes. Throws ERR_INVALID_ARGUMENT for bad arguments.
   */
  selectTimeRange(ts: Float64Array, rows: number, from: number, to: number): Uint32Array | null;
  /** The rows of `sel` (every row of `codes` when null) whose lut[codes[row]] equals `want`, ascending. */
  selectByCode(codes: Uint8Array, lut: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array;
  /** The rows of `sel` (every row of `present` when null) whose present[row] equals `want`, ascending. */
  selectByMask(present: Uint8Array, sel: Uint32Array | null, want: 0 | 1): Uint32Array;
  /**
   * The NDJSON check of the ingest path (native/core/json_check.h; src/server/ndjson.ts is its
   * twin): writes the trimmed (start, end) of each non-blank line into `ranges` and the outcome
   * into `result` (RESULT_SLOTS of ndjson.ts). Throws ERR_INVALID_ARGUMENT for bad arguments.
   */
  checkNdjson(body: Uint8Array, maxLine: number, maxLines: number, ranges: Uint32Array, result: Float64Array): void;
  /**
   * Opens `path` for reads with O_DIRECT in blocks of `alignment` bytes (native/core/direct_reader.h);
   * null when the file system refuses direct I/O. A failed open throws ERR_WAL_IO.
   */
  openDirectReader(path: string, alignment: number): NativeDirectReaderHandle | null;
  /**
   * Copies bytes from `position` of the file into `into` on the libuv pool, resolving with how
   * many (fewer than into.length only at the end of the file). `into` must not be used until then.
   */
  directRead(handle: NativeDirectReaderHandle, into: Uint8Array, position: number): Promise<number>;
  /** Closes the file once no read is under way; later directRead calls throw ERR_CLOSED. */
  closeDirectReader(handle: NativeDirectReaderHandle): void;
  /** The block size direct writes use in `dir` (a file created and removed there), or 0 where it refuses them. */
  probeDirectIo(dir: string): number;
  /**
   * Creates `path` (it must not exist) for sequential writes in blocks of `blockBytes`, with
   * O_DIRECT in blocks of `alignment` bytes (0: none; native/core/sequential_writer.h).
   */
  createSequentialWriter(path: string, alignment: number, blockBytes: number): NativeSequentialWriterHandle;
  /** Appends `bytes` (not to be changed until it resolves); each block that fills is written on the libuv pool. */
  sequentialWrite(handle: NativeSequentialWriterHandle, bytes: Uint8Array): Promise<void>;
  /** Writes the rest, cuts the file to the bytes appended, fdatasyncs and closes it. */
  finishSequentialWriter(handle: NativeSequentialWriterHandle): Promise<{ bytes: number; direct: boolean }>;
  /** Closes and removes the file. */
  abortSequentialWriter(handle: NativeSequentialWriterHandle): void;
}

/** Which path runs, and why. */
export interface NativeStatus {
  native: boolean;
  /** Why the TypeScript path runs; undefined when the addon is in use. */
  reason: string | undefined;
}

const EXPECTED_ABI = 13;
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(packageRoot, 'build', 'Release', 'tapio_native.node');
const buildErrorPath = join(packageRoot, 'build', 'native-build-error.txt');

let loaded: { addon: NativeAddon | null; reason: string | undefined } | undefined;
let warned = false;

/**
 * What TAPIO_NATIVE asks for: 'typescript' for 0 or false, 'auto' for 1, true, unset or empty
 * (any case, surrounding spaces ignored). Throws ERR_CONFIG for anything else.
 */
export function nativeSetting(value: string | undefined = process.env.TAPIO_NATIVE): 'typescript' | 'auto' {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '0' || v === 'false') return 'typescript';
  if (v === '' || v === '1' || v === 'true') return 'auto';
  throw new TapioError(
    'ERR_CONFIG',
    `TAPIO_NATIVE is ${JSON.stringify(value)}; it takes 0 or false (run on the TypeScript path), or 1 or true (use the native addon when it loads, as when it is not set). Set one of these, or unset it.`,
    { details: { problems: [{ path: 'TAPIO_NATIVE', message: `got ${JSON.stringify(value)}, expected 0, 1, false or true` }] } },
  );
}

function tryLoad(): { addon: NativeAddon | null; reason: string | undefined } {
  if (nativeSetting() === 'typescript') {
    return { addon: null, reason: `TAPIO_NATIVE=${String(process.env.TAPIO_NATIVE)} is set` };
  }
  if (!existsSync(addonPath)) {
    let why = 'the native addon was not built';
    if (existsSync(buildErrorPath)) {
      const text = readFileSync(buildErrorPath, 'utf8').trim().split('\n');
      why += `: ${text[0] ?? ''}`;
      const firstError = text.find((line) => /error/i.test(line) && line !== text[0]);
      if (firstError) why += ` (${firstError.trim()})`;
    } else {
      why += ' (run `npm run build:native` to build it)';
    }
    return { addon: null, reason: why };
  }
  try {
    const require = createRequire(import.meta.url);
    const addon: NativeAddon = require(addonPath);
    if (addon.abiVersion !== EXPECTED_ABI) {
      return {
        addon: null,
        reason: `the native addon is stale (ABI ${addon.abiVersion}, expected ${EXPECTED_ABI}); run \`npm run build:native\``,
      };
    }
    addon.init(TapioError, reasonError);
    return { addon, reason: undefined };
  } catch (err) {
    return { addon: null, reason: `the native addon failed to load: ${(err as Error).message}` };
  }
}

/**
 * The addon, or null when the TypeScript path runs. The first call that finds no addon (other
 * than through TAPIO_NATIVE=0) warns once, saying why. Throws ERR_CONFIG when TAPIO_NATIVE holds
 * a value it does not take (see nativeSetting); nothing is loaded then.
 */
export function loadNative(): NativeAddon | null {
  if (loaded === undefined) loaded = tryLoad();
  if (loaded.addon === null && !warned && nativeSetting() !== 'typescript') {
    warned = true;
    process.emitWarning(`tapio-storage runs on its TypeScript path: ${loaded.reason}.`, {
      code: 'TAPIO_NATIVE_UNAVAILABLE',
    });
  }
  return loaded.addon;
}

/** Whether the native path runs, and if not, why. */
export function nativeStatus(): NativeStatus {
  const addon = loadNative();
  return { native: addon !== null, reason: loaded?.reason };
}
