/**
 * The rate limiter's cost at 1,000 limited starts/s: the same backlog of no-op tasks (ledger and
 * transaction off, 6 partitions, concurrency 16) drained by an in-process worker with
 * `rateLimit: { max: 1000, perMs: 1000 }` and without. Figures: the limited run's starts/s (the limiter
 * should reach its limit, not fall short of it), the most starts in any 1 s window, and the worker's
 * CPU time per task (user + system, µs) limited and unlimited — the difference is what the limiter costs
 * this process per start (slot statements, waits); Postgres' own time is not in it.
 */
import { createApp, type App, type Task } from '../../src/index.ts'
import { payloadSchema, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'
import { enqueueBacklog } from './ktask.ts'

type Args = { id: string; body: string }

/** The most starts in any window [t, t + ms). */
function maxInAnyWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  for (let from = 0, to = 0; to < sorted.length; to++) {
    while (sorted[to]! - sorted[from]! >= ms) from++
    best = Math.max(best, to - from + 1)
  }
  return best
}

async function drainOnce(limited: boolean, n: number) {
  const starts: number[] = []
  const app: App = createApp({
    prefix: uniqueName(`bench-limits-${limited ? 'on' : 'off'}`),
    logLevel: 'warn',
    queues: { q: { partitions: 6 } },
  })
  const task: Task<Args> = app.task<Args>({
    name: 'bench',
    queue: 'q',
    schema: payloadSchema,
    ledger: false,
    transaction: false,
    ...(limited ? { rateLimit: { max: 1000, perMs: 1000 } } : {}),
    handler: () => void starts.push(Date.now()),
  })
  try {
    await app.migrate()
    await app.provision()
    await enqueueBacklog(task, n)
    const worker = app.worker({ concurrency: 16 })
    await worker.start()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await until(() => starts.length >= n, 600_000, 'limits backlog drained')
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    await worker.stop()
    return { rate: n / seconds, window: maxInAnyWindow(starts, 1000), cpuPerTask: (cpu.user + cpu.system) / n }
  } finally {
    await app.close()
  }
}

export async function benchLimits(runs: number, n: number): Promise<Record<string, Figure>> {
  const on: Awaited<ReturnType<typeof drainOnce>>[] = []
  const off: Awaited<ReturnType<typeof drainOnce>>[] = []
  for (let r = 0; r < runs; r++) {
    on.push(await drainOnce(true, n))
    off.push(await drainOnce(false, n))
  }
  return {
    'limits.rate-1000': figure(
      on.map((x) => x.rate),
      'starts/s',
    ),
    'limits.max-1s-window': figure(
      on.map((x) => x.window),
      'starts',
    ),
    'limits.cpu-limited': figure(
      on.map((x) => x.cpuPerTask),
      'µs/task',
    ),
    'limits.cpu-unlimited': figure(
      off.map((x) => x.cpuPerTask),
      'µs/task',
    ),
    'limits.cpu-overhead': figure(
      on.map((x, i) => x.cpuPerTask - off[i]!.cpuPerTask),
      'µs/task',
    ),
  }
}
