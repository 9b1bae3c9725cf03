/**
 * `tapio-storage demo`: replays a generated stream of Kubernetes-like events over HTTP to a
 * server (the one at --url, the one already serving the data directory, or one started here
 * for the run), waits for the correlation pipeline, then shows the findings, an aggregation and
 * a similarity query with their timings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { capabilities } from '../capabilities.js';
import { TapioError } from '../errors.js';
import { builtinCorrelator } from '../server/correlator.js';
import { Pipeline } from '../server/pipeline.js';
import { Service } from '../server/service.js';
import type { TapioStorage } from '../storage.js';
import { openFromOptions, resolvedConfigFromOptions, type GlobalOptions } from './common.js';
import { Progress, formatCount } from './progress.js';
import { ADMIN_KEY_FILE, ensureAdminKey } from './serve.js';

export interface DemoFlags {
  url?: string;
  key?: string;
  events: number;
  seed: number;
}

const KINDS = ['pod_restart', 'oom_killed', 'probe_failed', 'network_error'] as const;

/**
 * `count` events over 12 nodes and 6 namespaces in the last 30 minutes: mostly failed probes and
 * network errors, with bursts of restarts and OOM kills on a few nodes (what the reference
 * correlator turns into anomalies). The same seed gives the same events, relative to `now`.
 */
export function demoEvents(count: number, seed: number, now = Date.now()): string[] {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const start = now - 30 * 60_000;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + Math.floor((i / count) * 30 * 60_000);
    const burst = rnd() < 0.02;
    const node = `node-${burst ? Math.floor(rnd() * 3) : Math.floor(rnd() * 12)}`;
    const kind = burst ? KINDS[Math.floor(rnd() * 2)]! : KINDS[2 + Math.floor(rnd() * 2)]!;
    const namespace = ['payments', 'checkout', 'search', 'auth', 'ingest', 'web'][Math.floor(rnd() * 6)]!;
    const pod = `${namespace}-${Math.floor(rnd() * 40).toString(36)}${Math.floor(rnd() * 1e6).toString(36)}`;
    out.push(
      JSON.stringify({ kind, node, namespace, pod, timestamp: at, message: kind === 'network_error' ? 'connection reset by peer' : kind.replace('_', ' ') }),
    );
  }
  return out;
}

interface Target {
  url: string;
  key: string;
  /** Stops what the demo started (nothing when it used a running server). */
  stop: () => Promise<void>;
  started: boolean;
}

async function target(opts: GlobalOptions, flags: DemoFlags, say: (l: string) => void): Promise<Target> {
  if (flags.url !== undefined) {
    const key = flags.key ?? process.env.TAPIO_API_KEY;
    if (key === undefined) throw new TapioError('ERR_INVALID_ARGUMENT', '--url needs an API key with the writer and reader roles: --key KEY or TAPIO_API_KEY');
    return { url: flags.url.replace(/\/$/, ''), key, stop: () => Promise.resolve(), started: false };
  }
  let storage: TapioStorage;
  try {
    storage = await openFromOptions(opts, { create: true });
  } catch (err) {
    if (!(err instanceof TapioError && err.code === 'ERR_LOCKED')) throw err;
    // A server holds the data directory: use it, with the admin key it wrote.
    const config = await resolvedConfigFromOptions(opts);
    const key = flags.key ?? readFileSync(join(config.dataDir, ADMIN_KEY_FILE), 'utf8').trim();
    const url = `http://${config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host}:${config.server.port}`;
    say(`the data directory is held by a running server: sending to ${url}`);
    return { url, key, stop: () => Promise.resolve(), started: false };
  }
  const admin = await ensureAdminKey(storage);
  const key = readFileSync(admin.file, 'utf8').trim();
  const pipeline = await Pipeline.start(storage, builtinCorrelator, {});
  const service = await Service.start(storage, { port: 0, pipeline });
  say(`started a server on ${service.url} over ${storage.config.dataDir} (for this run; \`tapio-storage serve\` keeps one running)`);
  return {
    url: service.url,
    key,
    started: true,
    stop: async () => {
      await service.close();
      await pipeline.close();
      await storage.close();
    },
  };
}

