// Child of the WAL lock tests, driven over IPC (child_process.fork), so that one set of
// long-lived processes serves many trials. Messages from the parent:
//   { op: 'open', dataDir, tag }  open the store; if that worked, append the record `tag`.
//                                  Replies { op: 'opened', ok: true, path, firstSeq, lastSeq }
//                                  or { op: 'opened', ok: false, code, message }.
//   { op: 'close' }                close the store if open; replies { op: 'closed' }.
// The first message is { op: 'ready', pid, native } (native: the addon loaded here).
import { TapioStorage } from '../../lib/index.js';
import { nativeStatus } from '../../lib/native/loader.js';

let storage = null;

process.on('message', async (msg) => {
  if (msg.op === 'open') {
    try {
      storage = await TapioStorage.open({
        dataDir: msg.dataDir,
        storage: { transit: { segment_size: '1MiB', ring_capacity: '1MiB' }, metadata: { in_memory: true } },
      });
      const { firstSeq, lastSeq } = await storage.transit.append([msg.tag]);
      process.send({ op: 'opened', ok: true, path: storage.transit.path, firstSeq, lastSeq });
    } catch (err) {
      process.send({ op: 'opened', ok: false, code: err.code ?? String(err), message: err.message });
    }
  } else if (msg.op === 'close') {
    const s = storage;
    storage = null;
    if (s !== null) await s.close();
    process.send({ op: 'closed' });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ op: 'ready', pid: process.pid, native: nativeStatus().native });
