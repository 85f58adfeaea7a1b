/**
 * Tasks that go through Postgres before Kafka: delayed tasks (ktask.timers → timer dispatcher) and enqueues in the caller's transaction (ktask.outbox → relay). The dispatcher and the relay run
 * in `ktask worker` processes of the built package, as in production; this process only writes rows.
 */
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createApp, type App, type Task } from '../../src/index.ts'
import { committedTotal, databaseUrl, kafka, payload, payloadSchema, sleep, uniqueName, until } from '../lib/env.ts'
import { startBenchWorker, stopBenchWorker } from '../lib/processes.ts'
import { figure, percentile, type Figure } from '../lib/stats.ts'
import { enqueueBacklog } from './ktask.ts'

type Args = { id: string; body: string }

function timeApp(prefix: string, partitions: number): { app: App; task: Task<Args> } {
  const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions } } })
  const task = app.task<Args>({ name: 'bench', queue: 'q', schema: payloadSchema, ledger: false, transaction: false, handler: () => {} })
  return { app, task }
}

export interface TimerLoad {
  /** Delayed tasks measured per run. */
  n: number
  /** Their due times are spread evenly over this many seconds (n / spread = tasks due per second); 0: all due at once. */
  spreadSeconds: number
  /** Before them, tasks at the same rate for this long, not counted (connections, JIT, steady state). */
  warmupSeconds: number
  /** The first (warm-up) task is due this long after insertion starts; insertion must end before it. */
  leadSeconds: number
  /** Worker processes, each with its own timer dispatcher and relay. */
  workers: number
}

/**
 * Delayed tasks all due within a few seconds: inserted ahead with enqueueMany({ runAt }), then published by
 * the workers' dispatchers and relays as they fall due. Lateness is measured against the runAt each task
 * was given (the database and the workers share this machine's clock): to the Kafka record's timestamp
 * (the relay's producer) and to the handler's start.
 */
export async function benchTimers(runs: number, load: TimerLoad, name = 'timers'): Promise<Record<string, Figure>> {
  const { n, spreadSeconds, warmupSeconds, leadSeconds, workers } = load
  const rate = spreadSeconds === 0 ? Infinity : n / spreadSeconds
  const total = spreadSeconds === 0 ? n : n + Math.round(rate * warmupSeconds)
  const m = { insert: [] as number[], headroom: [] as number[], dispatched: [] as number[] }
  const lateness = { broker: [[], [], []] as number[][], start: [[], [], []] as number[][] }
  for (let r = 0; r < runs; r++) {
    const prefix = uniqueName('bench-timers')
    const files = Array.from({ length: workers }, (_, i) => join(tmpdir(), `${prefix}-${i}.json`))
    const { app, task } = timeApp(prefix, 12)
    await app.migrate()
    await app.provision()
    await vacuumQueueTables()
    const procs = files.map((file) => startBenchWorker({ KTASK_PREFIX: prefix, BENCH_PARTITIONS: '12', BENCH_DUE_FILE: file }))
    await Promise.all(procs.map((w) => w.running))
    await sleep(1000)

    const warmupFrom = Date.now() + leadSeconds * 1000
    const dueOf = (i: number): number => (spreadSeconds === 0 ? warmupFrom : warmupFrom + Math.floor((i * 1000) / rate))
    const measureFrom = dueOf(total - n)
    const t0 = performance.now()
    for (let i = 0, slice = 10_000; i < total; i += slice) {
      const items = Array.from({ length: Math.min(slice, total - i) }, (_, k) => {
        const due = dueOf(i + k)
        return { args: payload(i + k), runAt: new Date(due), headers: { 'bench-due': String(due) } }
      })
      await task.enqueueMany(items)
    }
    m.insert.push(total / ((performance.now() - t0) / 1000))
    m.headroom.push((warmupFrom - Date.now()) / 1000)

    const timeoutMs = (leadSeconds + warmupSeconds + spreadSeconds + 120) * 1000
    await until(async () => (await committedTotal(`${prefix}.q`, `${prefix}.q`)) >= total, timeoutMs, 'timers handled', 250)
    await Promise.all(procs.map(stopBenchWorker))
    const all = files.flatMap((file) => {
      const rows = JSON.parse(readFileSync(file, 'utf8')) as [number, number, number][]
      rmSync(file, { force: true })
      return rows
    })
    const samples = all.filter(([due]) => due >= measureFrom)
    const toBroker = samples.map(([due, ts]) => ts - due)
    const toStart = samples.map(([due, , start]) => start - due)
    const early = toBroker.filter((ms) => ms < 0).length
    if (samples.length !== n || early > 0) console.warn(`  timers: ${samples.length} of ${n} measured, ${early} published before due`)
    const [firstTs, lastTs] = samples.reduce(([lo, hi], [, ts]) => [Math.min(lo, ts), Math.max(hi, ts)], [Infinity, -Infinity])
    m.dispatched.push(n / ((lastTs - firstTs) / 1000))
    for (const [k, p] of [50, 99, 100].entries()) {
      lateness.broker[k]!.push(percentile(toBroker, p))
      lateness.start[k]!.push(percentile(toStart, p))
    }
    await app.close()
  }
  return {
    [`${name}.insert`]: figure(m.insert, 'tasks/s'),
    [`${name}.insert-headroom`]: figure(m.headroom, 's', 1),
    [`${name}.dispatched`]: figure(m.dispatched, 'tasks/s'),
    [`${name}.p50-due-to-broker`]: figure(lateness.broker[0]!, 'ms'),
    [`${name}.p99-due-to-broker`]: figure(lateness.broker[1]!, 'ms'),
    [`${name}.max-due-to-broker`]: figure(lateness.broker[2]!, 'ms'),
    [`${name}.p50-due-to-start`]: figure(lateness.start[0]!, 'ms'),
    [`${name}.p99-due-to-start`]: figure(lateness.start[1]!, 'ms'),
    [`${name}.max-due-to-start`]: figure(lateness.start[2]!, 'ms'),
  }
}

