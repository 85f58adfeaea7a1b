/**
 * The idempotency ledger. A row (group, message id) is inserted in the handler's transaction: when it
 * already exists, the message was applied before and the handler is skipped.
 */
import type pg from 'pg'

/** Returns one row when the message is new, none when it is a duplicate. */
export const INSERT_INBOX_ROW =
  'INSERT INTO ktask.inbox (group_id, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1'

/** Deletes up to $2 rows older than $1; small batches keep locks and WAL bursts short. */
export const DELETE_EXPIRED_INBOX_ROWS = `DELETE FROM ktask.inbox WHERE ctid IN (
  SELECT ctid FROM ktask.inbox WHERE processed_at < $1 LIMIT $2)`

export async function insertInboxRow(client: pg.ClientBase, groupId: string, messageId: string): Promise<boolean> {
  const res = await client.query(INSERT_INBOX_ROW, [groupId, messageId])
  return res.rowCount === 1
}

export interface PruneResult {
  deleted: number
  batches: number
}

/**
 * Deletes ledger rows older than the retention window, batch by batch (each its own short transaction),
 * stopping early when `signal` aborts. Processing never waits on it: no batch locks more than `batchSize` rows.
 */
export async function pruneInbox(pool: pg.Pool, retentionDays: number, { batchSize = 5000, signal }: { batchSize?: number; signal?: AbortSignal } = {}): Promise<PruneResult> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000)
  let deleted = 0
  let batches = 0
  while (!signal?.aborted) {
    const res = await pool.query(DELETE_EXPIRED_INBOX_ROWS, [cutoff, batchSize])
    batches++
    deleted += res.rowCount ?? 0
    if ((res.rowCount ?? 0) < batchSize) break
  }
  return { deleted, batches }
}
