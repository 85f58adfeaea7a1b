/** One step of run.ts in its own process: `enqueue <prefix> <n>` or `noop <prefix> <n>`. */
import { createApp } from '../../src/index.ts'
import { payload, payloadSchema, until } from '../lib/env.ts'

const [step, prefix, count] = process.argv.slice(2) as ['enqueue' | 'noop', string, string]
const n = Number(count)
let handled = 0
let last = 0
const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions: 6 } } })
const task = app.task<{ id: string; body: string }>({
  name: 'bench',
  queue: 'q',
  schema: payloadSchema,
  ledger: false,
  transaction: false,
  handler: () => {
    handled++
    last = performance.now()
  },
})
await app.provision()
if (step === 'enqueue') {
  const t0 = performance.now()
  const cpu = process.cpuUsage()
  for (let i = 0; i < n; i += 5000) {
    await task.enqueueMany(Array.from({ length: Math.min(5000, n - i) }, (_, k) => ({ args: payload(i + k) })))
  }
  const used = process.cpuUsage(cpu)
  console.log(
    `enqueue: ${Math.round(n / ((performance.now() - t0) / 1000))} tasks/s, ${((used.user + used.system) / n).toFixed(1)} µs CPU/task`,
  )
} else {
  const worker = app.worker({ concurrency: 16 })
  await worker.start()
  const first = performance.now()
  const cpu = process.cpuUsage()
  await until(() => handled >= n, 600_000, 'backlog drained')
  const used = process.cpuUsage(cpu)
  // CPU per task is the steadier figure on a shared machine (throughput moves with whatever else runs).
  console.log(`noop: ${Math.round(n / ((last - first) / 1000))} tasks/s, ${((used.user + used.system) / n).toFixed(1)} µs CPU/task`)
  await worker.stop()
}
await app.close()
