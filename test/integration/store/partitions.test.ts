/**
 * Day partitions of the ledger and tasks (migration 0012) on real Postgres: retention drops whole days,
 * a message's every delivery meets its ledger row whatever partition it lives in, and an install migrated
 * from before 0012 keeps its rows and still catches their duplicates. Each test has a database of its own:
 * partitions are created and dropped by the day, which would reach into other tests' rows.
 */
import type pg from 'pg'
import { v7 as uuidv7 } from 'uuid'
import { describe, expect, it } from 'vitest'
import { insertInboxRows, ledgerRowsOf, pruneInbox } from '../../../src/store/inbox.ts'
import { loadMigrations, migrate } from '../../../src/store/migrate.ts'
import { dayPartitions, INBOX_PARTITIONS, TASK_PARTITIONS } from '../../../src/store/partitions.ts'
import { applyStates, getTask, insertPending, markSucceeded, pruneTasks } from '../../../src/store/task-store.ts'
import { scratchDatabase } from '../../helpers/infra.ts'

const DAY = 86_400_000
const startOfUtcDay = (ms: number): number => ms - (ms % DAY)
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
/** A UUIDv7 made at `ms` (as the producer makes one, with that clock). */
const idAt = (ms: number): string => uuidv7({ msecs: ms })

async function inTransaction<T>(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect()
  try {
    await c.query('BEGIN')
    const r = await work(c)
    await c.query('COMMIT')
    return r
  } finally {
    c.release()
  }
}

/** A delivery as the worker makes it: the ledger insert in its transaction; true when the message is new. */
const deliver = (pool: pg.Pool, group: string, id: string): Promise<boolean> =>
  inTransaction(pool, async (c) => (await insertInboxRows(c, group, [id])).has(id))

async function partitionOf(pool: pg.Pool, table: 'inbox' | 'tasks', key: string, id: string): Promise<string[]> {
  const { rows } = await pool.query<{ part: string }>(`SELECT tableoid::regclass::text AS part FROM ktask.${table} WHERE ${key} = $1`, [id])
  return rows.map((r) => r.part)
}

async function tableExists(pool: pg.Pool, name: string): Promise<boolean> {
  const { rows } = await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name])
  return rows[0]!.t !== null
}

async function freshDatabase(name: string): Promise<pg.Pool> {
  const pool = (await scratchDatabase(name)).pool()
  await migrate(pool)
  return pool
}

