// The HTTP service end to end over real HTTP on loopback, on both paths: ingest, reads, findings,
// similarity, aggregation, explain, Arrow, metrics, the OpenAPI document, auth and every limit.
// Each JSON response is checked with the schema the route table names for it.
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';

import { tableFromIPC } from 'apache-arrow';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { routeTable, shortestFloat32 } from '../../src/server/routes.js';
import * as S from '../../src/server/schemas.js';
import { DIM, kubeEvents, ndjson, paths, startHarness, type Harness } from './helpers.js';

const routes = routeTable();

/** The route of a method and path (with `{id}` segments). */
function routeOf(method: string, path: string) {
  const r = routes.find((x) => x.method === method && new RegExp(`^${x.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path.split('?')[0]!));
  if (r === undefined) throw new Error(`no route ${method} ${path}`);
  return r;
}

/** The JSON of a response, unchecked. */
async function jsonOf(res: Response): Promise<any> {
  return (await res.json()) as any;
}

/** The JSON of a response, checked with the route's response schema (or the error schema). */
async function body(res: Response, method: string, path: string): Promise<any> {
  const json = await jsonOf(res);
  const route = routeOf(method, path);
  if (res.status >= 400) S.errorBody.parse(json);
  else if (route.response.schema !== undefined) route.response.schema.parse(json);
  return json;
}

function finding(i: number, over: Record<string, unknown> = {}) {
  const embedding = Array.from({ length: DIM }, (_, d) => Math.cos(i + d));
  return {
    id: `f-${i}`,
    timestamp: Date.now() - 10_000 + i,
    type: i % 3 === 0 ? 'attack' : 'anomaly',
    severity: (i % 5) + 1,
    confidence: 0.5,
    eventCount: i,
    timeWindow: 60,
    resources: { nodes: [`node-${i % 2}`], pods: [`pod-${i}`] },
    pattern: Buffer.from([i & 255]).toString('base64'),
    embedding,
    ...over,
  };
}

describe.each(paths)('the service on the %s path', (path) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(path, { service: { max_body: 64 * 1024, max_line: 1024, max_events: 500, query_limit: 200 } });
  });
  afterAll(async () => {
    await h.close();
  });

  it('acknowledges NDJSON events once durable and hands back their bytes as sent', async () => {
    const events = kubeEvents(50);
    const lines = events.map((e) => JSON.stringify(e));
    lines[3] = '{"kind": "spaced",   "node": "n"}'; // stored as its bytes, spaces and all
    const res = await h.call('/v1/events', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${lines.join('\r\n')}\n\n` });
    expect(res.status).toBe(200);
    const ack = await body(res, 'POST', '/v1/events');
    expect(ack.count).toBe(50);
    expect(ack.lastSeq - ack.firstSeq + 1).toBe(50);
    expect(h.storage.transit.lastSeq).toBeGreaterThanOrEqual(ack.lastSeq);
    const stored: string[] = [];
    for await (const r of h.storage.transit.read({ fromSeq: ack.firstSeq, limit: 50 })) stored.push(Buffer.from(r.data).toString('utf8'));
    expect(stored).toEqual(lines);

    const read = await h.call(`/v1/events?fromSeq=${ack.firstSeq}&limit=5`, { key: h.keys.reader });
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toContain('application/x-ndjson');
    const got = (await read.text())
      .trim()
      .split('\n')
      .map((l) => S.eventLine.parse(JSON.parse(l)));
    expect(got.map((g) => g.seq)).toEqual([0, 1, 2, 3, 4].map((i) => ack.firstSeq + i));
    expect(got[3]!.event).toEqual({ kind: 'spaced', node: 'n' });
  });

  it('takes a JSON array of events', async () => {
    const res = await h.call('/v1/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ a: 1 }, { b: 2 }]) });
    expect((await body(res, 'POST', '/v1/events')).count).toBe(2);
  });

  it('refuses malformed NDJSON and JSON with the line, and stores nothing of the request', async () => {
    const before = h.storage.transit.lastSeq;
    const cases: Array<[string, string, number | null]> = [
      ['application/x-ndjson', '{"a":1}\n{"a":\n{"a":3}\n', 2],
      ['application/x-ndjson', '{"a":1}\n[1,2]\n', 2],
      ['application/x-ndjson', '{"a":1}\n"text"\n', 2],
      ['application/json', '{"not":"an array"}', null],
      ['application/json', '[{"a":1}, 3]', null],
      ['application/json', '[{"a":1},', null],
      ['application/x-ndjson', '\n  \n', null],
    ];
    for (const [type, text, line] of cases) {
      const res = await h.call('/v1/events', { method: 'POST', headers: { 'content-type': type }, body: text });
      expect(res.status, text).toBe(400);
      const err = await body(res, 'POST', '/v1/events');
      expect(err.error.code).toBe('ERR_BAD_REQUEST');
      if (line !== null) expect(err.error.details.line).toBe(line);
    }
    const wrongType = await h.call('/v1/events', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    expect(wrongType.status).toBe(415);
    expect(h.storage.transit.lastSeq).toBe(before);
  });

  it('enforces the body, line and event limits with 413 and stores nothing', async () => {
    const before = h.storage.transit.lastSeq;
    const big = await h.call('/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `${'{"x":"'.padEnd(70_000, 'a')}"}\n`,
    });
    expect(big.status).toBe(413);
    expect((await body(big, 'POST', '/v1/events')).error.code).toBe('ERR_TOO_LARGE');
    const longLine = await h.call('/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `{"a":1}\n{"x":"${'b'.repeat(2000)}"}\n`,
    });
    expect(longLine.status).toBe(413);
    expect((await body(longLine, 'POST', '/v1/events')).error.details.line).toBe(2);
    const many = await h.call('/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ndjson(Array.from({ length: 501 }, (_, i) => ({ i }))),
    });
    expect(many.status).toBe(413);
    expect(h.storage.transit.lastSeq).toBe(before);
  });

  it('inserts findings and answers queries, similarity, aggregation, explain and Arrow', async () => {
    const findings = Array.from({ length: 30 }, (_, i) => finding(i));
    const ins = await h.call('/v1/findings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(findings) });
    expect(await body(ins, 'POST', '/v1/findings')).toEqual({ inserted: 30 });

    const q = await h.call('/v1/findings?selector=nodes%3Dnode-1,type%3Danomaly&since=1h&fields=id,resources,pattern&limit=100', { key: h.keys.reader });
    const got = await body(q, 'GET', '/v1/findings');
    const want = findings.filter((f, i) => i % 2 === 1 && f.type === 'anomaly').map((f) => f.id);
    expect(got.findings.map((f: { id: string }) => f.id)).toEqual(want);
    expect(got.findings[0]).toEqual({
      timestamp: expect.any(String),
      id: 'f-1',
      resources: { nodes: ['node-1'], pods: ['pod-1'] },
      pattern: Buffer.from([1]).toString('base64'),
    });

    const sim = await h.call('/v1/findings/similar', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'f-7', k: 3, since: '1h', fields: ['id'] }),
      key: h.keys.reader,
    });
    const simBody = await body(sim, 'POST', '/v1/findings/similar');
    expect(simBody.findings).toHaveLength(3);
    expect(simBody.findings[0]).toMatchObject({ id: 'f-7' });
    expect(simBody.findings[0].score).toBeCloseTo(1, 5);

    const agg = await h.call('/v1/findings/aggregate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ since: '1h', groupBy: ['type'], measures: ['count', 'max(severity)'] }),
      key: h.keys.reader,
    });
    const groups = (await body(agg, 'POST', '/v1/findings/aggregate')).groups;
    expect(groups).toEqual([
      { type: 'anomaly', count: 20, 'max(severity)': 5 },
      { type: 'attack', count: 10, 'max(severity)': 5 },
    ]);

    const ex = await h.call('/v1/findings/explain?selector=type%3Dattack&since=1h', { key: h.keys.reader });
    const explain = await body(ex, 'GET', '/v1/findings/explain');
    expect(explain.count).toBe(10);
    expect(explain.explain).toHaveProperty('rows');

    const arrowRes = await h.call('/v1/findings?since=1h&fields=id,severity', {
      key: h.keys.reader,
      headers: { accept: 'application/vnd.apache.arrow.stream' },
    });
    expect(arrowRes.headers.get('content-type')).toBe('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(new Uint8Array(await arrowRes.arrayBuffer()));
    expect(table.numRows).toBe(30);
    expect(table.schema.fields.map((f) => f.name)).toEqual(expect.arrayContaining(['id', 'severity', 'timestamp']));
  });

  it('refuses bad findings and bad queries with 400 and a stable code, storing nothing', async () => {
    const before = h.storage.correlations.stats().rows;
    const bad: Array<[string, unknown]> = [
      ['wrong embedding length', [finding(100, { embedding: [1, 2] })]],
      ['unknown type', [finding(101, { type: 'weird' })]],
      ['confidence above 1', [finding(102, { confidence: 3 })]],
      ['unknown key', [finding(103, { extra: 1 })]],
      ['bad pattern', [finding(104, { pattern: '***' })]],
      ['bad timestamp', [finding(105, { timestamp: 'yesterday' })]],
    ];
    for (const [what, findings] of bad) {
      const res = await h.call('/v1/findings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(findings) });
      expect(res.status, what).toBe(400);
      expect(['ERR_BAD_REQUEST', 'ERR_VALIDATION']).toContain((await body(res, 'POST', '/v1/findings')).error.code);
    }
    expect(h.storage.correlations.stats().rows).toBe(before);
    const queries: Array<[string, string]> = [
      ['/v1/findings?selector=nodes%3D%3D%3D', 'ERR_SELECTOR_SYNTAX'],
      ['/v1/findings?since=yesterday', 'ERR_BAD_REQUEST'],
      ['/v1/findings?limit=201', 'ERR_BAD_REQUEST'],
      ['/v1/findings?limit=-1', 'ERR_BAD_REQUEST'],
      ['/v1/findings?fields=nope', 'ERR_BAD_REQUEST'],
      ['/v1/findings?whatever=1', 'ERR_BAD_REQUEST'],
    ];
    for (const [p, code] of queries) {
      const res = await h.call(p, { key: h.keys.reader });
      expect(res.status, p).toBe(400);
      expect((await body(res, 'GET', p)).error.code, p).toBe(code);
    }
    const sim = await h.call('/v1/findings/similar', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ k: 3 }),
      key: h.keys.reader,
    });
    expect(sim.status).toBe(400);
    const noId = await h.call('/v1/findings/similar', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'nope' }),
      key: h.keys.reader,
    });
    expect(noId.status).toBe(404);
  });

  it('refuses every route but the health checks without a key, and each role outside its routes', async () => {
    for (const r of routes) {
      const p = r.path.replace('{id}', 'x');
      const res = await h.call(p, {
        method: r.method,
        key: null,
        ...(r.method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      if (r.role === 'none') expect(res.status, `${r.method} ${r.path}`).toBe(200);
      else {
        expect(res.status, `${r.method} ${r.path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
        expect((await jsonOf(res)).error.code).toBe('ERR_UNAUTHORIZED');
      }
    }
    // Roles: reader cannot ingest or administer, writer cannot query, admin can do everything.
    const expectStatus = async (key: string, method: string, p: string, status: number) => {
      const res = await h.call(p, { method, key, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '[]' } : {}) });
      expect(res.status, `${method} ${p}`).toBe(status);
    };
    await expectStatus(h.keys.reader, 'POST', '/v1/events', 403);
    await expectStatus(h.keys.reader, 'GET', '/v1/users', 403);
    await expectStatus(h.keys.writer, 'GET', '/v1/findings', 403);
    await expectStatus(h.keys.writer, 'GET', '/v1/keys', 403);
    await expectStatus(h.keys.writer, 'GET', '/metrics', 200);
    await expectStatus(h.keys.admin, 'GET', '/v1/findings', 200);
  });

  it('refuses malformed, unknown, revoked and expired keys', async () => {
    const cases = [
      'Bearer nonsense',
      'Bearer tap_00000000_0000',
      'Basic abc',
      `Bearer ${h.keys.reader.slice(0, -1)}${h.keys.reader.endsWith('A') ? 'B' : 'A'}`,
    ];
    for (const auth of cases) {
      const res = await fetch(`${h.url}/v1/findings`, { headers: { authorization: auth } });
      expect(res.status, auth).toBe(401);
    }
    // Admin creates a reader and its key over HTTP, then revokes the key.
    const userRes = await h.call('/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'temp', roles: ['reader'] }),
    });
    expect(userRes.status).toBe(201);
    const user = await body(userRes, 'POST', '/v1/users');
    const keyRes = await h.call(`/v1/users/${user.id}/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'k' }),
    });
    const created = await body(keyRes, 'POST', `/v1/users/${user.id}/keys`);
    expect((await h.call('/v1/findings?limit=1', { key: created.key })).status).toBe(200);
    const list = await body(await h.call(`/v1/keys?userId=${user.id}`), 'GET', '/v1/keys');
    expect(list.keys.map((k: { id: string }) => k.id)).toEqual([created.id]);
    expect(JSON.stringify(list)).not.toContain(created.key);
    const revoked = await h.call(`/v1/keys/${created.id}`, { method: 'DELETE' });
    expect((await body(revoked, 'DELETE', `/v1/keys/${created.id}`)).revokedAt).toEqual(expect.any(Number));
    expect((await h.call('/v1/findings?limit=1', { key: created.key })).status).toBe(401);
    const expiring = await body(
      await h.call(`/v1/users/${user.id}/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'short', expiresAt: Date.now() + 300 }),
      }),
      'POST',
      `/v1/users/${user.id}/keys`,
    );
    await new Promise((r) => setTimeout(r, 400));
    expect((await h.call('/v1/findings?limit=1', { key: expiring.key })).status).toBe(401);
    const users = await body(await h.call('/v1/users'), 'GET', '/v1/users');
    expect(users.users.map((u: { name: string }) => u.name)).toContain('temp');
    const dup = await h.call('/v1/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'temp' }) });
    expect(dup.status).toBe(409);
    expect((await h.call(`/v1/keys/${'a'.repeat(created.id.length)}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers unknown routes 404 and wrong methods 405 with Allow', async () => {
    const nf = await h.call('/v1/nothing');
    expect(nf.status).toBe(404);
    expect((await jsonOf(nf)).error.code).toBe('ERR_NO_ROUTE');
    const wrong = await h.call('/v1/findings', { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST');
  });

  it('serves metrics in the Prometheus format and an OpenAPI document naming every route', async () => {
    const text = await (await h.call('/metrics', { key: h.keys.reader })).text();
    for (const series of [
      'tapio_ingest_records_total',
      'tapio_ingest_bytes_total',
      'tapio_append_ack_seconds_bucket',
      'tapio_transit_fdatasync_seconds_bucket',
      'tapio_transit_ring_fill_ratio',
      'tapio_query_seconds_bucket{kind="query"',
      'tapio_auth_failures_total{reason="missing"}',
      'tapio_http_requests_total{kind="ingest",status="200"}',
    ]) {
      expect(text, series).toContain(series);
    }
    const ingested = Number(/^tapio_ingest_records_total (\d+)$/m.exec(text)?.[1]);
    expect(ingested).toBe(52);
    for (const line of text.trim().split('\n'))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|[a-z_]+(\{[^}]*\})? -?[\d.e+-]+|[a-z_]+(\{[^}]*\})? (\+Inf|NaN))$/);
    const doc = await jsonOf(await h.call('/v1/openapi.json', { key: h.keys.reader }));
    expect(doc.openapi).toBe('3.1.0');
    for (const r of routes) expect(doc.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined();
    expect(doc.paths['/v1/events'].post.requestBody.content['application/x-ndjson']).toBeDefined();
    expect(doc.paths['/v1/findings'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['selector', 'since', 'limit']));
  });

  it('never logs a key', async () => {
    const lines: string[] = [];
    const other = await startHarness(path, { service: { log: (l) => lines.push(l) } });
    try {
      await other.call('/v1/findings', { key: 'tap_bogus_key' });
      await other.call('/v1/events', { method: 'POST', body: 'x\n' });
      expect(lines.join('\n')).not.toMatch(/tap_/);
    } finally {
      await other.close();
    }
  });
});

describe.each(paths)('service limits on the %s path', (path) => {
  it('answers 429 beyond max_inflight and 408 for a body that does not arrive in time', async () => {
    const h = await startHarness(path, { service: { max_inflight: 1, request_timeout: 300 } });
    try {
      const u = new URL(h.url);
      // A request whose body never completes holds the one slot until it times out.
      const slow = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: '/v1/events',
            method: 'POST',
            headers: { authorization: `Bearer ${h.keys.writer}`, 'content-type': 'application/x-ndjson', 'content-length': 100 },
          },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on('error', reject);
        req.write('{"a":');
      });
      await new Promise((r) => setTimeout(r, 50));
      const busy = await h.call('/v1/findings');
      expect(busy.status).toBe(429);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect((await jsonOf(busy)).error.code).toBe('ERR_OVERLOADED');
      expect((await h.call('/healthz', { key: null })).status).toBe(200);
      const timedOut = await slow;
      expect(timedOut.status).toBe(408);
      expect((JSON.parse(timedOut.body) as { error: { code: string } }).error.code).toBe('ERR_TIMEOUT');
      expect((await h.call('/v1/findings')).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('finishes the requests in progress when it stops, and refuses new ones', async () => {
    const h = await startHarness(path);
    try {
      const u = new URL(h.url);
      const body = Buffer.from(ndjson(kubeEvents(200)));
      const half = Math.floor(body.length / 2);
      // The first half of the body, then the stop: the request is in progress (its body is not all
      // there), so close() must wait for it; the second half then completes it.
      let sendRest: () => void = () => undefined;
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: '/v1/events',
            method: 'POST',
            headers: { authorization: `Bearer ${h.keys.writer}`, 'content-type': 'application/x-ndjson', 'content-length': body.length },
          },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode!, text }));
          },
        );
        req.on('error', reject);
        req.write(body.subarray(0, half));
        sendRest = () => req.end(body.subarray(half));
      });
      while (h.service.inflight === 0) await new Promise((r) => setTimeout(r, 1));
      let closed = false;
      const closing = h.service.close().then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(false); // waiting for the request in progress
      sendRest();
      const res = await answer;
      expect(res.status).toBe(200);
      await closing;
      await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
      const ack = JSON.parse(res.text) as { count: number; lastSeq: number };
      expect(ack.count).toBe(200);
      expect(h.storage.transit.lastSeq).toBe(ack.lastSeq);
    } finally {
      await h.service.close();
      await h.pipeline?.close();
      await h.storage.close();
      rmSync(h.dir, { recursive: true, force: true });
    }
  });

  it('answers request targets that are no URL, and malformed HTTP, without falling over', async () => {
    const h = await startHarness(path);
    try {
      const u = new URL(h.url);
      const raw = (text: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(Number(u.port), u.hostname, () => socket.end(text));
          let out = '';
          socket.on('data', (d) => (out += d.toString()));
          socket.on('close', () => resolve(out));
          socket.on('error', () => resolve(out));
        });
      for (const target of ['http://[', '//', 'http://a:b:c/v1/findings', '/v1/%zz', '*']) {
        const out = await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(out, target).toMatch(/^HTTP\/1\.1 (400|401|404) /);
      }
      expect(await raw('NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      // A malformed escape in a path parameter is a name like any other (no such key: 404).
      expect((await h.call('/v1/keys/%zz', { method: 'DELETE' })).status).toBeLessThan(500);
      expect(
        (await h.call('/v1/users/%E0%A4%A/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"k"}' })).status,
      ).toBeLessThan(500);
      expect((await h.call('/healthz', { key: null })).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('float32 values in JSON', () => {
  it('prints the shortest decimal that reads back as the same float32', () => {
    expect(shortestFloat32(Math.fround(0.8))).toBe(0.8);
    expect(shortestFloat32(Math.fround(0.1))).toBe(0.1);
    expect(shortestFloat32(0.5)).toBe(0.5);
    expect(shortestFloat32(0.1)).toBe(0.1); // not a float32: left as it is
    let x = 7;
    for (let i = 0; i < 10_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const v = Math.fround((x / 2 ** 32 - 0.5) * 10 ** ((x % 76) - 40));
      const s = shortestFloat32(v);
      expect(Math.fround(s)).toBe(v);
      expect(String(s).length).toBeLessThanOrEqual(String(v).length);
      // No shorter decimal reads back as the same float32.
      const digits = s.toExponential().replace(/e.*$/, '').replace(/[-.]/g, '').length;
      if (digits > 1) expect(Math.fround(Number(v.toPrecision(digits - 1)))).not.toBe(v);
    }
  });
});

describe.each(paths)('the service under arbitrary input on the %s path', (path) => {
  it('answers any body, content type, query string and key with a status and a JSON error, never a 5xx, and stays up', async () => {
    const h = await startHarness(path, { service: { max_body: 4096, max_line: 512, max_events: 50 } });
    try {
      const lastSeq = h.storage.transit.lastSeq;
      const targets = routes.filter((r) => r.role !== 'none').map((r) => ({ method: r.method, path: r.path.replace('{id}', 'x') }));
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...targets),
          fc.oneof(
            fc.string({ maxLength: 300 }),
            fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
            fc.json({ maxDepth: 3 }),
          ),
          fc.constantFrom('application/json', 'application/x-ndjson', 'text/plain', 'application/xml', ''),
          fc.string({ maxLength: 40 }),
          fc.constantFrom('admin', 'reader', 'none', 'junk'),
          async (target, body, type, query, who) => {
            const key = who === 'none' ? null : who === 'junk' ? 'tap_x_y' : h.keys[who as 'admin' | 'reader'];
            const headers: Record<string, string> = type === '' ? {} : { 'content-type': type };
            const res = await h.call(`${target.path}?${encodeURIComponent(query)}=${encodeURIComponent(query)}`, {
              method: target.method,
              key,
              headers,
              ...(target.method === 'POST' ? { body } : {}),
            });
            expect(res.status, `${target.method} ${target.path} ${JSON.stringify(body).slice(0, 80)}`).toBeLessThan(500);
            const text = await res.text();
            if (res.status >= 400) expect(S.errorBody.safeParse(JSON.parse(text)).success).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
      expect((await h.call('/healthz', { key: null })).status).toBe(200);
      // Whatever was accepted was a valid batch of objects: every stored event parses.
      for await (const r of h.storage.transit.read({ fromSeq: lastSeq + 1 })) {
        const v = JSON.parse(Buffer.from(r.data).toString()) as unknown;
        expect(typeof v).toBe('object');
      }
    } finally {
      await h.close();
    }
  }, 120_000);
});
