/**
 * ktask.tasks: state, attempts, progress, result and error of tracked tasks. Writes carry a version
 * (redrives, attempt, phase); a write older than what is stored is ignored, and SUCCEEDED is final —
 * so coalesced or reordered writes from several processes never move a task backwards.
 *
 * The table is partitioned by the day of the task id (store/partitions.ts): every write gives
 * `bucket = ktask.id_bucket(task_id)`, part of the primary key (task_id, bucket); lookups give it too, so
 * that they read one partition.
 */
import type pg from 'pg'
import { prunePartitioned, TASK_PARTITIONS, type PartitionOptions } from './partitions.ts'
import type { Queryable } from './queryable.ts'

export type TaskState = 'PENDING' | 'SCHEDULED' | 'STARTED' | 'RETRYING' | 'SUCCEEDED' | 'FAILED' | 'DEAD' | 'CANCELLED'
export const FINAL_STATES: readonly TaskState[] = ['SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED']

export interface TaskErrorSummary {
  class: string
  message: string
  stage: string
  attempt: number
}

export interface TaskStatus {
  taskId: string
  name: string
  queue: string
  state: TaskState
  attempts: number
  /** 0..1, or null before the handler reported any. */
  progress: number | null
  progressMessage: string | null
  /** The handler's return value (JSON), once SUCCEEDED. */
  result: unknown
  error: TaskErrorSummary | null
  enqueuedAt: Date
  /** A delayed task's due time (the database's clock); null for one enqueued to run at once. */
  runAt: Date | null
  startedAt: Date | null
  finishedAt: Date | null
  updatedAt: Date
}

/** A state change; `phase` orders changes within one attempt (started before finished). */
export interface TaskStateUpdate {
  taskId: string
  name: string
  queue: string
  state: Exclude<TaskState, 'PENDING' | 'SCHEDULED' | 'SUCCEEDED' | 'CANCELLED'>
  attempt: number
  redrives: number
  error?: TaskErrorSummary
  /** When this attempt's handler started (ms since the epoch, the worker's clock); becomes `started_at`. */
  startedAt?: number
}

/**
 * `started_at` from the handler's start: the database's clock minus how long ago that was, so the
 * worker's clock never meets the database's (finished_at) and a write that waited in a coalescing
 * buffer still records when the handler began, not when the write arrived.
 */
const startedAgoMs = (startedAt: number | undefined): number | null =>
  startedAt === undefined ? null : Math.max(0, Date.now() - startedAt)

const phase = (column: string): string => `CASE ${column} WHEN 'PENDING' THEN 0 WHEN 'SCHEDULED' THEN 0 WHEN 'STARTED' THEN 1 ELSE 2 END`

export const INSERT_PENDING = `INSERT INTO ktask.tasks (task_id, name, queue, state, bucket)
  SELECT id, $2, $3, 'PENDING', ktask.id_bucket(id) FROM unnest($1::text[]) AS id ON CONFLICT (task_id, bucket) DO NOTHING`

/**
 * Applies a batch of state changes (arrays of equal length), each only if newer than the stored one.
 * With $9 (skip locked), a task whose row another transaction holds is left out instead of waited for:
 * that transaction is a handler's writing SUCCEEDED, which overtakes whatever this batch would write.
 */
