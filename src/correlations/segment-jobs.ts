/**
 * Runs a segment job (segment-writer.ts) in its own worker thread and returns what it wrote.
 * The worker is the compiled lib/correlations/segment-worker.js: from the TypeScript sources
 * (the test runner), the same file under lib/ (npm test builds it first).
 */
import { Worker } from 'node:worker_threads';

import { TapioError, type TapioErrorCode } from '../errors.js';
import { compiledWorker } from '../worker-path.js';
import type { CompactJob } from './segment-merge.js';
import type { FlushJob, JobReply, JobResult } from './segment-writer.js';

function workerPath(): string {
  const built = compiledWorker(import.meta.url, 'segment-worker');
  if (built === null)
    throw new TapioError('ERR_SEGMENT_IO', 'the compiled segment worker (lib/correlations/segment-worker.js) is missing; run `npm run build:ts`');
  return built;
}

/** Bytes of batch records copied to the worker between two turns of the event loop. */
const COPY_SLICE = 8 * 1024 * 1024;

/**
 * Runs `job` in a new worker. A flush's batch records stay the caller's (the part stays readable
 * until the manifest names its segments): copies go to the worker a slice at a time, between
 * turns of the event loop, so a large part never holds the loop while it is handed over.
 */
export function runSegmentJob(job: FlushJob | CompactJob): Promise<JobResult> {
  const batches = job.kind === 'flush' ? job.batches : [];
  const data = job.kind === 'flush' ? { ...job, batches: [] } : job;
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(workerPath(), { workerData: data });
    if (job.kind === 'flush') {
      void (async () => {
        let copied = 0;
        for (const b of batches) {
          if (settled) return;
          const copy = b.slice();
          worker.postMessage({ batch: copy }, [copy.buffer]);
          copied += b.length;
          if (copied >= COPY_SLICE) {
            copied = 0;
            await new Promise((r) => setImmediate(r));
          }
        }
        if (!settled) worker.postMessage({ end: true });
      })();
    }
    worker.once('message', (reply: JobReply) => {
      settled = true;
      // A job reports once; a failed one may leave work behind in its worker (a stalled stream).
      if (!reply.ok) void worker.terminate();
      if (reply.ok) resolve(reply.result);
      else {
        const code = (reply.error.code?.startsWith('ERR_') ? reply.error.code : 'ERR_SEGMENT_IO') as TapioErrorCode;
        reject(new TapioError(code, `${job.kind === 'flush' ? 'writing segments' : 'compaction'} failed: ${reply.error.message}`));
      }
    });
    worker.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new TapioError('ERR_SEGMENT_IO', `the segment worker failed: ${err.message}`, { cause: err }));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new TapioError('ERR_SEGMENT_IO', `the segment worker exited with code ${code} before it reported`));
    });
  });
}
