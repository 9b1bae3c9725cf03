/**
 * A seeded generator of realistic findings, for tests, benchmarks and `tapio-storage gen`: types
 * skewed 70/20/10, severities skewed towards low, tens of thousands of pods (a few hot ones),
 * hundreds of nodes and namespaces, embeddings in 64 clusters with noise, about `ratePerSecond`
 * findings per second from `start`. The same seed gives the same findings.
 */
import type { CorrelationInput } from './record.js';

export interface GeneratorOptions {
  seed?: number;
  /** Epoch milliseconds of the first finding (default: the start of the current UTC day, so the findings are within any retention). */
  start?: number;
  /** Findings per second of simulated time (default 1000). */
  ratePerSecond?: number;
  embeddingDim?: number;
  /** The type names, most frequent first (default anomaly, attack, misconfiguration). */
  types?: readonly string[];
  pods?: number;
  nodes?: number;
  namespaces?: number;
}

/** A small fast PRNG (mulberry32): uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function word(rand: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

/** A generator of findings; call `next(n)` for the next n. */
export class FindingGenerator {
  readonly #rand: () => number;
  readonly #dim: number;
  readonly #types: readonly string[];
  readonly #pods: string[];
  readonly #nodes: string[];
  readonly #namespaces: string[];
  readonly #centers: Float32Array[];
  readonly #patterns: Uint8Array[];
  readonly #stepMs: number;
  #t: number;
  #n = 0;

  constructor(options: GeneratorOptions = {}) {
    const rand = prng(options.seed ?? 1);
    this.#rand = rand;
    this.#dim = options.embeddingDim ?? 128;
    this.#types = options.types ?? ['anomaly', 'attack', 'misconfiguration'];
    this.#t = options.start ?? Math.floor(Date.now() / 86_400_000) * 86_400_000;
    this.#stepMs = 1000 / (options.ratePerSecond ?? 1000);
    const services = Array.from({ length: 400 }, () => `${word(rand, 5)}-${word(rand, 4)}`);
    this.#pods = Array.from({ length: options.pods ?? 20_000 }, (_, i) => `${services[i % services.length]}-${word(rand, 10)}-${word(rand, 5)}`);
    this.#nodes = Array.from({ length: options.nodes ?? 300 }, (_, i) => `node-${String(i).padStart(3, '0')}.${word(rand, 6)}.internal`);
    this.#namespaces = Array.from({ length: options.namespaces ?? 100 }, () => `ns-${word(rand, 8)}`);
    this.#centers = Array.from({ length: 64 }, () => unit(Float32Array.from({ length: this.#dim }, () => rand() * 2 - 1)));
    this.#patterns = Array.from({ length: 2000 }, () => Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)));
  }

  /** Skewed towards the front of a list: about 20% of the items get 80% of the picks. */
  #skewed<T>(items: readonly T[]): T {
    const r = this.#rand();
    return items[Math.floor(r * r * r * items.length)]!;
  }

  /** The next `count` findings, in timestamp order. */
  next(count: number): CorrelationInput[] {
    const rand = this.#rand;
    const out = new Array<CorrelationInput>(count);
    for (let i = 0; i < count; i++) {
      this.#t += this.#stepMs * (0.5 + rand());
      const ts = Math.floor(this.#t);
      const r = rand();
      const type = this.#types[r < 0.7 || this.#types.length === 1 ? 0 : r < 0.9 || this.#types.length === 2 ? 1 : 2]!;
      const pods: string[] = [];
      const podCount = 1 + Math.floor(rand() * rand() * 5);
      for (let p = 0; p < podCount; p++) pods.push(this.#skewed(this.#pods));
      const resources: Record<string, string[]> = { pods, namespaces: [this.#skewed(this.#namespaces)] };
      if (rand() < 0.8) resources.nodes = rand() < 0.8 ? [this.#skewed(this.#nodes)] : [this.#skewed(this.#nodes), this.#skewed(this.#nodes)];
      if (rand() < 0.05) resources.deployments = [pods[0]!.split('-').slice(0, 2).join('-')];
      const center = this.#centers[Math.floor(rand() * this.#centers.length)]!;
      const embedding = new Float32Array(this.#dim);
      for (let d = 0; d < this.#dim; d++) embedding[d] = center[d]! + (rand() - 0.5) * 0.2;
      out[i] = {
        id: `${ts.toString(16).padStart(12, '0')}-${(this.#n++).toString(36)}-${word(rand, 6)}`,
        timestamp: ts,
        type,
        severity: 1 + Math.floor(rand() * rand() * 5),
        confidence: Math.fround(rand()),
        eventCount: Math.floor(1 + rand() * rand() * 1000),
        timeWindow: [30, 60, 300, 900, 3600][Math.floor(rand() * 5)]!,
        resources,
        pattern: this.#patterns[Math.floor(rand() * this.#patterns.length)]!,
        embedding: unit(embedding),
      };
    }
    return out;
  }
}

function unit(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
