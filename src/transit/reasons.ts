/**
 * Every reason a transit operation fails for, or a scan notes damage for, and the one place
 * their wording lives. The native core returns a reason and the facts it refers to (its
 * details: operation, file, offset, errno name, sequence numbers, lengths), never a message
 * (native/core/reason.h lists the same reasons, and a test proves the lists agree); the binding
 * hands both to {@link reasonError}, and the TypeScript twin builds the same reason and details
 * and goes through the same functions. So both paths throw the same TapioError, and a report
 * says the same thing, without either path writing prose of its own.
 */
import { getSystemErrorMap } from 'node:util';
import { dirname } from 'node:path';

import { TapioError, type TapioErrorCode, type TapioErrorDetails } from '../errors.js';
import {
  CHECKPOINT_FILE_NAME,
  FORMAT_VERSION,
  ID_FILE_NAME,
  MAGIC,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  SALVAGED_FILE_NAME,
  SEGMENT_HEADER_SIZE,
  WAL_FORMAT_NAME,
  segmentFileName,
} from './format.js';
import { MAX_GROUP_BYTES, MAX_RING_CAPACITY, MIN_GROUP_BYTES, MIN_RING_CAPACITY } from './limits.js';

/** One fact of a reason's details. */
export type ReasonFact = string | number | boolean;
/** The facts a reason refers to, by name (reason.h names them for each reason). */
export type ReasonDetails = Readonly<Record<string, ReasonFact>>;

interface ReasonSpec {
  /** The TapioError code a failure for this reason has (the core's StatusCode, reason.h). */
  error: TapioErrorCode;
  /** What is wrong, as a clause: "record checksum mismatch (stored 0x…, computed 0x…)". */
  text(d: ReasonDetails): string;
  /** The whole message, with what to do, when the reason refuses a call; the clause by default. */
  message?(d: ReasonDetails): string;
  /** The TapioError's details; the reason's own details by default. */
  details?(d: ReasonDetails): TapioErrorDetails;
  /** Given by TypeScript code alone: the reader or `wal verify`, which both paths use and the core has no twin of. */
  twinOnly?: true;
}

const str = (v: ReasonFact | undefined): string => String(v);
const hex32 = (v: ReasonFact | undefined): string => `0x${Number(v).toString(16).padStart(8, '0')}`;
/** The file name of the segment a number detail names. */
const segmentName = (v: ReasonFact | undefined): string => (Number.isSafeInteger(v) && Number(v) >= 0 ? segmentFileName(Number(v)) : str(v));

let systemErrors: Map<string, string> | undefined;
/** "EIO: i/o error", or the name alone when the system has no text for it. */
function errnoText(name: ReasonFact | undefined): string {
  systemErrors ??= new Map([...getSystemErrorMap().values()].map(([code, text]) => [code, text]));
  const text = systemErrors.get(str(name));
  return text === undefined ? str(name) : `${str(name)}: ${text}`;
}

/** "write of /data/wal/0000000000000001.wal failed (EIO: i/o error)". */
const ioText = (d: ReasonDetails): string => `${str(d.operation)} of ${str(d.file)} failed (${errnoText(d.errno)})`;
/** The details of the writer's ERR_WAL_IO that both paths give: `{ file, operation, code }` (code: the errno name). */
const writerIoDetails = (d: ReasonDetails): TapioErrorDetails => ({ file: d.file, operation: d.operation, code: d.errno });

/** The clause of the reason a detail `cause` (or `damage`) names, read from the same details. */
function nestedText(name: ReasonFact | undefined, d: ReasonDetails): string {
  const spec = typeof name === 'string' ? specOf(name) : undefined;
  return spec === undefined ? `an unknown failure (${str(name)})` : spec.text(d);
}

/** The spec of the reason called `name`, or undefined. */
function specOf(name: string): ReasonSpec | undefined {
  return Object.prototype.hasOwnProperty.call(REASONS, name) ? (REASONS as Readonly<Record<string, ReasonSpec>>)[name] : undefined;
}

