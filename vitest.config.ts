import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Most test files wait on PostgreSQL and child processes, not the CPU: run at least three at once.
    // vitest's default, one less than the cores, runs them one by one on a 2-core machine (about 40 % slower
    // than two); the whole suite keeps the 2 cores of such a machine busy well under half the time with two.
    maxWorkers: Math.max(3, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Type-level tests (`*.test-d.ts`, vitest's expectTypeOf) are checked by tsc as part of the run.
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: 'tsconfig.typetest.json' },
  },
});
