/**
 * The app benchmark worker processes run: `ktask worker bench/worker-app.js` on the built package
 * (dist/), the way a production worker runs — plain JavaScript, so no TypeScript stripping is loaded
 * into the measured process. Configured by env: KTASK_PREFIX, BENCH_PARTITIONS (default 12),
 * BENCH_LATENCY_FILE (write enqueue→start samples there), BENCH_DUE_FILE (write due-time samples of
 * delayed tasks there; the benchmark puts each task's due time in a `bench-due` header).
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createApp } from 'ktask'

const latencyFile = process.env.BENCH_LATENCY_FILE
const dueFile = process.env.BENCH_DUE_FILE
/**
 * Latency: [enqueued-at, enqueue → record timestamp (producer side), record timestamp → handler start
 * (broker and worker side)]; the benchmark drops its warm-up by enqueue time.
 * Due: [due time, record timestamp (when the relay produced it), handler start], ms since the epoch.
 */
const samples = []

const app = createApp({
  logLevel: process.env.LOG_LEVEL === 'warn' ? 'warn' : 'info',
  queues: { q: { partitions: Number(process.env.BENCH_PARTITIONS ?? 12) } },
  worker: { concurrency: 16, statsIntervalMs: 0 },
})

const recordLatency = (_args, ctx) => {
  const enqueuedAt = Number(ctx.headers['ktask-enqueued-at'])
  samples.push([enqueuedAt, ctx.timestamp - enqueuedAt, Date.now() - ctx.timestamp])
}
const recordDue = (_args, ctx) => {
  samples.push([Number(ctx.headers['bench-due']), ctx.timestamp, Date.now()])
}

app.task({
  name: 'bench',
  queue: 'q',
  schema: fileURLToPath(new URL('./payload.avsc', import.meta.url)),
  ledger: false,
  transaction: false,
  handler: latencyFile ? recordLatency : dueFile ? recordDue : () => {},
})

const file = latencyFile ?? dueFile
if (file) process.on('exit', () => writeFileSync(file, JSON.stringify(samples)))

export default app
