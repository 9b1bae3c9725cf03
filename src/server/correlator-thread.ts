/**
 * A correlator run in a thread of its own. Parsing a batch of 10,000 events and correlating them
 * takes 20-60 ms of synchronous work, which on the event loop would hold every request of the
 * service (health checks among them) that long. The pipeline hands the batch's bytes over in one
 * buffer; the thread parses, runs the correlator and returns the findings, which the pipeline
 * stores with the batch's position as before.
 *
 * The thread loads the correlator by its name (`builtin`, or the path of an ES module) exactly
 * as `loadCorrelator` does. See correlator-worker.ts for the thread's side.
 */
import { Worker } from 'node:worker_threads';

import { TapioError, type TapioErrorCode } from '../errors.js';
import { compiledWorker } from '../worker-path.js';
import type { CorrelationInput } from '../correlations/record.js';
import type { Correlator, CorrelatorContext, PipelineEvent } from './correlator.js';

/** A batch for the thread: sequence numbers, and the events' bytes one after another. */
export interface CorrelateRequest {
  id: number;
  seqs: Float64Array;
  /** Where each event starts in `bytes`, and where the last ends. */
  offsets: Uint32Array;
  bytes: Uint8Array;
  context: CorrelatorContext;
}

export type CorrelateReply = { id: number; ok: true; findings: CorrelationInput[] } | { id: number; ok: false; message: string; code: string | null };

/** What the thread says once it has loaded the correlator (or failed to). */
export type ReadyMessage = { ready: true } | { ready: false; message: string; code: string | null };

/** A correlator that runs in its own thread: the pipeline hands it events unparsed. */
export interface ThreadedCorrelator extends Correlator {
  readonly threaded: true;
  /** Ends the thread (a batch in progress fails). */
  close(): Promise<void>;
}

export function isThreaded(c: Correlator): c is ThreadedCorrelator {
  return (c as Partial<ThreadedCorrelator>).threaded === true;
}

/**
 * Starts a thread running the correlator `spec` ('builtin' or an ES module's absolute path), or
 * returns null where no thread can run it (the compiled worker is missing): the caller then runs
 * the correlator on its own thread. A module that cannot be loaded is ERR_CONFIG, as with
 * `loadCorrelator`.
 */
export async function startCorrelatorThread(spec: string): Promise<ThreadedCorrelator | null> {
  const path = compiledWorker(import.meta.url, 'correlator-worker');
  if (path === null) return null;
  const worker = new Worker(path, { workerData: { spec } });
  let nextId = 1;
  const pending = new Map<number, { resolve: (f: CorrelationInput[]) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  let started: ((m: ReadyMessage) => void) | null = null;
  const ready = new Promise<ReadyMessage>((resolve) => (started = resolve));
  const fail = (err: Error) => {
    started?.({ ready: false, message: err.message, code: null });
    failure ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: ReadyMessage | CorrelateReply) => {
    if ('ready' in m) {
      started?.(m);
      started = null;
      return;
    }
    const p = pending.get(m.id);
    if (p === undefined) return;
    pending.delete(m.id);
    // Idle, the thread does not keep the process alive; a batch in progress does.
    if (pending.size === 0) worker.unref();
    if (m.ok) p.resolve(m.findings);
    else {
      const code = (m.code?.startsWith('ERR_') ? m.code : 'ERR_VALIDATION') as TapioErrorCode;
      p.reject(new TapioError(code, m.message));
    }
  });
  worker.on('error', (err) => fail(new TapioError('ERR_INTERNAL', `the correlator thread failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => fail(new TapioError('ERR_CLOSED', `the correlator thread exited (code ${code})`)));
  const loaded = await ready;
  if (!loaded.ready) {
    await worker.terminate();
    const code = (loaded.code?.startsWith('ERR_') ? loaded.code : 'ERR_CONFIG') as TapioErrorCode;
    throw new TapioError(code, loaded.message);
  }
  worker.unref();

  const run = (events: PipelineEvent[], context: CorrelatorContext): Promise<CorrelationInput[]> => {
    if (failure !== null) return Promise.reject(failure);
    const seqs = new Float64Array(events.length);
    const offsets = new Uint32Array(events.length + 1);
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      seqs[i] = events[i]!.seq;
      offsets[i] = total;
      total += events[i]!.data.length;
    }
    offsets[events.length] = total;
    const bytes = new Uint8Array(total);
    for (let i = 0; i < events.length; i++) bytes.set(events[i]!.data, offsets[i]!);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.ref();
      const request: CorrelateRequest = { id, seqs, offsets, bytes, context: { embeddingDim: context.embeddingDim, findingTypes: [...context.findingTypes] } };
      worker.postMessage(request, [seqs.buffer, offsets.buffer, bytes.buffer]);
    });
  };
  return Object.assign(run, {
    threaded: true as const,
    close: async () => {
      await worker.terminate();
    },
  });
}
