/**
 * ktask in one process: enqueueMany throughput, no-op processing (ledger and transaction off), and
 * processing with the ledger on and one row written through ctx.tx. Each scenario enqueues its backlog
 * once; later runs reset the group to the start (and, for the ledger, clear the ledger and the table).
 */
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import pg from 'pg'
import { createApp, type App, type Task } from '../../src/index.ts'
import { databaseUrl, payload, payloadSchema, resetGroupWhenEmpty, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'

type Args = { id: string; body: string }

function benchApp(
  prefix: string,
  partitions: number,
  mode: 'noop' | 'ledger' | 'batch-ledger',
  onHandled: (n?: number) => void,
): { app: App; task: Task<Args> } {
  const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions } } })
  const common = { name: 'bench', queue: 'q', schema: payloadSchema, ledger: mode !== 'noop', transaction: mode !== 'noop' }
  const task =
    mode === 'batch-ledger'
      ? // The same effect as 'ledger' (one row per task), written for the whole chunk by one statement.
        app.task<Args>({
          ...common,
          batchHandler: async (items, ctx) => {
            await ctx.tx.query('INSERT INTO bench_effects (task_id) SELECT unnest($1::text[])', [items.map((i) => i.taskId)])
            onHandled(items.length)
          },
        })
      : app.task<Args>({
          ...common,
          handler:
            mode === 'ledger'
              ? async (_args, ctx) => {
                  await ctx.tx.query('INSERT INTO bench_effects (task_id) VALUES ($1)', [ctx.taskId])
                  onHandled()
                }
              : () => onHandled(),
        })
  return { app, task }
}

export async function enqueueBacklog(task: Task<Args>, n: number, slice = 5000): Promise<number> {
  const t0 = performance.now()
  for (let i = 0; i < n; i += slice) {
    await task.enqueueMany(Array.from({ length: Math.min(slice, n - i) }, (_, k) => ({ args: payload(i + k) })))
  }
  return n / ((performance.now() - t0) / 1000)
}

/**
 * A web server's pattern: `callers` concurrent callers, each awaiting one `enqueue` at a time (no
 * enqueueMany) until n tasks are on Kafka. ktask's producer batches what arrives while a send is in flight.
 */
export async function enqueueConcurrently(task: Task<Args>, n: number, callers = 64): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < n) await task.enqueue(payload(next++))
    }),
  )
  return n / ((performance.now() - t0) / 1000)
}

/** Drains the backlog with an in-process worker; timed from "joined the group" to the last task handled. */
async function drain(app: App, n: number, counter: { handled: number; last: number }): Promise<number> {
  counter.handled = 0
  const worker = app.worker({ concurrency: 16 })
  await worker.start()
  const first = performance.now()
  await until(() => counter.handled >= n, 600_000, 'backlog drained')
  const rate = n / ((counter.last - first) / 1000)
  await worker.stop()
  return rate
}

function counterFor(): { handled: number; last: number; tick: (n?: number) => void } {
  const c = {
    handled: 0,
    last: 0,
    tick: (n = 1) => {
      c.handled += n
      c.last = performance.now()
    },
  }
  return c
}

export async function benchKtaskNoop(runs: number, n: number): Promise<Record<string, Figure>> {
  const enqueueRates: number[] = []
  const singleRates: number[] = []
  const rates: number[] = []
  const counter = counterFor()
  let app: App | undefined
  let prefix = ''
  for (let r = 0; r < runs; r++) {
    // A fresh queue per run measures enqueue; processing reuses the last backlog.
    await app?.close()
    prefix = uniqueName('bench-noop')
    const built = benchApp(prefix, 6, 'noop', counter.tick)
    app = built.app
    await app.provision()
    enqueueRates.push(await enqueueBacklog(built.task, n))
    // On a queue of its own (not drained below): a fifth as many, one enqueue per call.
    const single = benchApp(`${prefix}-single`, 6, 'noop', counter.tick)
    await single.app.provision()
    singleRates.push(await enqueueConcurrently(single.task, Math.round(n / 5)))
    await single.app.close()
  }
  for (let r = 0; r < runs; r++) {
    if (r > 0) await resetGroupWhenEmpty(`${prefix}.q`, `${prefix}.q`)
    rates.push(await drain(app!, n, counter))
  }
  await app!.close()
  return {
    'ktask.enqueue': figure(enqueueRates, 'tasks/s'),
    'ktask.enqueue-single-64': figure(singleRates, 'tasks/s'),
    'ktask.noop': figure(rates, 'tasks/s'),
  }
}

