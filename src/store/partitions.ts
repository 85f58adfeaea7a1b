/**
 * Day partitions of ktask.inbox and ktask.tasks (migration 0012): retention drops whole days instead of
 * deleting rows in batches, so pruning costs no vacuum work however many rows a day holds.
 *
 * A row's partition is the UTC day of the UUIDv7 time in its id (`ktask.id_bucket`), the same for every
 * delivery of a message. Besides the day partitions each table has `_undated` (ids that are not UUIDv7)
 * and `_default` (ids whose day has no partition: far in the future, or rows that outlived their day,
 * below); both are pruned by age in batches, as the tables were before.
 *
 * A day is dropped once it lies wholly before the retention horizon. Rows in it that must stay longer —
 * a ledger row processed long after its id was made (a delayed task, a DLQ redrive), a task not finished —
 * move to the default partition in the same transaction, where their duplicates and lookups still find
 * them (their key keeps its day, which no longer has a partition of its own).
 */
import type pg from 'pg'
import { inTransaction } from './in-transaction.ts'

/** A partitioned table and which of its rows outlive their day. */
export interface PartitionedTable {
  /** In schema ktask, with `<table>_undated`, `<table>_default` and `<table>_pYYYYMMDD` partitions. */
  table: string
  /** Rows that must stay, given the horizon `$1` (they move to the default partition when their day goes). */
  keep: string
  /** The column whose age prunes the undated and default partitions. */
  ageColumn: string
}

export const INBOX_PARTITIONS: PartitionedTable = { table: 'inbox', keep: 'processed_at >= $1', ageColumn: 'processed_at' }
export const TASK_PARTITIONS: PartitionedTable = {
  table: 'tasks',
  keep: 'finished_at IS NULL OR finished_at >= $1',
  ageColumn: 'finished_at',
}

const DAY_MS = 86_400_000
/** Days created ahead of today (UTC), so that inserts never wait for the pruner. */
export const DAYS_AHEAD = 3

export interface PartitionOptions {
  /** How long the pruner waits for a lock before leaving a drop to its next round. @defaultValue `2000` */
  lockTimeoutMs?: number
  /**
   * A day whose rows that must stay (see `keep`) are more than this many is kept until fewer are: moving
   * them holds the table's lock. @defaultValue `100_000`
   */
  maxMovedRows?: number
}

export interface PartitionPruneResult {
  /** Day partitions dropped. */
  dropped: number
  /** Rows in them (the planner's estimate). */
  droppedRows: number
  /** Rows that outlived their day, moved to the default partition. */
  moved: number
  /** Days kept for now: a lock not granted in time, or too many rows to move. */
  deferred: number
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** A transaction whose lock waits give up after `lockTimeoutMs` (the pruner retries next round). */
function withLockTimeout<T>(pool: pg.Pool, lockTimeoutMs: number, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`)
    return work(client)
  })
}

const isLockTimeout = (err: unknown): boolean => (err as { code?: unknown }).code === '55P03'

/** Creates the day partitions from today to `DAYS_AHEAD` days ahead that do not exist; returns how many. */
export async function addDayPartitions(
  pool: pg.Pool,
  p: PartitionedTable,
  { now = Date.now(), lockTimeoutMs = 2000 }: { now?: number; lockTimeoutMs?: number } = {},
): Promise<number> {
  try {
    return await withLockTimeout(pool, lockTimeoutMs, async (c) => {
      const res = await c.query<{ n: number }>('SELECT ktask.add_day_partitions($1, $2::date, $3::date) AS n', [
        p.table,
        utcDay(now),
        utcDay(now + DAYS_AHEAD * DAY_MS),
      ])
      return res.rows[0]!.n
    })
  } catch (err) {
    // Next round; meanwhile a missing day's rows go to the default partition.
    if (isLockTimeout(err)) return 0
    throw err
  }
}

/** The day partitions of a table, oldest first. */
export async function dayPartitions(db: Pick<pg.Pool, 'query'>, p: PartitionedTable): Promise<{ name: string; day: string }[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass AND c.relname ~ $2 ORDER BY c.relname`,
    [`ktask.${p.table}`, `^${p.table}_p[0-9]{8}$`],
  )
  return rows.map(({ name }) => {
    const d = name.slice(-8)
    return { name, day: `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` }
  })
}

