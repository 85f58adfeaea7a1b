/**
 * Isolation's cost: the same backlog drained by an in-process worker with `isolation: 'none'`, `'thread'`
 * and `'process'`, for a no-op handler and a 1 ms one (ledger and transaction off, 6 partitions,
 * concurrency 16). Figures: tasks/s, and the overhead per task against `none` in µs of wall time
 * (1e6 / rate − 1e6 / rate of none). Timed from the 5th percent of the backlog handled to its end, so
 * that the children's start-up (they start lazily, one per partition that runs) is left out.
 */
import { buildIsolationBenchApp, type IsoBenchMode } from '../isolation-app.ts'
import { payloadSchema, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'
import { enqueueBacklog } from './ktask.ts'

async function drainOnce(mode: IsoBenchMode, sleepMs: number, n: number): Promise<number> {
  const prefix = uniqueName(`bench-iso-${mode}`)
  // Read by the threads and child processes when they import bench/isolation-app.ts.
  Object.assign(process.env, {
    BENCH_ISO_PREFIX: prefix,
    BENCH_ISO_MODE: mode,
    BENCH_ISO_SLEEP_MS: String(sleepMs),
    BENCH_ISO_SCHEMA: JSON.stringify(payloadSchema),
  })
  const { app, task } = buildIsolationBenchApp(prefix, mode, sleepMs, payloadSchema)
  try {
    await app.provision()
    await enqueueBacklog(task, n)
    let handled = 0
    let last = 0
    let first = 0
    const warmUp = Math.ceil(n / 20)
    const worker = app.worker({ concurrency: 16 })
    worker.on('task:succeeded', () => {
      handled++
      last = performance.now()
      if (handled === warmUp) first = last
    })
    await worker.start()
    await until(() => handled >= n, 600_000, `${mode} backlog drained`)
    await worker.stop()
    return (n - warmUp) / ((last - first) / 1000)
  } finally {
    await app.close()
  }
}

export async function benchIsolation(runs: number, n: { noop: number; sleep1: number }): Promise<Record<string, Figure>> {
  const out: Record<string, Figure> = {}
  for (const [name, sleepMs, size] of [
    ['noop', 0, n.noop],
    ['1ms', 1, n.sleep1],
  ] as const) {
    const rates = new Map<IsoBenchMode, number[]>()
    for (let r = 0; r < runs; r++) {
      for (const mode of ['none', 'thread', 'process'] as const) {
        rates.set(mode, [...(rates.get(mode) ?? []), await drainOnce(mode, sleepMs, size)])
      }
    }
    const none = rates.get('none')!
    for (const mode of ['none', 'thread', 'process'] as const) {
      const modeRates = rates.get(mode)!
      out[`isolation.${name}-${mode}`] = figure(modeRates, 'tasks/s')
      if (mode !== 'none') {
        const overhead = modeRates.map((rate, i) => 1e6 / rate - 1e6 / none[i]!)
        out[`isolation.${name}-${mode}-overhead`] = figure(overhead, 'µs/task')
      }
    }
  }
  return out
}
