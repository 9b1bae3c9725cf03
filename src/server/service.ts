/**
 * The HTTP service over an open TapioStorage: routing, authentication, limits, timeouts,
 * metrics and a graceful stop. `tapio-storage serve` runs it; tests and embedders can too.
 *
 * @example
 * ```ts
 * const storage = await TapioStorage.open({ dataDir: './data' });
 * const service = await Service.start(storage, { port: 0 });
 * console.log(service.url); // http://127.0.0.1:41234
 * await service.close();
 * await storage.close();
 * ```
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { capabilities } from '../capabilities.js';
import type { ServerConfig } from '../config/index.js';
import { TapioError } from '../errors.js';
import type { User } from '../metadata/index.js';
import type { TapioStorage } from '../storage.js';
import { errorResponse, httpError, sendBytes, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';
import type { Pipeline } from './pipeline.js';
import { routeTable, type Role, type Route, type RouteContext, type RouteEnv } from './routes.js';
import { ServiceMetrics } from './service-metrics.js';

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

/** What Service.start takes beyond the storage: the server section (defaults as in the configuration) and a pipeline. */
export interface ServiceOptions extends Partial<ServerConfig> {
  /** A running pipeline to report in /readyz and /metrics (it is closed by its owner). */
  pipeline?: Pipeline | null;
  /** Where a line about an unexpected failure goes (never a key or a header). Default: stderr. */
  log?: (line: string) => void;
}

export class Service {
  readonly #storage: TapioStorage;
  readonly #config: ServerConfig;
  readonly #server: Server;
  readonly #routes: CompiledRoute[];
  readonly #metrics = new ServiceMetrics();
  readonly #env: RouteEnv;
  readonly #sockets = new Set<Socket>();
  readonly #log: (line: string) => void;
  #pipeline: Pipeline | null;
  #inflight = 0;
  #idle: (() => void) | null = null;
  #closing = false;
  #openapi: unknown = null;

