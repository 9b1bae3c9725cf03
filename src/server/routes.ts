/**
 * The route table of the HTTP API: for each route its method, path, role, the schemas of its
 * parameters, body and response (which /v1/openapi.json is made of) and its handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { tableToIPC, type Table } from 'apache-arrow';
import type { z } from 'zod';

import type { QueryRecord } from '../correlations/correlations.js';
import type { CorrelationField, CorrelationInput } from '../correlations/record.js';
import { CORRELATION_FIELDS } from '../correlations/record.js';
import type { User } from '../metadata/index.js';
import { Pace, phaseBusy } from '../query/breathe.js';
import type { CorrelationQuery } from '../query/options.js';
import { rangeArgs } from '../query/time-input.js';
import type { TapioStorage } from '../storage.js';
import { bodyKind, checkWith, httpError, ndjsonRefusal, parseJson, readBody, splitLines } from './http.js';
import { ndjsonValidator } from './ndjson.js';
import type { ServiceMetrics } from './service-metrics.js';
import * as S from './schemas.js';

/** Who may call a route: a role (admin may call every route), any valid key, or no key at all. */
export type Role = 'admin' | 'writer' | 'reader' | 'any' | 'none';

/** What a handler answers: JSON, bytes of a type, or nothing (it wrote the response itself). */
export type Reply = { status: number; json: unknown; headers?: Record<string, string> } | { status: number; type: string; bytes: Uint8Array | string } | null;

/** What a handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: Record<string, string>;
  user: User | null;
  env: RouteEnv;
  /** True once the request timed out or the client went away: stop producing output. */
  gone(): boolean;
}

/** What the routes work with. */
export interface RouteEnv {
  storage: TapioStorage;
  limits: { maxBody: number; maxLine: number; maxEvents: number; queryLimit: number };
  metrics: ServiceMetrics;
  ready(): { ready: boolean; pipeline: { state: string; position: number; error: string | null } | null };
  openapi(): unknown;
  renderMetrics(): Promise<string>;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  role: Role;
  summary: string;
  /** The metrics label of the route's work: ingest, query, similar, aggregate, explain, admin, other. */
  kind: string;
  query?: z.ZodType;
  body?: { schema: z.ZodType; types: string[] };
  response: { status: number; schema?: z.ZodType; types: string[] };
  handle(ctx: RouteContext): Promise<Reply>;
}

const JSON_TYPE = 'application/json';
const NDJSON_TYPE = 'application/x-ndjson';
export const ARROW_TYPE = 'application/vnd.apache.arrow.stream';

/** The default number of findings a query returns when it gives no limit. */
const DEFAULT_LIMIT = 1000;

/** Events of a GET /v1/events response when no limit is given. */
const DEFAULT_EVENTS = 1000;

// ---------------------------------------------------------------------------------------------
// Converting between the API's JSON and the store's records

/** A finding of a request (checked by findingInput) as insert takes it. */
function findingFromJson(f: z.output<typeof S.findingInput>, index: number): CorrelationInput {
  let timestamp: number;
  if (typeof f.timestamp === 'number') timestamp = f.timestamp;
  else {
    timestamp = Date.parse(f.timestamp);
    if (!Number.isFinite(timestamp)) {
      throw httpError(
        'ERR_BAD_REQUEST',
        `finding ${index}: timestamp ${JSON.stringify(f.timestamp)} is not an ISO 8601 date or epoch milliseconds; nothing was stored`,
        {
          details: { index },
        },
      );
    }
  }
  const out: CorrelationInput = {
    id: f.id,
    timestamp,
    type: f.type,
    severity: f.severity,
    confidence: f.confidence,
    eventCount: f.eventCount,
    timeWindow: f.timeWindow,
    embedding: f.embedding,
  };
  if (f.resources !== undefined) out.resources = f.resources;
  if (f.pattern !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(f.pattern) || f.pattern.length % 4 !== 0) {
      throw httpError('ERR_BAD_REQUEST', `finding ${index}: pattern must be base64; nothing was stored`, { details: { index } });
    }
    out.pattern = new Uint8Array(Buffer.from(f.pattern, 'base64'));
  }
  return out;
}

