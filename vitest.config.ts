import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Generous: in CI the CLI tests share two cores with a real VM under software emulation.
    testTimeout: 120_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    hookTimeout: 60_000,
  },
});
