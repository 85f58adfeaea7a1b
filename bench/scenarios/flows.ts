/**
 * Flows: chord([b × width], c) — `width` no-op steps in parallel, then a no-op callback — run by `ktask
 * worker` processes of the built package, beside the same number of plain tasks of the same handlers.
 * Both tasks have the ledger and a transaction (the defaults with a database, as users run flows).
 *
 * Per run, on one queue and the same worker processes:
 *   - throughput: `flows` flows enqueued at once (enqueueFlow, 8 at a time), timed from the first enqueue
 *     to the last flow's finished_at; the join latency of these flows is reported too (under backlog:
 *     a callback waits behind the steps of the flows still queued on its partition);
 *   - join latency alone: `alone` flows one after another (the next enqueued when the last finished):
 *     from the last b's completion to c's handler start, with nothing else queued;
 *   - plain: flows × (width + 1) tasks of b by enqueueMany, timed from the first enqueue to the last
 *     ledger row (one transaction per chunk of a partition's messages, as for the steps).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { chord, createApp, type App, type Task } from '../../src/index.ts'
import { databaseUrl, payload, payloadSchema, sleep, uniqueName, until } from '../lib/env.ts'
import { startBenchWorker, stopBenchWorker } from '../lib/processes.ts'
import { figure, percentile, type Figure } from '../lib/stats.ts'

type Args = { id: string; body: string }

export interface FlowLoad {
  /** Flows per run in the throughput phase. */
  flows: number
  /** Steps in each chord's header (b); each flow has width + 1 tasks. */
  width: number
  /** Flows per run run one at a time for the join latency without backlog. */
  alone: number
  /** `ktask worker` processes. */
  workers: number
}

const PARTITIONS = 6

/** The enqueueing side: the same task names, queue and schema as bench/worker-app.js (BENCH_FLOW_FILE). */
function flowApp(prefix: string): { app: App; b: Task<Args>; c: Task<Args> } {
  const app = createApp({ prefix, logLevel: 'warn', queues: { q: { partitions: PARTITIONS } } })
  const b = app.task<Args>({ name: 'b', queue: 'q', schema: payloadSchema, handler: () => {} })
  const c = app.task<Args>({ name: 'c', queue: 'q', schema: payloadSchema, handler: () => {} })
  return { app, b, c }
}

/** One c start, as the worker app appends it: [workflow id, handler start, record timestamp], ms since the epoch. */
type CallbackStart = [string, number, number]

/** Per flow, from its last b's completion (its flow_steps row, written in its transaction). */
interface JoinSamples {
  /** … to c's handler start. */
  toStart: number[]
  /** … to c's Kafka record timestamp (the b's COMMIT, the outbox, the relay's produce). */
  toBroker: number[]
}