const APPLY_STATES = `WITH u AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::jsonb[], $8::float8[])
      AS u(task_id, name, queue, state, attempt, redrives, error, started_ago_ms)),
  held AS (SELECT t.task_id FROM ktask.tasks t JOIN u ON t.task_id = u.task_id AND t.bucket = ktask.id_bucket(u.task_id) WHERE $9::boolean
    EXCEPT SELECT l.task_id FROM (SELECT t.task_id FROM ktask.tasks t JOIN u ON t.task_id = u.task_id AND t.bucket = ktask.id_bucket(u.task_id)
      WHERE $9::boolean FOR UPDATE OF t SKIP LOCKED) l)
  INSERT INTO ktask.tasks AS t (task_id, name, queue, state, attempts, redrives, error, started_at, finished_at, bucket)
  SELECT u.task_id, u.name, u.queue, u.state, u.attempt, u.redrives, u.error,
         CASE WHEN u.started_ago_ms IS NOT NULL THEN clock_timestamp() - u.started_ago_ms * interval '1 millisecond'
              WHEN u.state = 'STARTED' THEN clock_timestamp() END,
         CASE WHEN u.state IN ('FAILED', 'DEAD') THEN clock_timestamp() END,
         ktask.id_bucket(u.task_id)
  FROM u WHERE u.task_id NOT IN (SELECT task_id FROM held)
  ON CONFLICT (task_id, bucket) DO UPDATE SET
    state = EXCLUDED.state, attempts = EXCLUDED.attempts, redrives = EXCLUDED.redrives,
    error = COALESCE(EXCLUDED.error, t.error),
    started_at = COALESCE(EXCLUDED.started_at, t.started_at),
    finished_at = EXCLUDED.finished_at,
    progress = CASE WHEN EXCLUDED.state = 'STARTED' THEN NULL ELSE t.progress END,
    progress_message = CASE WHEN EXCLUDED.state = 'STARTED' THEN NULL ELSE t.progress_message END,
    updated_at = clock_timestamp()
  WHERE t.state NOT IN ('SUCCEEDED', 'CANCELLED')
    AND (t.redrives, t.attempts, ${phase('t.state')}) < (EXCLUDED.redrives, EXCLUDED.attempts, ${phase('EXCLUDED.state')})`

/**
 * Progress only moves a running task (STARTED), for the attempt that reported it. Rows another
 * transaction holds are skipped, never waited for (see APPLY_STATES): progress is coalesced and moot
 * once the task finishes.
 */
const APPLY_PROGRESS = `UPDATE ktask.tasks AS t SET progress = u.progress, progress_message = u.message, updated_at = clock_timestamp()
  FROM unnest($1::text[], $2::real[], $3::text[], $4::int[]) AS u(task_id, progress, message, attempt)
  WHERE t.task_id = u.task_id AND t.bucket = ktask.id_bucket(u.task_id) AND t.state = 'STARTED' AND t.attempts = u.attempt
    AND (t.task_id, t.bucket) IN (SELECT task_id, bucket FROM ktask.tasks WHERE task_id = ANY($1::text[])
      AND bucket = ANY(ARRAY(SELECT ktask.id_bucket(id) FROM unnest($1::text[]) AS id)) FOR UPDATE SKIP LOCKED)`

/**
 * Written in the handler's own transaction: SUCCEEDED exactly when the effects commit. It sets started_at
 * itself: the attempt's STARTED may still wait in the coalescing writer, and is refused once SUCCEEDED.
 */
const SUCCEEDED = `INSERT INTO ktask.tasks AS t (task_id, name, queue, state, attempts, redrives, progress, result, started_at, finished_at, bucket)
  VALUES ($1, $2, $3, 'SUCCEEDED', $4, $5, 1, $6, COALESCE(clock_timestamp() - $7::float8 * interval '1 millisecond', clock_timestamp()), clock_timestamp(),
    ktask.id_bucket($1))
  ON CONFLICT (task_id, bucket) DO UPDATE SET state = 'SUCCEEDED', attempts = EXCLUDED.attempts, redrives = EXCLUDED.redrives,
    progress = 1, result = EXCLUDED.result, error = NULL,
    started_at = COALESCE(clock_timestamp() - $7::float8 * interval '1 millisecond', t.started_at, clock_timestamp()),
    finished_at = clock_timestamp(), updated_at = clock_timestamp()`

const COLUMNS = `task_id, name, queue, state, attempts, progress, progress_message, result, error,
  enqueued_at, run_at, started_at, finished_at, updated_at`
const SELECT = `SELECT ${COLUMNS} FROM ktask.tasks WHERE task_id = $1 AND bucket = ktask.id_bucket($1)`
const SELECT_MANY = `SELECT ${COLUMNS} FROM ktask.tasks
  WHERE task_id = ANY($1::text[]) AND bucket = ANY(ARRAY(SELECT ktask.id_bucket(id) FROM unnest($1::text[]) AS id))`

const INSERT_TRACKED = `INSERT INTO ktask.tasks (task_id, name, queue, state, run_at, bucket)
  SELECT u.task_id, $1, $2, u.state, u.run_at, ktask.id_bucket(u.task_id)
  FROM unnest($3::text[], $4::text[], $5::timestamptz[]) AS u(task_id, state, run_at)
  ON CONFLICT (task_id, bucket) DO NOTHING`