const OUT_OF_MEMORY_FOR: Readonly<Record<string, (d: ReasonDetails) => string>> = {
  ring: () => 'the ring buffer',
  writer: () => 'the WAL writer',
  'write-buffer': () => "the WAL writer's write buffer",
  'read-buffer': (d) => `a buffer to read ${str(d.file)}`,
  'header-block': (d) => `a segment header block for ${str(d.file)}`,
  'aligned-block': () => 'an aligned block for the direct I/O probe',
  'zero-block': () => 'a block of zeros for the sync probe',
  'probe-buffer': () => "the sync probe's write buffer",
};

const WRITER_OPTION_RULE: Readonly<Record<string, string>> = {
  dir: 'must not be empty',
  segment_size: `must be a multiple of ${SEGMENT_HEADER_SIZE} from ${MIN_SEGMENT_SIZE} to ${MAX_SEGMENT_SIZE} bytes`,
  max_group_bytes: `must be from ${MIN_GROUP_BYTES} to ${MAX_GROUP_BYTES} bytes`,
  'resume.next_seq': 'must be at least 1',
  'resume.segment': 'must be at least 1',
};

/** What the ERR_WAL_CORRUPT of a strict open tells the user to do (both paths say the same). */
export const SALVAGE_ADVICE =
  "Restore the file from a copy, or keep every whole record and set the damage aside for good with `tapio-storage wal salvage` or TapioStorage.open(config, { transit: { recovery: 'salvage' } }).";
/** What the ERR_WAL_CORRUPT of a read tells the user to do. */
const READ_ADVICE =
  "Restore the file from a copy, or set the damage aside for good with `tapio-storage wal salvage` or TapioStorage.open(config, { transit: { recovery: 'salvage' } }); reads then skip it.";

/** The details a refusal of a segment gives: what is damaged, where, the damage, its facts and its clause. */
const segmentDetails = (d: ReasonDetails): TapioErrorDetails => ({ ...d, reason: damageText(d) });

// Clauses that a reason's message repeats.
const outOfMemoryText = (d: ReasonDetails): string => `cannot allocate ${str(d.bytes)} bytes for ${(OUT_OF_MEMORY_FOR[str(d.what)] ?? (() => str(d.what)))(d)}`;
const writerFailedText = (d: ReasonDetails): string =>
  d.cause === 'io' ? `transit WAL ${ioText(d)}` : `the transit WAL writer failed: ${nestedText(d.cause, d)}`;
const directIoUnavailableText = (d: ReasonDetails): string => `direct_io is 'on' but cannot be used in ${str(d.dir)}: ${nestedText(d.cause, d)}`;
const walIdNotObjectText = (d: ReasonDetails): string => `${str(d.file)} is not the JSON object ${ID_FILE_NAME} must hold, so the WAL's identity is unknown`;
const walIdVersionText = (d: ReasonDetails): string =>
  `${str(d.file)} describes format ${str(d.format)} version ${str(d.version)}, but this build reads format "${WAL_FORMAT_NAME}" version ${FORMAT_VERSION}`;
const walIdStoreText = (d: ReasonDetails): string => `${str(d.file)} holds storeId ${str(d.storeId)}, expected 32 hex digits`;
const walIdMissingText = (d: ReasonDetails): string => `${str(d.file)} is missing but the directory holds WAL segments, so their store cannot be checked`;
const notWalDirText = (d: ReasonDetails): string =>
  `${str(d.dir)} is not empty and has no ${ID_FILE_NAME}, so it is not a transit WAL directory (found ${str(d.found)})`;
const noReadableHeaderText = (d: ReasonDetails): string => `no segment header in ${str(d.dir)} is readable, so the next sequence number is unknown`;

