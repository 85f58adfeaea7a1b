/**
 * The app benchmark worker processes run: `ktask worker bench/worker-app.js` on the built package
 * (dist/), the way a production worker runs — plain JavaScript, so no TypeScript stripping is loaded
 * into the measured process. Configured by env: KTASK_PREFIX, BENCH_PARTITIONS (default 12),
 * BENCH_LATENCY_FILE (write enqueue→start samples there).
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createApp } from 'ktask'

const latencyFile = process.env.BENCH_LATENCY_FILE
/**
 * [enqueued-at, enqueue → record timestamp (producer side), record timestamp → handler start (broker and
 * worker side)]; the benchmark drops its warm-up by enqueue time.
 */
const samples = []

const app = createApp({
  logLevel: process.env.LOG_LEVEL === 'warn' ? 'warn' : 'info',
  queues: { q: { partitions: Number(process.env.BENCH_PARTITIONS ?? 12) } },
  worker: { concurrency: 16, statsIntervalMs: 0 },
})

app.task({
  name: 'bench',
  queue: 'q',
  schema: fileURLToPath(new URL('./payload.avsc', import.meta.url)),
  ledger: false,
  transaction: false,
  handler: latencyFile
    ? (_args, ctx) => {
        const enqueuedAt = Number(ctx.headers['ktask-enqueued-at'])
        samples.push([enqueuedAt, ctx.timestamp - enqueuedAt, Date.now() - ctx.timestamp])
      }
    : () => {},
})

if (latencyFile) process.on('exit', () => writeFileSync(latencyFile, JSON.stringify(samples)))

export default app
