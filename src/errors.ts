/**
 * Every error a caller of tapio-storage can see is a {@link TapioError} with a stable string
 * `code`. The table below is the single list of codes; docs/errors.md documents each one and a
 * test keeps the two in step.
 */

/** What each code means and what the caller should do about it. */
export const ERROR_CODES = {
  ERR_CONFIG: {
    meaning: 'The configuration object or YAML file is invalid: a wrong type, an unknown key, a malformed size or duration.',
    action: 'Fix every key the message lists (each problem names its key path, the value given and what was expected). Nothing was created or touched.',
  },
  ERR_INVALID_ARGUMENT: {
    meaning: 'An argument passed to an API call has the wrong type or an out-of-range value, or an options object holds a key the call does not know.',
    action: 'Pass a value of the type named in the message, and only the options it lists. Nothing stored was changed.',
  },
  ERR_VALIDATION: {
    meaning: 'A value to be stored failed its schema (for example a user without a name, or a role that is not a string).',
    action: 'Correct the fields the message lists. Nothing stored was changed.',
  },
  ERR_NOT_FOUND: {
    meaning: 'The record the call refers to does not exist (an unknown user id or API key id).',
    action: 'Check the id; list the records to see which exist.',
  },
  ERR_ALREADY_EXISTS: {
    meaning: 'A record with the same unique key already exists (a user name, a resource).',
    action: 'Use the existing record, or choose another name.',
  },
  ERR_API_KEY_FORMAT: {
    meaning: 'A string given as an API key is not of the form tap_<keyId>_<secret> or its checksum does not match (a typo or a truncated copy).',
    action: 'Copy the whole key again as it was shown at creation; keys cannot be recovered, so create a new one if it is lost.',
  },
  ERR_DATA_DIR: {
    meaning: 'The data directory (or a store path) cannot be created, read or written.',
    action: 'Create the directory or fix its permissions so the process can read and write it, or point the configuration elsewhere.',
  },
  ERR_NO_STORE: {
    meaning:
      'There is no tapio-storage store where the call or command looked (no TAPIO_STORAGE marker in the data directory, or a store directory without its files), and it was not asked to create one. Commands other than `init`, `serve` and `demo` never create a store, nor does TapioStorage.open with { create: false }.',
    action:
      'Check the path (--data-dir, --config, dataDir, --path). To create a store there, run `tapio-storage --data-dir DIR init` (or open without { create: false }). Nothing was created or changed.',
  },
  ERR_FORMAT_VERSION: {
    meaning: 'A store directory was written by another format version, or belongs to another kind of store.',
    action: 'Open it with the tapio-storage version that wrote it, or point this store at an empty directory. The existing files were not touched.',
  },
  ERR_METADATA_IO: {
    meaning: 'The metadata store (lmdb) failed to read or write.',
    action: 'Check free disk space and the permissions of the metadata directory; the message carries the lmdb error.',
  },
  ERR_METADATA_CORRUPT: {
    meaning: 'A value read from the metadata store does not match its schema (damaged bytes, or a value written by something other than tapio-storage).',
    action: 'The message names the key. Restore the metadata directory from a copy, or delete that record and create it again.',
  },
  ERR_METADATA_SECRET: {
    meaning:
      'The HMAC secret file of the metadata store is missing, has the wrong size, can be read by other users, or is not the one the stored API keys were made with.',
    action:
      'Restore the secret file that belongs to this store (API keys cannot be verified without it) and make it readable by its owner only (chmod 600). A store without API keys gets a new secret by itself.',
  },
  ERR_LOCKED: {
    meaning: 'The transit WAL directory is open in another store (another process, or another TapioStorage in this one).',
    action:
      'Close the store in the process the message names (or stop that process), then open again. The lock is held by the operating system and ends with its process, so a crashed or killed process leaves nothing to clean up: the LOCK file only names the last owner and is not to be deleted. Only where neither abstract Unix sockets (Linux) nor the native addon exist is the lock a plain file; there the message says to delete it by hand once its process is gone.',
  },
  ERR_CLOSED: {
    meaning: 'The store was used after close().',
    action: 'Open the store again with TapioStorage.open().',
  },
  ERR_NATIVE: {
    meaning: 'The native addon reported an unexpected internal failure.',
    action: 'Report it with the message; set TAPIO_NATIVE=0 to run on the TypeScript path meanwhile.',
  },
  ERR_WAL_CORRUPT: {
    meaning: 'A transit WAL segment has a bad checksum, a bad length or a sequence gap outside the torn tail of the newest segment.',
    action:
      "The message names the segment and offset. Restore the file from a copy, or keep every whole record and set the damaged stretch aside for good with `tapio-storage wal salvage` or TapioStorage.open(config, { transit: { recovery: 'salvage' } }); later opens and reads accept exactly what salvage set aside.",
  },
  ERR_NOTHING_TO_SALVAGE: {
    meaning: '`tapio-storage wal salvage` found no damage to set aside in the transit WAL (a torn tail, which any open cuts, does not count).',
    action: 'Nothing to do: the store opens as it is. `tapio-storage wal verify` lists what the log holds.',
  },
  ERR_WAL_IO: {
    meaning:
      'A write or fdatasync of the transit WAL failed. The writer is in a failed state: every pending and later append is refused, and fdatasync is never retried.',
    action: 'Fix the cause (disk full, I/O error), then close and reopen the store: the synced prefix is recovered.',
  },
  ERR_RECORD_TOO_LARGE: {
    meaning: 'A record is larger than a WAL segment (or the ring buffer) can hold.',
    action: 'Split the record, or raise transit.segment_size / transit.ring_capacity.',
  },
  ERR_CHECKPOINT_AHEAD: {
    meaning:
      "A subscription's stored checkpoint is past the newest record of the transit WAL: the WAL directory was replaced, emptied or restored from an older copy since the checkpoint was stored.",
    action: 'Delete the checkpoint (metadata.checkpoints.delete(name)) to start again from the oldest record, or subscribe under another name.',
  },
  ERR_WAL_RETENTION: {
    meaning: 'A reader or subscriber asked for sequence numbers that retention has already deleted.',
    action: 'Resume from the oldest retained sequence number (the error and the stats name it), or raise transit.retention.',
  },
  ERR_SEGMENT_CORRUPT: {
    meaning:
      'A file of the correlation store (its MANIFEST, a Parquet segment, an embedding side file, or a record of its WAL) is damaged or of another format: a checksum, a size or a magic number does not match what the manifest says.',
    action:
      "Run `tapio-storage findings verify` to list every damaged file. Restore the file from a backup, or open with TapioStorage.open(config, { correlations: { recovery: 'salvage' } }) to set damaged segments aside (their findings are then missing from queries; stats().salvaged lists them).",
  },
  ERR_SEGMENT_IO: {
    meaning:
      'The correlation store could not read or write one of its files (a segment, a side file, the manifest): the disk is full, a permission is missing, or the device failed.',
    action:
      'Fix the cause the message names (free space, permissions) and retry. Nothing acknowledged was lost: the findings stay in the active part and the WAL until a flush succeeds.',
  },
  ERR_SUBSCRIBER_HANDLER: {
    meaning:
      "A subscription's handler threw or rejected, so the subscription stopped. The handler's error is the cause; the checkpoint stays at the last record (or batch) the handler finished.",
    action:
      "Fix the handler (or the record it cannot handle), then subscribe again under the same name: it resumes with the record that failed. Listen to the transit's error event to be told of such failures.",
  },
  ERR_SELECTOR_SYNTAX: {
    meaning:
      'A label selector (or a regular expression inside one) could not be parsed or holds an invalid key or value. The message says what was found and what was expected, and points at the offset (details.offset) in the text.',
    action: 'Correct the selector at the offset the caret shows; docs/SELECTORS.md gives the grammar, the limits and the supported regular expressions.',
  },
  ERR_UNAUTHORIZED: {
    meaning: 'An HTTP request to the service carried no API key, a malformed one, or one that is unknown or revoked (status 401).',
    action: 'Send `Authorization: Bearer <key>` with a live key; the first start of `tapio-storage serve` writes the admin key to <data dir>/admin.key.',
  },
  ERR_FORBIDDEN: {
    meaning:
      "An HTTP request's API key is valid, but its user has none of the roles the route needs (status 403): admin for users and keys, writer for ingest, reader for queries.",
    action: 'Use a key of a user with the role the message names, or give the user that role (`tapio-storage users add --role ...`).',
  },
  ERR_BAD_REQUEST: {
    meaning:
      'An HTTP request could not be read: malformed JSON or NDJSON, a content type the route does not take, or a query parameter of the wrong form. Nothing of the request was stored.',
    action:
      'Fix the body or parameter the message names (details.line gives the NDJSON line, and details.offset the byte in it where the line stops being JSON) and send the request again; /v1/openapi.json describes every route.',
  },
  ERR_TOO_LARGE: {
    meaning:
      'An HTTP request is over a limit of the service: its body (server.max_body), one NDJSON line (server.max_line) or the number of events or findings in it (server.max_events). Nothing of the request was stored.',
    action: 'Send the data in smaller requests, or raise the limit in the server section of the configuration.',
  },
  ERR_OVERLOADED: {
    meaning:
      'The service cannot take the request now: too many requests in progress (429, server.max_inflight), or the transit ring buffer is full (503). The Retry-After header says when to try again. Nothing of the request was stored.',
    action: 'Retry after the Retry-After seconds, with back-off; send fewer concurrent requests or larger batches.',
  },
  ERR_TIMEOUT: {
    meaning:
      'An HTTP request took longer than server.request_timeout: its body did not arrive in time (408), or the query did not finish (503). An ingest that timed out while its events were being made durable may still have been stored.',
    action: 'Narrow the query (a shorter time range, a selector, a limit), or raise server.request_timeout.',
  },
  ERR_INTERNAL: {
    meaning: 'The service failed in a way it did not expect (a bug). The request may not have been carried out; nothing acknowledged before is affected.',
    action: 'Retry the request; report the message and the server log line of the same time if it happens again.',
  },
  ERR_NO_ROUTE: {
    meaning: 'An HTTP request named a path the service does not have (404) or a method the path does not take (405, with an Allow header).',
    action: 'Check the path and method against /v1/openapi.json.',
  },
} as const satisfies Record<string, { meaning: string; action: string }>;

