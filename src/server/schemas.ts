/**
 * The zod schemas of the HTTP API: every request's parameters and body and every response. The
 * route table (routes.ts) names them, the server checks requests with them, the tests check
 * responses with them, and openapi.ts turns the same schemas into /v1/openapi.json.
 */
import { z } from 'zod';

import { CORRELATION_FIELDS } from '../correlations/record.js';

/** A point in time: epoch milliseconds or an ISO 8601 date. */
const instant = z.union([z.number().int().nonnegative(), z.string().min(1).max(64)]).describe('epoch milliseconds or an ISO 8601 date');

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().describe('a stable code (docs/errors.md)'),
      message: z.string().describe('what was wrong and what to do'),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('every error response');

export const health = z.object({ status: z.literal('ok') });
export const ready = z.object({
  ready: z.boolean(),
  native: z.boolean(),
  transit: z.object({ lastSeq: z.number().int() }),
  pipeline: z.object({ state: z.string(), position: z.number().int(), error: z.string().nullable() }).nullable(),
});

export const appendAck = z.object({
  firstSeq: z.number().int().describe('the sequence number of the first event of the request'),
  lastSeq: z.number().int().describe('the sequence number of the last event; every event up to it is durable'),
  count: z.number().int(),
});

export const eventsQuery = z.object({
  fromSeq: z.coerce.number().int().min(1).optional().describe('the first sequence number (default: the oldest kept)'),
  limit: z.coerce.number().int().min(1).max(100_000).optional().describe('the most events (default 1000)'),
});

/** One line of GET /v1/events. */
export const eventLine = z.object({
  seq: z.number().int(),
  event: z.unknown().optional().describe('the event as sent, when it is JSON'),
  data: z.string().optional().describe('the bytes in base64, for an event that is not JSON (appended through the library)'),
});

const fieldName = z.enum(CORRELATION_FIELDS as unknown as [string, ...string[]]);

/** A finding as POST /v1/findings takes it (the seed's CorrelationRecord). */
export const findingInput = z.strictObject({
  id: z.string().min(1),
  timestamp: instant,
  type: z.string().describe('one of storage.correlations.finding_types'),
  severity: z.number().int(),
  confidence: z.number().min(0).max(1),
  eventCount: z.number().int().nonnegative(),
  timeWindow: z.number().int().nonnegative().describe('seconds'),
  resources: z.record(z.string(), z.array(z.string())).optional().describe('resource type to names, e.g. { "pods": ["nginx-abc"] }'),
  pattern: z.string().optional().describe('bytes in base64'),
  embedding: z.array(z.number()).describe('storage.correlations.embedding_dim numbers'),
});

export const findingsBody = z.union([z.array(findingInput), z.object({ findings: z.array(findingInput) })]);
export const insertAck = z.object({ inserted: z.number().int() });

/** A finding as the API returns it. */
export const findingOutput = z.object({
  id: z.string().optional(),
  timestamp: z.string().describe('ISO 8601'),
  type: z.string().optional(),
  severity: z.number().optional(),
  confidence: z.number().optional(),
  eventCount: z.number().optional(),
  timeWindow: z.number().optional(),
  resources: z.record(z.string(), z.array(z.string())).optional(),
  pattern: z.string().optional().describe('base64'),
  embedding: z.array(z.number()).optional(),
  score: z.number().optional().describe('cosine similarity, for similarity queries'),
});
export const findingsResult = z.object({ findings: z.array(findingOutput), count: z.number().int(), ms: z.number() });

/** The time range of a query: `since` (a duration ago) or `from`, and `until`. */
const rangeShape = {
  since: z.string().optional().describe('a duration ago: 15m, 1h, 7d'),
  from: z.string().optional().describe('an ISO date or epoch milliseconds (inclusive)'),
  until: z.string().optional().describe('an ISO date, epoch milliseconds or a duration ago (exclusive)'),
};

export const findingsQuery = z.strictObject({
  selector: z.string().optional().describe('a label selector (docs/SELECTORS.md)'),
  ...rangeShape,
  fields: z
    .string()
    .optional()
    .describe(`comma-separated: ${CORRELATION_FIELDS.join(', ')}`),
  orderBy: z.enum(['timestamp', '-timestamp']).optional(),
  limit: z.coerce.number().int().min(1).optional(),
});

export const similarBody = z.strictObject({
  embedding: z.array(z.number()).optional(),
  id: z.string().optional().describe('the id of a stored finding whose embedding to use'),
  threshold: z.number().min(-1).max(1).optional().describe('keep scores >= this'),
  k: z.number().int().min(1).optional().describe('keep the best k'),
  selector: z.string().optional(),
  since: z.string().optional(),
  from: instant.optional(),
  until: instant.optional(),
  fields: z.array(fieldName).optional(),
  limit: z.number().int().min(1).optional(),
});

export const aggregateBody = z.strictObject({
  selector: z.string().optional(),
  since: z.string().optional(),
  from: instant.optional(),
  until: instant.optional(),
  groupBy: z.array(z.string()).optional().describe("'type', 'severity' or 'resources.<type>'"),
  bucket: z.string().optional().describe('a duration: 5m, 1h'),
  measures: z.array(z.string()).optional().describe("'count', or sum/avg/min/max of confidence, severity, eventCount, timeWindow, e.g. 'avg(confidence)'"),
});
export const aggregateResult = z.object({ groups: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.null()]))), ms: z.number() });

export const explainResult = z.object({ query: z.string(), explain: z.record(z.string(), z.unknown()), count: z.number().int() });

export const userBody = z.strictObject({ name: z.string(), roles: z.array(z.string()).optional().describe('admin, writer, reader') });
export const user = z.object({
  id: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  email: z.string().optional(),
  createdAt: z.number().describe('epoch ms'),
});
export const usersResult = z.object({ users: z.array(user), cursor: z.string().nullable().describe('pass as cursor for the next page; null at the end') });
export const keyBody = z.strictObject({ name: z.string(), expiresAt: z.number().int().optional().describe('epoch ms after which the key is refused') });
export const keyInfo = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  createdAt: z.number().describe('epoch ms'),
  expiresAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});
export const createdKey = keyInfo.extend({ key: z.string().describe('shown once: store it now') });
export const keysQuery = z.strictObject({ userId: z.string().optional() });
export const keysResult = z.object({ keys: z.array(keyInfo), cursor: z.string().nullable().describe('pass as cursor for the next page; null at the end') });
export const idParams = z.object({ id: z.string() });