describe('day partitions of the ledger and tasks', () => {
  it('retention drops whole day partitions, deletes no row of them one by one, and keeps the rows that outlived their day', async () => {
    const pool = await freshDatabase('part_drop')
    const today = startOfUtcDay(Date.now())
    // Four days of ledger rows, 10 to 13 days old (partitions made for them as the pruner would have).
    await pool.query(`SELECT ktask.add_day_partitions('inbox', $1::date, $2::date)`, [dayOf(today - 13 * DAY), dayOf(today - 10 * DAY)])
    const old: string[] = []
    for (let d = 10; d <= 13; d++) for (let i = 0; i < 50; i++) old.push(idAt(today - d * DAY + i * 1000))
    await pool.query(
      `INSERT INTO ktask.inbox (group_id, message_id, processed_at, bucket)
       SELECT 'g', m, now() - interval '9 days', ktask.id_bucket(m) FROM unnest($1::text[]) AS m`,
      [old],
    )
    // Made 12 days ago but processed just now (a delayed task, a DLQ redrive): it must stay a week more.
    const late = idAt(today - 12 * DAY + 500)
    expect(await deliver(pool, 'g', late)).toBe(true)
    const recent = idAt(Date.now())
    expect(await deliver(pool, 'g', recent)).toBe(true)
    expect((await dayPartitions(pool, INBOX_PARTITIONS)).length).toBe(4 + 5)

    const result = await pruneInbox(pool, 7)

    expect(result.partitionsDropped).toBe(4)
    // Nothing was deleted row by row: the days went whole.
    expect(result.deleted).toBe(0)
    for (let d = 10; d <= 13; d++) expect(await tableExists(pool, `ktask.inbox_p${dayOf(today - d * DAY).replaceAll('-', '')}`)).toBe(false)
    const left = await pool.query<{ message_id: string }>(`SELECT message_id FROM ktask.inbox WHERE group_id = 'g'`)
    expect(left.rows.map((r) => r.message_id).sort()).toEqual([late, recent].sort())
    expect(await partitionOf(pool, 'inbox', 'message_id', late)).toEqual(['ktask.inbox_default'])
    // Its partition is gone, yet a delivery of it again is a duplicate; so is one of today's.
    expect(await deliver(pool, 'g', late)).toBe(false)
    expect(await deliver(pool, 'g', recent)).toBe(false)
    expect([...(await ledgerRowsOf(pool, 'g', [late, recent, old[0]!]))].sort()).toEqual([late, recent].sort())
    // Today and the days ahead are kept.
    expect((await dayPartitions(pool, INBOX_PARTITIONS)).map((p) => p.day)).toContain(dayOf(today))
  })

  it('a duplicate delivery is caught across a partition boundary: midnight, a day made after its row, a day dropped', async () => {
    const pool = await freshDatabase('part_dup')
    const today = startOfUtcDay(Date.now())
    // Made a millisecond before midnight, delivered again after it: the id's day decides, not the clock's.
    const beforeMidnight = idAt(today - 1)
    expect(await deliver(pool, 'g', beforeMidnight)).toBe(true)
    await pool.query(`UPDATE ktask.inbox SET processed_at = now() - interval '1 hour' WHERE message_id = $1`, [beforeMidnight])
    expect(await deliver(pool, 'g', beforeMidnight)).toBe(false)
    expect(await partitionOf(pool, 'inbox', 'message_id', beforeMidnight)).toEqual([
      `ktask.inbox_p${dayOf(today - DAY).replaceAll('-', '')}`,
    ])
    // Another group is another ledger.
    expect(await deliver(pool, 'other', beforeMidnight)).toBe(true)

    // An id from a producer whose clock runs 10 days ahead: no partition yet, so the default one holds it;
    // when its day is made, the row moves into it and its duplicate is still caught.
    const ahead = today + 10 * DAY + 1234
    const early = idAt(ahead)
    expect(await deliver(pool, 'g', early)).toBe(true)
    expect(await partitionOf(pool, 'inbox', 'message_id', early)).toEqual(['ktask.inbox_default'])
    await pool.query(`SELECT ktask.add_day_partitions('inbox', $1::date, $1::date)`, [dayOf(ahead)])
    expect(await partitionOf(pool, 'inbox', 'message_id', early)).toEqual([`ktask.inbox_p${dayOf(ahead).replaceAll('-', '')}`])
    expect(await deliver(pool, 'g', early)).toBe(false)

    // Ids that are not UUIDv7 (a domain event's own id, a derived id) live in the undated partition.
    for (const id of ['orders/3/1234', '9f1c7a52-0c4e-8d3a-9b1e-55f0f0a1c2d3', uuidv7().toUpperCase()]) {
      expect(await deliver(pool, 'g', id)).toBe(true)
      expect(await deliver(pool, 'g', id)).toBe(false)
    }
    expect(await partitionOf(pool, 'inbox', 'message_id', 'orders/3/1234')).toEqual(['ktask.inbox_undated'])

    // Concurrent deliveries of one message: exactly one is new.
    const both = idAt(today - 1)
    const outcomes = await Promise.all([deliver(pool, 'c', both), deliver(pool, 'c', both), deliver(pool, 'c', both)])
    expect(outcomes.filter(Boolean)).toHaveLength(1)
  })

  it('tasks: finished ones go with their day, unfinished ones move to the default partition and stay found and written', async () => {
    const pool = await freshDatabase('part_tasks')
    const today = startOfUtcDay(Date.now())
    await pool.query(`SELECT ktask.add_day_partitions('tasks', $1::date, $1::date)`, [dayOf(today - 20 * DAY)])
    const done = idAt(today - 20 * DAY + 10)
    const stuck = idAt(today - 20 * DAY + 20)
    await insertPending(pool, [done, stuck], 'n', 'q')
    await markSucceeded(pool, { taskId: done, name: 'n', queue: 'q', attempt: 1, redrives: 0, resultJson: '1' })
    await pool.query(`UPDATE ktask.tasks SET finished_at = now() - interval '10 days' WHERE task_id = $1`, [done])
    const fresh = idAt(Date.now())
    await insertPending(pool, [fresh], 'n', 'q')
    expect(await partitionOf(pool, 'tasks', 'task_id', fresh)).toEqual([`ktask.tasks_p${dayOf(today).replaceAll('-', '')}`])

    await pruneTasks(pool, 7)

    expect((await dayPartitions(pool, TASK_PARTITIONS)).map((p) => p.day)).not.toContain(dayOf(today - 20 * DAY))
    expect(await getTask(pool, done)).toBeNull()
    expect(await partitionOf(pool, 'tasks', 'task_id', stuck)).toEqual(['ktask.tasks_default'])
    expect((await getTask(pool, stuck))?.state).toBe('PENDING')
    await applyStates(pool, [{ taskId: stuck, name: 'n', queue: 'q', state: 'STARTED', attempt: 1, redrives: 0 }])
    await markSucceeded(pool, { taskId: stuck, name: 'n', queue: 'q', attempt: 1, redrives: 0, resultJson: '2' })
    const after = await pool.query<{ state: string }>('SELECT state FROM ktask.tasks WHERE task_id = $1', [stuck])
    expect(after.rows.map((r) => r.state)).toEqual(['SUCCEEDED'])
    expect((await getTask(pool, fresh))?.state).toBe('PENDING')
  })

  it('an install migrated from before 0012 keeps its ledger and tasks and still catches their duplicates', async () => {
    const pool = (await scratchDatabase('part_upgrade')).pool()
    await pool.query('CREATE SCHEMA ktask')
    await pool.query(`CREATE TABLE ktask.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    for (const m of loadMigrations().filter((m) => m.version < 12)) {
      await pool.query(m.sql)
      await pool.query('INSERT INTO ktask.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
    }
    const v7 = idAt(Date.now() - 2 * DAY)
    const plain = 'orders/0/42'
    await pool.query(
      `INSERT INTO ktask.inbox (group_id, message_id, processed_at) VALUES ('g', $1, now() - interval '2 days'), ('g', $2, now())`,
      [v7, plain],
    )
    const running = idAt(Date.now() - DAY)
    await pool.query(
      `INSERT INTO ktask.tasks (task_id, name, queue, state, attempts) VALUES ($1, 'n', 'q', 'STARTED', 1), ($2, 'n', 'q', 'SUCCEEDED', 1)`,
      [running, v7],
    )

    const { applied } = await migrate(pool)
    expect(applied.map((m) => m.version)).toEqual([12])

    // The ledger rows stayed where they were and still count.
    expect(await deliver(pool, 'g', v7)).toBe(false)
    expect(await deliver(pool, 'g', plain)).toBe(false)
    expect([...(await ledgerRowsOf(pool, 'g', [v7, plain, 'unknown']))].sort()).toEqual([v7, plain].sort())
    expect(await deliver(pool, 'g', 'unknown')).toBe(true)
    // The tasks were copied into their days, and are written there.
    expect((await getTask(pool, v7))?.state).toBe('SUCCEEDED')
    expect(await partitionOf(pool, 'tasks', 'task_id', running)).toEqual([`ktask.tasks_p${dayOf(Date.now() - DAY).replaceAll('-', '')}`])
    await markSucceeded(pool, { taskId: running, name: 'n', queue: 'q', attempt: 1, redrives: 0, resultJson: '3' })
    const rows = await pool.query<{ state: string }>('SELECT state FROM ktask.tasks WHERE task_id = $1', [running])
    expect(rows.rows.map((r) => r.state)).toEqual(['SUCCEEDED'])

    // The pre-0012 ledger is emptied once all of it is older than the retention window, not before.
    await pruneInbox(pool, 7)
    expect(await deliver(pool, 'g', plain)).toBe(false)
    await pool.query(`UPDATE ktask.inbox_legacy SET processed_at = now() - interval '8 days'`)
    await pruneInbox(pool, 7)
    const legacy = await pool.query<{ c: number }>('SELECT count(*)::int AS c FROM ktask.inbox_legacy')
    expect(legacy.rows[0]!.c).toBe(0)
  })
})
