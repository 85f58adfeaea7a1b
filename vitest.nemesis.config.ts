import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// The nemesis (`npm run nemesis -- --minutes N`, scripts/nemesis.ts): the fault cases' cluster and setup,
// one long test. Its timeout follows NEMESIS_MINUTES: the run, then up to 10 min to settle and check.
const minutes = Number(process.env.NEMESIS_MINUTES ?? 2)
export default defineConfig({
  resolve: { alias: [{ find: /^ktask$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    name: 'nemesis',
    include: ['test/nemesis/**/*.test.ts'],
    globalSetup: ['test/helpers/faults/global-setup.ts'],
    setupFiles: ['test/helpers/faults/setup-file.ts'],
    fileParallelism: false,
    testTimeout: (minutes + 15) * 60_000,
    hookTimeout: 300_000,
  },
})
