import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: most of the suite waits (on brokers, child processes, timers), and one
    // at a time took 14 of the 15 minutes CI allows on a 2-core machine; two take 6-7.
    maxWorkers: 2,
  },
});