/** A stored finding as the API returns it. */
export function findingToJson(r: Partial<QueryRecord> & { timestamp: Date }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === 'timestamp') out[k] = (v as Date).toISOString();
    else if (k === 'pattern') out[k] = Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength).toString('base64');
    else if (k === 'embedding') out[k] = Array.from(v as Float32Array, shortestFloat32);
    else if (k === 'confidence') out[k] = shortestFloat32(v as number);
    else out[k] = v;
  }
  return out;
}

/**
 * The shortest decimal that reads back as the same float32 (0.8, not 0.800000011920929): what a
 * float32 column holds, printed as its writer wrote it.
 */
const FLT_MIN = 1.1754943508222875e-38;

export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v) || Math.fround(v) !== v) return v;
  // From 6 digits: a normal float32 is within half a unit of its 7th digit of any decimal of 6
  // digits or fewer that reads back as it, so rounding to 6 finds that decimal (JSON prints it
  // without the trailing zeros); most values need 7 to 9. Subnormals have fewer digits: from 1.
  for (let digits = Math.abs(v) < FLT_MIN ? 1 : 6; digits < 9; digits++) {
    const d = Number(v.toPrecision(digits));
    if (Math.fround(d) === v) return d;
  }
  return Number(v.toPrecision(9));
}

/** The time range of a request: `since` (a duration ago) or `from`, and `until`. */
function rangeOf(q: Parameters<typeof rangeArgs>[0]): { from?: number; to?: number } {
  return param(() => rangeArgs(q));
}

/** Runs a parameter parser whose ERR_INVALID_ARGUMENT is the request's fault (ERR_BAD_REQUEST). */
function param<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw httpError('ERR_BAD_REQUEST', (err as Error).message);
  }
}

function limitOf(env: RouteEnv, limit: number | undefined, what = 'limit'): number {
  const max = env.limits.queryLimit;
  if (limit === undefined) return Math.min(DEFAULT_LIMIT, max);
  if (limit > max) throw httpError('ERR_BAD_REQUEST', `${what} ${limit} is over server.query_limit (${max}); ask for fewer, or page by time`);
  return limit;
}

function fieldsOf(text: string | undefined): CorrelationField[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const fields = text.split(',').map((f) => f.trim());
  const bad = fields.filter((f) => !(CORRELATION_FIELDS as readonly string[]).includes(f));
  if (bad.length > 0) throw httpError('ERR_BAD_REQUEST', `fields: unknown field ${JSON.stringify(bad[0])}; the fields are ${CORRELATION_FIELDS.join(', ')}`);
  return fields as CorrelationField[];
}

function wantsArrow(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes(ARROW_TYPE);
}

