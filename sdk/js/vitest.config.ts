import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The functional tests start the real Python server; give them room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
