/**
 * Delayed tasks, cancel, transactional enqueue and follow-ups (ctx.enqueue), in-process on real Kafka,
 * registry and Postgres. The multi-process proofs (SIGKILL) are in delays-multiprocess.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { isKtaskError } from 'ktask'
import { insertTimers } from '../../../src/store/outbox.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { timeTest } from '../../helpers/time-setup.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

async function setup(name: string) {
  const t = await timeTest(name)
  const { pool, table } = t
  const runs = async (task: string): Promise<{ task_id: string; n: number; at: Date }[]> =>
    (await pool.query<{ task_id: string; n: number; at: Date }>(`SELECT task_id, n, at FROM ${table} WHERE task = $1 ORDER BY id`, [task]))
      .rows
  return { ...t, runs }
}

describe('transactional enqueue', () => {
  it('enqueue({ tx }) in a rolled-back transaction produces nothing; in a committed one the task runs once', async () => {
    const { app, timed, pool, prefix, runs } = await setup('tx-enqueue')
    const client = await pool.connect()
    await client.query('BEGIN')
    const { taskId: rolledBack } = await timed.enqueue({ n: 1, fail: false }, { tx: client })
    await client.query('ROLLBACK')
    await client.query('BEGIN')
    const { taskId: committed } = await timed.enqueue({ n: 2, fail: false }, { tx: client })
    const many = await timed.enqueueMany(
      [3, 4, 5].map((n) => ({ args: { n, fail: false } })),
      { tx: client },
    )
    await client.query('COMMIT')
    client.release()
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await runs('timed')).length === 4, { message: '4 runs' })
    await sleep(1500)
    expect((await runs('timed')).map((r) => r.task_id).sort()).toEqual([committed, ...many.taskIds].sort())
    expect(await topicCount(`${prefix}.time`)).toBe(4)
    expect(await app.status(rolledBack)).toBeNull()
    expect((await app.status(committed))?.state).toBe('SUCCEEDED')
  })

  it('ctx.enqueue: a handler that throws leaves no follow-up; one that commits has exactly one, with a derived id', async () => {
    const { app, parent, runs } = await setup('follow-up')
    await parent.enqueue({ n: 1, fail: true })
    const { taskId } = await parent.enqueue({ n: 2, fail: false })
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await runs('child')).length >= 1, { message: 'the follow-up ran' })
    await sleep(2000)
    const children = await runs('child')
    expect(children.map((c) => c.n)).toEqual([2])
    expect(children[0]!.task_id).not.toBe(taskId)
    expect(children[0]!.task_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(worker.stats().failed + worker.stats().deadLettered).toBeGreaterThanOrEqual(1)
  })
})

describe('delayed tasks', () => {
  it('a due timer the broker refuses for good waits in the outbox marked refused; the timers behind it in its lane run', async () => {
    const { app, timed, pool, prefix, runs } = await setup('timer-refused')
    const topic = `${prefix}.time`
    const { taskIds } = await timed.enqueueMany([1, 2, 3].map((n) => ({ args: { n, fail: false }, key: 'k', delayMs: 1000 })))
    // Same topic and key (same lane), due first, 2 MiB: over the broker's message.max.bytes.
    await insertTimers(pool, [
      { topic, key: 'k', value: Buffer.alloc(2 * 1024 * 1024, 1), headers: {}, messageId: `${prefix}-big`, delayMs: 0 },
    ])
    registerCleanup(() => pool.query('DELETE FROM ktask.outbox WHERE topic = $1', [topic]))
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await runs('timed')).length === 3, { message: 'the 3 timers behind it ran' })
    expect((await runs('timed')).map((r) => r.task_id).sort()).toEqual([...taskIds].sort())
    const { rows } = await pool.query<{ message_id: string; refused: string | null; size: number }>(
      'SELECT message_id, refused, length(value) AS size FROM ktask.outbox WHERE topic = $1',
      [topic],
    )
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ message_id: `${prefix}-big`, size: 2 * 1024 * 1024 })
    expect(rows[0]!.refused).toMatch(/large/i)
    expect((await pool.query('SELECT 1 FROM ktask.timers WHERE topic = $1', [topic])).rowCount).toBe(0)
  })

  it('run once, never before their due time by the database clock; tracked ones show SCHEDULED with runAt', async () => {
    const { app, timed, runs } = await setup('delay')
    const worker = app.worker()
    await worker.start()
    const a = await timed.enqueue({ n: 1, fail: false }, { delayMs: 2000 })
    const soon = new Date(Date.now() + 1000)
    const b = await timed.enqueue({ n: 2, fail: false }, { runAt: soon })
    const c = await timed.enqueue({ n: 3, fail: false }, { delayMs: 0 })
    expect(a.runAt).toBeInstanceOf(Date)
    expect(b.runAt?.getTime()).toBe(soon.getTime())
    const status = await app.status(a.taskId)
    expect(status?.state).toBe('SCHEDULED')
    expect(status?.runAt?.getTime()).toBe(a.runAt!.getTime())
    await waitFor(async () => (await runs('timed')).length === 3, { timeoutMs: 20_000, message: '3 runs' })
    const byId = new Map((await runs('timed')).map((r) => [r.task_id, r]))
    for (const t of [a, b, c]) expect(byId.get(t.taskId)!.at.getTime()).toBeGreaterThanOrEqual(t.runAt!.getTime())
    expect((await app.status(a.taskId))?.state).toBe('SUCCEEDED')
  })

  it('cancel: a waiting task never runs and is CANCELLED; a queued one is skipped when reached; a finished one is not cancelled', async () => {
    const { app, timed, runs } = await setup('cancel')
    const waiting = await timed.enqueue({ n: 1, fail: false }, { delayMs: 60_000 })
    const queued = await timed.enqueue({ n: 2, fail: false })
    const other = await timed.enqueue({ n: 3, fail: false })
    expect(await app.cancel(waiting.taskId)).toBe(true)
    expect(await app.cancel(queued.taskId)).toBe(true)
    expect(await app.cancel(queued.taskId)).toBe(false)
    expect((await app.status(waiting.taskId))?.state).toBe('CANCELLED')
    expect((await app.status(queued.taskId))?.state).toBe('CANCELLED')
    const worker = app.worker()
    await worker.start()
    await waitFor(async () => (await runs('timed')).length === 1, { message: 'the other task ran' })
    await sleep(1500)
    expect((await runs('timed')).map((r) => r.task_id)).toEqual([other.taskId])
    expect((await app.status(queued.taskId))?.state).toBe('CANCELLED')
    expect(await app.cancel(other.taskId)).toBe(false)
    expect(await app.cancel('no-such-task')).toBe(true) // untracked ids cannot be told from unknown ones
  })
})

describe('bad input', () => {
  it('delays out of range, runAt not a date, both at once, tx not a client: KtaskError naming the field, nothing written', async () => {
    const { timed, pool, prefix } = await setup('bad-timing')
    const cases: [Record<string, unknown>, string][] = [
      [{ delayMs: -1 }, 'delayMs'],
      [{ delayMs: 367 * 86_400_000 }, 'delayMs'],
      [{ delayMs: Number.NaN }, 'delayMs'],
      [{ runAt: '2030-01-01' }, 'runAt'],
      [{ runAt: new Date('nope') }, 'runAt'],
      [{ runAt: new Date(Date.now() + 400 * 86_400_000) }, 'runAt'],
      [{ delayMs: 10, runAt: new Date() }, 'runAt'],
      [{ tx: {} }, 'tx'],
    ]
    for (const [options, field] of cases) {
      const err = await timed.enqueue({ n: 1, fail: false }, options as never).catch((e: unknown) => e)
      expect(isKtaskError(err, 'KTASK_VALIDATION'), `${JSON.stringify(options)}: ${String(err)}`).toBe(true)
      expect((err as { field: string }).field).toBe(field)
    }
    const err = await timed
      .enqueueMany([{ args: { n: 1, fail: false } }, { args: { n: 2, fail: false }, delayMs: -5 }])
      .catch((e: unknown) => e)
    expect((err as { field: string }).field).toBe('items[1].delayMs')
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ktask.timers WHERE topic = $1`, [`${prefix}.time`])
    expect(rows[0].n).toBe(0)
    expect(await topicCount(`${prefix}.time`)).toBe(0)
  })
})
