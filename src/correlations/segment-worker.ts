/**
 * The worker thread that writes segments: Parquet encoding is synchronous WebAssembly and would
 * hold the event loop for seconds, so flushes (and compactions) run here, one job per worker (the
 * WebAssembly memory of a job is returned when its worker ends). See segment-jobs.ts for the
 * caller's side.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { mergeSegments, type CompactJob } from './segment-merge.js';
import { writeSegmentFiles, type FlushJob, type JobReply } from './segment-writer.js';

const job = workerData as FlushJob | CompactJob;
const run =
  job.kind === 'flush' ? writeSegmentFiles(job) : mergeSegments(job).then((r) => ({ entries: [r.entry], bytesWritten: r.bytesWritten, peakRss: r.peakRss }));
run.then(
  (result) => parentPort!.postMessage({ ok: true, result } satisfies JobReply),
  (err: unknown) =>
    parentPort!.postMessage({
      ok: false,
      error: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code ?? null },
    } satisfies JobReply),
);
