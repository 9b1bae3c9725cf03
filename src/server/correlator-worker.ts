/**
 * The thread that runs a correlator for the pipeline (correlator-thread.ts is the caller's side):
 * it loads the correlator named in its workerData, then for each batch parses the events and
 * answers with the correlator's findings, or with its error.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { PipelineEvent } from './correlator.js';
import type { CorrelateReply, CorrelateRequest, ReadyMessage } from './correlator-thread.js';
import { loadCorrelator, parseEvent } from './pipeline.js';

const { spec } = workerData as { spec: string };

function failure(err: unknown): { message: string; code: string | null } {
  return { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown } | null)?.code?.toString() ?? null };
}

try {
  const correlator = await loadCorrelator(spec);
  if (correlator === null) throw new Error(`no correlator is named ${JSON.stringify(spec)}`);
  parentPort!.on('message', (m: CorrelateRequest) => {
    void (async (): Promise<CorrelateReply> => {
      try {
        const events: PipelineEvent[] = new Array<PipelineEvent>(m.seqs.length);
        for (let i = 0; i < m.seqs.length; i++) {
          const data = m.bytes.subarray(m.offsets[i]!, m.offsets[i + 1]!);
          events[i] = { seq: m.seqs[i]!, data, event: parseEvent(data) };
        }
        const findings = await correlator(events, m.context);
        return { id: m.id, ok: true, findings };
      } catch (err) {
        return { id: m.id, ok: false, ...failure(err) };
      }
    })().then((reply) => {
      try {
        parentPort!.postMessage(reply);
      } catch (err) {
        // Findings the structured clone cannot carry (functions, symbols): the batch fails.
        parentPort!.postMessage({
          id: m.id,
          ok: false,
          message: `the correlator's findings cannot be passed on: ${failure(err).message}`,
          code: 'ERR_VALIDATION',
        });
      }
    });
  });
  parentPort!.postMessage({ ready: true } satisfies ReadyMessage);
} catch (err) {
  parentPort!.postMessage({ ready: false, ...failure(err) } satisfies ReadyMessage);
}
