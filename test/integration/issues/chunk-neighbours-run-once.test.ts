/**
 * Regression: a failing message made its chunk neighbours run again.
 *
 * A chunk's messages share one transaction. When one failed, the transaction was rolled back and the
 * messages before it ran again: their Postgres effects still landed once, but their e-mails and HTTP calls
 * happened twice. Tried as a new user would, 200 tasks with every 5th failing: 135 tasks that never fail
 * ran twice. Now a failing handler rolls back to a savepoint taken on its first ctx.tx statement, its
 * ledger row is removed, and the chunk goes on: each successful task runs exactly once.
 */
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'

const argsSchema = { type: 'record', name: 'Mail', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

describe('chunk neighbours of a failing message', () => {
  it('200 tasks, every 5th failing in one of three ways: each successful task sends its e-mail exactly once and writes its row once', async () => {
    const pool = testPool()
    const table = uniqueName('mails').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, n int)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const prefix = uniqueName('neighbours')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 2 } } })
    registerCleanup(() => app.close())
    // The effect outside Postgres: what a mail server would have received.
    const sent = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'mail',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 200, jitter: false } },
      handler: async (args, ctx) => {
        if (args.n % 5 === 4) {
          const way = args.n % 3
          if (way === 0) throw new Error('fails before touching ctx.tx')
          await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
          if (way === 1) throw new Error('fails after writing a row')
          await ctx.tx.query('SELECT 1/0').catch(() => {})
          throw new Error('fails after a statement failed')
        }
        await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
        sent.set(args.n, (sent.get(args.n) ?? 0) + 1)
      },
    })
    await task.enqueueMany(Array.from({ length: 200 }, (_, n) => ({ args: { n }, key: `k${n % 7}` })))
    const worker = app.worker()
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 160 && worker.stats().deadLettered === 40, {
      timeoutMs: 60_000,
      message: '160 succeeded, 40 dead',
    })
    const twice = [...sent].filter(([, count]) => count !== 1).map(([n]) => n)
    expect(twice, 'successful tasks that ran more than once').toEqual([])
    expect(sent.size).toBe(160)
    const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)
    expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 200 }, (_, n) => n).filter((n) => n % 5 !== 4))
    expect(await topicCount(`${prefix}.q.dlq`)).toBe(40)
  })
})
