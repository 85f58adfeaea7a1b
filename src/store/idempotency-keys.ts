/** HTTP Idempotency-Key → task id, so a retried POST returns the task the first one created. */
import type pg from 'pg'

export type ClaimResult = { claimed: true } | { claimed: false; taskId: string; sameBody: boolean }

const CLAIM = `INSERT INTO ktask.idempotency_keys (idempotency_key, task_name, task_id, body_sha256)
  VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key, task_name) DO NOTHING RETURNING task_id`
const EXISTING = 'SELECT task_id, body_sha256 FROM ktask.idempotency_keys WHERE idempotency_key = $1 AND task_name = $2'
const RELEASE = 'DELETE FROM ktask.idempotency_keys WHERE idempotency_key = $1 AND task_name = $2 AND task_id = $3'
const PRUNE = 'DELETE FROM ktask.idempotency_keys WHERE created_at < $1'

/** Claims `key` for a new task id; if it was claimed before, returns that task's id. */
export async function claimIdempotencyKey(db: pg.Pool, key: string, taskName: string, taskId: string, bodySha256: string): Promise<ClaimResult> {
  const inserted = await db.query(CLAIM, [key, taskName, taskId, bodySha256])
  if (inserted.rowCount === 1) return { claimed: true }
  const { rows } = await db.query<{ task_id: string; body_sha256: string }>(EXISTING, [key, taskName])
  const row = rows[0]
  // Deleted in between (the first request failed validation): claim again.
  if (!row) return claimIdempotencyKey(db, key, taskName, taskId, bodySha256)
  return { claimed: false, taskId: row.task_id, sameBody: row.body_sha256 === bodySha256 }
}

/** The task was not created after all (invalid body, broker down): free the key. */
export async function releaseIdempotencyKey(db: pg.Pool, key: string, taskName: string, taskId: string): Promise<void> {
  await db.query(RELEASE, [key, taskName, taskId])
}

export async function pruneIdempotencyKeys(db: pg.Pool, retentionDays: number): Promise<number> {
  const res = await db.query(PRUNE, [new Date(Date.now() - retentionDays * 86_400_000)])
  return res.rowCount ?? 0
}
