/**
 * Cancelling a task that has not started, in one transaction (app.cancel, DELETE /v1/tasks/:id,
 * `ktask cancel`):
 *
 * 1. still waiting — a timer, or an outbox row not yet published: deleted, it never reaches Kafka;
 * 2. already in Kafka: the task's ledger row is written now, as if it had run. The worker skips a
 *    message whose ledger row exists, so it never runs. If a worker is running it at this moment, the
 *    insert waits for that transaction: committed → the task ran, nothing is cancelled; rolled back → the
 *    cancel wins and the retry is skipped. The ledger decides, so "cancelled" and "ran" never both hold.
 *
 * A tracked task becomes CANCELLED (final); one already final is not cancelled. An untracked task's
 * queue is unknown here, so its ledger row is written for every queue the app has (a task id belongs to
 * one of them; the others' rows are pruned like any ledger row).
 *
 * Statements run in the order timers → outbox → ledger → tasks, the order a worker's transaction takes
 * the ledger and tasks rows in, so the two never wait for each other in a cycle.
 */
import type pg from 'pg'
import { insertLedgerRow } from './inbox.ts'
import { FINAL_STATES, type TaskState } from './task-store.ts'

export type CancelResult =
  { cancelled: true; stage: 'waiting' | 'queued' } | { cancelled: false; reason: 'finished' | 'started' | 'unknown' }

export async function cancelTask(
  pool: pg.Pool,
  taskId: string,
  groupOfQueue: (queue: string) => string,
  allGroups: string[],
): Promise<CancelResult> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const result = await cancelIn(client, taskId, groupOfQueue, allGroups)
    await client.query(result.cancelled ? 'COMMIT' : 'ROLLBACK')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))))
    throw err
  } finally {
    client.release(broken)
  }
}

async function cancelIn(
  client: pg.ClientBase,
  taskId: string,
  groupOfQueue: (queue: string) => string,
  allGroups: string[],
): Promise<CancelResult> {
  const waiting =
    ((await client.query('DELETE FROM ktask.timers WHERE message_id = $1', [taskId])).rowCount ?? 0) > 0 ||
    ((await client.query('DELETE FROM ktask.outbox WHERE message_id = $1 AND refused IS NULL', [taskId])).rowCount ?? 0) > 0
  const { rows } = await client.query<{ state: TaskState; queue: string }>('SELECT state, queue FROM ktask.tasks WHERE task_id = $1', [
    taskId,
  ])
  const tracked = rows[0]
  if (tracked && FINAL_STATES.includes(tracked.state)) return { cancelled: false, reason: 'finished' }
  // Running now (a task without a ledger would not be stopped by its ledger row).
  if (tracked?.state === 'STARTED' && !waiting) return { cancelled: false, reason: 'started' }
  if (!waiting) {
    const groups = tracked ? [groupOfQueue(tracked.queue)] : allGroups
    if (groups.length === 0) return { cancelled: false, reason: 'unknown' }
    // A ledger row exists already: the task ran (or is a duplicate of one that did).
    if ((await insertLedgerRow(client, groups, taskId)) < groups.length) return { cancelled: false, reason: 'started' }
  }
  if (tracked) {
    const updated = await client.query(
      `UPDATE ktask.tasks SET state = 'CANCELLED', finished_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE task_id = $1 AND state <> ALL($2::text[])`,
      [taskId, FINAL_STATES],
    )
    if ((updated.rowCount ?? 0) === 0) return { cancelled: false, reason: 'finished' }
  }
  return { cancelled: true, stage: waiting ? 'waiting' : 'queued' }
}
