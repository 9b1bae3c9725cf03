/**
 * The HTTP plumbing of the service: errors with a status, JSON responses, request bodies read
 * within the configured limits, NDJSON split into lines.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { z } from 'zod';

import { HTTP_STATUS, TapioError, type TapioErrorCode, type TapioErrorDetails } from '../errors.js';
import { describeJsonFault, type NdjsonFailure } from './ndjson.js';

/** The status and headers an error of the HTTP layer answers with, beside its code's default. */
const HTTP_EXTRA = new WeakMap<TapioError, { status: number; headers: Record<string, string> }>();

/** A TapioError answered with `status` (instead of its code's) and extra `headers`. */
export function httpError(
  code: TapioErrorCode,
  message: string,
  options: { status?: number; headers?: Record<string, string>; details?: TapioErrorDetails; cause?: unknown } = {},
): TapioError {
  const err = new TapioError(code, message, {
    ...(options.details === undefined ? {} : { details: options.details }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
  HTTP_EXTRA.set(err, { status: options.status ?? HTTP_STATUS[code], headers: options.headers ?? {} });
  return err;
}

/** The status, headers and JSON body an error is answered with. */
export function errorResponse(err: unknown): { status: number; headers: Record<string, string>; body: unknown } {
  if (err instanceof TapioError) {
    const extra = HTTP_EXTRA.get(err);
    const error: Record<string, unknown> = { code: err.code, message: err.message };
    if (err.details !== undefined) error.details = err.details;
    return { status: extra?.status ?? HTTP_STATUS[err.code], headers: extra?.headers ?? {}, body: { error } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, headers: {}, body: { error: { code: 'ERR_INTERNAL', message: `an unexpected failure: ${message}` } } };
}

/** Sends `body` as JSON with `status` (once; a response already under way is left alone). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded) return;
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length, ...headers });
  res.end(bytes);
}

/** Sends bytes with a content type. */
export function sendBytes(res: ServerResponse, status: number, type: string, bytes: Uint8Array | string): void {
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, { 'content-type': type, 'content-length': typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength });
  res.end(bytes);
}

/**
 * Reads a request body of at most `maxBytes` (ERR_TOO_LARGE, 413, when it is larger: what was
 * read is dropped and the connection closed after the answer, so the rest is never read).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge(`the body of ${declared} bytes is over server.max_body (${maxBytes} bytes); send smaller requests`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(`the body is over server.max_body (${maxBytes} bytes); send smaller requests`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) reject(httpError('ERR_BAD_REQUEST', `the request body could not be read: ${err.message}`, { cause: err }));
      failed = true;
    });
  });
}

function tooLarge(message: string): TapioError {
  return httpError('ERR_TOO_LARGE', message, { headers: { connection: 'close' } });
}

/** What a body holds by its content type: 'ndjson' (also JSON Lines and text/plain) or 'json'. */
export function bodyKind(req: IncomingMessage, allowed: ReadonlyArray<'json' | 'ndjson'>): 'json' | 'ndjson' {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let kind: 'json' | 'ndjson' | null = null;
  if (type === 'application/json') kind = 'json';
  else if (
    type === '' ||
    type === 'application/x-ndjson' ||
    type === 'application/ndjson' ||
    type === 'application/jsonl' ||
    type === 'application/x-jsonlines' ||
    type === 'text/plain'
  )
    kind = 'ndjson';
  if (kind === null || !allowed.includes(kind)) {
    const names = allowed.map((k) => (k === 'json' ? 'application/json' : 'application/x-ndjson')).join(' or ');
    throw httpError('ERR_BAD_REQUEST', `content type ${JSON.stringify(type)} is not taken here; send ${names}`, { status: 415 });
  }
  return kind;
}

/** One line of an NDJSON body: where it starts and ends in the body (without its line break). */
export interface Line {
  start: number;
  end: number;
  /** 1-based, counting blank lines. */
  number: number;
}

/**
 * The non-blank lines of an NDJSON body. Refuses (ERR_TOO_LARGE) a line over `maxLine` bytes or
 * more than `maxLines` lines, naming the line.
 */
export function splitLines(body: Buffer, maxLine: number, maxLines: number, what: string): Line[] {
  const lines: Line[] = [];
  let at = 0;
  let number = 0;
  while (at < body.length) {
    let nl = body.indexOf(10, at);
    if (nl < 0) nl = body.length;
    number++;
    let end = nl;
    if (end > at && body[end - 1] === 13) end--;
    let start = at;
    while (start < end && (body[start] === 32 || body[start] === 9)) start++;
    while (end > start && (body[end - 1] === 32 || body[end - 1] === 9)) end--;
    if (end > start) {
      if (end - start > maxLine) throw lineTooLong(number, end - start, maxLine);
      if (lines.length === maxLines) throw tooManyLines(number, maxLines, what);
      lines.push({ start, end, number });
    }
    at = nl + 1;
  }
  return lines;
}

/** ERR_TOO_LARGE for line `number` of `bytes` bytes (trimmed), over server.max_line. */
function lineTooLong(number: number, bytes: number, maxLine: number): TapioError {
  return httpError('ERR_TOO_LARGE', `line ${number} holds ${bytes} bytes, over server.max_line (${maxLine} bytes); nothing of the request was stored`, {
    details: { line: number },
  });
}

/** ERR_TOO_LARGE for line `number`, the first beyond server.max_events non-blank lines of `what` (events, findings). */
function tooManyLines(number: number, maxLines: number, what: string): TapioError {
  return httpError('ERR_TOO_LARGE', `the request holds more than server.max_events (${maxLines}) ${what}; send them in smaller requests (nothing was stored)`, {
    details: { line: number },
  });
}

/**
 * The error an NDJSON body of events is refused with, from the check's failure (./ndjson.ts):
 * ERR_TOO_LARGE for the limits, as splitLines words them; ERR_BAD_REQUEST for a line that is not
 * JSON (what is wrong and its byte offset in the line, also in details.offset) or not an object.
 * details.line names the line in each.
 */
export function ndjsonRefusal(failure: NdjsonFailure, body: Uint8Array, maxLine: number, maxLines: number): TapioError {
  const n = failure.line;
  switch (failure.outcome) {
    case 'line-too-long':
      return lineTooLong(n, failure.length, maxLine);
    case 'too-many-lines':
      return tooManyLines(n, maxLines, 'events');
    case 'not-json':
      return httpError('ERR_BAD_REQUEST', `line ${n} is not valid JSON: ${describeJsonFault(failure, body)}; nothing of the request was stored`, {
        details: { line: n, offset: failure.offset },
      });
    case 'not-object':
      return httpError('ERR_BAD_REQUEST', `line ${n} is not a JSON object; each event is one object per line (nothing of the request was stored)`, {
        details: { line: n },
      });
  }
}

/** Parses JSON text, or throws ERR_BAD_REQUEST saying where (`where`: "the body", "line 3"). */
export function parseJson(text: string, where: string, details?: TapioErrorDetails): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw httpError(
      'ERR_BAD_REQUEST',
      `${where} is not valid JSON: ${(err as Error).message}; nothing of the request was stored`,
      details === undefined ? {} : { details },
    );
  }
}

/** Checks `value` with `schema`, or throws ERR_BAD_REQUEST listing each problem with its path. */
export function checkWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  const text = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
  throw httpError('ERR_BAD_REQUEST', `${where} was refused: ${text}`, { details: { issues } });
}
