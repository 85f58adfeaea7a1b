/**
 * Scenarios with real worker processes: enqueue → handler-start latency at a fixed offered load,
 * scaling over 1, 2 and 4 processes, and the peak memory of one worker draining a 1M backlog.
 */
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, type App, type Task } from '../../src/index.ts'
import { committedTotal, payload, resetGroupWhenEmpty, payloadSchema, sleep, uniqueName, until } from '../lib/env.ts'
import { memoryOf, startBenchWorker, stopBenchWorker } from '../lib/processes.ts'
import { figure, percentile, type Figure } from '../lib/stats.ts'
import { enqueueBacklog } from './ktask.ts'
import { watchPauses } from '../lib/pauses.js'

type Args = { id: string; body: string }

function producerApp(prefix: string, partitions: number): { app: App; task: Task<Args> } {
  const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions } }, database: false })
  const task = app.task<Args>({ name: 'bench', queue: 'q', schema: payloadSchema, ledger: false, transaction: false, handler: () => {} })
  return { app, task }
}

/**
 * Enqueues one task at a time (the way a web service does) at `rate`/s for `warmupSeconds + seconds`,
 * while one worker process handles them; the worker records handler start minus the ktask-enqueued-at
 * header. Tasks enqueued during the warm-up (connections, JIT) are not counted.
 */
export async function benchLatency(
  runs: number,
  rate: number,
  seconds: number,
  label = 'latency',
  warmupSeconds = 2,
): Promise<Record<string, Figure>> {
  const p50: number[] = []
  const p95: number[] = []
  const p99: number[] = []
  // The p99 of each half: enqueue → the record's timestamp (the producer), and record → handler start
  // (broker, fetch, worker) — says where a tail comes from.
  const p99Produce: number[] = []
  const p99Deliver: number[] = []
  // What stalled either process meanwhile: event-loop delay p99 and the longest GC pause.
  const stalls = { producerLoop: [] as number[], producerGc: [] as number[], workerLoop: [] as number[], workerGc: [] as number[] }
  for (let r = 0; r < runs; r++) {
    const prefix = uniqueName('bench-latency')
    const file = join(tmpdir(), `${prefix}.json`)
    const { app, task } = producerApp(prefix, 6)
    await app.provision()
    const worker = startBenchWorker({ KTASK_PREFIX: prefix, BENCH_PARTITIONS: '6', BENCH_LATENCY_FILE: file })
    await worker.running
    await sleep(1000)
    const total = Math.round(rate * (seconds + warmupSeconds))
    const measureFrom = Date.now() + warmupSeconds * 1000
    const tickMs = 10
    const perTick = rate / (1000 / tickMs)
    const sends: Promise<unknown>[] = []
    const producerPauses = watchPauses()
    const start = performance.now()
    let sent = 0
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / tickMs + 1) * perTick))
      for (; sent < due; sent++) sends.push(task.enqueue(payload(sent)))
      await sleep(tickMs)
    }
    await Promise.all(sends)
    const producer = producerPauses.stop()
    await until(async () => (await committedTotal(`${prefix}.q`, `${prefix}.q`)) >= total, 60_000, 'latency run drained', 250)
    await stopBenchWorker(worker)
    const written = JSON.parse(readFileSync(file, 'utf8')) as { samples: [number, number, number][]; pauses: typeof producer }
    const measured = written.samples.filter(([at]) => at >= measureFrom)
    stalls.producerLoop.push(producer.loopDelayP99)
    stalls.producerGc.push(producer.gcMax)
    stalls.workerLoop.push(written.pauses.loopDelayP99)
    stalls.workerGc.push(written.pauses.gcMax)
    rmSync(file, { force: true })
    const samples = measured.map(([, produce, deliver]) => produce + deliver)
    p50.push(percentile(samples, 50))
    p95.push(percentile(samples, 95))
    p99.push(percentile(samples, 99))
    p99Produce.push(
      percentile(
        measured.map(([, produce]) => produce),
        99,
      ),
    )
    p99Deliver.push(
      percentile(
        measured.map(([, , deliver]) => deliver),
        99,
      ),
    )
    await app.close()
  }
  return {
    // The offered load, beside its figures (runs of different clients or days may offer different loads).
    [`${label}.offered`]: figure([rate], 'tasks/s'),
    [`${label}.p50`]: figure(p50, 'ms', 1),
    [`${label}.p95`]: figure(p95, 'ms', 1),
    [`${label}.p99`]: figure(p99, 'ms', 1),
    [`${label}.p99-enqueue-to-broker`]: figure(p99Produce, 'ms', 1),
    [`${label}.p99-broker-to-start`]: figure(p99Deliver, 'ms', 1),
    [`${label}.producer-loop-delay-p99`]: figure(stalls.producerLoop, 'ms', 1),
    [`${label}.producer-gc-max`]: figure(stalls.producerGc, 'ms', 1),
    [`${label}.worker-loop-delay-p99`]: figure(stalls.workerLoop, 'ms', 1),
    [`${label}.worker-gc-max`]: figure(stalls.workerGc, 'ms', 1),
  }
}

