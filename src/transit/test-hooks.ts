/**
 * Hooks for fault-injection tests. Not exported from the package: tests import this module
 * directly. A fault plan set here puts a FaultyFileLayer (file-layer.ts, or its native twin)
 * under the writer of the next open of that WAL directory.
 */
import { resolve } from 'node:path';

import type { FaultInjector } from './file-layer.js';

const planned = new Map<string, FaultInjector>();

/** The next open of the WAL in `walDir` writes through a layer that injects `faults`. */
export function injectFaults(walDir: string, faults: FaultInjector): void {
  planned.set(resolve(walDir), faults);
}

/** The faults planned for the WAL in `walDir`, once (the open takes them). */
export function takeFaults(walDir: string): FaultInjector | undefined {
  const key = resolve(walDir);
  const faults = planned.get(key);
  planned.delete(key);
  return faults;
}
