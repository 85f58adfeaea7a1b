/**
 * Regression tests: a failure is charged to the message that caused it, and a handler's own errors are
 * never mistaken for a Postgres outage.
 *
 * - A handler whose HTTP call fails with ECONNREFUSED was treated as "Postgres is down": the partition
 *   paused and retried the same message for ever instead of retrying it through the tiers.
 * - A handler that caught a failed SQL statement left the transaction aborted: the *next* handler of the
 *   chunk failed instead (an innocent message lost an attempt), or COMMIT came back as ROLLBACK and the
 *   chunk looped as an "outage".
 * - A deferred constraint failing at COMMIT could not be charged to a message and looped as an outage.
 * - A tracked task with `transaction: false` never became SUCCEEDED.
 */
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'
import { closedPort } from '../../helpers/ports.ts'

const argsSchema = { type: 'record', name: 'Attr', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

async function table(pool: pg.Pool, name: string, ddl = '(task_id text PRIMARY KEY, n int)'): Promise<string> {
  const t = uniqueName(name).replaceAll('-', '_')
  await pool.query(`CREATE TABLE ${t} ${ddl}`)
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${t}`))
  return t
}

function appFor(name: string) {
  const prefix = uniqueName(name)
  const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
  registerCleanup(() => app.close())
  return { app, prefix }
}

describe('handler failures are charged to the right message', () => {
  it("a handler's own ECONNREFUSED retries through the tiers and dead-letters; the partition keeps flowing", async () => {
    const port = await closedPort()
    const { app, prefix } = appFor('econnrefused')
    const runs = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'call',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 200, jitter: false } },
      handler: async (args) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        if (args.n === 0) await fetch(`http://127.0.0.1:${port}/`)
      },
    })
    await task.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ args: { n } })))
    const worker = app.worker()
    let dead = 0
    worker.on('task:dead', () => void dead++)
    let outages = 0
    worker.on('error', ({ context }) => void (context.startsWith('outage') && outages++))
    await worker.start()
    await waitFor(() => dead === 1 && worker.stats().succeeded === 4, { message: '4 handled, 1 dead-lettered', timeoutMs: 30_000 })
    expect(runs.get(0)).toBe(2)
    expect(outages).toBe(0)
    expect(await topicCount(`${prefix}.q.dlq`)).toBe(1)
  })

  it('a handler that catches a failed statement fails itself; its chunk neighbours commit once', async () => {
    const pool = testPool()
    const t = await table(pool, 'swallow')
    const { app } = appFor('swallow')
    const runs = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'swallow',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 1 },
      handler: async (args, ctx) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        if (args.n === 2 || args.n === 9) {
          // A statement that fails, caught: the transaction is now aborted.
          await ctx.tx.query('SELECT 1/0').catch(() => {})
          return
        }
        await ctx.tx.query(`INSERT INTO ${t} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
      },
    })
    // n = 9 is the last of the chunk: before the fix, its COMMIT came back as ROLLBACK and looped.
    await task.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ args: { n } })))
    const worker = app.worker({ transactionBatchSize: 10 })
    const deadOnes: number[] = []
    worker.on('task:dead', ({ offset }) => void deadOnes.push(Number(offset)))
    await worker.start()
    await waitFor(() => deadOnes.length === 2 && worker.stats().succeeded === 8, { message: '8 handled, 2 dead', timeoutMs: 30_000 })
    const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${t} ORDER BY n`)
    expect(rows.map((r) => r.n)).toEqual([0, 1, 3, 4, 5, 6, 7, 8])
    expect(deadOnes.sort((a, b) => a - b)).toEqual([2, 9])
    expect(runs.get(2)).toBe(1)
    expect(runs.get(9)).toBe(1)
  })

  it('a deferred constraint failing at COMMIT fails only the message that broke it', async () => {
    const pool = testPool()
    const t = await table(pool, 'deferred', '(n int, CONSTRAINT uniq_n UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)')
    const { app } = appFor('deferred')
    const task = app.task<{ n: number }>({
      name: 'deferred',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 1 },
      // n = 4 inserts a value that n = 1 also inserts: the violation only shows at COMMIT.
      handler: async (args, ctx) => void (await ctx.tx.query(`INSERT INTO ${t} (n) VALUES ($1)`, [args.n === 4 ? 1 : args.n])),
    })
    await task.enqueueMany(Array.from({ length: 6 }, (_, n) => ({ args: { n } })))
    const worker = app.worker({ transactionBatchSize: 6 })
    const dead: number[] = []
    worker.on('task:dead', ({ offset }) => void dead.push(Number(offset)))
    await worker.start()
    await waitFor(() => dead.length === 1 && worker.stats().succeeded === 5, { message: '5 handled, 1 dead', timeoutMs: 30_000 })
    expect(dead).toEqual([4])
    const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${t} ORDER BY n`)
    expect(rows.map((r) => r.n)).toEqual([0, 1, 2, 3, 5])
  })

  it('a tracked task without a transaction becomes SUCCEEDED with its result', async () => {
    const { app } = appFor('track-notx')
    const task = app.task<{ n: number }, { doubled: number }>({
      name: 'notx',
      queue: 'q',
      schema: argsSchema,
      track: true,
      ledger: false,
      transaction: false,
      handler: (args) => ({ doubled: args.n * 2 }),
    })
    const { taskId } = await task.enqueue({ n: 21 })
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await app.status(taskId))?.state === 'SUCCEEDED', { message: 'SUCCEEDED', timeoutMs: 30_000 })
    expect((await app.status(taskId))?.result).toEqual({ doubled: 42 })
  })
})
