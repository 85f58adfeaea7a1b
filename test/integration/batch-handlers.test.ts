/**
 * Batch handlers on real Kafka and Postgres: one call per transaction chunk, effects written with one
 * multi-row statement. Items the handler fails retry and dead-letter on their own while the others commit
 * once with their ledger rows; a worker SIGKILLed mid-batch leaves no effect twice and none missing; a
 * partition's items reach the handler, and their effects the table, in offset order. Also: a replay and
 * redelivered copies never reach the handler, a throw or a timeout fails the whole chunk, blocked-key
 * retries hold a failed item's key, and consumers of other services' events batch the same way.
 */
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createApp, type BatchItem } from 'ktask'
import { batchSchema, batchTableSql, buildBatchApp, type BatchArgs } from '../fixtures/batch-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { testAdmin, testPool, uniqueName } from '../helpers/infra.ts'
import { startWorkerProcess, type SpawnedProcess } from '../helpers/processes.ts'
import { readTopic, topicCount } from '../helpers/topics.ts'
import { waitFor } from '../helpers/wait.ts'

const FIXTURE = 'test/fixtures/batch-app.ts'

async function effectsTable(pool: pg.Pool, name: string): Promise<string> {
  const table = uniqueName(name).replaceAll('-', '_')
  await pool.query(batchTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  return table
}

const args = (n: number, keys = 5): { args: BatchArgs; key: string } => ({ args: { n, key: `k${n % keys}`, seq: n }, key: `k${n % keys}` })

async function count(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  return (await pool.query<{ c: number }>(sql, params)).rows[0]!.c
}

async function committedAtEnd(group: string, topic: string): Promise<boolean> {
  const admin = await testAdmin()
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  const ends = await admin.fetchTopicOffsets(topic)
  return ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high)
}

/** The task ids of every batch a worker process started (the fixture prints one line per batch). */
function batchItemsOf(proc: SpawnedProcess): string[] {
  return proc.json().flatMap((line) => (line.fixture === 'batch' ? (line.taskIds as string[]) : []))
}

