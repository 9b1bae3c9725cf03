import { availableParallelism } from 'node:os';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/**/*.long.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time even on two CPUs (vitest's default there is one): most files wait
    // on child processes, fsync and timers rather than compute, and the suite takes about 40% less
    // time so.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Fails the run, before any test, when the native addon did not build or load.
    globalSetup: ['test/both-paths-setup.ts'],
  },
});