const REASONS = {
  // ---- Resources and system calls.
  io: { error: 'ERR_WAL_IO', text: ioText, message: (d) => `${ioText(d)}; fix the cause and try again` },
  'out-of-memory': {
    error: 'ERR_WAL_IO',
    text: outOfMemoryText,
    message: (d) => `${outOfMemoryText(d)}: out of memory; free memory or lower transit.ring_capacity`,
  },
  'random-failed': { error: 'ERR_WAL_IO', text: () => 'cannot read random bytes for a new store id' },
  'not-a-directory': {
    error: 'ERR_WAL_IO',
    text: (d) => `${str(d.dir)} is not a directory`,
    message: (d) => `${str(d.dir)} is not a directory; point the transit WAL at a directory`,
  },
  'file-shrank': {
    error: 'ERR_WAL_IO',
    text: (d) => `${str(d.file)} ended at byte offset ${str(d.offset)} while it was being read (it was truncated meanwhile)`,
  },
  'writer-failed': {
    error: 'ERR_WAL_IO',
    text: writerFailedText,
    message: (d) =>
      `${writerFailedText(d)}. The writer is in a failed state and refuses every append (fdatasync is never retried); fix the cause, then close and reopen the store to recover the synced prefix.`,
    details: (d) => (d.cause === 'io' ? writerIoDetails(d) : { ...d }),
  },
  'lock-released': { error: 'ERR_CLOSED', text: (d) => `the lock of ${str(d.file)} was released` },
  'file-closed': { error: 'ERR_CLOSED', text: (d) => `${str(d.file)} was finished or given up and takes no more writes` },

  // ---- Direct I/O: why it is not used, and why 'on' cannot be honoured.
  'direct-io-off': { error: 'ERR_WAL_IO', text: () => 'direct_io is off' },
  'direct-io-refused': { error: 'ERR_WAL_IO', text: (d) => `the file system refuses direct I/O (O_DIRECT): ${ioText(d)}` },
  'direct-write-failed': { error: 'ERR_WAL_IO', text: (d) => `an aligned direct write failed: ${ioText(d)}` },
  'direct-io-alignment': { error: 'ERR_WAL_IO', text: (d) => `the segment size is not a multiple of the direct I/O alignment ${str(d.alignment)}` },
  'direct-io-unavailable': {
    error: 'ERR_WAL_IO',
    text: directIoUnavailableText,
    message: (d) => `${directIoUnavailableText(d)}; set transit.direct_io to 'auto' (or 'off')`,
  },

  // ---- Arguments below the API edge (the facade validated them first).
  'writer-option': {
    error: 'ERR_INVALID_ARGUMENT',
    text: (d) => `WAL writer: ${str(d.option)} ${WRITER_OPTION_RULE[str(d.option)] ?? 'is not valid'}, got ${JSON.stringify(d.value)}`,
  },
  'resume-point': {
    error: 'ERR_INVALID_ARGUMENT',
    text: (d) => `WAL writer: resume point (segment ${str(d.segment)}, size ${str(d.segmentSize)}, offset ${str(d.offset)}) is not valid`,
  },
  'ring-capacity': {
    error: 'ERR_INVALID_ARGUMENT',
    text: (d) => `ring capacity must be a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY} bytes, got ${str(d.capacity)}`,
  },
  'append-offset': { error: 'ERR_INVALID_ARGUMENT', text: (d) => `cannot append to ${str(d.file)} at offset ${str(d.offset)}` },
  'recovery-dir': { error: 'ERR_INVALID_ARGUMENT', text: () => 'WAL recovery: dir is empty' },
  'sync-probe-option': {
    error: 'ERR_INVALID_ARGUMENT',
    text: (d) =>
      `sync probe: ${str(d.option)} must be ${d.option === 'write_bytes' ? `from 1 to ${str(d.max)}` : `at most ${str(d.max)}`}, got ${str(d.value)}`,
  },
  'sync-probe-file': {
    error: 'ERR_INVALID_ARGUMENT',
    text: (d) => `sync probe: file_bytes (${str(d.fileBytes)}) must hold one write of ${str(d.writeBytes)} bytes`,
  },
  'sync-probe-mode': { error: 'ERR_NATIVE', text: () => 'unknown sync probe mode' },

  // ---- Damage in a segment header.
  'header-incomplete': { error: 'ERR_WAL_CORRUPT', text: (d) => `the segment header is incomplete (${str(d.available)} of ${str(d.expected)} bytes)` },
  'bad-magic': { error: 'ERR_WAL_CORRUPT', text: () => `bad magic (expected "${MAGIC}")` },
  'format-version': {
    error: 'ERR_FORMAT_VERSION',
    text: (d) => `written by WAL format version ${str(d.version)}; this build reads version ${str(d.expected)}`,
  },
  'header-checksum': { error: 'ERR_WAL_CORRUPT', text: (d) => `segment header checksum mismatch (stored ${hex32(d.stored)}, computed ${hex32(d.computed)})` },
  'header-used': { error: 'ERR_WAL_CORRUPT', text: (d) => `segment header length in use is ${str(d.used)}, expected ${str(d.expected)}` },
  'segment-number-range': { error: 'ERR_WAL_CORRUPT', text: () => 'segment number out of range' },
  'first-seq-range': { error: 'ERR_WAL_CORRUPT', text: () => 'first sequence number out of range' },
  'created-range': { error: 'ERR_WAL_CORRUPT', text: () => 'creation time out of range' },
  'segment-size': { error: 'ERR_WAL_CORRUPT', text: (d) => `segment size ${str(d.segmentSize)} in the header is invalid` },

  // ---- Damage in a record.
  'partial-header': { error: 'ERR_WAL_CORRUPT', text: (d) => `partial record header (${str(d.left)} bytes before the end of the segment)` },
  'record-length': { error: 'ERR_WAL_CORRUPT', text: (d) => `record length ${str(d.length)} runs past the end of the segment (${str(d.left)} bytes left)` },
  'seq-zero': { error: 'ERR_WAL_CORRUPT', text: () => 'record sequence number is 0' },
  'seq-range': { error: 'ERR_WAL_CORRUPT', text: () => 'record sequence number out of range' },
  'record-checksum': { error: 'ERR_WAL_CORRUPT', text: (d) => `record checksum mismatch (stored ${hex32(d.stored)}, computed ${hex32(d.computed)})` },

  // ---- Damage between records and segments.
  'seq-gap': { error: 'ERR_WAL_CORRUPT', text: (d) => `sequence gap: expected ${str(d.expected)}, found ${str(d.found)}` },
  'seq-behind': { error: 'ERR_WAL_CORRUPT', text: (d) => `sequence number ${str(d.seq)} does not follow ${str(d.last)}` },
  'bytes-after-end': { error: 'ERR_WAL_CORRUPT', text: () => 'a zero record header is followed by non-zero bytes' },
  'header-segment': { error: 'ERR_WAL_CORRUPT', text: (d) => `the header says segment ${str(d.headerSegment)}, but the file name says ${str(d.fileSegment)}` },
  'segment-back': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `sequence numbers go back: the segment starts at sequence ${str(d.firstSeq)}, but ${str(d.previous)} starts at ${str(d.previousFirstSeq)}`,
  },
  'checkpoint-gap': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) =>
      `sequence gap: the segment starts at sequence ${str(d.firstSeq)}, but ${CHECKPOINT_FILE_NAME} says ${segmentName(d.sealed)} ends at ${str(d.lastSeq)}`,
  },
  'segments-missing': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) =>
      `${d.missing === 1 ? 'the segment before it is' : `the ${str(d.missing)} segments before it are`} missing (the previous one is ${str(d.previous)})`,
  },
  'segment-gap': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `sequence gap: the segment starts at sequence ${str(d.firstSeq)}, but ${str(d.previous)} ends at ${str(d.previousLastSeq)}`,
  },
  'checkpoint-first-seq': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `the segment starts at sequence ${str(d.firstSeq)}, but ${CHECKPOINT_FILE_NAME} says it starts at ${str(d.checkpointFirstSeq)}`,
  },
  'missing-after-checkpoint': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `the segment is missing: ${CHECKPOINT_FILE_NAME} says ${segmentName(d.sealed)} was sealed, which happens only once the next segment exists`,
  },
  'foreign-store': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `the segment belongs to store ${str(d.storeId)}, but ${ID_FILE_NAME} names store ${str(d.walStoreId)}`,
  },

  // ---- Refusals of an open (or a read).
  'segment-damaged': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => damageText(d),
    message: (d) => `transit WAL segment ${str(d.file)} is damaged at byte offset ${str(d.offset)}: ${damageText(d)}. ${SALVAGE_ADVICE}`,
    details: segmentDetails,
  },
  'read-damaged': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => damageText(d),
    message: (d) => `transit WAL segment ${str(d.file)} is damaged at byte offset ${str(d.offset)}: ${damageText(d)}. ${READ_ADVICE}`,
    details: segmentDetails,
    twinOnly: true,
  },
  'segment-foreign': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => damageText(d),
    message: (d) =>
      `transit WAL segment ${str(d.file)} is damaged at byte offset ${str(d.offset)}: ${damageText(d)}. Move the file out of ${dirname(str(d.file))}: no recovery mode takes a segment of another store.`,
    details: segmentDetails,
  },
  'segment-version': {
    error: 'ERR_FORMAT_VERSION',
    text: (d) => damageText(d),
    message: (d) =>
      `transit WAL segment ${str(d.file)} was ${damageText(d)}; open the directory with the tapio-storage version that wrote it. Nothing was changed.`,
    details: segmentDetails,
  },
  'wal-id-not-object': {
    error: 'ERR_WAL_CORRUPT',
    text: walIdNotObjectText,
    message: (d) =>
      `${walIdNotObjectText(d)}; restore it from a copy (it holds {"format":"${WAL_FORMAT_NAME}","version":${FORMAT_VERSION},"storeId":"<32 hex>"} with the store id every segment header carries)`,
  },
  'wal-id-version': {
    error: 'ERR_FORMAT_VERSION',
    text: walIdVersionText,
    message: (d) =>
      `${walIdVersionText(d)}; open the directory with the tapio-storage version that wrote it, or point the transit WAL at an empty directory. Nothing was changed.`,
  },
  'wal-id-store': {
    error: 'ERR_WAL_CORRUPT',
    text: walIdStoreText,
    message: (d) => `${walIdStoreText(d)}; restore the file from a copy`,
  },
  'wal-id-missing': {
    error: 'ERR_WAL_CORRUPT',
    text: walIdMissingText,
    message: (d) => `${walIdMissingText(d)}; restore ${ID_FILE_NAME} from a copy`,
  },
  'not-wal-dir': {
    error: 'ERR_FORMAT_VERSION',
    text: notWalDirText,
    message: (d) => `${notWalDirText(d)}; point the transit WAL at an empty directory. Nothing was changed.`,
  },
  'no-readable-header': {
    error: 'ERR_WAL_CORRUPT',
    text: noReadableHeaderText,
    message: (d) => `${noReadableHeaderText(d)}; restore the directory from a copy (salvage cannot tell where the log ended)`,
  },

  // ---- Why CHECKPOINT or SALVAGED is not used.
  'small-file-unreadable': { error: 'ERR_WAL_CORRUPT', text: (d) => `${str(d.name)} cannot be read (${str(d.errno)})` },
  'small-file-not-object': { error: 'ERR_WAL_CORRUPT', text: (d) => `${str(d.name)} is not the JSON object it must hold` },
  'small-file-format': { error: 'ERR_WAL_CORRUPT', text: (d) => `${str(d.name)} describes another format or version` },
  'small-file-no-store': { error: 'ERR_WAL_CORRUPT', text: (d) => `${str(d.name)} holds no valid storeId` },
  'small-file-other-store': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `${str(d.name)} names store ${str(d.storeId)}, but ${ID_FILE_NAME} names store ${str(d.walStoreId)}`,
  },
  'checkpoint-range': { error: 'ERR_WAL_CORRUPT', text: () => `${CHECKPOINT_FILE_NAME} holds sealed, firstSeq or lastSeq out of range` },
  'salvaged-stretches': {
    error: 'ERR_WAL_CORRUPT',
    text: () => `${SALVAGED_FILE_NAME} holds stretches that are not a list of objects of whole numbers segment (from 1), offset, bytes, lostFrom and lostCount`,
  },

  // ---- Problems only the reader and `wal verify` report (TypeScript code both paths use; no native twin).
  'creation-unfinished': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `segment creation did not finish (${nestedText(d.cause, d)}) and no record follows the header`,
    twinOnly: true,
  },
  'wal-id-absent': { error: 'ERR_WAL_CORRUPT', text: () => `${ID_FILE_NAME} is missing, so the store id of the segments cannot be checked`, twinOnly: true },
  'checkpoint-mismatch': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) =>
      `${CHECKPOINT_FILE_NAME} says ${str(d.name)} holds sequence numbers ${str(d.checkpointFirstSeq)} to ${str(d.checkpointLastSeq)}, but it holds ${str(d.firstSeq)} to ${str(d.lastSeq)}`,
    twinOnly: true,
  },
  'read-gap': {
    error: 'ERR_WAL_CORRUPT',
    text: (d) => `sequence gap: the segment starts at sequence ${str(d.firstSeq)}, but the previous one ends at ${str(d.previousLastSeq)}`,
    twinOnly: true,
  },
  'unusable-header': { error: 'ERR_WAL_CORRUPT', text: () => 'its header is unusable, so the segment is left out of reads', twinOnly: true },
  'missing-before': { error: 'ERR_WAL_CORRUPT', text: (d) => `the segment before it (number ${str(d.number)}) is missing`, twinOnly: true },
} as const satisfies Record<string, ReasonSpec>;