export async function benchFlows(runs: number, load: FlowLoad): Promise<Record<string, Figure>> {
  const { flows, width, alone, workers } = load
  const tasks = flows * (width + 1)
  const m = { enqueue: [] as number[], flows: [] as number[], plain: [] as number[], deadlocks: [] as number[], alone: [] as number[] }
  const pct = [50, 99] as const
  const quiet = { toStart: [[], []] as number[][], toBroker: [[], []] as number[][] }
  const loaded = { toStart: [[], []] as number[][], toBroker: [[], []] as number[][] }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  for (let r = 0; r < runs; r++) {
    const prefix = uniqueName('bench-flows')
    const group = `${prefix}.q`
    const { app, b, c } = flowApp(prefix)
    await app.migrate()
    await app.provision()
    await pool.query('VACUUM (ANALYZE) ktask.outbox, ktask.flows, ktask.flow_steps')
    const files = Array.from({ length: workers }, (_, i) => join(tmpdir(), `${prefix}-${i}.jsonl`))
    const procs = files.map((file) =>
      startBenchWorker({ KTASK_PREFIX: prefix, BENCH_PARTITIONS: String(PARTITIONS), BENCH_FLOW_FILE: file }),
    )
    await Promise.all(procs.map((w) => w.running))
    await sleep(1000)
    let next = 0
    const canvas = (): ReturnType<typeof chord> => {
      const i = next++
      return chord(
        Array.from({ length: width }, (_, k) => b.step(payload(i * width + k))),
        c.step(payload(i)),
      )
    }

    const throughputPhase = async (): Promise<void> => {
      const deadlocksBefore = await deadlocks(pool)
      const wall0 = Date.now()
      const t0 = performance.now()
      const ids = await inParallel(flows, 8, async () => (await app.enqueueFlow(canvas())).workflowId)
      m.enqueue.push(flows / ((performance.now() - t0) / 1000))
      const seconds = ((await flowsFinished(pool, prefix, ids, 600_000)) - wall0) / 1000
      m.flows.push(flows / seconds)
      m.deadlocks.push((await deadlocks(pool)) - deadlocksBefore)
      addJoin(loaded, await joinSamples(pool, ids, readStarts(files)))
      console.log(`  run ${r + 1}: ${flows} flows in ${seconds.toFixed(1)} s; Postgres broke ${m.deadlocks.at(-1)} deadlock(s) meanwhile`)
    }
    const alonePhase = async (): Promise<void> => {
      const ids: string[] = []
      const took: number[] = []
      for (let i = 0; i < alone; i++) {
        const wall0 = Date.now()
        const { workflowId } = await app.enqueueFlow(canvas())
        took.push((await flowsFinished(pool, prefix, [workflowId], 60_000, 5)) - wall0)
        ids.push(workflowId)
      }
      m.alone.push(percentile(took, 50))
      addJoin(quiet, await joinSamples(pool, ids, readStarts(files)))
    }
    const plainPhase = async (): Promise<void> => {
      const before = await ledgerRows(pool, group)
      const wall0 = Date.now()
      for (let i = 0, slice = 5000; i < tasks; i += slice) {
        await b.enqueueMany(Array.from({ length: Math.min(slice, tasks - i) }, (_, k) => ({ args: payload(i + k) })))
      }
      await until(async () => (await ledgerRows(pool, group)) >= before + tasks, 120_000, 'plain tasks handled', 200)
      const { rows } = await pool.query<{ last: number }>(
        'SELECT (extract(epoch FROM max(processed_at)) * 1000)::float8 AS last FROM ktask.inbox WHERE group_id = $1',
        [group],
      )
      m.plain.push(tasks / ((rows[0]!.last - wall0) / 1000))
    }
    // Alternate which goes first: neither always runs on the warmer (or more loaded) database.
    const phases = r % 2 === 0 ? [throughputPhase, alonePhase, plainPhase] : [plainPhase, alonePhase, throughputPhase]
    for (const phase of phases) await phase()

    await Promise.all(procs.map(stopBenchWorker))
    for (const file of files) rmSync(file, { force: true })
    // The local Postgres runs without autovacuum: leave no rows behind for later runs and tests to walk.
    await pool.query('DELETE FROM ktask.flows WHERE scope = $1', [prefix])
    await pool.query('DELETE FROM ktask.inbox WHERE group_id = $1', [group])
    await app.close()
  }
  await pool.end()
  return {
    'flows.enqueue': figure(m.enqueue, 'flows/s'),
    'flows.completed': figure(m.flows, 'flows/s', 1),
    'flows.completed-tasks': figure(
      m.flows.map((f) => f * (width + 1)),
      'tasks/s',
    ),
    'flows.plain-tasks': figure(m.plain, 'tasks/s'),
    'flows.deadlocks': figure(m.deadlocks, 'count'),
    'flows.alone': figure(m.alone, 'ms', 1),
    'flows.join-p50': figure(quiet.toStart[0]!, 'ms', 1),
    'flows.join-p99': figure(quiet.toStart[1]!, 'ms', 1),
    'flows.join-p50-to-broker': figure(quiet.toBroker[0]!, 'ms', 1),
    'flows.join-p99-to-broker': figure(quiet.toBroker[1]!, 'ms', 1),
    'flows.join-p50-backlog': figure(loaded.toStart[0]!, 'ms'),
    'flows.join-p99-backlog': figure(loaded.toStart[1]!, 'ms'),
    'flows.join-p99-backlog-to-broker': figure(loaded.toBroker[1]!, 'ms'),
  }

  function addJoin(into: { toStart: number[][]; toBroker: number[][] }, samples: JoinSamples): void {
    for (const [k, p] of pct.entries()) {
      into.toStart[k]!.push(percentile(samples.toStart, p))
      into.toBroker[k]!.push(percentile(samples.toBroker, p))
    }
  }
}

