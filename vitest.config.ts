// Test runner settings: unit tests sit beside their source, integration tests under test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/browser/global-setup.ts'],
  },
});
