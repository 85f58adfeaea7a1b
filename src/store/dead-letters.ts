/** The dead-letter record: which messages a group has put in its DLQ (see migration 0006). */
import type pg from 'pg'
import type { Queryable } from './queryable.ts'

export interface DeadLetterKey {
  groupId: string
  messageId: string
  redrives: number
}

export interface DeadLetterRecord extends DeadLetterKey {
  dlqTopic: string
  /** DLQ end offsets by partition, before the hop was produced. */
  dlqOffsets: Record<string, number>
  state: 'pending' | 'done'
}

const CLAIM = `INSERT INTO ktask.dead_letters (group_id, message_id, redrives, dlq_topic, dlq_offsets, state)
  VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING RETURNING message_id`
const EXISTING = `SELECT dlq_topic, dlq_offsets, state FROM ktask.dead_letters WHERE group_id = $1 AND message_id = $2 AND redrives = $3`
const REOFFSET = `UPDATE ktask.dead_letters SET dlq_offsets = $4 WHERE group_id = $1 AND message_id = $2 AND redrives = $3 AND state = 'pending'`
const DONE = `UPDATE ktask.dead_letters AS d SET state = 'done' FROM unnest($2::text[], $3::int[]) AS u(message_id, redrives)
  WHERE d.group_id = $1 AND d.message_id = u.message_id AND d.redrives = u.redrives`
const PRUNE = 'DELETE FROM ktask.dead_letters WHERE created_at < $1'

/** Records a hop about to be produced; when one exists already, returns it instead. */
export async function claimDeadLetter(db: Queryable, r: Omit<DeadLetterRecord, 'state'>): Promise<DeadLetterRecord | undefined> {
  const inserted = await db.query(CLAIM, [r.groupId, r.messageId, r.redrives, r.dlqTopic, JSON.stringify(r.dlqOffsets)])
  if (inserted.rowCount === 1) return undefined
  const { rows } = await db.query<{ dlq_topic: string; dlq_offsets: Record<string, number>; state: 'pending' | 'done' }>(EXISTING, [
    r.groupId,
    r.messageId,
    r.redrives,
  ])
  const row = rows[0]
  // Gone between the two statements (pruned): claim again next time; producing now is the safe side.
  if (!row) return undefined
  return { ...r, dlqTopic: row.dlq_topic, dlqOffsets: row.dlq_offsets, state: row.state }
}

/** A pending hop whose copy was not found: it is produced now, from these offsets on. */
export async function reoffsetDeadLetter(db: Queryable, key: DeadLetterKey, dlqOffsets: Record<string, number>): Promise<void> {
  await db.query(REOFFSET, [key.groupId, key.messageId, key.redrives, JSON.stringify(dlqOffsets)])
}

export async function markDeadLettersDone(db: Queryable, groupId: string, keys: Omit<DeadLetterKey, 'groupId'>[]): Promise<void> {
  if (keys.length === 0) return
  await db.query(DONE, [groupId, keys.map((k) => k.messageId), keys.map((k) => k.redrives)])
}

export async function pruneDeadLetters(db: pg.Pool, retentionDays: number): Promise<number> {
  const res = await db.query(PRUNE, [new Date(Date.now() - retentionDays * 86_400_000)])
  return res.rowCount ?? 0
}
