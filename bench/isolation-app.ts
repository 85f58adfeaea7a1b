/**
 * The app of the isolation benchmark (bench/scenarios/isolation.ts). The benchmark builds it in its own
 * process with `buildIsolationBenchApp()`; the worker's threads and child processes import this module
 * and build the same app from the environment the benchmark set before starting the worker
 * (BENCH_ISO_PREFIX, BENCH_ISO_MODE, BENCH_ISO_SLEEP_MS) — that is how they find the handler.
 */
import { createApp, type App, type Task } from '../src/index.ts'

export type IsoBenchMode = 'none' | 'thread' | 'process'
type Args = { id: string; body: string }

export function buildIsolationBenchApp(
  prefix: string,
  mode: IsoBenchMode,
  sleepMs: number,
  schema: Record<string, unknown>,
): { app: App; task: Task<Args> } {
  const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions: 6 } } })
  const task = app.task<Args>({
    name: 'iso-bench',
    queue: 'q',
    schema,
    ledger: false,
    transaction: false,
    isolation: mode,
    ...(mode === 'none' ? {} : { module: import.meta.url }),
    handler: sleepMs > 0 ? () => new Promise<void>((r) => setTimeout(r, sleepMs)) : () => undefined,
  })
  return { app, task }
}

const env = process.env
if (env.BENCH_ISO_PREFIX && env.BENCH_ISO_SCHEMA) {
  buildIsolationBenchApp(
    env.BENCH_ISO_PREFIX,
    (env.BENCH_ISO_MODE ?? 'none') as IsoBenchMode,
    Number(env.BENCH_ISO_SLEEP_MS ?? 0),
    JSON.parse(env.BENCH_ISO_SCHEMA) as Record<string, unknown>,
  )
}
