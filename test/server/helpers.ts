// Shared helpers of the service's tests: a store with a service on a free loopback port, users of
// each role with their keys, and fetch with a key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TapioStorage, type TapioConfigInput } from '../../src/index.js';
import { Pipeline } from '../../src/server/pipeline.js';
import { Service, type ServiceOptions } from '../../src/server/service.js';
import type { Correlator } from '../../src/server/correlator.js';
import { nativeStatus } from '../../src/native/loader.js';

export const paths: Array<'native' | 'typescript'> = nativeStatus().native ? ['native', 'typescript'] : ['typescript'];

export const DIM = 8;

export interface Harness {
  dir: string;
  storage: TapioStorage;
  service: Service;
  pipeline: Pipeline | null;
  url: string;
  keys: { admin: string; writer: string; reader: string };
  /** fetch against the service with `key` (or none). */
  call(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** Opens a store in a new directory on `path`, starts a service on it, creates a user per role. */
export async function startHarness(
  path: 'native' | 'typescript',
  options: { service?: ServiceOptions; correlator?: Correlator | null; config?: TapioConfigInput; dir?: string } = {},
): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tapio-srv-'));
  const storage = await TapioStorage.open(
    {
      dataDir: dir,
      ...options.config,
      storage: { ...options.config?.storage, correlations: { embedding_dim: DIM, ...options.config?.storage?.correlations } },
    },
    { transit: { path }, correlations: { path } },
  );
  const keys = { admin: '', writer: '', reader: '' };
  for (const role of ['admin', 'writer', 'reader'] as const) {
    const existing = await storage.metadata.users.getByName(role);
    const user = existing ?? (await storage.metadata.users.create({ name: role, roles: [role] }));
    keys[role] = (await storage.metadata.apiKeys.create(user.id, { name: `${role}-test` })).key;
  }
  const pipeline = options.correlator ? await Pipeline.start(storage, options.correlator, { batchSize: 500 }) : null;
  const service = await Service.start(storage, { port: 0, pipeline, log: () => undefined, ...options.service });
  const url = service.url;
  const call = (p: string, init: RequestInit & { key?: string | null } = {}) => {
    const { key, headers, ...rest } = init;
    const h = new Headers(headers);
    const k = key === undefined ? keys.admin : key;
    if (k !== null) h.set('authorization', `Bearer ${k}`);
    return fetch(`${url}${p}`, { ...rest, headers: h });
  };
  return {
    dir,
    storage,
    service,
    pipeline,
    url,
    keys,
    call,
    close: async () => {
      await service.close();
      await pipeline?.close();
      await storage.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** NDJSON of `events`. */
export function ndjson(events: unknown[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** Kubernetes-like events: restarts and OOM kills on a few nodes, probes and network errors. */
export function kubeEvents(n: number, start = Date.now() - 60_000, seed = 1): Array<Record<string, unknown>> {
  const kinds = ['pod_restart', 'oom_killed', 'probe_failed', 'network_error'];
  let x = seed;
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, (_, i) => ({
    kind: kinds[Math.floor(rnd() * kinds.length)],
    node: `node-${Math.floor(rnd() * 3)}`,
    namespace: `ns-${Math.floor(rnd() * 2)}`,
    pod: `pod-${Math.floor(rnd() * 20)}`,
    timestamp: start + i * 100,
  }));
}