/** A stable error code. */
export type TapioErrorCode = keyof typeof ERROR_CODES;

/**
 * The HTTP status the service answers each code with (docs/errors.md). Codes of one kind share a
 * status: the caller's mistakes are 4xx, the store's failures 5xx. ERR_OVERLOADED is 429 for too
 * many requests and 503 for a full ring buffer; ERR_TIMEOUT 408 for a slow body and 503 for a
 * slow query; ERR_NO_ROUTE 405 for a wrong method: the service picks those where they arise.
 */
export const HTTP_STATUS = {
  ERR_CONFIG: 500,
  ERR_INVALID_ARGUMENT: 400,
  ERR_VALIDATION: 400,
  ERR_NOT_FOUND: 404,
  ERR_ALREADY_EXISTS: 409,
  ERR_API_KEY_FORMAT: 400,
  ERR_DATA_DIR: 500,
  ERR_NO_STORE: 500,
  ERR_FORMAT_VERSION: 500,
  ERR_METADATA_IO: 500,
  ERR_METADATA_CORRUPT: 500,
  ERR_METADATA_SECRET: 500,
  ERR_LOCKED: 503,
  ERR_CLOSED: 503,
  ERR_NATIVE: 500,
  ERR_WAL_CORRUPT: 500,
  ERR_NOTHING_TO_SALVAGE: 400,
  ERR_WAL_IO: 503,
  ERR_RECORD_TOO_LARGE: 413,
  ERR_CHECKPOINT_AHEAD: 409,
  ERR_WAL_RETENTION: 410,
  ERR_SEGMENT_CORRUPT: 500,
  ERR_SEGMENT_IO: 503,
  ERR_SUBSCRIBER_HANDLER: 500,
  ERR_SELECTOR_SYNTAX: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN: 403,
  ERR_BAD_REQUEST: 400,
  ERR_TOO_LARGE: 413,
  ERR_OVERLOADED: 429,
  ERR_TIMEOUT: 408,
  ERR_INTERNAL: 500,
  ERR_NO_ROUTE: 404,
} as const satisfies Record<TapioErrorCode, number>;

/** Extra fields some errors carry (the file and offset of a corrupt record, the key path of a config problem). */
export interface TapioErrorDetails {
  [key: string]: unknown;
}

/**
 * The one error class of tapio-storage.
 *
 * @example
 * ```ts
 * try {
 *   await TapioStorage.open('./tapio.yaml');
 * } catch (err) {
 *   if (err instanceof TapioError && err.code === 'ERR_CONFIG') console.error(err.message);
 * }
 * ```
 */
export class TapioError extends Error {
  /** A stable string from {@link ERROR_CODES}. */
  readonly code: TapioErrorCode;
  /** Structured facts about the failure, when there are any. */
  readonly details: TapioErrorDetails | undefined;

  constructor(code: TapioErrorCode, message: string, options?: { cause?: unknown; details?: TapioErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TapioError';
    this.code = code;
    this.details = options?.details;
  }
}

/** True when `err` is a TapioError, optionally with the given code. */
export function isTapioError(err: unknown, code?: TapioErrorCode): err is TapioError {
  return err instanceof TapioError && (code === undefined || err.code === code);
}
