/**
 * `npm start`: the example end to end on this machine. Starts two real worker processes for
 * examples/invoices.ts, streams invoice tasks into Kafka, shows live progress, and prints a summary
 * (throughput, enqueue→done latency, retries, dead letters) once every task reached a final state.
 *
 *   EXAMPLE_TASKS=20000 EXAMPLE_RATE=2000 EXAMPLE_WORKERS=2 npm start
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import cliProgress from 'cli-progress'
import pg from 'pg'
import { buildInvoiceApp, invoicesTableSql } from './invoices.ts'

const total = Number(process.env.EXAMPLE_TASKS ?? 4000)
const rate = Number(process.env.EXAMPLE_RATE ?? 800)
const workerCount = Number(process.env.EXAMPLE_WORKERS ?? 2)
const root = fileURLToPath(new URL('..', import.meta.url))
const runId = Date.now().toString(36)
const prefix = `example-${runId}`
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
/** Workers that exited on their own (a supervisor would restart them; the example stops instead). */
const failedWorkers: string[] = []
/** A person watches a terminal: a progress bar, the workers' readable log lines above it. Else JSON lines. */
const tty = process.stdout.isTTY
// This process's own app (it provisions and enqueues) and the workers log warnings and errors only, like
// a ktask command: on stderr, readable on a terminal.
process.env.LOG_LEVEL ??= 'warn'
process.env.KTASK_LOG_DESTINATION ??= 'stderr'
process.env.KTASK_LOG_FORMAT ??= tty ? 'pretty' : 'json'

interface Display {
  start(payload: Record<string, number>): void
  update(done: number, payload: Record<string, number>): void
  /** A worker's log line: above the bar while it is shown. */
  log(line: string): void
  stop(): void
}

function terminalDisplay(): Display {
  const bars = new cliProgress.MultiBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} done | enqueued {enqueued} | retrying {retrying} | dead {dead} | {rate}/s',
      hideCursor: true,
      // Long log lines wrap instead of being cut at the terminal's width (one bar: nothing to miscount).
      linewrap: true,
    },
    cliProgress.Presets.shades_classic,
  )
  let bar: cliProgress.SingleBar | undefined
  return {
    start: (payload) => void (bar = bars.create(total, 0, payload)),
    update: (done, payload) => bar?.update(done, payload),
    log: (line) => (bar ? bars.log(`${line}\n`) : console.error(line)),
    stop() {
      if (!bar) return
      bars.update() // prints log lines still waiting for the next frame
      bars.stop()
      bar = undefined
    },
  }
}

function startWorker(n: number, display: Display): ChildProcess {
  // On a terminal the workers' stderr comes through here (to print above the bar), no longer a terminal
  // itself: KTASK_LOG_FORMAT (set above) keeps their lines readable, FORCE_COLOR their colours.
  const colours = tty ? { FORCE_COLOR: process.env.FORCE_COLOR ?? '1' } : {}
  const child = spawn(process.execPath, ['--conditions=ktask-source', 'src/cli/main.ts', 'worker', 'examples/invoices.ts'], {
    cwd: root,
    env: { ...process.env, KTASK_PREFIX: prefix, ...colours },
    stdio: ['ignore', 'inherit', tty ? 'pipe' : 'inherit'],
  })
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => display.log(line))
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') {
      display.log(`worker ${n} exited with ${code ?? signal}`)
      failedWorkers.push(`worker ${n}`)
    }
  })
  return child
}