/** Runs `fn(0 … n-1)`, `concurrency` at a time; results in order. */
async function inParallel<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      out[i] = await fn(i)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  return out
}

/** Waits until every flow of `ids` succeeded (throws if one ended otherwise); returns the last finished_at. */
async function flowsFinished(pool: pg.Pool, scope: string, ids: string[], timeoutMs: number, intervalMs = 200): Promise<number> {
  let last = 0
  await until(
    async () => {
      const { rows } = await pool.query<{ done: number; bad: number; last: number | null }>(
        `SELECT count(*) FILTER (WHERE state = 'SUCCEEDED')::int AS done,
                count(*) FILTER (WHERE state NOT IN ('RUNNING', 'SUCCEEDED'))::int AS bad,
                (extract(epoch FROM max(finished_at)) * 1000)::float8 AS last
           FROM ktask.flows WHERE scope = $1 AND workflow_id = ANY($2::text[])`,
        [scope, ids],
      )
      const row = rows[0]!
      if (row.bad > 0) throw new Error(`bench: ${row.bad} flow(s) did not succeed`)
      last = row.last ?? 0
      return row.done >= ids.length
    },
    timeoutMs,
    `${ids.length} flows finished`,
    intervalMs,
  )
  return last
}

/**
 * For each flow: its last b's completion — the latest updated_at of its b rows, clock_timestamp() in that
 * b's transaction, just before the chunk's COMMIT — against its c's start in the worker (same clock).
 */
async function joinSamples(pool: pg.Pool, ids: string[], starts: Map<string, CallbackStart>): Promise<JoinSamples> {
  const { rows } = await pool.query<{ workflow_id: string; last_b: number }>(
    `SELECT workflow_id, (extract(epoch FROM max(updated_at)) * 1000)::float8 AS last_b
       FROM ktask.flow_steps WHERE workflow_id = ANY($1::text[]) AND task = 'b' GROUP BY workflow_id`,
    [ids],
  )
  const out: JoinSamples = { toStart: [], toBroker: [] }
  for (const { workflow_id: id, last_b: lastB } of rows) {
    const s = starts.get(id)
    if (!s) throw new Error(`bench: no start of the callback of flow ${id}`)
    out.toStart.push(s[1] - lastB)
    out.toBroker.push(s[2] - lastB)
  }
  return out
}

/** The callbacks' starts the workers appended so far; a callback that ran twice (a chunk re-run) counts its first start. */
function readStarts(files: string[]): Map<string, CallbackStart> {
  const out = new Map<string, CallbackStart>()
  for (const file of files) {
    if (!existsSync(file)) continue
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue
      const s = JSON.parse(line) as CallbackStart
      const seen = out.get(s[0])
      if (!seen || s[1] < seen[1]) out.set(s[0], s)
    }
  }
  return out
}

async function ledgerRows(pool: pg.Pool, group: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ktask.inbox WHERE group_id = $1', [group])
  return rows[0]!.n
}

async function deadlocks(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()')
  return rows[0]?.n ?? 0
}
