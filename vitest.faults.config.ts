import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Fault cases (`npm run test:faults`): a three-broker cluster, real worker processes, minutes per case.
// Not part of `npm test`: they need the cluster's three JVMs and most of a 2-core machine, one case at a time.
export default defineConfig({
  resolve: { alias: [{ find: /^ktask$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    name: 'faults',
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/helpers/faults/global-setup.ts'],
    setupFiles: ['test/helpers/faults/setup-file.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
})
