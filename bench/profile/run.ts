/**
 * CPU profiles of ktask's two hot paths, each in a process of its own so a profile holds one path:
 *
 *   node bench/profile/run.ts [--n 300000] [--client kafkajs|platformatic]
 *
 * enqueues N no-op tasks with enqueueMany (5,000 per call; profile `enqueue`), then drains them with an
 * in-process worker (concurrency 16, ledger and transaction off; profile `noop`), and prints the top
 * frames of each by self time (top-frames.ts). Profiles are written to bench/results/profiles/.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { root, uniqueName } from '../lib/env.ts'
import { printTopFrames } from './top-frames.ts'

const args = process.argv.slice(2)
const opt = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const n = opt('--n', '300000')
const client = opt('--client', process.env.KTASK_KAFKA_CLIENT ?? 'kafkajs')
const dir = join(root, 'bench/results/profiles')
mkdirSync(dir, { recursive: true })
const prefix = uniqueName('profile')

for (const step of ['enqueue', 'noop'] as const) {
  const name = `${step}-${client}`
  const child = spawnSync(
    process.execPath,
    [
      '--conditions=ktask-source',
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-name=${name}.cpuprofile`,
      join(root, 'bench/profile/step.ts'),
      step,
      prefix,
      n,
    ],
    { stdio: 'inherit', env: { ...process.env, KTASK_KAFKA_CLIENT: client } },
  )
  if (child.status !== 0) throw new Error(`profile step ${step} exited ${child.status}`)
  console.log(`\n▶ ${name}: top frames by self time`)
  printTopFrames(join(dir, `${name}.cpuprofile`), 25)
}
