// Child of the read-after-crash test: appends `total` numbered records of `size` bytes (the
// payloads the test rebuilds), prints "written <path>" and waits to be killed with SIGKILL.
import { TapioStorage } from '../../lib/index.js';

const [dataDir, total, size] = process.argv.slice(2);
const storage = await TapioStorage.open({ dataDir, storage: { transit: { segment_size: '1MiB', ring_capacity: '4MiB' }, metadata: { in_memory: true } } });
const payload = (seq) => {
  const b = Buffer.alloc(Number(size), 0x61 + (seq % 26));
  b.write(`#${seq}#`, 0, 'latin1');
  return b;
};
for (let seq = 1; seq <= Number(total); seq += 100) {
  const n = Math.min(100, Number(total) + 1 - seq);
  await storage.transit.append(Array.from({ length: n }, (_, i) => payload(seq + i)));
}
process.stdout.write(`written ${storage.transit.path}\n`);
setInterval(() => {}, 1000);