/**
 * Drops the day partitions that lie wholly before `horizon`, moving the rows that must stay to the default
 * partition first. Each day is its own short transaction; one whose lock is not granted in
 * `lockTimeoutMs` (a long transaction holds the table) is left to the next round.
 */
export async function dropExpiredPartitions(
  pool: pg.Pool,
  p: PartitionedTable,
  horizon: Date,
  { lockTimeoutMs = 2000, maxMovedRows = 100_000 }: PartitionOptions = {},
): Promise<PartitionPruneResult> {
  const result: PartitionPruneResult = { dropped: 0, droppedRows: 0, moved: 0, deferred: 0 }
  const lastExpiredDay = utcDay(horizon.getTime() - DAY_MS)
  for (const { name, day } of await dayPartitions(pool, p)) {
    if (day > lastExpiredDay) break
    const part = `ktask.${name}`
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${part} WHERE ${p.keep} LIMIT $2) k`, [
      horizon,
      maxMovedRows + 1,
    ])
    if (rows[0]!.n > maxMovedRows) {
      result.deferred++
      continue
    }
    try {
      const { moved, estimate } = await withLockTimeout(pool, lockTimeoutMs, async (c) => {
        const size = await c.query<{ n: number }>('SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = $1::regclass', [
          part,
        ])
        await c.query(`ALTER TABLE ktask.${p.table} DETACH PARTITION ${part}`)
        // The day has no partition now: these rows go to the default one, under the same key.
        const res = await c.query(`INSERT INTO ktask.${p.table} SELECT * FROM ${part} WHERE ${p.keep}`, [horizon])
        await c.query(`DROP TABLE ${part}`)
        return { moved: res.rowCount ?? 0, estimate: size.rows[0]?.n ?? 0 }
      })
      result.dropped++
      result.moved += moved
      result.droppedRows += Math.max(0, Math.round(estimate) - moved)
    } catch (err) {
      if (!isLockTimeout(err)) throw err
      result.deferred++
    }
  }
  return result
}

/** Deletes rows older than `horizon` from the undated and default partitions, in batches; returns how many. */
export async function pruneUndated(
  pool: pg.Pool,
  p: PartitionedTable,
  horizon: Date,
  { batchSize = 5000, signal }: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<{ deleted: number; batches: number }> {
  let deleted = 0
  let batches = 0
  for (const part of [`ktask.${p.table}_undated`, `ktask.${p.table}_default`]) {
    const sql = `DELETE FROM ${part} WHERE ctid IN (SELECT ctid FROM ${part} WHERE ${p.ageColumn} < $1 LIMIT $2)`
    while (!signal?.aborted) {
      const res = await pool.query(sql, [horizon, batchSize])
      batches++
      deleted += res.rowCount ?? 0
      if ((res.rowCount ?? 0) < batchSize) break
    }
  }
  return { deleted, batches }
}

export interface TablePruneResult extends PartitionPruneResult {
  /** Rows deleted from the undated and default partitions. */
  deleted: number
  batches: number
}

/** One round for one table: days created ahead, expired days dropped, undated and default rows deleted. */
export async function prunePartitioned(
  pool: pg.Pool,
  p: PartitionedTable,
  retentionDays: number,
  { batchSize, signal, ...options }: PartitionOptions & { batchSize?: number; signal?: AbortSignal } = {},
): Promise<TablePruneResult> {
  const horizon = new Date(Date.now() - retentionDays * DAY_MS)
  await addDayPartitions(pool, p, { lockTimeoutMs: options.lockTimeoutMs })
  const dropped = await dropExpiredPartitions(pool, p, horizon, options)
  const undated = await pruneUndated(pool, p, horizon, { batchSize, signal })
  return { ...dropped, ...undated }
}