export async function benchKtaskLedger(
  runs: number,
  n: number,
  mode: 'ledger' | 'batch-ledger' = 'ledger',
): Promise<Record<string, Figure>> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  await pool.query('CREATE TABLE IF NOT EXISTS bench_effects (task_id text PRIMARY KEY)')
  const counter = counterFor()
  const prefix = uniqueName(`bench-${mode}`)
  const { app, task } = benchApp(prefix, 6, mode, counter.tick)
  await app.migrate()
  await app.provision()
  await enqueueBacklog(task, n)
  const rates: number[] = []
  for (let r = 0; r < runs; r++) {
    await pool.query('TRUNCATE bench_effects')
    await pool.query('DELETE FROM ktask.inbox WHERE group_id = $1', [`${prefix}.q`])
    if (r > 0) await resetGroupWhenEmpty(`${prefix}.q`, `${prefix}.q`)
    rates.push(await drain(app, n, counter))
    const { rows } = await pool.query<{ c: number }>('SELECT count(*)::int AS c FROM bench_effects')
    if (rows[0]!.c !== n) throw new Error(`bench: expected ${n} effects, found ${rows[0]!.c}`)
  }
  await pool.query('TRUNCATE bench_effects')
  await app.close()
  await pool.end()
  return { [`ktask.${mode}`]: figure(rates, 'tasks/s') }
}

/**
 * No-op processing with observability off and on, drained in turn from the same backlog so drift hits
 * every mode alike: `off` — no metrics, no OpenTelemetry SDK (ktask's span calls are the API's no-ops);
 * `metrics` — app.metrics() called (every outcome counted, every start and success timed); `sdk` —
 * metrics and an OpenTelemetry SDK registered without exporter (a tracer provider and an AsyncLocalStorage
 * context manager: every handler gets a recording consumer span). Overheads are per round of runs.
 */
export async function benchObservability(runs: number, n: number): Promise<Record<string, Figure>> {
  const counter = counterFor()
  const prefix = uniqueName('bench-observability')
  const off = benchApp(prefix, 6, 'noop', counter.tick)
  const on = benchApp(prefix, 6, 'noop', counter.tick)
  on.app.metrics()
  await off.app.provision()
  await enqueueBacklog(off.task, n)
  const rates = { off: [] as number[], metrics: [] as number[], sdk: [] as number[] }
  // CPU per task of this process (consumer, handlers, metrics, spans): far steadier than wall-clock
  // throughput on a shared 2-core machine, and what throughput is bound by on this CPU-bound path.
  const cpu = { off: [] as number[], metrics: [] as number[], sdk: [] as number[] }
  for (let r = 0; r < runs; r++) {
    for (const [mode, built] of [
      ['off', off],
      ['metrics', on],
      ['sdk', on],
    ] as const) {
      await resetGroupWhenEmpty(`${prefix}.q`, `${prefix}.q`)
      const provider = mode === 'sdk' ? registerTracing() : undefined
      try {
        const before = process.cpuUsage()
        rates[mode].push(await drain(built.app, n, counter))
        const used = process.cpuUsage(before)
        cpu[mode].push((used.user + used.system) / n)
      } finally {
        await provider?.shutdown()
        trace.disable()
        context.disable()
      }
    }
  }
  await Promise.all([off.app.close(), on.app.close()])
  const lost = (mode: 'metrics' | 'sdk'): number[] => rates[mode].map((rate, r) => (1 - rate / rates.off[r]!) * 100)
  const extraCpu = (mode: 'metrics' | 'sdk'): number[] => cpu[mode].map((us, r) => (us / cpu.off[r]! - 1) * 100)
  return {
    'observability.noop-off': figure(rates.off, 'tasks/s'),
    'observability.noop-metrics': figure(rates.metrics, 'tasks/s'),
    'observability.noop-metrics-sdk': figure(rates.sdk, 'tasks/s'),
    'observability.throughput-lost-metrics': figure(lost('metrics'), '%', 1),
    'observability.throughput-lost-metrics-sdk': figure(lost('sdk'), '%', 1),
    'observability.cpu-off': figure(cpu.off, 'µs/task', 1),
    'observability.cpu-metrics': figure(cpu.metrics, 'µs/task', 1),
    'observability.cpu-metrics-sdk': figure(cpu.sdk, 'µs/task', 1),
    'observability.overhead-metrics': figure(extraCpu('metrics'), '%', 1),
    'observability.overhead-metrics-sdk': figure(extraCpu('sdk'), '%', 1),
  }
}

function registerTracing(): BasicTracerProvider {
  const provider = new BasicTracerProvider()
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  return provider
}
