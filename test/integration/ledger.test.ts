/**
 * The idempotency ledger on real Postgres: effects written through ctx.tx commit exactly once.
 */
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createApp, UnrecoverableError } from 'ktask'
import { pruneInbox } from '../../src/store/inbox.ts'
import { loadMigrations, migrate } from '../../src/store/migrate.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { scratchDatabase, testAdmin, testPool, uniqueName } from '../helpers/infra.ts'
import { recordingSetup } from '../helpers/recording.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const argsSchema = { type: 'record', name: 'Effect', namespace: 'ktask.test', fields: [{ name: 'n', type: 'int' }] }

async function effectTable(pool: pg.Pool, name: string): Promise<string> {
  const table = uniqueName(name).replaceAll('-', '_')
  await pool.query(`CREATE TABLE ${table} (task_id text PRIMARY KEY, n int)`)
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  return table
}

async function inboxRows(pool: pg.Pool, group: string, ids: string[]): Promise<number> {
  const { rows } = await pool.query<{ c: number }>(
    'SELECT count(*)::int AS c FROM ktask.inbox WHERE group_id = $1 AND message_id = ANY($2)',
    [group, ids],
  )
  return rows[0]!.c
}

describe('ledger', () => {
  it('replaying the topic from the start changes no effect and counts every message as a duplicate', async () => {
    const s = await recordingSetup({ name: 'replay', partitions: 3 })
    await s.enqueue(500)
    const first = s.app.worker()
    await first.start()
    await s.waitForHandled(500)
    await waitFor(() => s.committedAtEnd(), { message: 'committed' })
    await first.stop()

    const admin = await testAdmin()
    await admin.resetOffsets({ groupId: s.group, topic: s.topic, earliest: true })
    const second = s.app.worker()
    await second.start()
    await waitFor(() => second.stats().duplicates === 500, { message: '500 duplicates', timeoutMs: 60_000 })
    expect(second.stats().succeeded).toBe(0)
    expect(await s.rows()).toBe(500)
    await second.stop()
  })

  it('a failing handler leaves neither its effect nor a ledger row and runs once per attempt, while its chunk neighbours commit', async () => {
    const pool = testPool()
    const table = await effectTable(pool, 'fail')
    const prefix = uniqueName('fail')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const runs = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'effect',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 1 },
      handler: async (args, ctx) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
        if (args.n % 10 === 3) throw new UnrecoverableError(`n=${args.n} is bad`)
      },
    })
    const { taskIds } = await task.enqueueMany(Array.from({ length: 40 }, (_, n) => ({ args: { n } })))
    const worker = app.worker()
    let dead = 0
    worker.on('task:dead', () => void dead++)
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 36 && dead === 4, { message: '36 ok + 4 dead' })
    const bad = taskIds.filter((_, n) => n % 10 === 3)
    const good = taskIds.filter((_, n) => n % 10 !== 3)
    const { rows } = await pool.query<{ task_id: string }>(`SELECT task_id FROM ${table}`)
    expect(rows.map((r) => r.task_id).sort()).toEqual([...good].sort())
    expect(await inboxRows(pool, `${prefix}.q`, bad)).toBe(0)
    expect(await inboxRows(pool, `${prefix}.q`, good)).toBe(36)
    // The failing handlers ran once each; neighbours rolled back with them ran at most twice.
    for (const [n, count] of runs) expect(count, `n=${n}`).toBe(n % 10 === 3 ? 1 : count <= 2 ? count : -1)
  })

  it('a failing message is undone alone: its chunk neighbours run once, and every effect lands once', async () => {
    const pool = testPool()
    const table = await effectTable(pool, 'nested')
    const prefix = uniqueName('nested')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const runs = new Map<number, number>()
    const task = app.task<{ n: number }>({
      name: 'flaky',
      queue: 'q',
      schema: argsSchema,
      retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 100 } },
      handler: async (args, ctx) => {
        runs.set(args.n, (runs.get(args.n) ?? 0) + 1)
        await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
        if (args.n === 8 && ctx.attempt === 1) throw new Error('8 fails its first attempt')
      },
    })
    await task.enqueueMany(Array.from({ length: 12 }, (_, n) => ({ args: { n } })))
    const worker = app.worker({ transactionBatchSize: 12 })
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 12, { message: '12 succeeded' })
    const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY n`)
    expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 12 }, (_, n) => n))
    expect(worker.stats()).toMatchObject({ failed: 1, retried: 1, deadLettered: 0 })
    expect(Array.from({ length: 12 }, (_, n) => runs.get(n))).toEqual(Array.from({ length: 12 }, (_, n) => (n === 8 ? 2 : 1)))
  })

  it('a handler over timeoutMs has its signal aborted and its transaction rolled back', async () => {
    const pool = testPool()
    const table = await effectTable(pool, 'timeout')
    const prefix = uniqueName('timeout')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    let sawAbort = false
    const task = app.task<{ n: number }>({
      name: 'slow',
      queue: 'q',
      schema: argsSchema,
      timeoutMs: 300,
      retry: { attempts: 1 },
      handler: async (args, ctx) => {
        await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true
            resolve()
          }),
        )
        await sleep(200)
      },
    })
    const { taskId } = await task.enqueue({ n: 1 })
    const worker = app.worker()
    const dead: { stage: string }[] = []
    worker.on('task:dead', (e) => void dead.push(e))
    await worker.start()
    await waitFor(() => dead.length === 1, { message: 'timed-out task dead-lettered' })
    expect(dead[0]!.stage).toBe('timeout')
    expect(sawAbort).toBe(true)
    await sleep(300)
    expect((await pool.query(`SELECT count(*)::int AS c FROM ${table}`)).rows[0].c).toBe(0)
    expect(await inboxRows(pool, `${prefix}.q`, [taskId])).toBe(0)
  })

  it('with ledger: false no ledger row is written', async () => {
    const pool = testPool()
    const table = await effectTable(pool, 'noledger')
    const prefix = uniqueName('noledger')
    const app = createApp({ prefix, logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const task = app.task<{ n: number }>({
      name: 'plain',
      queue: 'q',
      schema: argsSchema,
      ledger: false,
      handler: async (args, ctx) => void (await ctx.tx.query(`INSERT INTO ${table} (task_id, n) VALUES ($1, $2)`, [ctx.taskId, args.n])),
    })
    const { taskId } = await task.enqueue({ n: 7 })
    const worker = app.worker()
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 1, { message: 'handled' })
    expect((await pool.query(`SELECT n FROM ${table}`)).rows).toEqual([{ n: 7 }])
    expect(await inboxRows(pool, `${prefix}.q`, [taskId])).toBe(0)
  })

  it('migrations from several processes at once apply each version exactly once', async () => {
    const db = await scratchDatabase('migrate')
    const pools = Array.from({ length: 4 }, () => db.pool(1))
    const results = await Promise.all(pools.map((p) => migrate(p)))
    expect(results.reduce((sum, r) => sum + r.applied.length, 0)).toBe(loadMigrations().length)
    const { rows } = await pools[0]!.query('SELECT version, count(*)::int AS c FROM ktask.schema_migrations GROUP BY version')
    expect(rows.every((r) => r.c === 1)).toBe(true)
  })

  it('pruning deletes ledger rows older than the retention window, in batches, and nothing newer', async () => {
    const pool = testPool()
    await migrate(pool)
    const group = uniqueName('prune')
    await pool.query(
      `INSERT INTO ktask.inbox (group_id, message_id, processed_at, bucket)
      SELECT $1, 'old-' || i, now() - interval '8 days', ktask.id_bucket('old-' || i) FROM generate_series(1, 25) i`,
      [group],
    )
    await pool.query(
      `INSERT INTO ktask.inbox (group_id, message_id, processed_at, bucket)
      SELECT $1, 'new-' || i, now() - interval '6 days', ktask.id_bucket('new-' || i) FROM generate_series(1, 5) i`,
      [group],
    )
    const result = await pruneInbox(pool, 7, { batchSize: 10 })
    expect(result.batches).toBeGreaterThanOrEqual(3)
    const { rows } = await pool.query<{ message_id: string }>('SELECT message_id FROM ktask.inbox WHERE group_id = $1', [group])
    expect(rows.map((r) => r.message_id).sort()).toEqual(['new-1', 'new-2', 'new-3', 'new-4', 'new-5'])
  })
})
