// Child of the subscription crash test: subscribes under the name "crash" and prints one line per
// record handed to it, "deliver <seq> <payload>" (a batch handler first prints "batch <first>
// <last>"). When it is handed record <hangAt>, it prints "hang <seq>" and its handler never
// returns, so the parent's SIGKILL lands in the middle of a batch. With "live", it also appends
// records while it is subscribed.
// node subscription-crash-child.mjs <dataDir> <record|batch> <batchSize> <hangAt> [live]
import { TapioStorage } from '../../lib/index.js';

const [dataDir, mode, batchSize, hangAt, live] = process.argv.slice(2);
const storage = await TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' } } });
process.stdout.write(`ready ${storage.transit.path}\n`);
// The handler's pending promise alone would not keep the process alive.
setInterval(() => undefined, 1000);
// Before it says "hang", a metadata write of its own commits, and with it (lmdb commits in call
// order) every checkpoint write the subscription issued so far: a checkpoint stored too early
// would be on disk when the kill comes.
const hang = async () => {
  await storage.metadata.checkpoints.set('crash-flush', 1);
  process.stdout.write(`hang\n`);
  return new Promise(() => undefined);
};
const show = (r) => `deliver ${r.seq} ${Buffer.from(r.data).toString()}\n`;
const options = { batchSize: Number(batchSize) };
if (mode === 'batch') {
  storage.transit.subscribeBatches(
    'crash',
    async (records) => {
      process.stdout.write(`batch ${records[0].seq} ${records.at(-1).seq}\n`);
      for (const r of records) process.stdout.write(show(r));
      if (records.some((r) => r.seq === Number(hangAt))) await hang();
      await new Promise((r) => setImmediate(r));
    },
    options,
  );
} else {
  storage.transit.subscribe(
    'crash',
    async (r) => {
      process.stdout.write(show(r));
      if (r.seq === Number(hangAt)) await hang();
      if (r.seq % 7 === 0) await new Promise((r) => setImmediate(r));
    },
    options,
  );
}
storage.transit.on('error', (err) => process.stdout.write(`error ${err.message}\n`));
if (live === 'live') {
  for (let i = 0; i < 40; i++) {
    await storage.transit.append(Array.from({ length: 10 }, () => 'live'));
    await new Promise((r) => setTimeout(r, 1));
  }
}
