/**
 * Middleware (app.use) on a real broker, registry and Postgres: enqueue middleware that adds headers and
 * rejects, handle middleware around handlers, and hooks that throw without changing anything.
 */
import { describe, expect, it } from 'vitest'
import { createApp, KtaskError, type Middleware } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testAdmin, testPool, uniqueName } from '../../helpers/infra.ts'
import { captureLog } from '../../helpers/log-capture.ts'
import { topicCount } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'

const schema = { type: 'record', name: 'Mw', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

async function committedTotal(groupId: string, topic: string): Promise<number> {
  const [res] = await (await testAdmin()).fetchOffsets({ groupId, topics: [topic] })
  return res!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
}

describe('middleware', () => {
  it('enqueue middleware adds a header the handler sees and can reject an enqueue; handle middleware wraps handlers in their transaction; throwing hooks change no outcome or offset', async () => {
    const pool = testPool()
    const table = uniqueName('mw').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, n int NOT NULL, tenant text, wrapped text)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const prefix = uniqueName('mw')
    const log = captureLog('info')
    const app = createApp({ prefix, logger: log.logger, queues: { q: { partitions: 2 } } })
    registerCleanup(() => app.close())
    const calls: string[] = []
    const tenant: Middleware = {
      name: 'tenant',
      enqueue: async (ctx, next) => {
        calls.push(`tenant:${ctx.task}:${ctx.messages.length}`)
        for (const m of ctx.messages) m.headers['x-tenant'] = 'acme'
        // ktask's own headers are put back: a middleware cannot change a task's id.
        for (const m of ctx.messages) m.headers['ktask-id'] = 'forged'
        await next()
      },
    }
    const guard: Middleware = {
      name: 'guard',
      enqueue: async (ctx, next) => {
        if (ctx.messages.some((m) => (m.args as { n: number }).n < 0))
          throw new KtaskError('KTASK_VALIDATION', 'negative n refused', { field: 'n' })
        await next()
      },
    }
    const throwing: Middleware = {
      name: 'throwing',
      onSuccess: () => {
        throw new Error('onSuccess hook fails')
      },
      onDeadLetter: async () => {
        throw new Error('onDeadLetter hook fails')
      },
    }
    const seen = { success: 0, retry: 0, dead: 0 }
    const counting: Middleware = {
      onSuccess: () => void seen.success++,
      onRetry: () => void seen.retry++,
      onDeadLetter: () => void seen.dead++,
    }
    const order: string[] = []
    const timing: Middleware = {
      handle: async (c, next) => {
        order.push(`${c.ctx.taskId} outer:before`)
        const result = await next()
        order.push(`${c.ctx.taskId} outer:after`)
        // Around the handler, in its transaction: this write commits (or not) with the handler's effects.
        await c.ctx.tx.query(`UPDATE ${table} SET wrapped = $2 WHERE task_id = $1`, [c.ctx.taskId, `${c.queue}/${c.task}`])
        return result
      },
    }
    const inner: Middleware = {
      handle: async (c, next) => {
        order.push(`${c.ctx.taskId} inner:before`)
        try {
          return await next()
        } finally {
          order.push(`${c.ctx.taskId} inner:after`)
        }
      },
    }
    app.use(tenant).use(guard).use(throwing).use(counting).use(timing).use(inner)
    const task = app.task<{ n: number }>({
      name: 'mw',
      queue: 'q',
      schema,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 200, jitter: false } },
      handler: async (args, ctx) => {
        if (args.n === 13) throw new Error('13 always fails')
        await ctx.tx.query(`INSERT INTO ${table} (task_id, n, tenant) VALUES ($1, $2, $3)`, [
          ctx.taskId,
          args.n,
          ctx.headers['x-tenant'] ?? null,
        ])
      },
    })

    const { taskIds } = await task.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ args: { n } })))
    await expect(task.enqueue({ n: -1 })).rejects.toMatchObject({ code: 'KTASK_VALIDATION', message: 'negative n refused' })
    expect(calls).toEqual(['tenant:mw:20', 'tenant:mw:1'])
    expect(await topicCount(`${prefix}.q`)).toBe(20) // the rejected one was never produced

    const worker = app.worker()
    await worker.start()
    await waitFor(async () => worker.stats().succeeded === 19 && worker.stats().deadLettered === 1, { message: '19 done, 1 dead' })
    const { rows } = await pool.query<{ task_id: string; tenant: string; wrapped: string }>(`SELECT task_id, tenant, wrapped FROM ${table}`)
    expect(rows).toHaveLength(19)
    expect(rows.every((r) => r.tenant === 'acme' && r.wrapped === 'q/mw')).toBe(true)
    // An onion, in the order added: per task, outer before inner, inner done before outer.
    const first = taskIds[0]!
    expect(order.filter((o) => o.startsWith(`${first} `))).toEqual(
      ['outer:before', 'inner:before', 'inner:after', 'outer:after'].map((o) => `${first} ${o}`),
    )
    expect(rows.map((r) => r.task_id).sort()).toEqual(taskIds.filter((_, n) => n !== 13).sort())
    // Offsets move on as if no hook had thrown.
    await waitFor(async () => (await committedTotal(`${prefix}.q`, `${prefix}.q`)) === 20, { message: 'source offsets committed' })
    expect(worker.stats()).toMatchObject({ succeeded: 19, failed: 2, retried: 1, deadLettered: 1, duplicates: 0 })
    expect(seen).toEqual({ success: 19, retry: 1, dead: 1 })
    const hookErrors = log.lines.filter((l) => l.msg === 'middleware hook threw; the outcome stays as it was')
    expect(hookErrors.filter((l) => l.hook === 'onSuccess')).toHaveLength(19)
    expect(hookErrors.filter((l) => l.hook === 'onDeadLetter')).toHaveLength(1)
    await worker.stop()
  })

  it('app.use refuses what is not a middleware, naming the part', () => {
    const app = createApp({ prefix: uniqueName('mw-bad'), database: false })
    registerCleanup(() => app.close())
    expect(() => app.use({ enqueue: 'no' } as unknown as Middleware)).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'middleware.enqueue' }),
    )
    expect(() => app.use({})).toThrow(expect.objectContaining({ field: 'middleware' }))
    expect(() => app.use(null as unknown as Middleware)).toThrow(expect.objectContaining({ field: 'middleware' }))
  })
})
