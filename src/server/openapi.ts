/**
 * /v1/openapi.json: the route table and its zod schemas as an OpenAPI 3.1 document (whose
 * schemas are JSON Schema 2020-12, what zod writes).
 */
import { z } from 'zod';

import { errorBody } from './schemas.js';
import type { Route } from './routes.js';

const ERRORS: Record<string, string> = {
  '400': 'bad request: malformed JSON or NDJSON, a bad parameter, a value the store refuses',
  '401': 'no API key, or a malformed, unknown or revoked one',
  '403': "the key's user lacks the role the route needs",
  '413': 'over a limit: body, line or events per request',
  '429': 'too many requests in progress; see Retry-After',
  '503': 'the ring buffer is full (see Retry-After), a query timed out, or the service is stopping',
};

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): unknown {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

/** The OpenAPI document of `routes` served by `version` of the package. */
export function openApiDocument(routes: readonly Route[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorSchema = schemaOf(errorBody, 'output');
  for (const r of routes) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())
        .replace(/[^A-Za-z0-9]/g, '')}`,
      'x-role': r.role,
      security: r.role === 'none' ? [] : [{ bearer: [] }],
    };
    const parameters: unknown[] = [];
    for (const m of r.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    if (r.query !== undefined) {
      const js = schemaOf(r.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: 'query', required: js.required?.includes(name) ?? false, schema });
      }
    }
    if (parameters.length > 0) op.parameters = parameters;
    if (r.body !== undefined) {
      const schema = schemaOf(r.body.schema, 'input');
      op.requestBody = { required: true, content: Object.fromEntries(r.body.types.map((t) => [t, { schema }])) };
    }
    const responses: Record<string, unknown> = {
      [String(r.response.status)]: {
        description: 'success',
        content: Object.fromEntries(
          r.response.types.map((t) => [
            t,
            r.response.schema === undefined || !t.startsWith('application/json') ? {} : { schema: schemaOf(r.response.schema, 'output') },
          ]),
        ),
      },
    };
    for (const [status, description] of Object.entries(ERRORS)) {
      if (r.role === 'none' && (status === '401' || status === '403')) continue;
      responses[status] = { description, content: { 'application/json': { schema: errorSchema } } };
    }
    op.responses = responses;
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tapio-storage',
      version,
      description:
        'Events in (transit WAL), findings out (correlation store), users and keys (metadata). Every route but /healthz and /readyz takes Authorization: Bearer <key>.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key, tap_<id>_<secret>' } } },
    paths,
  };
}
