// Child of the crash test: appends forever from several concurrent appenders and prints one
// line per acknowledged batch, "ack <appender> <counter> <count> <firstSeq> <lastSeq>", until
// the parent kills it with SIGKILL. Payloads are a pure function of (appender, counter, index),
// so the parent can rebuild every acknowledged record's bytes. Appenders are numbered from the
// third argument, so no two children write the same payload.
import { TapioStorage } from '../../lib/index.js';
import { payloadFor } from './crash-payload.mjs';

const [dataDir, segmentSize, firstAppender = '0'] = process.argv.slice(2);
const storage = await TapioStorage.open({ dataDir, storage: { transit: { segment_size: segmentSize, ring_capacity: '1MiB' }, metadata: { in_memory: true } } });
process.stdout.write(`ready ${storage.transit.path}\n`);

const appenders = 8;
await Promise.all(
  Array.from({ length: appenders }, async (_, a) => {
    const appender = Number(firstAppender) + a;
    for (let counter = 0; ; counter++) {
      const count = 1 + ((appender * 31 + counter * 17) % 24);
      const batch = Array.from({ length: count }, (_, i) => payloadFor(appender, counter, i));
      const { firstSeq, lastSeq } = await storage.transit.append(batch);
      process.stdout.write(`ack ${appender} ${counter} ${count} ${firstSeq} ${lastSeq}\n`);
    }
  }),
);
