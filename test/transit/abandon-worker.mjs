// Worker of the WAL memory test: attaches to the WAL of the main thread, appends one record and
// ends without closing its producer (the environment's teardown must let go of the writer).
import { parentPort, workerData } from 'node:worker_threads';

import { attachProducer } from '../../lib/index.js';

const producer = attachProducer(workerData.handle);
parentPort.postMessage(await producer.append(['left open']));
