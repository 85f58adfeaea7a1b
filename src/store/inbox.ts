/**
 * The idempotency ledger. A row (group, message id) is inserted in the handler's transaction: when it
 * already exists, the message was applied before and the handler is skipped.
 */
import type pg from 'pg'

/** Deletes up to $2 rows older than $1; small batches keep locks and WAL bursts short. */
export const DELETE_EXPIRED_INBOX_ROWS = `DELETE FROM ktask.inbox WHERE ctid IN (
  SELECT ctid FROM ktask.inbox WHERE processed_at < $1 LIMIT $2)`

export interface PruneResult {
  deleted: number
  batches: number
}

/**
 * Deletes ledger rows older than the retention window, batch by batch (each its own short transaction),
 * stopping early when `signal` aborts. Processing never waits on it: no batch locks more than `batchSize` rows.
 */
export async function pruneInbox(
  pool: pg.Pool,
  retentionDays: number,
  { batchSize = 5000, signal }: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<PruneResult> {
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

/** One statement for a whole chunk: returns the ids that were new (duplicates are skipped). */
export const INSERT_INBOX_ROWS = `INSERT INTO ktask.inbox (group_id, message_id) SELECT $1, unnest($2::text[])
  ON CONFLICT DO NOTHING RETURNING message_id`

export async function insertInboxRows(client: pg.ClientBase, groupId: string, messageIds: string[]): Promise<Set<string>> {
  const res = await client.query<{ message_id: string }>(INSERT_INBOX_ROWS, [groupId, messageIds])
  return new Set(res.rows.map((r) => r.message_id))
}

/** Removes ledger rows inserted in this transaction for messages whose effects will not commit in it. */
export async function deleteInboxRows(client: Pick<pg.ClientBase, 'query'>, groupId: string, messageIds: string[]): Promise<void> {
  await client.query('DELETE FROM ktask.inbox WHERE group_id = $1 AND message_id = ANY($2)', [groupId, messageIds])
}

/**
 * Which of these messages have a ledger row — for handlers without a ledger of their own, the row a
 * cancel wrote (store/cancel.ts): such a message is skipped, not run.
 */
export async function ledgerRowsOf(db: Pick<pg.ClientBase, 'query'>, groupId: string, messageIds: string[]): Promise<Set<string>> {
  if (messageIds.length === 0) return new Set()
  const res = await db.query<{ message_id: string }>('SELECT message_id FROM ktask.inbox WHERE group_id = $1 AND message_id = ANY($2)', [
    groupId,
    messageIds,
  ])
  return new Set(res.rows.map((r) => r.message_id))
}