/** Runs a query and answers JSON records, or an Arrow IPC stream when the client asks for one. */
async function answerQuery(ctx: RouteContext, q: CorrelationQuery, kind: string): Promise<Reply> {
  const env = ctx.env;
  const started = performance.now();
  try {
    if (wantsArrow(ctx.req)) {
      const table = (await env.storage.correlations.query({ ...q, format: 'arrow' })) as Table;
      return { status: 200, type: ARROW_TYPE, bytes: tableToIPC(table, 'stream') };
    }
    const records = await env.storage.correlations.query({ ...q, format: 'records' });
    const ms = performance.now() - started;
    // Printing embeddings (the shortest decimal of each float32) costs about 0.3 ms a finding: a
    // large answer is built in slices, in turn with other queries, as the query itself ran.
    const pace = new Pace();
    const findings = new Array<Record<string, unknown>>(records.length);
    for (let i = 0; i < records.length; i++) {
      await pace.breathe();
      findings[i] = findingToJson(records[i]!);
    }
    return { status: 200, json: { findings, count: records.length, ms: Math.round(ms * 100) / 100 } };
  } finally {
    env.metrics.queryLatency.observe((performance.now() - started) / 1000, { kind });
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async function ingestEvents(ctx: RouteContext): Promise<Reply> {
  const { env, req } = ctx;
  const kind = bodyKind(req, ['ndjson', 'json']);
  const body = await readBody(req, env.limits.maxBody);
  // Once requests have held this phase of the loop a slice, the check and the append take their
  // turn with the queries: at 64 connections, running every request that arrived inside one I/O
  // phase held the loop (and /healthz) 25-40 ms.
  if (phaseBusy()) await new Pace().turn();
  let records: Buffer[];
  if (kind === 'ndjson') {
    // One pass proves every line a JSON object (strict UTF-8) without parsing it into values; the
    // check follows the transit store's path, as the correlation store's kernels follow its own.
    const { maxLine, maxEvents } = env.limits;
    const lines = ndjsonValidator(env.storage.transit.path).validate(body, maxLine, maxEvents);
    if (!lines.ok) throw ndjsonRefusal(lines, body, maxLine, maxEvents);
    const ranges = lines.ranges;
    records = new Array<Buffer>(lines.count);
    for (let i = 0; i < lines.count; i++) records[i] = body.subarray(ranges[2 * i], ranges[2 * i + 1]);
  } else {
    const value = parseJson(body.toString('utf8'), 'the body');
    if (!Array.isArray(value)) throw httpError('ERR_BAD_REQUEST', 'a JSON body must be an array of event objects (or send NDJSON, one event per line)');
    if (value.length > env.limits.maxEvents) {
      throw httpError(
        'ERR_TOO_LARGE',
        `the request holds ${value.length} events, over server.max_events (${env.limits.maxEvents}); send them in smaller requests`,
      );
    }
    records = value.map((v: unknown, i) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw httpError('ERR_BAD_REQUEST', `element ${i} is not a JSON object; nothing was stored`, { details: { index: i } });
      const bytes = Buffer.from(JSON.stringify(v));
      if (bytes.length > env.limits.maxLine) {
        throw httpError('ERR_TOO_LARGE', `element ${i} takes ${bytes.length} bytes, over server.max_line (${env.limits.maxLine}); nothing was stored`, {
          details: { index: i },
        });
      }
      return bytes;
    });
  }
  if (records.length === 0) throw httpError('ERR_BAD_REQUEST', 'the request holds no events');
  const started = performance.now();
  const pending = env.storage.transit.tryAppend(records);
  if (pending === false) {
    env.metrics.rejected.inc({ reason: 'ring_full' });
    throw httpError(
      'ERR_OVERLOADED',
      'the transit ring buffer is full: the disk is not keeping up; retry after the Retry-After seconds (nothing of the request was stored)',
      {
        status: 503,
        headers: { 'retry-after': '1' },
      },
    );
  }
  const ack = await pending;
  env.metrics.appendAck.observe((performance.now() - started) / 1000);
  let bytes = 0;
  for (const r of records) bytes += r.length;
  env.metrics.ingestRecords.inc({}, records.length);
  env.metrics.ingestBytes.inc({}, bytes);
  return { status: 200, json: { firstSeq: ack.firstSeq, lastSeq: ack.lastSeq, count: records.length } };
}

async function readEvents(ctx: RouteContext): Promise<Reply> {
  const { env, res } = ctx;
  const q = ctx.query as z.output<typeof S.eventsQuery>;
  const transit = env.storage.transit;
  const limit = q.limit ?? DEFAULT_EVENTS;
  const from = q.fromSeq ?? transit.oldestSeq;
  // Checked before the first byte goes out, so a refusal is a JSON error with its status.
  const iterator = transit.read({ fromSeq: from, limit });
  const first = await iterator.next();
  res.writeHead(200, { 'content-type': `${NDJSON_TYPE}; charset=utf-8` });
  let next = first;
  while (next.done !== true && !ctx.gone()) {
    const { seq, data } = next.value;
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
    let line: string;
    try {
      JSON.parse(text);
      line = `{"seq":${seq},"event":${text}}\n`;
    } catch {
      line = `{"seq":${seq},"data":"${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')}"}\n`;
    }
    if (!res.write(line)) await new Promise<void>((resolve) => res.once('drain', resolve));
    next = await iterator.next();
  }
  await iterator.return?.();
  res.end();
  return null;
}

async function insertFindings(ctx: RouteContext): Promise<Reply> {
  const { env, req } = ctx;
  const kind = bodyKind(req, ['json', 'ndjson']);
  const body = await readBody(req, env.limits.maxBody);
  let raw: unknown[];
  if (kind === 'ndjson') {
    raw = splitLines(body, env.limits.maxLine, env.limits.maxEvents, 'findings').map((l) =>
      parseJson(body.toString('utf8', l.start, l.end), `line ${l.number}`, { line: l.number }),
    );
  } else {
    const value = parseJson(body.toString('utf8'), 'the body');
    const checked = checkWith(S.findingsBody, value, 'the body');
    raw = Array.isArray(checked) ? checked : checked.findings;
  }
  if (raw.length > env.limits.maxEvents) {
    throw httpError(
      'ERR_TOO_LARGE',
      `the request holds ${raw.length} findings, over server.max_events (${env.limits.maxEvents}); send them in smaller requests`,
    );
  }
  const findings = raw.map((f, i) => findingFromJson(checkWith(S.findingInput, f, `finding ${i}`), i));
  const result = await env.storage.correlations.insert(findings);
  return { status: 200, json: result };
}

async function queryFindings(ctx: RouteContext): Promise<Reply> {
  const q = ctx.query as z.output<typeof S.findingsQuery>;
  const fields = fieldsOf(q.fields);
  return answerQuery(
    ctx,
    {
      ...(q.selector === undefined ? {} : { selector: q.selector }),
      ...rangeOf(q),
      ...(fields === undefined ? {} : { fields }),
      ...(q.orderBy === undefined ? {} : { orderBy: q.orderBy }),
      limit: limitOf(ctx.env, q.limit),
    },
    'query',
  );
}

async function similarFindings(ctx: RouteContext): Promise<Reply> {
  const b = (await jsonBody(ctx, S.similarBody)) as z.output<typeof S.similarBody>;
  if ((b.embedding === undefined) === (b.id === undefined))
    throw httpError('ERR_BAD_REQUEST', 'give either embedding (an array of numbers) or id (a stored finding), not both or neither');
  const similar: NonNullable<CorrelationQuery['similar']> = {
    ...(b.embedding === undefined ? {} : { embedding: b.embedding }),
    ...(b.id === undefined ? {} : { id: b.id }),
    ...(b.threshold === undefined ? {} : { threshold: b.threshold }),
  };
  if (b.k !== undefined) similar.k = limitOf(ctx.env, b.k, 'k');
  else if (b.threshold === undefined) similar.k = 10;
  return answerQuery(
    ctx,
    {
      ...(b.selector === undefined ? {} : { selector: b.selector }),
      ...rangeOf(b),
      similar,
      ...(b.fields === undefined ? {} : { fields: b.fields as CorrelationField[] }),
      limit: limitOf(ctx.env, b.limit),
    },
    'similar',
  );
}

async function aggregateFindings(ctx: RouteContext): Promise<Reply> {
  const b = (await jsonBody(ctx, S.aggregateBody)) as z.output<typeof S.aggregateBody>;
  const started = performance.now();
  try {
    const rows = await ctx.env.storage.correlations.aggregate({
      ...(b.selector === undefined ? {} : { selector: b.selector }),
      ...rangeOf(b),
      ...(b.groupBy === undefined ? {} : { groupBy: b.groupBy }),
      ...(b.bucket === undefined ? {} : { bucket: b.bucket }),
      ...(b.measures === undefined ? {} : { measures: b.measures }),
    });
    const groups = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
    return { status: 200, json: { groups, ms: Math.round((performance.now() - started) * 100) / 100 } };
  } finally {
    ctx.env.metrics.queryLatency.observe((performance.now() - started) / 1000, { kind: 'aggregate' });
  }
}

async function explainFindings(ctx: RouteContext): Promise<Reply> {
  const q = ctx.query as z.output<typeof S.findingsQuery>;
  const fields = fieldsOf(q.fields);
  const started = performance.now();
  try {
    const out = await ctx.env.storage.correlations.explain({
      ...(q.selector === undefined ? {} : { selector: q.selector }),
      ...rangeOf(q),
      ...(fields === undefined ? {} : { fields }),
      ...(q.orderBy === undefined ? {} : { orderBy: q.orderBy }),
      limit: limitOf(ctx.env, q.limit),
    });
    return { status: 200, json: { query: out.query, explain: out.explain, count: out.records.length } };
  } finally {
    ctx.env.metrics.queryLatency.observe((performance.now() - started) / 1000, { kind: 'explain' });
  }
}

async function jsonBody(ctx: RouteContext, schema: z.ZodType): Promise<unknown> {
  bodyKind(ctx.req, ['json']);
  const body = await readBody(ctx.req, ctx.env.limits.maxBody);
  return checkWith(schema, parseJson(body.toString('utf8'), 'the body'), 'the body');
}

function pageOptions(q: Record<string, string>): { limit?: number; cursor?: string } {
  const out: { limit?: number; cursor?: string } = {};
  if (q.limit !== undefined) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 1) throw httpError('ERR_BAD_REQUEST', `limit must be a whole number >= 1, got ${JSON.stringify(q.limit)}`);
    out.limit = n;
  }
  if (q.cursor !== undefined) out.cursor = q.cursor;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The table

