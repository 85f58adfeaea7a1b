/**
 * CPU profiles of ktask's two hot paths, each in a process of its own so a profile holds one path:
 *
 *   npm run bench:profile [-- --n 300000] [--client kafkajs|platformatic]
 *
 * enqueues N no-op tasks with enqueueMany (5,000 per call; profile `enqueue`), then drains them with an
 * in-process worker (concurrency 16, ledger and transaction off; profile `noop`), and prints the top
 * frames of each by self time and the share of each component (top-frames.ts). The profiles go to
 * bench/results/profiles/ (not committed); the top frames to bench/results/profile-<client>.json, which
 * summary.md quotes for the targets it misses.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, uniqueName } from '../lib/env.ts'
import { componentShares, topFrames } from './top-frames.ts'

const args = process.argv.slice(2)
const opt = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const n = opt('--n', '300000')
const client = opt('--client', process.env.KTASK_KAFKA_CLIENT ?? 'kafkajs')
const dir = join(root, 'bench/results/profiles')
mkdirSync(dir, { recursive: true })
const prefix = uniqueName('profile')
const result: Record<string, unknown> = { date: new Date().toISOString(), client, tasks: Number(n) }

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
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KTASK_KAFKA_CLIENT: client } },
  )
  const said = child.stdout.toString().trim()
  console.log(said)
  if (child.status !== 0) throw new Error(`profile step ${step} exited ${child.status}`)
  const file = join(dir, `${name}.cpuprofile`)
  const frames = topFrames(file, 15)
  const components = componentShares(file)
  console.log(`\n▶ ${name}: by component ${components.map((c) => `${c.component} ${(c.share * 100).toFixed(1)} %`).join(', ')}`)
  for (const { frame, share } of frames) console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${frame}`)
  result[step] = { measured: said, components, frames }
}
writeFileSync(join(root, `bench/results/profile-${client}.json`), JSON.stringify(result, null, 2) + '\n')
