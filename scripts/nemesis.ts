/**
 * `npm run nemesis -- --minutes 10 [--seed N] [--keep]`: the nemesis (test/nemesis/nemesis.test.ts) on a
 * proxied three-broker cluster beside the single broker of `npm start` / `npm test` (ports 19092–19134,
 * files in KTASK_INFRA_RUN_DIR, default /tmp/ktask-fault-cluster). The cluster is started when it is not
 * running and stopped at the end unless --keep (or KTASK_KEEP_INFRA=1). Exits with the run's status.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const usage = 'usage: npm run nemesis -- [--minutes N] [--seed N] [--keep]'
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  console.log(usage)
  process.exit(0)
}
const minutes = Number(values.minutes)
if (!Number.isFinite(minutes) || minutes < 1 || minutes > 240) {
  console.error(`--minutes must be a number from 1 to 240, got "${values.minutes}"\n${usage}`)
  process.exit(2)
}
if (values.seed !== undefined && !/^\d+$/.test(values.seed)) {
  console.error(`--seed must be a non-negative integer, got "${values.seed}"\n${usage}`)
  process.exit(2)
}

const root = fileURLToPath(new URL('../', import.meta.url))
const env: NodeJS.ProcessEnv = {
  ...process.env,
  KTASK_INFRA_BASE_PORT: process.env.KTASK_INFRA_BASE_PORT ?? '19092',
  KTASK_INFRA_RUN_DIR: process.env.KTASK_INFRA_RUN_DIR ?? '/tmp/ktask-fault-cluster',
  // Broker faults on the network need every broker behind a fault proxy.
  KTASK_INFRA_PROXIED: '1',
  NEMESIS_MINUTES: String(minutes),
  ...(values.seed !== undefined ? { NEMESIS_SEED: values.seed } : {}),
  ...(values.keep ? { KTASK_KEEP_INFRA: '1' } : {}),
}
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))
const result = spawnSync(process.execPath, [vitest, 'run', '--config', 'vitest.nemesis.config.ts'], { cwd: root, env, stdio: 'inherit' })
process.exit(result.status ?? 1)
