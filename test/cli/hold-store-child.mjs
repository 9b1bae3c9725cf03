// Holds a store open, as a running service would, and answers lines on stdin:
// "verify <key>" prints {"verify": <user id or null>}; "close" closes the store and exits.
// argv: the data directory. Prints {"ready": true, "lastSeq": n} once open. Loads the compiled
// library (npm run build); TAPIO_NATIVE chooses the path.
import { createInterface } from 'node:readline';

import { TapioStorage } from '../../lib/index.js';

const storage = await TapioStorage.open({ dataDir: process.argv[2], storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' } } }, { create: false });
const { lastSeq } = await storage.transit.append(['held-1', 'held-2', 'held-3']);
console.log(JSON.stringify({ ready: true, lastSeq, path: storage.transit.path }));
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ');
  if (command === 'verify') console.log(JSON.stringify({ verify: await storage.metadata.apiKeys.verify(arg) }));
  if (command === 'close') break;
}
await storage.close();
