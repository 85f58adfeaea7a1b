/**
 * Defect: a relay's Postgres session ending while the relay awaited the broker's acknowledgement (a
 * failover, an administrator's pg_terminate_backend, a network cut) killed the whole worker process: the
 * checked-out connection emitted 'error' with nobody listening, an uncaught exception (vitest reports it
 * as an unhandled error and the run fails).
 *
 * The same scenario proves the outbox's promise for a relay that dies between its produce and its delete:
 * the rows stay, the next relay publishes them again, and the ledger makes the second copies no-ops (the
 * ids were fixed at insert).
 */
import { describe, expect, it } from 'vitest'
import { Relay } from '../../../src/outbox/relay.ts'
import { createPool } from '../../../src/store/pool.ts'
import { buildTimeApp, timeTableSql } from '../../fixtures/time-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { scratchDatabase, testProducer, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

describe('an outbox relay whose Postgres session ends while it produces', () => {
  it('leaves the process alive; the rows it produced stay, are published again, and each task runs once', async () => {
    const prefix = uniqueName('relay-crash')
    const table = `runs_${prefix.replaceAll('-', '_')}`
    // A database of its own: the doomed relay takes every outbox row it sees, and must see only this test's.
    const scratch = await scratchDatabase('relay_crash')
    const pool = scratch.pool()
    await pool.query(timeTableSql(table))
    const { app, timed } = buildTimeApp({ prefix, table, logLevel: 'silent', databaseUrl: scratch.url })
    registerCleanup(() => app.close())
    await app.provision()

    const client = await pool.connect()
    await client.query('BEGIN')
    const { taskIds } = await timed.enqueueMany(
      Array.from({ length: 20 }, (_, n) => ({ args: { n, fail: false }, key: 'one-lane' })),
      { tx: client },
    )
    await client.query('COMMIT')
    client.release()
    const outboxRows = async () =>
      Number((await pool.query(`SELECT count(*) FROM ktask.outbox WHERE topic = $1`, [`${prefix}.time`])).rows[0].count)
    expect(await outboxRows()).toBe(20)

    // The doomed relay: its own pool, its session killed as soon as its produce is acknowledged.
    const name = `doomed-${prefix}`
    const doomedPool = createPool(
      {
        connectionString: scratch.url,
        max: 2,
        statementTimeoutMs: 30_000,
        idleInTransactionTimeoutMs: 60_000,
        applicationName: name,
      },
      app.logger,
    )
    registerCleanup(() => doomedPool.end())
    const producer = await testProducer()
    let produced = 0
    const relay = new Relay(
      {
        pool: () => doomedPool,
        ready: async () => {},
        logger: app.logger.child({ relay: 'doomed' }),
        send: async (messages) => {
          for (const m of messages)
            await producer.send({ topic: m.topic, acks: -1, messages: [{ key: m.key, value: m.value, headers: m.headers }] })
          produced += messages.length
          await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name])
        },
      },
      { batchSize: 500, concurrency: 1, pollIntervalMs: 60_000 },
    )
    relay.start()
    await waitFor(() => produced >= 20, { message: 'the doomed relay produced the batch' })
    await relay.stop()
    expect(await topicCount(`${prefix}.time`)).toBe(20)
    expect(await outboxRows()).toBe(20) // its delete never committed

    // A worker's relay publishes them again; its consumer runs each task once.
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await outboxRows()) === 0, { message: 'published again' })
    const runs = async () =>
      (await pool.query<{ task_id: string }>(`SELECT task_id FROM ${table} WHERE task = 'timed'`)).rows.map((r) => r.task_id)
    await waitFor(async () => (await runs()).length >= 20 && worker.stats().duplicates >= 20, {
      timeoutMs: 30_000,
      message: '20 runs and 20 duplicates skipped',
    })
    await sleep(1000)
    expect(await topicCount(`${prefix}.time`)).toBe(40)
    expect((await runs()).sort()).toEqual([...taskIds].sort())
    expect(worker.stats().duplicates).toBe(20)
  })
})