const json = [JSON_TYPE];

export function routeTable(): Route[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      role: 'none',
      kind: 'health',
      summary: 'Liveness: 200 while the process serves.',
      response: { status: 200, schema: S.health, types: json },
      handle: () => Promise.resolve({ status: 200, json: { status: 'ok' } }),
    },
    {
      method: 'GET',
      path: '/readyz',
      role: 'none',
      kind: 'health',
      summary: 'Readiness: 200 once the stores are open and the pipeline runs (when there is one), 503 while starting, stopping or after the pipeline failed.',
      response: { status: 200, schema: S.ready, types: json },
      handle: (ctx) => {
        const r = ctx.env.ready();
        const body = {
          ready: r.ready,
          native: ctx.env.storage.transit.path === 'native',
          transit: { lastSeq: ctx.env.storage.transit.lastSeq },
          pipeline: r.pipeline,
        };
        return Promise.resolve({ status: r.ready ? 200 : 503, json: body });
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      role: 'any',
      kind: 'other',
      summary: 'Metrics in the Prometheus text format (any valid key).',
      response: { status: 200, types: ['text/plain; version=0.0.4'] },
      handle: async (ctx) => ({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', bytes: await ctx.env.renderMetrics() }),
    },
    {
      method: 'GET',
      path: '/v1/openapi.json',
      role: 'any',
      kind: 'other',
      summary: 'This API as an OpenAPI 3.1 document, made from the schemas the service checks requests with.',
      response: { status: 200, types: json },
      handle: (ctx) => Promise.resolve({ status: 200, json: ctx.env.openapi() }),
    },
    {
      method: 'POST',
      path: '/v1/events',
      role: 'writer',
      kind: 'ingest',
      summary:
        'Ingest events: NDJSON (one JSON object per line) or a JSON array. Each event is stored as its bytes in the transit WAL. 200 once every event is durable (fdatasync), with their sequence numbers; 503 with Retry-After when the ring buffer is full; all or nothing.',
      body: { schema: S.eventLine, types: [NDJSON_TYPE, JSON_TYPE] },
      response: { status: 200, schema: S.appendAck, types: json },
      handle: ingestEvents,
    },
    {
      method: 'GET',
      path: '/v1/events',
      role: 'reader',
      kind: 'read',
      summary: 'Committed events from a sequence number, as NDJSON lines {"seq", "event"}.',
      query: S.eventsQuery,
      response: { status: 200, schema: S.eventLine, types: [NDJSON_TYPE] },
      handle: readEvents,
    },
    {
      method: 'POST',
      path: '/v1/findings',
      role: 'writer',
      kind: 'insert',
      summary: 'Insert findings (a JSON array, { findings: [...] }, or NDJSON): checked whole, durable when answered.',
      body: { schema: S.findingsBody, types: [JSON_TYPE, NDJSON_TYPE] },
      response: { status: 200, schema: S.insertAck, types: json },
      handle: insertFindings,
    },
    {
      method: 'GET',
      path: '/v1/findings',
      role: 'reader',
      kind: 'query',
      summary: 'Findings by label selector and time range, as JSON or (Accept: application/vnd.apache.arrow.stream) an Arrow IPC stream.',
      query: S.findingsQuery,
      response: { status: 200, schema: S.findingsResult, types: [JSON_TYPE, ARROW_TYPE] },
      handle: queryFindings,
    },
    {
      method: 'POST',
      path: '/v1/findings/similar',
      role: 'reader',
      kind: 'similar',
      summary: 'The findings most similar to an embedding or to a stored finding (cosine), filtered by selector and time range; each with its score.',
      body: { schema: S.similarBody, types: json },
      response: { status: 200, schema: S.findingsResult, types: [JSON_TYPE, ARROW_TYPE] },
      handle: similarFindings,
    },
    {
      method: 'POST',
      path: '/v1/findings/aggregate',
      role: 'reader',
      kind: 'aggregate',
      summary: 'Counts and measures of findings grouped by type, severity, resource names and time buckets.',
      body: { schema: S.aggregateBody, types: json },
      response: { status: 200, schema: S.aggregateResult, types: json },
      handle: aggregateFindings,
    },
    {
      method: 'GET',
      path: '/v1/findings/explain',
      role: 'reader',
      kind: 'explain',
      summary: 'How a query runs: segments and row groups pruned and read, rows scanned and matched, bytes read, time per stage.',
      query: S.findingsQuery,
      response: { status: 200, schema: S.explainResult, types: json },
      handle: explainFindings,
    },
    {
      method: 'POST',
      path: '/v1/users',
      role: 'admin',
      kind: 'admin',
      summary: 'Create a user with roles (admin, writer, reader; none unless given, as `tapio-storage users add`).',
      body: { schema: S.userBody, types: json },
      response: { status: 201, schema: S.user, types: json },
      handle: async (ctx) => {
        const b = (await jsonBody(ctx, S.userBody)) as z.output<typeof S.userBody>;
        const created = await ctx.env.storage.metadata.users.create({ name: b.name, roles: b.roles ?? [] });
        return { status: 201, json: created };
      },
    },
    {
      method: 'GET',
      path: '/v1/users',
      role: 'admin',
      kind: 'admin',
      summary: 'List users (paged: limit, cursor).',
      response: { status: 200, schema: S.usersResult, types: json },
      handle: async (ctx) => {
        const page = await ctx.env.storage.metadata.users.list(pageOptions(ctx.query));
        return { status: 200, json: { users: page.items, cursor: page.cursor } };
      },
    },
    {
      method: 'POST',
      path: '/v1/users/{id}/keys',
      role: 'admin',
      kind: 'admin',
      summary: 'Create an API key for a user; the key is in the answer and nowhere else.',
      body: { schema: S.keyBody, types: json },
      response: { status: 201, schema: S.createdKey, types: json },
      handle: async (ctx) => {
        const b = (await jsonBody(ctx, S.keyBody)) as z.output<typeof S.keyBody>;
        const created = await ctx.env.storage.metadata.apiKeys.create(ctx.params.id!, {
          name: b.name,
          ...(b.expiresAt === undefined ? {} : { expiresAt: b.expiresAt }),
        });
        return { status: 201, json: created };
      },
    },
    {
      method: 'GET',
      path: '/v1/keys',
      role: 'admin',
      kind: 'admin',
      summary: "List API keys (all, or one user's with userId), never the keys themselves.",
      response: { status: 200, schema: S.keysResult, types: json },
      handle: async (ctx) => {
        const { userId, ...rest } = ctx.query;
        const page = await ctx.env.storage.metadata.apiKeys.list(userId ?? null, pageOptions(rest));
        return { status: 200, json: { keys: page.items, cursor: page.cursor } };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/keys/{id}',
      role: 'admin',
      kind: 'admin',
      summary: 'Revoke an API key: refused from the next request on.',
      response: { status: 200, schema: S.keyInfo, types: json },
      handle: async (ctx) => ({ status: 200, json: await ctx.env.storage.metadata.apiKeys.revoke(ctx.params.id!) }),
    },
  ];
}
