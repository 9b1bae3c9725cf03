// Child of the correlation crash test: four inserters insert batches of findings forever (ids
// "<inserter>-<counter>-<index>", batch sizes a pure function of inserter and counter), with a
// 1 MiB active part so flushes run in the background all the time, an explicit flush every few
// batches, and compaction thresholds small enough that L0 -> L1 and L1 -> L2 merges run too. Prints "ack <inserter> <counter> <count>" per acknowledged batch until killed.
import { TapioStorage } from '../../lib/index.js';
import { FindingGenerator } from '../../lib/correlations/generator.js';

const [dataDir, firstInserter = '0'] = process.argv.slice(2);
const storage = await TapioStorage.open({
  dataDir,
  storage: {
    correlations: { active_memory: '1MiB', embedding_dim: 16, compaction: { l0_size: '150KB', l1_size: '1MB' } },
    metadata: { in_memory: true },
    transit: { ring_capacity: '1MiB', segment_size: '1MiB' },
  },
});
process.stdout.write(`ready ${storage.correlations.path}\n`);

await Promise.all(
  Array.from({ length: 4 }, async (_, k) => {
    const inserter = Number(firstInserter) + k;
    const gen = new FindingGenerator({ seed: inserter + 1, embeddingDim: 16, ratePerSecond: 50 });
    for (let counter = 0; ; counter++) {
      const count = batchSize(inserter, counter);
      const batch = gen.next(count).map((f, i) => ({ ...f, id: `${inserter}-${counter}-${i}` }));
      await storage.correlations.insert(batch);
      process.stdout.write(`ack ${inserter} ${counter} ${count}\n`);
      if (counter % 7 === 3) await storage.correlations.flush();
    }
  }),
);

function batchSize(inserter, counter) {
  return 1 + ((inserter * 37 + counter * 13) % 150);
}
