/**
 * Blocked keys (retry.ordering = 'key'). While a key has rows in ktask.key_queue, only its head may run;
 * later messages of the key are parked behind the head in its retry tier. Every statement is idempotent:
 * a crash between "write row" and "produce" is repaired when the message is delivered again.
 */
import type { Queryable } from './queryable.ts'

export interface KeyHead {
  messageId: string
  topic: string
  notBefore: number
}

const HEADS = `SELECT DISTINCT ON (msg_key) msg_key, message_id, topic, not_before
  FROM ktask.key_queue WHERE group_id = $1 AND msg_key = ANY($2) ORDER BY msg_key, seq`

/** A row per waiting message: inserted with a new seq, or moved to a new tier keeping its place. */
const UPSERT = `INSERT INTO ktask.key_queue (group_id, msg_key, message_id, topic, not_before) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (group_id, msg_key, message_id) DO UPDATE SET topic = EXCLUDED.topic, not_before = EXCLUDED.not_before`

const DELETE = 'DELETE FROM ktask.key_queue WHERE group_id = $1 AND msg_key = $2 AND message_id = $3'

/** The head of each key's queue, by key (latin1 string of the key bytes). */
export async function keyHeads(db: Queryable, groupId: string, keys: Buffer[]): Promise<Map<string, KeyHead>> {
  const heads = new Map<string, KeyHead>()
  if (keys.length === 0) return heads
  const { rows } = await db.query<{ msg_key: Buffer; message_id: string; topic: string; not_before: string }>(HEADS, [groupId, keys])
  for (const r of rows)
    heads.set(r.msg_key.toString('latin1'), { messageId: r.message_id, topic: r.topic, notBefore: Number(r.not_before) })
  return heads
}

export async function upsertKeyEntry(
  db: Queryable,
  groupId: string,
  key: Buffer,
  messageId: string,
  topic: string,
  notBefore: number,
): Promise<void> {
  await db.query(UPSERT, [groupId, key, messageId, topic, notBefore])
}

export async function deleteKeyEntry(db: Queryable, groupId: string, key: Buffer, messageId: string): Promise<void> {
  await db.query(DELETE, [groupId, key, messageId])
}

/** Drops a head found orphaned, unless it moved meanwhile (a new hop, a new due time). */
export async function deleteOrphanedHead(db: Queryable, groupId: string, key: Buffer, head: KeyHead): Promise<void> {
  await db.query(
    'DELETE FROM ktask.key_queue WHERE group_id = $1 AND msg_key = $2 AND message_id = $3 AND topic = $4 AND not_before = $5',
    [groupId, key, head.messageId, head.topic, head.notBefore],
  )
}

/** Rows due longer ago than the retention window: heads that will never come back. */
export async function pruneKeyQueue(db: Queryable, retentionDays: number): Promise<number> {
  const res = await db.query('DELETE FROM ktask.key_queue WHERE not_before < $1', [Date.now() - retentionDays * 86_400_000])
  return res.rowCount ?? 0
}
