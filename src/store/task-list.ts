/**
 * Listing tracked tasks for the dashboard and `GET /v1/tasks`: newest first, filtered by state, task
 * name, queue and enqueue time, one page at a time. Pages are cut by keyset (the last row's enqueue time
 * and id), not by OFFSET, so a page costs the same however deep it is and rows enqueued meanwhile never
 * shift a page under the reader.
 */
import { KtaskError } from '../errors.ts'
import type { Queryable } from './queryable.ts'
import { getTasks, type TaskState, type TaskStatus } from './task-store.ts'

export interface TaskListFilter {
  /** Any of these states. @defaultValue every state */
  states?: TaskState[]
  /** Task name. */
  name?: string
  queue?: string
  /** Enqueued at or after. */
  from?: Date
  /** Enqueued before. */
  to?: Date
}

export interface TaskPage {
  tasks: TaskStatus[]
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null
}

const LIST = `SELECT task_id FROM ktask.tasks
  WHERE ($1::text[] IS NULL OR state = ANY($1::text[]))
    AND ($2::text IS NULL OR name = $2) AND ($3::text IS NULL OR queue = $3)
    AND ($4::timestamptz IS NULL OR enqueued_at >= $4) AND ($5::timestamptz IS NULL OR enqueued_at < $5)
    AND ($6::timestamptz IS NULL OR (enqueued_at, task_id) < ($6::timestamptz, $7::text))
  ORDER BY enqueued_at DESC, task_id DESC
  LIMIT $8`

/** The position after a row, opaque to callers: base64url of [enqueued at (µs precision kept as text), id]. */
function encodeCursor(enqueuedAt: string, taskId: string): string {
  return Buffer.from(JSON.stringify([enqueuedAt, taskId])).toString('base64url')
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      if (!Number.isNaN(Date.parse(value[0]))) return [value[0], value[1]]
    }
  } catch {
    // Refused below with the field named.
  }
  throw new KtaskError('KTASK_VALIDATION', 'cursor is not one this service handed out (use nextCursor of the previous page)', {
    field: 'cursor',
  })
}

/** One page of tracked tasks, newest first. */
export async function listTasks(
  db: Queryable,
  filter: TaskListFilter,
  { cursor, limit }: { cursor?: string; limit: number },
): Promise<TaskPage> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor)
  // The cursor keeps enqueued_at as Postgres printed it (microseconds): a JS Date would round to ms and
  // skip or repeat rows enqueued within the same millisecond.
  const { rows } = await db.query<{ task_id: string }>(LIST, [
    filter.states && filter.states.length > 0 ? filter.states : null,
    filter.name ?? null,
    filter.queue ?? null,
    filter.from ?? null,
    filter.to ?? null,
    after?.[0] ?? null,
    after?.[1] ?? null,
    limit + 1,
  ])
  const ids = rows.slice(0, limit).map((r) => r.task_id)
  const found = await getTasks(db, ids)
  const tasks = ids.flatMap((id) => found.get(id) ?? [])
  if (rows.length <= limit || ids.length === 0) return { tasks, nextCursor: null }
  const last = ids[ids.length - 1]!
  const { rows: at } = await db.query<{ t: string }>(
    `SELECT to_char(enqueued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM ktask.tasks WHERE task_id = $1`,
    [last],
  )
  return { tasks, nextCursor: at[0] ? encodeCursor(at[0].t, last) : null }
}

/** The flow a task runs in as a step, if any. */
export async function flowOfTask(db: Queryable, taskId: string): Promise<string | null> {
  const { rows } = await db.query<{ workflow_id: string }>('SELECT workflow_id FROM ktask.flow_steps WHERE task_id = $1', [taskId])
  return rows[0]?.workflow_id ?? null
}

export interface FlowSummary {
  workflowId: string
  state: string
  createdAt: Date
  finishedAt: Date | null
  steps: number
  failed: number
}

/** The most recent flows of a prefix (newest first). */
export async function recentFlows(db: Queryable, scope: string, limit: number): Promise<FlowSummary[]> {
  const { rows } = await db.query<{
    workflow_id: string
    state: string
    created_at: Date
    finished_at: Date | null
    steps: number
    failed: number
  }>(
    `SELECT f.workflow_id, f.state, f.created_at, f.finished_at, f.failed,
       (SELECT count(*)::int FROM ktask.flow_steps s WHERE s.workflow_id = f.workflow_id) AS steps
     FROM ktask.flows f WHERE f.scope = $1 ORDER BY f.created_at DESC LIMIT $2`,
    [scope, limit],
  )
  return rows.map((r) => ({
    workflowId: r.workflow_id,
    state: r.state,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    steps: r.steps,
    failed: r.failed,
  }))
}