/** A reason's stable name, e.g. `record-checksum`. */
export type ReasonCode = keyof typeof REASONS;

/** A reason and its details: what the core returns and what the twin builds. */
export interface Reasoned {
  reason: ReasonCode;
  details: ReasonDetails;
}

/** True when `name` is a reason this module knows. */
export function isReasonCode(name: unknown): name is ReasonCode {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(REASONS, name);
}

/**
 * Every reason with the TapioError code a failure for it has, and whether the native core gives
 * it too (the agreement test compares this with native/core/reason.h).
 */
export function reasonTable(): Array<{ reason: ReasonCode; error: TapioErrorCode; native: boolean }> {
  return Object.entries(REASONS).map(([reason, spec]) => ({
    reason: reason as ReasonCode,
    error: spec.error,
    native: !('twinOnly' in spec && spec.twinOnly === true),
  }));
}

/**
 * The clause a reason says: `record checksum mismatch (stored 0x00000001, computed 0x00000002)`.
 *
 * @example
 * ```ts
 * reasonText('seq-gap', { expected: 6, found: 7 }); // 'sequence gap: expected 6, found 7'
 * ```
 */
export function reasonText(reason: ReasonCode, details: ReasonDetails): string {
  return REASONS[reason].text(details);
}

/**
 * What a damaged stretch holds, as reports and messages say it: the damage reason's clause, and
 * "valid records follow at byte offset N" (details `validAt`) or that only the newest segment
 * may end in a torn tail (`olderSegment`). `details.damage` names the damage reason when
 * `damage` is not given.
 */
