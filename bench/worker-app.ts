/**
 * The app benchmark worker processes run (`ktask worker bench/worker-app.ts`), configured by env:
 *   KTASK_PREFIX, BENCH_PARTITIONS (default 12), BENCH_LATENCY_FILE (write enqueue→start samples there).
 */
import { writeFileSync } from 'node:fs'
import { createApp } from '../src/index.ts'
import { payloadSchema } from './lib/env.ts'

const latencyFile = process.env.BENCH_LATENCY_FILE
/** [enqueued-at, enqueue → handler start] pairs; the benchmark drops its warm-up by enqueue time. */
const samples: [number, number][] = []

const app = createApp({
  logLevel: process.env.LOG_LEVEL === 'warn' ? 'warn' : 'info',
  queues: { q: { partitions: Number(process.env.BENCH_PARTITIONS ?? 12) } },
  worker: { concurrency: 16, statsIntervalMs: 0 },
})

app.task<{ id: string; body: string }>({
  name: 'bench', queue: 'q', schema: payloadSchema, ledger: false, transaction: false,
  handler: latencyFile
    ? (_args, ctx) => {
        const enqueuedAt = Number(ctx.headers['ktask-enqueued-at'])
        samples.push([enqueuedAt, Date.now() - enqueuedAt])
      }
    : () => {},
})

if (latencyFile) process.on('exit', () => writeFileSync(latencyFile, JSON.stringify(samples)))

export default app

