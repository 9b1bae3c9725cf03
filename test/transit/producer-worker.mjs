// Worker of the producer test: attaches to the WAL of the main thread and appends `batches`
// batches of records "w<worker>:<batch>:<index>", then reports every acknowledgement.
import { parentPort, workerData } from 'node:worker_threads';

import { attachProducer } from '../../lib/index.js';

const { handle, worker, batches, perBatch } = workerData;
const producer = attachProducer(handle);
const acks = [];
const inflight = [];
for (let b = 0; b < batches; b++) {
  const records = Array.from({ length: perBatch }, (_, i) => `w${worker}:${b}:${i}`);
  inflight.push(producer.append(records).then((r) => acks.push({ batch: b, ...r })));
  if (inflight.length >= 4) await inflight.shift();
}
await Promise.all(inflight);
await producer.close();
parentPort.postMessage({ worker, acks });
