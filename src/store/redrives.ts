/** The redrive log: which DLQ messages were resent, and where. */
import type pg from 'pg'

export interface DlqPosition {
  partition: number
  offset: number
}

export async function redrivenPositions(db: pg.Pool, dlqTopic: string): Promise<Set<string>> {
  const { rows } = await db.query<{ p: number; o: string }>('SELECT dlq_partition AS p, dlq_offset AS o FROM ktask.redrives WHERE dlq_topic = $1', [dlqTopic])
  return new Set(rows.map((r) => `${r.p}/${r.o}`))
}

export async function recordRedrives(db: pg.Pool, dlqTopic: string, entries: (DlqPosition & { messageId: string; target: string })[]): Promise<void> {
  if (entries.length === 0) return
  await db.query(`INSERT INTO ktask.redrives (dlq_topic, dlq_partition, dlq_offset, message_id, target_topic)
    SELECT $1, unnest($2::int[]), unnest($3::bigint[]), unnest($4::text[]), unnest($5::text[]) ON CONFLICT DO NOTHING`,
  [dlqTopic, entries.map((e) => e.partition), entries.map((e) => e.offset), entries.map((e) => e.messageId), entries.map((e) => e.target)])
}
