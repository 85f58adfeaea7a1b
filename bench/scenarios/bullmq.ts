/**
 * The peer users would otherwise pick: BullMQ on the machine's Redis, same payload, no-op processor,
 * with its documented high-throughput settings — bulk adds (addBulk), worker concurrency, and
 * removeOnComplete so Redis memory stays flat.
 */
import { Queue, Worker } from 'bullmq'
import { payload, redisUrl, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'

const BULK = 1000
const CONCURRENCY = 100

export async function benchBullmq(runs: number, n: number): Promise<Record<string, Figure>> {
  const url = new URL(redisUrl)
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null }
  const addRates: number[] = []
  const processRates: number[] = []
  for (let r = 0; r < runs; r++) {
    const name = uniqueName('bench-bullmq')
    const queue = new Queue(name, { connection })
    const t0 = performance.now()
    for (let i = 0; i < n; i += BULK) {
      await queue.addBulk(Array.from({ length: Math.min(BULK, n - i) }, (_, k) => ({
        name: 'bench', data: payload(i + k), opts: { removeOnComplete: true, removeOnFail: true },
      })))
    }
    addRates.push(n / ((performance.now() - t0) / 1000))
    let done = 0
    let first = 0
    let last = 0
    const worker = new Worker(name, async () => {
      if (done === 0) first = performance.now()
      done++
      last = performance.now()
    }, { connection, concurrency: CONCURRENCY })
    await until(() => done >= n, 600_000, 'BullMQ backlog drained')
    processRates.push(n / ((last - first) / 1000))
    await worker.close()
    await queue.obliterate({ force: true })
    await queue.close()
  }
  return { 'bullmq.add': figure(addRates, 'jobs/s'), 'bullmq.process': figure(processRates, 'jobs/s') }
}