/** Rate while the group's committed offsets go from 10% to 90% of the backlog (start-up and tail excluded). */
async function drainRate(group: string, topic: string, n: number): Promise<number> {
  let t10 = 0
  for (;;) {
    const done = await committedTotal(group, topic)
    const now = performance.now()
    if (!t10 && done >= n * 0.1) t10 = now
    if (done >= n * 0.9) return (n * 0.8) / ((now - t10) / 1000)
    await sleep(100)
  }
}

export async function benchScale(runs: number, n: number, counts: number[]): Promise<Record<string, Figure>> {
  const prefix = uniqueName('bench-scale')
  const { app, task } = producerApp(prefix, 12)
  await app.provision()
  await enqueueBacklog(task, n)
  const group = `${prefix}.q`
  const out: Record<string, Figure> = {}
  for (const k of counts) {
    const rates: number[] = []
    for (let r = 0; r < runs; r++) {
      if (rates.length > 0 || k !== counts[0]) await resetGroupWhenEmpty(group, group)
      const workers = Array.from({ length: k }, () => startBenchWorker({ KTASK_PREFIX: prefix, BENCH_PARTITIONS: '12' }))
      rates.push(await drainRate(group, group, n))
      await until(async () => (await committedTotal(group, group)) >= n, 300_000, 'scale run drained', 250)
      await Promise.all(workers.map(stopBenchWorker))
    }
    out[`scale.${k}-worker${k > 1 ? 's' : ''}`] = figure(rates, 'tasks/s')
  }
  await app.close()
  return out
}

/**
 * Peak RSS of one `ktask worker` process draining an `n`-message backlog: as it runs by default (young
 * generation capped, see src/cli/heap.ts), and with `--no-heap-cap` (Node's own sizing, which grows the
 * young generation to 128 MiB for throughput).
 */
export async function benchMemory(runs: number, n: number): Promise<Record<string, Figure>> {
  const prefix = uniqueName('bench-memory')
  const { app, task } = producerApp(prefix, 12)
  await app.provision()
  await enqueueBacklog(task, n, 10_000)
  const out: Record<string, Figure> = {}
  for (const [label, args] of [
    ['', []],
    ['-no-heap-cap', ['--no-heap-cap']],
  ] as const) {
    Object.assign(out, await drainForMemory(runs, n, prefix, label, [...args]))
  }
  await app.close()
  return out
}

async function drainForMemory(runs: number, n: number, prefix: string, label: string, args: string[]): Promise<Record<string, Figure>> {
  const group = `${prefix}.q`
  const peaks: number[] = []
  const rates: number[] = []
  for (let r = 0; r < runs; r++) {
    if ((await committedTotal(group, group)) > 0) await resetGroupWhenEmpty(group, group)
    const worker = startBenchWorker({ KTASK_PREFIX: prefix, BENCH_PARTITIONS: '12' }, args)
    let peak = 0
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memoryOf(worker.child.pid!).rss)
      } catch {
        /* exited */
      }
    }, 200)
    const t0 = performance.now()
    await until(async () => (await committedTotal(group, group)) >= n, 900_000, '1M backlog drained', 500)
    rates.push(n / ((performance.now() - t0) / 1000))
    peak = Math.max(peak, memoryOf(worker.child.pid!).peak)
    clearInterval(sampler)
    await stopBenchWorker(worker)
    peaks.push(peak)
  }
  return { [`memory.peak-rss-1m${label}`]: figure(peaks, 'MiB', 1), [`memory.drain-1m${label}`]: figure(rates, 'tasks/s') }
}
