// A worker thread of bench/transit-subscribe.mjs: attaches to the transit WAL with the producer
// handle it was given, posts 'ready', and once told to go appends its share of the records the
// way the benchmark's own appenders do (`lanes` appends in flight, batches of `batch`); posts
// 'done' once all are durable.
import { parentPort, workerData } from 'node:worker_threads';

import { appendRecords } from './transit-subscribe.mjs';

const { attachProducer } = await import('../lib/index.js');
const { handle, total, lanes, batch } = workerData;
const producer = attachProducer(handle);
// Started and attached: the timed appends begin when the main thread says so.
await new Promise((resolve) => {
  parentPort.once('message', resolve);
  parentPort.postMessage('ready');
});
await appendRecords(producer, total, { lanes, batch });
await producer.close();
parentPort.postMessage('done');
