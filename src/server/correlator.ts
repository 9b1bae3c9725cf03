/**
 * The reference correlator (`server.correlator: builtin`): pods of one node that restart or are
 * OOM-killed several times within a window become one anomaly finding, with those resources, a
 * confidence, a severity and an embedding computed from the mix of events (deterministic: the
 * same events give the same finding, so a batch processed again after a crash gives the same).
 */
import type { CorrelationInput } from '../correlations/record.js';

/** An event as the pipeline hands it to a correlator. */
export interface PipelineEvent {
  /** Its transit sequence number. */
  seq: number;
  /** The event parsed as JSON, or null when it is not JSON. */
  event: unknown;
  /** Its bytes as stored. */
  data: Uint8Array;
}

/** What a correlator knows of the store it feeds. */
export interface CorrelatorContext {
  embeddingDim: number;
  findingTypes: readonly string[];
}

/** Turns a batch of events (in sequence order) into findings. */
export type Correlator = (events: PipelineEvent[], context: CorrelatorContext) => CorrelationInput[] | Promise<CorrelationInput[]>;

/** Event kinds that count towards an anomaly, and their names in the event's `kind` (or `reason`). */
const RESTART_KINDS: Record<string, 'restart' | 'oom'> = {
  pod_restart: 'restart',
  restart: 'restart',
  backoff: 'restart',
  crashloopbackoff: 'restart',
  oom_killed: 'oom',
  oomkilled: 'oom',
  oom: 'oom',
};

/** Restarts or OOM kills on one node within this many milliseconds form one anomaly... */
export const WINDOW_MS = 5 * 60_000;
/** ...when there are at least this many. */
export const MIN_EVENTS = 3;

interface Hit {
  seq: number;
  at: number;
  kind: 'restart' | 'oom';
  node: string;
  pod: string | null;
  namespace: string | null;
  /** Every event kind seen, for the embedding. */
  rawKind: string;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function timeOf(e: Record<string, unknown>): number | null {
  for (const k of ['timestamp', 'at', 'time']) {
    const v = e[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string') {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return t;
    }
  }
  return null;
}

/** FNV-1a of a string (32 bits). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A unit vector of `dim` values from features of the events (feature-hashed counts). */
export function embeddingOf(hits: readonly Hit[], dim: number): Float32Array {
  const v = new Float64Array(dim);
  const add = (feature: string, weight: number) => {
    const h = hash(feature);
    // The top bit gives the sign, so unrelated features cancel rather than pile up.
    v[h % dim] = (v[h % dim] ?? 0) + ((h & 0x80000000) === 0 ? weight : -weight);
  };
  for (const h of hits) {
    add(`kind:${h.rawKind}`, 1);
    add(`class:${h.kind}`, 1);
    if (h.namespace !== null) add(`ns:${h.namespace}`, 0.5);
    if (h.namespace !== null) add(`ns-kind:${h.namespace}:${h.kind}`, 0.5);
  }
  add(`size:${Math.min(10, hits.length)}`, 1);
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  const out = new Float32Array(dim);
  if (norm === 0) out[0] = 1;
  else for (let i = 0; i < dim; i++) out[i] = v[i]! / norm;
  return out;
}

/** The reference correlator. */
export const builtinCorrelator: Correlator = (events, context) => {
  if (!context.findingTypes.includes('anomaly')) return [];
  const byNode = new Map<string, Hit[]>();
  for (const { seq, event } of events) {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) continue;
    const e = event as Record<string, unknown>;
    const rawKind = (text(e.kind) ?? text(e.reason) ?? '').toLowerCase();
    const kind = RESTART_KINDS[rawKind];
    const node = text(e.node);
    const at = timeOf(e);
    if (kind === undefined || node === null || at === null) continue;
    const hit: Hit = { seq, at, kind, node, pod: text(e.pod), namespace: text(e.namespace), rawKind };
    const list = byNode.get(node);
    if (list === undefined) byNode.set(node, [hit]);
    else list.push(hit);
  }
  const findings: CorrelationInput[] = [];
  for (const [node, hits] of [...byNode].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    hits.sort((a, b) => a.at - b.at || a.seq - b.seq);
    let i = 0;
    while (i < hits.length) {
      let j = i;
      while (j + 1 < hits.length && hits[j + 1]!.at - hits[i]!.at <= WINDOW_MS) j++;
      const group = hits.slice(i, j + 1);
      if (group.length >= MIN_EVENTS) findings.push(findingOf(node, group, context.embeddingDim));
      i = group.length >= MIN_EVENTS ? j + 1 : i + 1;
    }
  }
  return findings;
};

function findingOf(node: string, group: Hit[], dim: number): CorrelationInput {
  const pods = [...new Set(group.map((h) => h.pod).filter((p): p is string => p !== null))].sort();
  const namespaces = [...new Set(group.map((h) => h.namespace).filter((n): n is string => n !== null))].sort();
  const ooms = group.filter((h) => h.kind === 'oom').length;
  const first = group[0]!;
  const last = group[group.length - 1]!;
  const resources: Record<string, string[]> = { nodes: [node] };
  if (pods.length > 0) resources.pods = pods;
  if (namespaces.length > 0) resources.namespaces = namespaces;
  return {
    // The smallest sequence number of the group names it: the same events give the same id.
    id: `anomaly-${node}-${Math.min(...group.map((h) => h.seq))}`,
    timestamp: first.at,
    type: 'anomaly',
    severity: Math.min(5, 1 + ooms + Math.floor(group.length / 5)),
    confidence: Math.min(0.99, 0.5 + 0.05 * group.length + 0.05 * pods.length),
    eventCount: group.length,
    timeWindow: Math.max(1, Math.ceil((last.at - first.at) / 1000)),
    resources,
    embedding: embeddingOf(group, dim),
  };
}