export function damageText(details: ReasonDetails, damage: ReasonFact | undefined = details.damage): string {
  let text = nestedText(damage, details);
  if (details.validAt !== undefined) text += `; valid records follow at byte offset ${str(details.validAt)}`;
  if (details.olderSegment === true) text += '; only the newest segment may end in a torn tail';
  return text;
}

/**
 * The TapioError for a failure: the code the reason has, a message that says what was wrong and
 * what to do, and the details. The addon calls it (handed over at init) for every failed core
 * status; the TypeScript twin calls it with the same reason and details.
 *
 * @example
 * ```ts
 * throw reasonError('io', { operation: 'open', file: '/data/wal/0000000000000001.wal', errno: 'EACCES' });
 * ```
 */
export function reasonError(reason: string, details: ReasonDetails = {}, options?: { cause?: unknown }): TapioError {
  const cause = options?.cause === undefined ? {} : { cause: options.cause };
  if (!isReasonCode(reason)) {
    return new TapioError('ERR_NATIVE', `the native addon reported an unknown reason ${JSON.stringify(reason)}; rebuild it (npm run build:native)`, {
      ...cause,
      details: { reason, ...details },
    });
  }
  const spec: ReasonSpec = REASONS[reason];
  const message = spec.message !== undefined ? spec.message(details) : spec.text(details);
  return new TapioError(spec.error, message, { ...cause, details: spec.details !== undefined ? spec.details(details) : { ...details } });
}

/** The error of a Reasoned value: reasonError(r.reason, r.details). */
export function reasonedError(r: Reasoned, options?: { cause?: unknown }): TapioError {
  return reasonError(r.reason, r.details, options);
}

/** A damage reason with a fact added (`validAt`, `olderSegment`), as the native scan adds them. */
export function withFacts(r: Reasoned, facts: ReasonDetails): Reasoned {
  return { reason: r.reason, details: { ...r.details, ...facts } };
}
