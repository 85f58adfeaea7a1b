/**
 * The peer users would otherwise pick: BullMQ on the machine's Redis, same payload, with its documented
 * high-throughput settings — bulk adds (addBulk), worker concurrency, and removeOnComplete so Redis
 * memory stays flat. Two processors: a no-op (the comparison), and one writing one row to
 * Postgres per job — the same effect as ktask's ledger scenario, without a ledger or exactly-once.
 */
import { Queue, Worker } from 'bullmq'
import pg from 'pg'
import { databaseUrl, payload, redisUrl, uniqueName, until } from '../lib/env.ts'
import { figure, type Figure } from '../lib/stats.ts'

const BULK = 1000
const CONCURRENCY = 100

export async function benchBullmq(runs: number, n: number): Promise<Record<string, Figure>> {
  const { addRates, processRates } = await drainBullmq(runs, n, async () => {})
  return { 'bullmq.add': figure(addRates, 'jobs/s'), 'bullmq.process': figure(processRates, 'jobs/s') }
}

/** BullMQ whose processor inserts one row per job (pool sized to its concurrency, as a user would). */
export async function benchBullmqPostgres(runs: number, n: number): Promise<Record<string, Figure>> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 })
  await pool.query('CREATE TABLE IF NOT EXISTS bench_bullmq_effects (job_id text PRIMARY KEY)')
  await pool.query('TRUNCATE bench_bullmq_effects')
  const { processRates } = await drainBullmq(
    runs,
    n,
    async (jobId) => {
      await pool.query('INSERT INTO bench_bullmq_effects (job_id) VALUES ($1)', [jobId])
    },
    20,
  )
  await pool.query('DROP TABLE bench_bullmq_effects')
  await pool.end()
  return { 'bullmq.process-pg': figure(processRates, 'jobs/s') }
}

async function drainBullmq(
  runs: number,
  n: number,
  work: (jobId: string) => Promise<void>,
  concurrency = CONCURRENCY,
): Promise<{ addRates: number[]; processRates: number[] }> {
  const url = new URL(redisUrl)
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null }
  const addRates: number[] = []
  const processRates: number[] = []
  for (let r = 0; r < runs; r++) {
    const name = uniqueName('bench-bullmq')
    const queue = new Queue(name, { connection })
    const t0 = performance.now()
    for (let i = 0; i < n; i += BULK) {
      await queue.addBulk(
        Array.from({ length: Math.min(BULK, n - i) }, (_, k) => ({
          name: 'bench',
          data: payload(i + k),
          opts: { removeOnComplete: true, removeOnFail: true },
        })),
      )
    }
    addRates.push(n / ((performance.now() - t0) / 1000))
    let done = 0
    let first = 0
    let last = 0
    const worker = new Worker(
      name,
      async (job) => {
        if (done === 0) first = performance.now()
        await work(`${name}:${job.id}`)
        done++
        last = performance.now()
      },
      { connection, concurrency },
    )
    await until(() => done >= n, 600_000, 'BullMQ backlog drained')
    processRates.push(n / ((last - first) / 1000))
    await worker.close()
    await queue.obliterate({ force: true })
    await queue.close()
  }
  return { addRates, processRates }
}
