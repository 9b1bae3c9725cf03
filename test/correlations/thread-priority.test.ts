// Segment workers lower their own thread's priority and nothing else's (Linux gives each thread
// its own nice value; elsewhere the call reports that it changed nothing).
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { BACKGROUND_NICE, threadId } from '../../src/correlations/thread-priority.js';
import { assertLibCurrent } from '../built-lib.js';

describe('lowerThreadPriority', () => {
  it('lowers the calling worker thread by BACKGROUND_NICE levels and leaves the main thread as it was', async () => {
    assertLibCurrent();
    const before = getPriority();
    const script = `
      import { parentPort } from 'node:worker_threads';
      import { lowerThreadPriority, threadId, BACKGROUND_NICE } from ${JSON.stringify(new URL('../../lib/correlations/thread-priority.js', import.meta.url).href)};
      parentPort.postMessage({ tid: threadId(), nice: lowerThreadPriority(BACKGROUND_NICE) });`;
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(script)}`));
    const got = await new Promise<{ tid: number | null; nice: number | null }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(getPriority()).toBe(before);
    if (process.platform === 'linux') {
      expect(got.tid).not.toBe(threadId());
      expect(got.nice).toBe(Math.min(19, before + BACKGROUND_NICE));
    } else {
      expect(got.nice).toBeNull();
    }
  });

  it.runIf(process.platform === 'linux')('stops at 19, the lowest priority', async () => {
    const script = `
      import { parentPort } from 'node:worker_threads';
      import { lowerThreadPriority } from ${JSON.stringify(new URL('../../lib/correlations/thread-priority.js', import.meta.url).href)};
      parentPort.postMessage([lowerThreadPriority(100), lowerThreadPriority(1)]);`;
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(script)}`));
    const got = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(got).toEqual([19, 19]);
  });
});