async function main(): Promise<void> {
  console.log(`ktask example: ${total} invoice tasks at ~${rate}/s, ${workerCount} worker processes (prefix ${prefix})\n`)
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' })
  const { app, renderInvoice } = buildInvoiceApp(prefix)
  await app.migrate()
  await pool.query(invoicesTableSql)
  await pool.query('TRUNCATE example_invoices')
  await app.provision()

  const display: Display | undefined = tty ? terminalDisplay() : undefined
  const workers = Array.from({ length: workerCount }, (_, i) =>
    startWorker(i + 1, display ?? { start() {}, update() {}, log: console.error, stop() {} }),
  )
  const started = Date.now()
  let enqueued = 0
  const taskIds: string[] = []
  const producing = (async () => {
    const batch = Math.max(1, Math.round(rate / 10))
    while (enqueued < total) {
      const n = Math.min(batch, total - enqueued)
      const items = Array.from({ length: n }, (_, i) => {
        const k = enqueued + i
        // Every 500th order has no amount: it is rejected for good and lands in the DLQ.
        return {
          args: { orderId: `${runId}-${k}`, customer: `customer-${k % 97}`, amount: k % 500 === 499 ? 0 : 1000 + k, lines: 1 + (k % 5) },
          key: `customer-${k % 97}`,
        }
      })
      const { taskIds: ids } = await renderInvoice.enqueueMany(items)
      taskIds.push(...ids)
      enqueued += n
      await sleep(100)
    }
  })()

  display?.start({ enqueued: 0, retrying: 0, dead: 0, rate: 0 })
  const counts = async () => {
    const { rows } = await pool.query<{ state: string; c: number }>(
      `SELECT state, count(*)::int AS c FROM ktask.tasks WHERE task_id = ANY($1) GROUP BY state`,
      [taskIds],
    )
    return Object.fromEntries(rows.map((r) => [r.state, r.c])) as Record<string, number>
  }
  let byState: Record<string, number>
  let lastPrint = 0
  for (;;) {
    byState = await counts()
    const done = (byState.SUCCEEDED ?? 0) + (byState.DEAD ?? 0) + (byState.FAILED ?? 0)
    const elapsed = (Date.now() - started) / 1000
    const payload = {
      enqueued,
      retrying: byState.RETRYING ?? 0,
      dead: (byState.DEAD ?? 0) + (byState.FAILED ?? 0),
      rate: Math.round(done / elapsed),
    }
    if (display) display.update(done, payload)
    else if (Date.now() - lastPrint > 2000) {
      console.log(`  ${done}/${total} done, enqueued ${enqueued}, retrying ${payload.retrying}, dead ${payload.dead}, ${payload.rate}/s`)
      lastPrint = Date.now()
    }
    if (done >= total && enqueued >= total) break
    if (failedWorkers.length === workerCount) {
      display?.stop()
      for (const w of workers) w.kill('SIGTERM')
      throw new Error(`every worker process exited (${failedWorkers.join(', ')}); see their errors above`)
    }
    await sleep(250)
  }
  display?.stop()
  await producing
  const seconds = (Date.now() - started) / 1000

  const {
    rows: [stats],
  } = await pool.query<{ invoices: number; dupes: number; p50: number; p99: number }>(`
    SELECT count(*)::int AS invoices, (count(*) - count(DISTINCT order_id))::int AS dupes,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - enqueued_at) * 1000) AS p50,
      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - enqueued_at) * 1000) AS p99
    FROM example_invoices`)
  const {
    rows: [retried],
  } = await pool.query<{ c: number }>(`SELECT count(*)::int AS c FROM ktask.tasks WHERE task_id = ANY($1) AND attempts > 1`, [taskIds])

  for (const w of workers) w.kill('SIGTERM')
  const exits = await Promise.all(workers.map((w) => new Promise<number | null>((r) => w.once('exit', (code) => r(code)))))

  console.log('\nSummary')
  console.log(`  tasks            ${total} in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} tasks/s end to end)`)
  console.log(`  invoices         ${stats!.invoices} written, ${stats!.dupes} duplicates`)
  console.log(`  succeeded        ${byState.SUCCEEDED ?? 0}  (${retried!.c} needed a retry)`)
  console.log(`  dead-lettered    ${(byState.DEAD ?? 0) + (byState.FAILED ?? 0)}  (orders without amount → ${prefix}.invoices.dlq)`)
  console.log(`  latency          enqueue → invoice committed: p50 ${Math.round(stats!.p50)} ms, p99 ${Math.round(stats!.p99)} ms`)
  console.log(`  workers          ${exits.every((c) => c === 0) ? 'stopped cleanly (SIGTERM → exit 0)' : `exit codes ${exits.join(', ')}`}`)
  console.log(`\nTry: npx ktask status ${taskIds[0]}   ·   npx ktask serve examples/invoices.ts`)
  await pool.end()
  await app.close()
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
