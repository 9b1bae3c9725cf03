/**
 * A thread that decodes segment row groups for queries (decode-pool.ts is the caller's side).
 * Decoding Parquet is synchronous WebAssembly, 5-40 ms a column chunk: here it runs beside the
 * event loop instead of on it. The thread keeps the segments it opened (an open parses the
 * footer), least recently used first out.
 */
import { sep } from 'node:path';
import { parentPort } from 'node:worker_threads';

import { SegmentReader } from './segment-file.js';
import type { DecodeReply, DecodeRequest } from './decode-pool.js';

/** Segments kept open in one thread. */
const OPEN_FILES = 32;

const open = new Map<string, SegmentReader>();

let opened = false;

async function reader(path: string): Promise<SegmentReader> {
  const hit = open.get(path);
  if (hit !== undefined) {
    open.delete(path);
    open.set(path, hit);
    return hit;
  }
  opened = true;
  const r = await SegmentReader.open(path);
  open.set(path, r);
  for (const [p, old] of open) {
    if (open.size <= OPEN_FILES) break;
    open.delete(p);
    old.close();
  }
  return r;
}

function forget(path: string): void {
  const under = path.endsWith(sep) ? path : `${path}${sep}`;
  for (const [p, r] of open) {
    if (p === path || p.startsWith(under)) {
      open.delete(p);
      r.close();
    }
  }
}

async function decode(m: DecodeRequest): Promise<DecodeReply> {
  const t0 = performance.now();
  opened = false;
  try {
    const r = await reader(m.path);
    const ipc = await r.decode(m.group, m.columns);
    return { id: m.id, ok: true, ipc, bytes: m.columns === null ? 0 : r.columnBytes(m.group, m.columns), ms: performance.now() - t0, opened };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { id: m.id, ok: false, code: e.code ?? null, message: e.message ?? String(err), ms: performance.now() - t0 };
  }
}

parentPort!.on('message', (m: DecodeRequest | { forget: string }) => {
  if ('forget' in m) {
    forget(m.forget);
    return;
  }
  void decode(m).then((reply) => {
    if (reply.ok) parentPort!.postMessage(reply, [reply.ipc.buffer as ArrayBuffer]);
    else parentPort!.postMessage(reply);
  });
});