describe('batch handlers', () => {
  it('3 of 50 items failed every time retry and end in the DLQ; the 47 others commit once and never run again', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_partial')
    const prefix = uniqueName('batch-partial')
    const failing = new Set([7, 23, 41])
    const calls = new Map<string, number>()
    const batchSizes: number[] = []
    const { app, load } = buildBatchApp({
      prefix,
      table,
      partitions: 2,
      fails: (item) => failing.has(item.payload.n),
      track: true,
      logLevel: 'silent',
      onBatch: (items) => {
        batchSizes.push(items.length)
        for (const item of items) calls.set(item.taskId, (calls.get(item.taskId) ?? 0) + 1)
      },
    })
    registerCleanup(() => app.close())
    const { taskIds } = await load.enqueueMany(Array.from({ length: 50 }, (_, n) => args(n)))
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    let dead = 0
    worker.on('task:dead', () => void dead++)
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 47 && dead === 3, { timeoutMs: 60_000, message: '47 succeeded, 3 dead' })
    await waitFor(() => committedAtEnd(`${prefix}.loads`, `${prefix}.loads`), { message: 'offsets committed' })

    const bad = taskIds.filter((_, n) => failing.has(n))
    const good = taskIds.filter((_, n) => !failing.has(n))
    // Batches of many items: the worker did not fall back to one message at a time.
    expect(Math.max(...batchSizes)).toBeGreaterThan(1)
    // Each succeeded item's effect is in the table once; its handler ran once (a neighbour's failure
    // never re-ran it). Each failed one ran once per attempt and left no effect.
    const { rows } = await pool.query<{ task_id: string; c: number }>(`SELECT task_id, count(*)::int AS c FROM ${table} GROUP BY task_id`)
    expect(rows.map((r) => r.task_id).sort()).toEqual([...good].sort())
    expect(rows.every((r) => r.c === 1)).toBe(true)
    for (const id of good) expect(calls.get(id)).toBe(1)
    for (const id of bad) expect(calls.get(id)).toBe(3)
    const ledger = (ids: string[]) =>
      count(pool, 'SELECT count(*)::int AS c FROM ktask.inbox WHERE group_id = $1 AND message_id = ANY($2)', [`${prefix}.loads`, ids])
    expect(await ledger(good)).toBe(47)
    expect(await ledger(bad)).toBe(0)

    // The DLQ holds the three, each once, with the headers a failed single handler's copy has.
    const dlq = await readTopic(`${prefix}.loads.dlq`)
    expect(dlq.map((m) => m.headers['ktask-id']).sort()).toEqual([...bad].sort())
    for (const m of dlq) {
      const n = taskIds.indexOf(m.headers['ktask-id']!)
      expect(m.headers['ktask-task']).toBe('load')
      expect(m.headers['ktask-attempt']).toBe('3')
      expect(m.headers['ktask-failure-stage']).toBe('handler')
      expect(m.headers['ktask-error-class']).toBe('Error')
      expect(m.headers['ktask-error-message']).toBe(`item ${n} is refused (fixture)`)
      expect(m.headers['ktask-original-topic']).toBe(`${prefix}.loads`)
      expect(m.headers['ktask-group']).toBe(`${prefix}.loads`)
      expect(m.key?.toString()).toBe(`k${n % 5}`)
    }
    // Task tracking works per item.
    await waitFor(async () => (await app.status(bad[0]!))?.state === 'DEAD', { message: 'DEAD state' })
    await waitFor(async () => (await app.status(good[0]!))?.state === 'SUCCEEDED', { message: 'SUCCEEDED state' })
  })

  it('a worker process SIGKILLed while batches are in flight: the next one completes them, every effect exactly once', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_kill')
    const prefix = uniqueName('batch-kill')
    const { app, load } = buildBatchApp({ prefix, table, partitions: 3, logLevel: 'silent' })
    registerCleanup(() => app.close())
    const total = 3000
    for (let i = 0; i < total; i += 1000) await load.enqueueMany(Array.from({ length: 1000 }, (_, n) => args(i + n, 30)))
    const env = { KTASK_PREFIX: prefix, FIXTURE_TABLE: table, FIXTURE_PARTITIONS: '3', FIXTURE_SLEEP_MS: '150' }
    const first = await startWorkerProcess(FIXTURE, [], { env })
    await waitFor(async () => (await count(pool, `SELECT count(*)::int AS c FROM ${table}`)) >= 300, {
      timeoutMs: 60_000,
      message: 'the first worker wrote 300 effects',
    })
    // Batches sleep 150 ms inside their transaction before writing: some are open when the kill lands.
    first.kill('SIGKILL')
    await first.exited
    const byFirst = await count(pool, `SELECT count(*)::int AS c FROM ${table} WHERE pid = $1`, [first.pid])
    expect(byFirst).toBeLessThan(total)

    // Items whose batch began in the first process but whose effects it did not commit: in flight at the kill.
    const writtenByFirst = new Set(
      (await pool.query<{ task_id: string }>(`SELECT task_id FROM ${table} WHERE pid = $1`, [first.pid])).rows.map((r) => r.task_id),
    )
    const inFlight = batchItemsOf(first).filter((id) => !writtenByFirst.has(id))
    expect(inFlight.length).toBeGreaterThan(0)

    const second = await startWorkerProcess(FIXTURE, [], { env })
    await waitFor(async () => (await count(pool, `SELECT count(DISTINCT task_id)::int AS c FROM ${table}`)) === total, {
      timeoutMs: 120_000,
      intervalMs: 250,
      message: `${total} distinct effects`,
    })
    await waitFor(() => committedAtEnd(`${prefix}.loads`, `${prefix}.loads`), { timeoutMs: 30_000, message: 'offsets committed' })
    expect(await count(pool, `SELECT count(*)::int AS c FROM ${table}`)).toBe(total)
    expect(await count(pool, `SELECT count(*)::int AS c FROM ${table} WHERE pid = $1`, [second.pid])).toBe(total - byFirst)
    expect(await count(pool, `SELECT max(batch_size)::int AS c FROM ${table}`)).toBeGreaterThan(1)
    // The in-flight ones were rolled back with the process and written by the second, once.
    const { rows } = await pool.query<{ pid: number }>(`SELECT pid FROM ${table} WHERE task_id = ANY($1)`, [inFlight])
    expect(rows).toHaveLength(inFlight.length)
    expect(rows.every((r) => r.pid === second.pid)).toBe(true)
    // What the first committed came back to the second (its offsets were not committed yet) only as
    // duplicates: the ledger left them out before the batch handler saw them.
    const ranBySecond = new Set(batchItemsOf(second))
    expect([...writtenByFirst].filter((id) => ranBySecond.has(id))).toEqual([])
    second.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
  })

  it('keeps offset order: items of a key reach the handler in order and their effects are written in order', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_order')
    const prefix = uniqueName('batch-order')
    const batches: (readonly BatchItem<BatchArgs>[])[] = []
    const { app, load } = buildBatchApp({ prefix, table, partitions: 2, logLevel: 'silent', onBatch: (items) => batches.push(items) })
    registerCleanup(() => app.close())
    const total = 400
    // Enqueued in sequence: within a key, `seq` grows with the offset.
    for (let i = 0; i < total; i += 100) await load.enqueueMany(Array.from({ length: 100 }, (_, n) => args(i + n, 7)))
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    await worker.start()
    await waitFor(() => worker.stats().succeeded === total, { timeoutMs: 60_000, message: `${total} succeeded` })

    expect(batches.some((b) => b.length > 1)).toBe(true)
    for (const batch of batches) {
      // One partition per batch, in offset order, so a key's items are in order too.
      expect(new Set(batch.map((i) => i.partition)).size).toBe(1)
      const offsets = batch.map((i) => Number(i.offset))
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
      const byKey = Map.groupBy(batch, (i) => i.key)
      for (const items of byKey.values()) {
        const seqs = items.map((i) => i.payload.seq)
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      }
    }
    // In the table (rows numbered as written), each key's effects follow its enqueue order.
    const { rows } = await pool.query<{ key: string; seqs: number[] }>(
      `SELECT key, array_agg(seq ORDER BY id) AS seqs FROM ${table} GROUP BY key`,
    )
    expect(rows).toHaveLength(7)
    for (const r of rows) expect(r.seqs).toEqual([...r.seqs].sort((a, b) => a - b))
    expect(await count(pool, `SELECT count(*)::int AS c FROM ${table}`)).toBe(total)
  })

  it('a replayed chunk reaches the batch handler without its duplicates: the ledger leaves them out first', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_replay')
    const prefix = uniqueName('batch-replay')
    let handled = 0
    const { app, load } = buildBatchApp({ prefix, table, partitions: 2, logLevel: 'silent', onBatch: (items) => (handled += items.length) })
    registerCleanup(() => app.close())
    await load.enqueueMany(Array.from({ length: 100 }, (_, n) => args(n)))
    const first = app.worker()
    await first.start()
    await waitFor(() => first.stats().succeeded === 100, { message: '100 succeeded' })
    await waitFor(() => committedAtEnd(`${prefix}.loads`, `${prefix}.loads`), { message: 'offsets committed' })
    await first.stop()
    expect(handled).toBe(100)

    const admin = await testAdmin()
    await admin.resetOffsets({ groupId: `${prefix}.loads`, topic: `${prefix}.loads`, earliest: true })
    const second = app.worker()
    registerCleanup(() => second.stop())
    await second.start()
    await waitFor(() => second.stats().duplicates === 100, { timeoutMs: 60_000, message: '100 duplicates' })
    expect(second.stats().succeeded).toBe(0)
    expect(handled).toBe(100)
    expect(await count(pool, `SELECT count(*)::int AS c FROM ${table}`)).toBe(100)
  })

  it('a batch handler that throws fails its whole chunk: nothing of it commits, each item retries on its own', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_throw')
    const prefix = uniqueName('batch-throw')
    const attempts = new Map<string, number[]>()
    const { app, load } = buildBatchApp({
      prefix,
      table,
      partitions: 1,
      logLevel: 'silent',
      onBatch: (items) => items.forEach((i) => attempts.set(i.taskId, [...(attempts.get(i.taskId) ?? []), i.attempt])),
      // Item 5's first attempt poisons its whole batch; the handler writes nothing before throwing.
      throwWhen: (items) => items.some((i) => i.payload.n === 5 && i.attempt === 1),
    })
    registerCleanup(() => app.close())
    const { taskIds } = await load.enqueueMany(Array.from({ length: 30 }, (_, n) => args(n)))
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    let retried = 0
    worker.on('task:failed', (e) => void (e.willRetry && retried++))
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 30, { timeoutMs: 60_000, message: '30 succeeded' })

    const thrown = taskIds.filter((id) => attempts.get(id)![0] === 1 && attempts.get(id)!.length === 2)
    // Item 5 and every item of its first batch ran twice (attempts 1 and 2): none was written in between.
    expect(thrown).toContain(taskIds[5])
    expect(thrown.length).toBeGreaterThan(1)
    expect(retried).toBe(thrown.length)
    for (const id of thrown) expect(attempts.get(id)).toEqual([1, 2])
    for (const id of taskIds.filter((x) => !thrown.includes(x))) expect(attempts.get(id)).toEqual([1])
    const { rows } = await pool.query<{ task_id: string; c: number }>(`SELECT task_id, count(*)::int AS c FROM ${table} GROUP BY task_id`)
    expect(rows).toHaveLength(30)
    expect(rows.every((r) => r.c === 1)).toBe(true)
    expect(await topicCount(`${prefix}.loads.dlq`)).toBe(0)
  })

  it("with retry.ordering 'key', a failed item's later messages wait behind it while other keys flow", async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_blocked')
    const prefix = uniqueName('batch-blocked')
    const labels = ['A1', 'B1', 'A2', 'B2', 'A3', 'B3', 'B4', 'B5']
    const { app, load } = buildBatchApp({
      prefix,
      table,
      partitions: 1,
      logLevel: 'silent',
      retryOrdering: 'key',
      retryDelayMs: 500,
      fails: (item) => item.payload.n === 0 && item.attempt === 1,
    })
    registerCleanup(() => app.close())
    await load.enqueueMany(labels.map((label, n) => ({ args: { n, key: label[0]!, seq: n }, key: label[0]! })))
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 8, { timeoutMs: 30_000, message: '8 succeeded' })

    const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${table} ORDER BY id`)
    const order = rows.map((r) => labels[r.n]!)
    expect(order.filter((l) => l.startsWith('A'))).toEqual(['A1', 'A2', 'A3'])
    expect(order.filter((l) => l.startsWith('B'))).toEqual(['B1', 'B2', 'B3', 'B4', 'B5'])
    // Key B was not held back by key A's retry.
    expect(order.indexOf('B5')).toBeLessThan(order.indexOf('A1'))
    expect(worker.stats().parked).toBe(2)
    const left = await count(pool, 'SELECT count(*)::int AS c FROM ktask.key_queue WHERE group_id = $1', [`${prefix}.loads`])
    expect(left).toBe(0)
  })

  it('a batch that times out with a statement running is cancelled and rolled back; its items retry (stage timeout)', async () => {
    const pool = testPool()
    const table = await effectsTable(pool, 'batch_timeout')
    const prefix = uniqueName('batch-timeout')
    const app = createApp({ prefix, logLevel: 'silent', queues: { slow: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const attempts: number[][] = []
    const task = app.task<BatchArgs>({
      name: 'slow',
      queue: 'slow',
      schema: batchSchema,
      timeoutMs: 500,
      retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 100, jitter: false } },
      batchHandler: async (items, ctx) => {
        attempts.push(items.map((i) => i.attempt))
        await ctx.tx.query(
          `INSERT INTO ${table} (task_id, n, key, seq, part, "offset", batch_size, pid)
           SELECT t, 0, '', 0, 0, 0, 0, 0 FROM unnest($1::text[]) AS t`,
          [items.map((i) => i.taskId)],
        )
        // First attempts hang in Postgres past timeoutMs: the statement must be cancelled, the batch undone.
        if (items.some((i) => i.attempt === 1)) await ctx.tx.query('SELECT pg_sleep(30)')
      },
    })
    const { taskIds } = await task.enqueueMany(Array.from({ length: 10 }, (_, n) => args(n)))
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    const stages: string[] = []
    worker.on('task:failed', (e) => void stages.push(e.stage))
    await worker.start()
    await waitFor(() => worker.stats().succeeded === 10, { timeoutMs: 30_000, message: '10 succeeded' })

    expect(stages.length).toBeGreaterThan(0)
    expect(stages.every((s) => s === 'timeout')).toBe(true)
    expect(attempts.flat().filter((a) => a === 2)).toHaveLength(stages.length)
    const { rows } = await pool.query<{ task_id: string; c: number }>(`SELECT task_id, count(*)::int AS c FROM ${table} GROUP BY task_id`)
    expect(rows.map((r) => r.task_id).sort()).toEqual([...taskIds].sort())
    expect(rows.every((r) => r.c === 1)).toBe(true)
  })

  it("a consumer of another service's events with a batchHandler: each event's effect once, by its event id", async () => {
    const pool = testPool()
    const table = uniqueName('batch_orders').replaceAll('-', '_')
    await pool.query(`CREATE TABLE ${table} (order_id text NOT NULL, amount int NOT NULL, message_id text NOT NULL)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    const prefix = uniqueName('batch-events')
    const app = createApp({ prefix, logLevel: 'silent' })
    registerCleanup(() => app.close())
    const schema = {
      type: 'record',
      name: 'OrderPlaced',
      namespace: 'shop',
      fields: [
        { name: 'orderId', type: 'string' },
        { name: 'amount', type: 'int' },
      ],
    }
    const topic = uniqueName('orders')
    const orderPlaced = app.event<{ orderId: string; amount: number }>({ topic, schema, key: 'orderId', partitions: 2 })
    const sizes: number[] = []
    app.consume<{ orderId: string; amount: number }>({
      topic,
      groupId: uniqueName('billing'),
      schema,
      batchHandler: async (events, ctx) => {
        sizes.push(events.length)
        await ctx.tx.query(`INSERT INTO ${table} SELECT * FROM unnest($1::text[], $2::int[], $3::text[])`, [
          events.map((e) => e.payload.orderId),
          events.map((e) => e.payload.amount),
          events.map((e) => e.taskId),
        ])
      },
    })
    await app.provision()
    // Every order is published twice with the same event id (a producer retrying, say): the second copy is a duplicate.
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 40; n++) await orderPlaced.publish({ orderId: `o-${n}`, amount: n }, { eventId: `o-${n}` })
    }
    const worker = app.worker()
    registerCleanup(() => worker.stop())
    await worker.start()
    await waitFor(() => worker.stats().succeeded + worker.stats().duplicates === 80, { timeoutMs: 60_000, message: '80 handled' })
    expect(worker.stats().succeeded).toBe(40)
    expect(Math.max(...sizes)).toBeGreaterThan(1)
    const { rows } = await pool.query<{ order_id: string; message_id: string }>(`SELECT order_id, message_id FROM ${table}`)
    expect(rows).toHaveLength(40)
    expect(new Set(rows.map((r) => r.order_id)).size).toBe(40)
    expect(rows.every((r) => r.message_id === r.order_id)).toBe(true)
  })
})
