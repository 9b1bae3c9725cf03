/**
 * The seed's data flow: events -> transit WAL -> correlator -> findings. A pipeline reads the
 * transit in batches (a subscription) and hands each batch to a correlator; the findings go to
 * the correlation store together with the sequence number of the batch's last event
 * (`insert(findings, { sourceSeq })`), in one WAL record. So the position and the findings are
 * durable together, and a restart resumes after the last batch whose findings are stored:
 * nothing is lost and nothing is stored twice, whatever the crash.
 */
import { pathToFileURL } from 'node:url';

import { TapioError } from '../errors.js';
import type { Subscription } from '../transit/subscription.js';
import type { TapioStorage } from '../storage.js';
import { builtinCorrelator, type Correlator, type PipelineEvent } from './correlator.js';
import { isThreaded, startCorrelatorThread } from './correlator-thread.js';

export interface PipelineOptions {
  /** The subscription's name (default 'correlator'). */
  name?: string;
  /** The most events in one batch (default 10,000). */
  batchSize?: number;
  /** Called after each stored batch (for metrics). */
  onBatch?: (events: number, findings: number) => void;
}

export class Pipeline {
  readonly name: string;
  readonly #storage: TapioStorage;
  readonly #sub: Subscription;
  #position: number;
  #error: Error | null = null;
  #batches = 0;
  #findings = 0;

  readonly #correlator: Correlator;

  private constructor(storage: TapioStorage, correlator: Correlator, options: PipelineOptions) {
    this.name = options.name ?? 'correlator';
    this.#correlator = correlator;
    this.#storage = storage;
    const correlations = storage.correlations;
    this.#position = correlations.sourceSeq;
    const context = { embeddingDim: storage.config.storage.correlations.embedding_dim, findingTypes: storage.config.storage.correlations.finding_types };
    this.#sub = storage.transit.subscribeBatches(
      this.name,
      async (records) => {
        // A correlator in a thread of its own parses the events there.
        const threaded = isThreaded(correlator);
        const events: PipelineEvent[] = records.map(({ seq, data }) => ({ seq, data, event: threaded ? null : parseEvent(data) }));
        const last = records[records.length - 1]!.seq;
        // A batch at or below the stored position was stored before the crash (its checkpoint
        // had not been written): skip it rather than store its findings twice.
        if (last <= correlations.sourceSeq) return;
        const fresh = events.filter((e) => e.seq > correlations.sourceSeq);
        const findings = await correlator(fresh, context);
        if (!Array.isArray(findings)) {
          throw new TapioError(
            'ERR_VALIDATION',
            `the correlator returned ${typeof findings}, not an array of findings, for events ${fresh[0]!.seq} to ${last}`,
          );
        }
        await correlations.insert(findings, { sourceSeq: last });
        this.#position = last;
        this.#batches++;
        this.#findings += findings.length;
        options.onBatch?.(fresh.length, findings.length);
      },
      { batchSize: options.batchSize ?? 10_000 },
    );
    this.#sub.done.catch((err: unknown) => {
      this.#error = err instanceof Error ? err : new Error(String(err));
    });
  }

  /**
   * Starts the pipeline where the stored findings end: the subscription's checkpoint is set to
   * `correlations.sourceSeq` first (it may be behind after a crash, never trusted ahead).
   */
  static async start(storage: TapioStorage, correlator: Correlator, options: PipelineOptions = {}): Promise<Pipeline> {
    const name = options.name ?? 'correlator';
    const resume = storage.correlations.sourceSeq;
    if (resume > storage.transit.lastSeq) {
      throw new TapioError(
        'ERR_CHECKPOINT_AHEAD',
        `the correlation store holds findings of transit events up to ${resume}, but the transit WAL ends at ${storage.transit.lastSeq}: the WAL was replaced or restored from an older copy. Start the pipeline under a store of findings made from this WAL, or move the correlations directory aside`,
        { details: { sourceSeq: resume, lastSeq: storage.transit.lastSeq } },
      );
    }
    await storage.metadata.checkpoints.set(name, resume);
    return new Pipeline(storage, correlator, options);
  }

  /** 'running', 'closed' or 'failed' (see error). */
  get state(): 'running' | 'closed' | 'failed' {
    return this.#sub.state;
  }

  /** The last transit sequence number whose findings are durable. */
  get position(): number {
    return this.#position;
  }

  get error(): Error | null {
    return this.#sub.error ?? this.#error;
  }

  /** Batches and findings stored since start. */
  get counts(): { batches: number; findings: number } {
    return { batches: this.#batches, findings: this.#findings };
  }

  /** Resolves once every durable event up to now has been through the correlator (for tests and the demo). */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const target = this.#storage.transit.lastSeq;
    const until = Date.now() + timeoutMs;
    while (this.#position < target) {
      if (this.state !== 'running') throw this.error ?? new TapioError('ERR_CLOSED', 'the pipeline stopped');
      if (Date.now() > until) throw new TapioError('ERR_TIMEOUT', `the pipeline is at ${this.#position}, behind ${target}, after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Stops after the batch in progress (its findings and position stored, or neither); a
   * correlator running in a thread of its own ends with the pipeline.
   */
  async close(): Promise<void> {
    try {
      await this.#sub.close();
    } finally {
      if (isThreaded(this.#correlator)) await this.#correlator.close();
    }
  }
}

/** An event's bytes parsed as JSON, or null when they are not JSON. */
export function parseEvent(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return null;
  }
}

/**
 * The correlator `server.correlator` names: the reference one for 'builtin', none for 'none',
 * else the default export (or `correlate` export) of the ES module at that path. With `thread`,
 * it runs in a thread of its own (see correlator-thread.ts), unless no thread can be started.
 */
export async function loadCorrelator(spec: string, options: { thread?: boolean } = {}): Promise<Correlator | null> {
  if (spec === 'none') return null;
  if (options.thread === true) {
    const threaded = await startCorrelatorThread(spec);
    if (threaded !== null) return threaded;
  }
  if (spec === 'builtin') return builtinCorrelator;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(spec).href)) as Record<string, unknown>;
  } catch (err) {
    throw new TapioError('ERR_CONFIG', `server.correlator: the module ${spec} could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  const fn = mod.default ?? mod.correlate;
  if (typeof fn !== 'function') {
    throw new TapioError(
      'ERR_CONFIG',
      `server.correlator: the module ${spec} exports no function as default or as correlate; export (events, context) => findings`,
    );
  }
  return fn as Correlator;
}