  private constructor(storage: TapioStorage, config: ServerConfig, options: ServiceOptions) {
    this.#storage = storage;
    this.#config = config;
    this.#pipeline = options.pipeline ?? null;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    const routes = routeTable();
    this.#routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { route, pattern: new RegExp(`^${source}$`), names };
    });
    this.#env = {
      storage,
      limits: { maxBody: config.max_body, maxLine: config.max_line, maxEvents: config.max_events, queryLimit: config.query_limit },
      metrics: this.#metrics,
      ready: () => this.#ready(),
      openapi: () => (this.#openapi ??= openApiDocument(routes, capabilities().version)),
      renderMetrics: () => Promise.resolve(this.#renderMetrics()),
    };
    this.#server = createServer({ keepAliveTimeout: 5000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      this.#handle(req, res);
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('clientError', (err, socket) => {
      if (socket.writable) {
        const body = JSON.stringify({ error: { code: 'ERR_BAD_REQUEST', message: `the request could not be parsed as HTTP: ${(err as Error).message}` } });
        socket.end(
          `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else socket.destroy();
    });
  }

  /** Listens on `options.host`:`options.port` (127.0.0.1:7700 by default; port 0 picks a free one). */
  static async start(storage: TapioStorage, options: ServiceOptions = {}): Promise<Service> {
    const { pipeline, log, ...server } = options;
    // The storage's configuration is resolved: its server section holds every key, defaults included.
    const config: ServerConfig = { ...storage.config.server, ...server };
    const service = new Service(storage, config, { ...(pipeline === undefined ? {} : { pipeline }), ...(log === undefined ? {} : { log }) });
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => {
        reject(
          new TapioError(
            'ERR_INVALID_ARGUMENT',
            err.code === 'EADDRINUSE'
              ? `port ${config.port} on ${config.host} is in use by another process; stop it or choose another port (--port, server.port)`
              : `cannot listen on ${config.host}:${config.port}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      service.#server.once('error', failed);
      service.#server.listen(config.port, config.host, () => {
        service.#server.off('error', failed);
        resolve();
      });
    });
    return service;
  }

  /** The address the service listens on, such as http://127.0.0.1:7700. */
  get url(): string {
    const a = this.#server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The metrics the service keeps (for tests and embedders). */
  get metrics(): ServiceMetrics {
    return this.#metrics;
  }

  /** Requests in progress. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Sets the pipeline /readyz and /metrics report. */
  set pipeline(p: Pipeline | null) {
    this.#pipeline = p;
  }

  /**
   * Stops taking connections and requests, lets the requests in progress finish (each within
   * server.request_timeout) and closes idle connections. The storage stays open: its owner closes
   * it after this resolves.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.#inflight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Drops every connection at once (a second signal): in-flight requests get no answer. */
  destroy(): void {
    this.#closing = true;
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
    this.#idle?.();
  }

  #ready(): ReturnType<RouteEnv['ready']> {
    const p = this.#pipeline;
    const pipeline = p === null ? null : { state: p.state, position: p.position, error: p.error?.message ?? null };
    const ready = !this.#closing && !this.#storage.closed && (p === null || p.state === 'running');
    return { ready, pipeline };
  }

  #renderMetrics(): string {
    const p = this.#pipeline;
    return this.#metrics.render(this.#storage, {
      inflight: this.#inflight,
      pipelineLag: p === null ? null : Math.max(0, this.#storage.transit.lastSeq - p.position),
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // A request target no URL can be made of: answered, never thrown into the server.
      sendJson(res, 400, { error: { code: 'ERR_BAD_REQUEST', message: 'the request target is not a valid path' } }, { connection: 'close' });
      return;
    }
    const found = this.#match(req.method ?? 'GET', url.pathname);
    const kind = found.route?.kind ?? 'other';
    const isHealth = found.route?.role === 'none';
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let counted = false;
    const done = () => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) clearTimeout(timer);
      if (counted) {
        this.#inflight--;
        if (this.#inflight === 0) this.#idle?.();
      }
      this.#metrics.requests.inc({ kind, status: String(res.statusCode) });
      this.#metrics.requestLatency.observe((performance.now() - started) / 1000, { kind });
    };
    res.once('finish', done);
    res.once('close', done);
    const fail = (err: unknown) => {
      const { status, headers, body } = errorResponse(err);
      if (status >= 500 && !(err instanceof TapioError))
        this.#log(`${new Date().toISOString()} ${req.method} ${url.pathname} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A request whose body was not read closes its connection, so the rest is never parsed as a request.
      if (!req.complete) headers.connection = 'close';
      sendJson(res, status, body, headers);
    };
    try {
      if (found.route === null) {
        throw found.allow.length > 0
          ? httpError('ERR_NO_ROUTE', `${req.method} is not a method of ${url.pathname}; it takes ${found.allow.join(', ')}`, {
              status: 405,
              headers: { allow: found.allow.join(', ') },
            })
          : httpError('ERR_NO_ROUTE', `there is no route ${url.pathname}; /v1/openapi.json lists them`);
      }
      if (!isHealth) {
        if (this.#closing)
          throw httpError('ERR_OVERLOADED', 'the service is stopping; retry against the next instance', {
            status: 503,
            headers: { 'retry-after': '1', connection: 'close' },
          });
        if (this.#inflight >= this.#config.max_inflight) {
          this.#metrics.rejected.inc({ reason: 'inflight' });
          throw httpError(
            'ERR_OVERLOADED',
            `${this.#inflight} requests are in progress, server.max_inflight allows ${this.#config.max_inflight}; retry after the Retry-After seconds`,
            {
              headers: { 'retry-after': '1' },
            },
          );
        }
        this.#inflight++;
        counted = true;
      }
      const route = found.route;
      this.#run(req, res, route, found.params, url, kind, fail, (t) => (timer = t)).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  async #run(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    params: Record<string, string>,
    url: URL,
    kind: string,
    fail: (err: unknown) => void,
    setTimer: (t: NodeJS.Timeout) => void,
  ): Promise<void> {
    {
      const user = await this.#authenticate(req, route.role);
      const query = Object.fromEntries(url.searchParams);
      let checkedQuery: Record<string, string> = query;
      if (route.query !== undefined) {
        const result = route.query.safeParse(query);
        if (!result.success) {
          const issues = result.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
          throw httpError(
            'ERR_BAD_REQUEST',
            `the query parameters were refused: ${issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ')}`,
            {
              details: { issues },
            },
          );
        }
        checkedQuery = result.data as Record<string, string>;
      }
      let gone = false;
      res.once('close', () => (gone = true));
      setTimer(
        setTimeout(() => {
          gone = true;
          this.#metrics.rejected.inc({ reason: 'timeout' });
          const slowBody = !req.complete;
          fail(
            httpError(
              'ERR_TIMEOUT',
              slowBody
                ? `the request body did not arrive within server.request_timeout (${this.#config.request_timeout} ms)`
                : `the request took longer than server.request_timeout (${this.#config.request_timeout} ms)${kind === 'ingest' ? '; its events may have been stored' : '; narrow it (time range, selector, limit)'}`,
              { status: slowBody ? 408 : 503 },
            ),
          );
        }, this.#config.request_timeout),
      );
      const ctx: RouteContext = { req, res, params, query: checkedQuery, user, env: this.#env, gone: () => gone };
      let reply;
      try {
        reply = await route.handle(ctx);
      } catch (err) {
        if (!gone || !res.headersSent) fail(err);
        return;
      }
      if (reply === null || gone) return;
      if ('json' in reply) sendJson(res, reply.status, reply.json, reply.headers);
      else sendBytes(res, reply.status, reply.type, reply.bytes);
    }
  }

  #match(method: string, path: string): { route: Route | null; params: Record<string, string>; allow: string[] } {
    const allow: string[] = [];
    for (const c of this.#routes) {
      const m = c.pattern.exec(path);
      if (m === null) continue;
      if (c.route.method !== method && !(method === 'HEAD' && c.route.method === 'GET')) {
        allow.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      c.names.forEach((n, i) => (params[n] = safeDecode(m[i + 1]!)));
      return { route: c.route, params, allow };
    }
    return { route: null, params: {}, allow: [...new Set(allow)].sort() };
  }

  /** The user of the request's key when `role` allows it; throws ERR_UNAUTHORIZED or ERR_FORBIDDEN. */
  async #authenticate(req: IncomingMessage, role: Role): Promise<User | null> {
    if (role === 'none') return null;
    const header = req.headers.authorization;
    const refuse = (reason: string, message: string): never => {
      this.#metrics.authFailures.inc({ reason });
      throw httpError('ERR_UNAUTHORIZED', message, { headers: { 'www-authenticate': 'Bearer realm="tapio-storage"' } });
    };
    if (header === undefined || header === '') return refuse('missing', 'this route needs an API key: send Authorization: Bearer <key>');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) return refuse('malformed', 'the Authorization header must be "Bearer <key>"');
    let userId: string | null;
    try {
      userId = await this.#storage.metadata.apiKeys.verify(m[1]!);
    } catch (err) {
      if (err instanceof TapioError && err.code === 'ERR_API_KEY_FORMAT')
        return refuse('malformed', 'the API key is malformed (a key looks like tap_<id>_<secret>); copy it whole');
      throw err;
    }
    if (userId === null) return refuse('unknown', 'the API key is unknown, revoked or expired');
    const user = await this.#storage.metadata.users.get(userId);
    if (user === null) return refuse('unknown', 'the API key belongs to a user that no longer exists');
    if (role === 'any' || user.roles.includes('admin') || user.roles.includes(role)) return user;
    this.#metrics.authFailures.inc({ reason: 'role' });
    throw httpError(
      'ERR_FORBIDDEN',
      `this route needs the role ${role} (or admin); the key's user has ${user.roles.length === 0 ? 'no role' : user.roles.join(', ')}`,
    );
  }
}

/** A path segment with its %-escapes decoded; as it is when they are malformed (%zz). */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
