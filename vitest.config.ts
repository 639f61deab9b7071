import { defineConfig } from 'vitest/config';

// Integration and browser tests start real processes (coordinator, Chromium), so
// they get generous timeouts; benchmarks never run here (see `npm run bench`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
