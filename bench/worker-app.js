/**
 * The app benchmark worker processes run: `ktask worker bench/worker-app.js` on the built package
 * (dist/), the way a production worker runs — plain JavaScript, so no TypeScript stripping is loaded
 * into the measured process. Configured by env: KTASK_PREFIX, BENCH_PARTITIONS (default 12),
 * BENCH_LATENCY_FILE (write enqueue→start samples there), BENCH_DUE_FILE (write due-time samples of
 * delayed tasks there; the benchmark puts each task's due time in a `bench-due` header), BENCH_FLOW_FILE
 * (also register the flow tasks `b` and `c`, and append a line to that file each time `c` starts),
 * BENCH_OUTBOX (JSON of the app's `outbox` option, to try relay settings).
 */
import { appendFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createApp } from 'ktask'
import { watchPauses } from './lib/pauses.js'

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
  ...(process.env.BENCH_OUTBOX ? { outbox: JSON.parse(process.env.BENCH_OUTBOX) } : {}),
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

// Flows (bench/scenarios/flows.ts): chord([b × 100], c), both no-op tasks with the ledger and a
// transaction (the defaults with a database, as users run flows). c appends [workflow id, handler start,
// record timestamp] as it starts: one line per callback, read by the benchmark between its phases.
const flowFile = process.env.BENCH_FLOW_FILE
if (flowFile) {
  const schema = fileURLToPath(new URL('./payload.avsc', import.meta.url))
  app.task({ name: 'b', queue: 'q', schema, handler: () => {} })
  app.task({
    name: 'c',
    queue: 'q',
    schema,
    handler: (_args, ctx) => appendFileSync(flowFile, JSON.stringify([ctx.workflowId, Date.now(), ctx.timestamp]) + '\n'),
  })
}

const file = latencyFile ?? dueFile
// A latency run also says what stalled this process meanwhile (lib/pauses.js).
const pauses = latencyFile ? watchPauses() : undefined
if (file) process.on('exit', () => writeFileSync(file, JSON.stringify(pauses ? { samples, pauses: pauses.stop() } : samples)))

export default app