export interface OutboxLoad {
  /** Tasks per run for plain enqueueMany and for 100 per transaction. */
  n: number
  /** Tasks per run for one per transaction. */
  nSingle: number
}

/**
 * Enqueues in the caller's transaction, timed until every row is on Kafka (the relay produced and deleted
 * it), beside plain enqueueMany (until the broker acknowledged) on the same queue. Transactions run
 * concurrently on a pool of the benchmark's own, like requests of a web service.
 *
 * The relay runs in one `ktask worker` process of another app: a relay publishes every outbox row in the
 * database, whichever app wrote it, and this worker consumes none of them (no processing is timed).
 */
export async function benchOutbox(runs: number, load: OutboxLoad): Promise<Record<string, Figure>> {
  const m = { plain: [] as number[], tx100: [] as number[], tx100Commit: [] as number[], tx1: [] as number[], tx1Commit: [] as number[] }
  const relayPrefix = uniqueName('bench-relay')
  const relayApp = timeApp(relayPrefix, 1).app
  await relayApp.migrate()
  await relayApp.provision()
  const relay = startBenchWorker({ KTASK_PREFIX: relayPrefix, BENCH_PARTITIONS: '1' })
  await relay.running
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 })
  const admin = kafka.admin()
  await admin.connect()
  for (let r = 0; r < runs; r++) {
    const prefix = uniqueName('bench-outbox')
    const topic = `${prefix}.q`
    const { app, task } = timeApp(prefix, 6)
    await app.provision()
    await vacuumQueueTables()
    m.plain.push(await enqueueBacklog(task, load.n))
    const onKafka = async (): Promise<number> => (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0)
    const tx100 = await throughOutbox(pool, onKafka, load.n, 100, 4, (client, from, count) =>
      task.enqueueMany(
        Array.from({ length: count }, (_, k) => ({ args: payload(from + k) })),
        { tx: client },
      ),
    )
    m.tx100.push(tx100.delivered)
    m.tx100Commit.push(tx100.committed)
    const tx1 = await throughOutbox(pool, onKafka, load.nSingle, 1, 16, (client, from) => task.enqueue(payload(from), { tx: client }))
    m.tx1.push(tx1.delivered)
    m.tx1Commit.push(tx1.committed)
    // The relay deletes a batch's rows right after the broker acknowledged it.
    const left = async (): Promise<number> =>
      (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ktask.outbox WHERE topic = $1', [topic])).rows[0]!.n
    await until(async () => (await left()) === 0, 10_000, `the outbox rows of ${topic} deleted`, 100)
    await app.close()
  }
  await admin.disconnect()
  await pool.end()
  await stopBenchWorker(relay)
  await relayApp.close()
  return {
    'outbox.plain-enqueue': figure(m.plain, 'tasks/s'),
    'outbox.tx-100': figure(m.tx100, 'tasks/s'),
    'outbox.tx-100-commit': figure(m.tx100Commit, 'tasks/s'),
    'outbox.tx-1': figure(m.tx1, 'tasks/s'),
    'outbox.tx-1-commit': figure(m.tx1Commit, 'tasks/s'),
  }
}

/**
 * Writes `n` tasks in transactions of `perTx`, `concurrency` at a time; returns the rate at which they
 * were committed and the rate at which they reached Kafka (`onKafka()`, the topic's record count, grew by n).
 */
async function throughOutbox(
  pool: pg.Pool,
  onKafka: () => Promise<number>,
  n: number,
  perTx: number,
  concurrency: number,
  write: (client: pg.PoolClient, from: number, count: number) => Promise<unknown>,
): Promise<{ committed: number; delivered: number }> {
  const target = (await onKafka()) + n
  let next = 0
  const session = async (): Promise<void> => {
    const client = await pool.connect()
    try {
      while (next < n) {
        const from = next
        const count = Math.min(perTx, n - from)
        next += count
        await client.query('BEGIN')
        await write(client, from, count)
        await client.query('COMMIT')
      }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, session))
  const committed = n / ((performance.now() - t0) / 1000)
  await until(async () => (await onKafka()) >= target, 300_000, 'outbox published', 20)
  return { committed, delivered: n / ((performance.now() - t0) / 1000) }
}

/**
 * Each run starts from queue tables without dead rows. Every row in them is inserted and deleted, and the
 * local Postgres runs with autovacuum off: without this, the dead rows of earlier runs and tests (hundreds
 * of MB) would be walked by every scan of the run.
 */
async function vacuumQueueTables(): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query('VACUUM (ANALYZE) ktask.timers, ktask.outbox')
  } finally {
    await client.end()
  }
}