export async function runDemo(opts: GlobalOptions, flags: DemoFlags): Promise<void> {
  // With --json the lines give way to one JSON summary at the end.
  const say = (line: string): void => {
    if (opts.json !== true) console.log(line);
  };
  const summary: Record<string, unknown> = {};
  const caps = capabilities();
  say(
    `tapio-storage ${caps.version} on node ${caps.node} (${caps.platform}/${caps.arch}), ${caps.native ? `native path, SIMD ${caps.simd}` : `TypeScript path: ${caps.nativeReason}`}`,
  );
  const t = await target(opts, flags, say);
  try {
    const auth = { authorization: `Bearer ${t.key}` };
    const call = async (path: string, init: RequestInit = {}): Promise<{ body: any; ms: number }> => {
      const started = performance.now();
      const res = await fetch(`${t.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
      const text = await res.text();
      const ms = performance.now() - started;
      const body = text === '' ? null : (JSON.parse(text) as any);
      if (!res.ok) throw new TapioError('ERR_INVALID_ARGUMENT', `${init.method ?? 'GET'} ${path} answered ${res.status}: ${body?.error?.message ?? text}`);
      return { body, ms };
    };
    const before = (await call('/readyz')).body as { transit: { lastSeq: number } };
    const events = demoEvents(flags.events, flags.seed);
    say(`sending ${formatCount(events.length)} Kubernetes-like events (restarts, OOM kills, failed probes, network errors over 12 nodes) in requests of 1,000`);
    const progress = new Progress('ingest', { unit: 'events', total: events.length, quiet: opts.json === true });
    const started = performance.now();
    const requests: Array<Promise<void>> = [];
    let next = 0;
    const worker = async () => {
      while (next < events.length) {
        const slice = events.slice(next, next + 1000);
        next += slice.length;
        for (;;) {
          const res = await fetch(`${t.url}/v1/events`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/x-ndjson' },
            body: slice.join('\n'),
          });
          if (res.status === 429 || res.status === 503) {
            await res.body?.cancel();
            await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
            continue;
          }
          const body = (await res.json()) as { error?: { message: string } };
          if (!res.ok) throw new TapioError('ERR_INVALID_ARGUMENT', `POST /v1/events answered ${res.status}: ${body.error?.message}`);
          break;
        }
        progress.tick(slice.length);
      }
    };
    for (let i = 0; i < 4; i++) requests.push(worker());
    await Promise.all(requests);
    progress.done();
    const ingestMs = performance.now() - started;
    say(`  every event durable (fdatasync) in ${(ingestMs / 1000).toFixed(2)} s: ${formatCount(Math.round(events.length / (ingestMs / 1000)))} events/s`);
    Object.assign(summary, { url: t.url, events: events.length, ingestSeconds: ingestMs / 1000, eventsPerSecond: events.length / (ingestMs / 1000) });

    // The pipeline turns the events into findings behind the ingest.
    const waitStart = performance.now();
    for (;;) {
      const r = (await call('/readyz')).body as { transit: { lastSeq: number }; pipeline: { position: number; state: string; error: string | null } | null };
      if (r.pipeline === null) {
        say('  the server runs no pipeline (server.correlator: none): no new findings');
        break;
      }
      if (r.pipeline.state !== 'running') throw new TapioError('ERR_SUBSCRIBER_HANDLER', `the pipeline stopped: ${r.pipeline.error}`);
      if (r.pipeline.position >= r.transit.lastSeq) {
        say(
          `  the correlation pipeline read events ${before.transit.lastSeq + 1}..${r.transit.lastSeq} (${((performance.now() - waitStart) / 1000).toFixed(2)} s after the last ack)`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }

    const recent = await call('/v1/findings?since=1h&orderBy=-timestamp&limit=5&fields=id,type,severity,confidence,eventCount,resources');
    const total = await call('/v1/findings/aggregate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ since: '1h' }),
    });
    Object.assign(summary, { findingsLastHour: total.body.groups[0]?.count ?? 0, newest: recent.body.findings, newestMs: recent.ms });
    say('');
    say(`findings of the last hour: ${total.body.groups[0]?.count ?? 0}; the newest 5 (${recent.ms.toFixed(1)} ms):`);
    for (const f of recent.body.findings as any[]) {
      say(
        `  ${f.timestamp}  ${f.id.padEnd(24)} ${f.type} sev ${f.severity} conf ${f.confidence.toFixed(2)} ${String(f.eventCount).padStart(3)} events  nodes=${f.resources.nodes?.join(',')} pods=${f.resources.pods?.length ?? 0}`,
      );
    }

    const agg = await call('/v1/findings/aggregate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ since: '1h', groupBy: ['resources.nodes'], measures: ['count', 'max(severity)', 'sum(eventCount)', 'avg(confidence)'] }),
    });
    Object.assign(summary, { perNode: agg.body.groups, perNodeMs: agg.ms });
    say('');
    say(`anomalies per node in the last hour (aggregate, ${agg.ms.toFixed(1)} ms):`);
    say(`  ${'node'.padEnd(10)} ${'count'.padStart(6)} ${'max sev'.padStart(8)} ${'events'.padStart(8)} ${'avg conf'.padStart(9)}`);
    for (const g of (agg.body.groups as any[]).slice(0, 8)) {
      say(
        `  ${String(g['resources.nodes']).padEnd(10)} ${String(g.count).padStart(6)} ${String(g['max(severity)']).padStart(8)} ${String(g['sum(eventCount)']).padStart(8)} ${Number(g['avg(confidence)']).toFixed(2).padStart(9)}`,
      );
    }

    const first = (recent.body.findings as any[])[0];
    if (first !== undefined) {
      const sim = await call('/v1/findings/similar', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: first.id, k: 5, since: '24h', fields: ['id', 'resources'] }),
      });
      Object.assign(summary, { similarTo: first.id, similar: sim.body.findings, similarMs: sim.ms });
      say('');
      say(`findings most like ${first.id} in the last 24 h (cosine over the embeddings, ${sim.ms.toFixed(1)} ms):`);
      for (const f of sim.body.findings as any[]) say(`  ${f.score.toFixed(4)}  ${f.id.padEnd(24)} nodes=${f.resources.nodes?.join(',')}`);
    }
    say('');
    say('try it yourself:');
    say(`  curl -s -H "Authorization: Bearer $KEY" '${t.url}/v1/findings?selector=nodes%3Dnode-1&since=1h&limit=3'`);
    if (t.started) say('(the server of this run stops now; `npm start` or `tapio-storage serve` keeps one running)');
    if (opts.json === true) console.log(JSON.stringify(summary, null, 2));
  } finally {
    await t.stop();
  }
}