/** Tracked tasks written with their outbox rows or timers, in the same transaction. */
export async function insertTracked(
  db: Queryable,
  name: string,
  queue: string,
  tasks: { taskId: string; state: 'PENDING' | 'SCHEDULED'; runAt: Date | null }[],
): Promise<void> {
  if (tasks.length === 0) return
  await db.query(INSERT_TRACKED, [name, queue, tasks.map((t) => t.taskId), tasks.map((t) => t.state), tasks.map((t) => t.runAt)])
}

export async function insertPending(db: Queryable, taskIds: string[], name: string, queue: string): Promise<void> {
  await db.query(INSERT_PENDING, [taskIds, name, queue])
}

/**
 * `skipLocked`: leave out tasks whose row another transaction holds instead of waiting for it — for
 * coalesced writes (STARTED, RETRYING), which must never wait on a handler's transaction: two such
 * waits in opposite orders deadlock. Final states are written without it.
 */
export async function applyStates(
  db: Queryable,
  updates: TaskStateUpdate[],
  { skipLocked = false }: { skipLocked?: boolean } = {},
): Promise<void> {
  if (updates.length === 0) return
  await db.query(APPLY_STATES, [
    updates.map((u) => u.taskId),
    updates.map((u) => u.name),
    updates.map((u) => u.queue),
    updates.map((u) => u.state),
    updates.map((u) => u.attempt),
    updates.map((u) => u.redrives),
    updates.map((u) => (u.error ? JSON.stringify(u.error) : null)),
    updates.map((u) => startedAgoMs(u.startedAt)),
    skipLocked,
  ])
}

export interface ProgressUpdate {
  taskId: string
  progress: number
  message: string | null
  attempt: number
}

export async function applyProgress(db: Queryable, updates: ProgressUpdate[]): Promise<void> {
  if (updates.length === 0) return
  await db.query(APPLY_PROGRESS, [
    updates.map((u) => u.taskId),
    updates.map((u) => u.progress),
    updates.map((u) => u.message),
    updates.map((u) => u.attempt),
  ])
}

export interface SucceededUpdate {
  taskId: string
  name: string
  queue: string
  attempt: number
  redrives: number
  resultJson: string | null
  /** When the handler started (ms since the epoch, the worker's clock). */
  startedAt?: number
}

export async function markSucceeded(client: Queryable, u: SucceededUpdate): Promise<void> {
  await client.query(SUCCEEDED, [u.taskId, u.name, u.queue, u.attempt, u.redrives, u.resultJson, startedAgoMs(u.startedAt)])
}

function toStatus(r: Record<string, unknown>): TaskStatus {
  return {
    taskId: r.task_id as string,
    name: r.name as string,
    queue: r.queue as string,
    state: r.state as TaskState,
    attempts: r.attempts as number,
    progress: r.progress as number | null,
    progressMessage: r.progress_message as string | null,
    result: r.result ?? null,
    error: (r.error as TaskErrorSummary | null) ?? null,
    enqueuedAt: r.enqueued_at as Date,
    runAt: (r.run_at as Date | null) ?? null,
    startedAt: r.started_at as Date | null,
    finishedAt: r.finished_at as Date | null,
    updatedAt: r.updated_at as Date,
  }
}

export async function getTask(db: Queryable, taskId: string): Promise<TaskStatus | null> {
  const { rows } = await db.query<Record<string, unknown>>(SELECT, [taskId])
  return rows[0] ? toStatus(rows[0]) : null
}

/** Several tasks in one statement (event streams share one poll); ids without a row are absent. */
export async function getTasks(db: Queryable, taskIds: string[]): Promise<Map<string, TaskStatus>> {
  if (taskIds.length === 0) return new Map()
  const { rows } = await db.query<Record<string, unknown>>(SELECT_MANY, [taskIds])
  return new Map(rows.map((r) => [r.task_id as string, toStatus(r)]))
}

/**
 * Prunes finished tasks older than `retentionDays`: day partitions wholly older are dropped (unfinished
 * tasks in them move to the default partition), the undated and default partitions are deleted from in
 * batches. Returns the rows removed (dropped partitions' by the planner's estimate).
 */
export async function pruneTasks(
  pool: pg.Pool,
  retentionDays: number,
  options: PartitionOptions & { batchSize?: number } = {},
): Promise<number> {
  const r = await prunePartitioned(pool, TASK_PARTITIONS, retentionDays, options)
  return r.deleted + r.droppedRows
}
