// Worker of the producer test: appends a batch whose second record is `bytes` long, then one
// small record, and reports what each append gave.
import { parentPort, workerData } from 'node:worker_threads';

import { attachProducer } from '../../lib/index.js';

const { handle, bytes } = workerData;
const producer = attachProducer(handle);
const outcome = (p) =>
  p.then(
    (r) => ({ ok: r }),
    (e) => ({ code: e.code, message: e.message, details: e.details }),
  );
const big = await outcome(producer.append(['small', new Uint8Array(bytes)]));
const after = await outcome(producer.append(['after']));
await producer.close();
parentPort.postMessage({ big, after });
