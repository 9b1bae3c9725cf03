import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.long.test.ts', 'test/**/*.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Fails the run, before any test, when the native addon did not build or load.
    globalSetup: ['test/both-paths-setup.ts'],
  },
});
