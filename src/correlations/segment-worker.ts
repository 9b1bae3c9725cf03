/**
 * The worker thread that writes segments: Parquet encoding is synchronous WebAssembly and would
 * hold the event loop for seconds, so flushes (and compactions) run here, one job per worker (the
 * WebAssembly memory of a job is returned when its worker ends). See segment-jobs.ts for the
 * caller's side.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { DecodePool } from './decode-pool.js';
import { BACKGROUND_NICE, lowerThreadPriority } from './thread-priority.js';
import { mergeSegments, type CompactJob } from './segment-merge.js';
import { writeSegmentFiles, type FlushJob, type JobReply } from './segment-writer.js';

const job = workerData as FlushJob | CompactJob;

// A compaction can wait: it yields the CPU to the process's other threads (inserts, queries, the
// WAL's writer) and to other processes. A flush runs at normal priority: it is what frees the
// active part's memory, and starving it on a busy machine would let that grow.
if (job.kind === 'compact') {
  lowerThreadPriority(BACKGROUND_NICE);
  // The merge reads its inputs a row group at a time, one after another: one decoding thread
  // (started from this thread, so at its priority) is enough.
  DecodePool.configure(1);
}

/** A flush's batch records arrive as messages ({ batch }), then { end }. */
function received(flush: FlushJob): Promise<FlushJob> {
  return new Promise((resolve) => {
    const onMessage = (m: { batch?: Uint8Array; end?: boolean }) => {
      if (m.batch !== undefined) flush.batches.push(m.batch);
      if (m.end === true) {
        parentPort!.off('message', onMessage);
        resolve(flush);
      }
    };
    parentPort!.on('message', onMessage);
  });
}

const run =
  job.kind === 'flush'
    ? received(job).then(writeSegmentFiles)
    : mergeSegments(job).then((r) => ({ entries: [r.entry], bytesWritten: r.bytesWritten, peakMemory: r.peakMemory, directIo: r.directIo }));
run.then(
  (result) => parentPort!.postMessage({ ok: true, result } satisfies JobReply),
  (err: unknown) =>
    parentPort!.postMessage({
      ok: false,
      error: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code ?? null },
    } satisfies JobReply),
);
