/**
 * Regression: a chunk that outlived `idle_in_transaction_session_timeout` ran again for ever.
 *
 * Handlers that do not touch ctx.tx leave the chunk's transaction idle; 50 of them at ~1.3 s exceed the
 * 60 s default. The server then ends the connection, COMMIT fails, that read as an outage, and the same
 * chunk ran again — its handlers' external effects repeated — with nothing ever reaching the DLQ. Now a
 * chunk commits and begins again before the idle timeout can hit, a chunk stops at once when its
 * connection is lost, and a task whose timeoutMs does not fit in the idle timeout is refused up front.
 * (Here with a 3 s idle timeout and 250 ms handlers, the same shape in seconds instead of minutes.)
 */
import { describe, expect, it } from 'vitest'
import { createApp } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testAdmin, testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const argsSchema = { type: 'record', name: 'Slow', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

function appWith(name: string, idleInTransactionTimeoutMs: number) {
  const prefix = uniqueName(name)
  const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } }, database: { idleInTransactionTimeoutMs } })
  registerCleanup(() => app.close())
  return { app, prefix }
}

async function committedAtEnd(topic: string): Promise<boolean> {
  const admin = await testAdmin()
  const [committed] = await admin.fetchOffsets({ groupId: topic, topics: [topic] })
  const [end] = await admin.fetchTopicOffsets(topic)
  return committed!.partitions[0]!.offset === end!.high
}

describe('a chunk and the idle-in-transaction timeout', () => {
  it('30 handlers of 250 ms that never touch ctx.tx, with a 3 s idle timeout: each runs exactly once and all commit', async () => {
    const { app, prefix } = appWith('idle-budget', 3000)
    const runs = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'slow',
      queue: 'q',
      schema: argsSchema,
      timeoutMs: 2000,
      handler: async (args) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        await sleep(250)
      },
    })
    await task.enqueueMany(Array.from({ length: 30 }, (_, n) => ({ args: { n } })))
    const worker = app.worker({ transactionBatchSize: 30 })
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 30, { timeoutMs: 60_000, message: '30 succeeded' })
    await waitFor(() => committedAtEnd(`${prefix}.q`), { timeoutMs: 20_000, message: 'offset committed to the end' })
    expect([...runs.values()].every((r) => r === 1)).toBe(true)
    expect(runs.size).toBe(30)
    expect(await topicCount(`${prefix}.q.dlq`)).toBe(0)
  })

  it('a chunk whose connection is lost stops at once: handlers after the loss run once, not twice', async () => {
    const pool = testPool()
    const { app } = appWith('conn-lost', 60_000)
    const runs = new Map<number, number>()
    const appName = uniqueName('conn-lost-app')
    let killed = false
    const task = app.task<{ n: number }>({
      name: 'slow',
      queue: 'q',
      schema: argsSchema,
      handler: async (args, ctx) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        if (args.n === 0) await ctx.tx.query(`SET LOCAL application_name = '${appName}'`)
        if (args.n === 2 && !killed) {
          // The chunk's connection goes away while this handler runs.
          killed = true
          await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName])
        }
        await sleep(200)
      },
    })
    await task.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ args: { n } })))
    const worker = app.worker({ transactionBatchSize: 10 })
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 10, { timeoutMs: 60_000, message: '10 succeeded' })
    expect(killed).toBe(true)
    // 0..2 ran before the loss was seen and run again; 3..9 must not have run in the doomed transaction.
    for (let n = 3; n < 10; n++) expect(runs.get(n), `task ${n}`).toBe(1)
  })

  it('a task whose timeoutMs does not fit in the idle-in-transaction timeout is refused when it is defined', () => {
    const { app } = appWith('refused', 10_000)
    expect(() => app.task({ name: 'long', queue: 'q', schema: argsSchema, timeoutMs: 10_000, handler: () => {} })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'task "long".timeoutMs' }),
    )
    expect(() => app.task({ name: 'default-timeout', queue: 'q', schema: argsSchema, handler: () => {} })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: 'task "default-timeout".timeoutMs' }),
    )
    // Without a transaction the idle timeout does not apply.
    expect(() =>
      app.task({ name: 'no-tx', queue: 'q', schema: argsSchema, timeoutMs: 20_000, transaction: false, ledger: false, handler: () => {} }),
    ).not.toThrow()
  })
})
