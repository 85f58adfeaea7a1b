/** The redrive log: which DLQ messages were resent, and where. */
import type pg from 'pg'

export interface DlqPosition {
  partition: number
  offset: number
}

export async function redrivenPositions(db: pg.Pool, dlqTopic: string): Promise<Set<string>> {
  const { rows } = await db.query<{ p: number; o: string }>(
    'SELECT dlq_partition AS p, dlq_offset AS o FROM ktask.redrives WHERE dlq_topic = $1',
    [dlqTopic],
  )
  return new Set(rows.map((r) => `${r.p}/${r.o}`))
}

export async function recordRedrives(
  db: pg.Pool,
  dlqTopic: string,
  entries: (DlqPosition & { messageId: string; target: string })[],
): Promise<void> {
  if (entries.length === 0) return
  await db.query(
    `INSERT INTO ktask.redrives (dlq_topic, dlq_partition, dlq_offset, message_id, target_topic)
    SELECT $1, unnest($2::int[]), unnest($3::bigint[]), unnest($4::text[]), unnest($5::text[]) ON CONFLICT DO NOTHING`,
    [
      dlqTopic,
      entries.map((e) => e.partition),
      entries.map((e) => e.offset),
      entries.map((e) => e.messageId),
      entries.map((e) => e.target),
    ],
  )
}

/**
 * Forgets redrives of DLQ messages that are gone (below their partition's low watermark, or the whole
 * topic deleted): nobody can redrive those again. Rows of messages still in the DLQ are kept for as long
 * as the DLQ keeps the messages (for ever, by default) — they are what stops a second redrive.
 */
export async function pruneRedrives(
  db: pg.Pool,
  lowWatermarks: (topic: string) => Promise<Map<number, number> | undefined>,
): Promise<number> {
  const { rows } = await db.query<{ dlq_topic: string }>('SELECT DISTINCT dlq_topic FROM ktask.redrives')
  let deleted = 0
  for (const { dlq_topic: topic } of rows) {
    const lows = await lowWatermarks(topic)
    const res =
      lows === undefined
        ? await db.query('DELETE FROM ktask.redrives WHERE dlq_topic = $1', [topic])
        : await db.query(
            `DELETE FROM ktask.redrives AS r USING unnest($2::int[], $3::bigint[]) AS w(p, low)
          WHERE r.dlq_topic = $1 AND r.dlq_partition = w.p AND r.dlq_offset < w.low`,
            [topic, [...lows.keys()], [...lows.values()]],
          )
    deleted += res.rowCount ?? 0
  }
  return deleted
}
