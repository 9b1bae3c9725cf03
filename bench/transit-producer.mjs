// A worker thread of bench/transit-subscribe.mjs: attaches to the transit WAL with the producer
// handle it was given, posts 'ready', and once told to go appends its share of the records,
// `lanes` appends in flight at a time, batches of `batch` records of `recordBytes` bytes; posts
// 'done' once all are durable.
import { parentPort, workerData } from 'node:worker_threads';

const { attachProducer } = await import('../lib/index.js');
const { handle, total, lanes, batch, recordBytes } = workerData;
const producer = attachProducer(handle);
const record = new Uint8Array(recordBytes).fill(0x61);
const records = Array.from({ length: batch }, () => record);
// Started and attached: the timed appends begin when the main thread says so.
await new Promise((resolve) => {
  parentPort.once('message', resolve);
  parentPort.postMessage('ready');
});
let issued = 0;
await Promise.all(
  Array.from({ length: lanes }, async () => {
    while (issued < total) {
      const n = Math.min(batch, total - issued);
      issued += n;
      await producer.append(n === batch ? records : records.slice(0, n));
    }
  }),
);
await producer.close();
parentPort.postMessage('done');
