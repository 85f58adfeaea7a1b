/**
 * HTTP Idempotency-Key → task id, so a retried POST returns the task the first one created.
 *
 * A key is claimed with its new task id before the task is produced, and marked done once the broker
 * acknowledged it; a failed produce releases it. While a claim is pending, its task id must not be handed
 * to anyone else — the produce may still fail and the id would then name nothing.
 */
import type pg from 'pg'
import { KtaskError } from '../errors.ts'

export type ClaimResult =
  | { state: 'claimed' }
  /** Another request holds the key: `done` once its task was produced, `pending` while it is being produced. */
  | { state: 'done' | 'pending'; taskId: string; sameBody: boolean; ageMs: number }

const CLAIM = `INSERT INTO ktask.idempotency_keys (idempotency_key, task_name, task_id, body_sha256, state)
  VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT (idempotency_key, task_name) DO NOTHING RETURNING task_id`
// The age comes from the database clock, so servers with skewed clocks agree on when a claim is stale.
const EXISTING = `SELECT task_id, body_sha256, state, (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
  FROM ktask.idempotency_keys WHERE idempotency_key = $1 AND task_name = $2`
const COMPLETE = `UPDATE ktask.idempotency_keys SET state = 'done'
  WHERE idempotency_key = $1 AND task_name = $2 AND task_id = $3`
const RELEASE = 'DELETE FROM ktask.idempotency_keys WHERE idempotency_key = $1 AND task_name = $2 AND task_id = $3'
const RELEASE_PENDING = `DELETE FROM ktask.idempotency_keys
  WHERE idempotency_key = $1 AND task_name = $2 AND task_id = $3 AND state = 'pending'`
const PRUNE = 'DELETE FROM ktask.idempotency_keys WHERE created_at < $1'

/** Claims `key` (pending) for a new task id; if another request holds it, says whose it is and in what state. */
export async function claimIdempotencyKey(
  db: pg.Pool,
  key: string,
  taskName: string,
  taskId: string,
  bodySha256: string,
): Promise<ClaimResult> {
  // Bounded: a row can vanish between the insert and the select (its request failed) only so often.
  for (let attempt = 0; ; attempt++) {
    const inserted = await db.query(CLAIM, [key, taskName, taskId, bodySha256])
    if (inserted.rowCount === 1) return { state: 'claimed' }
    const { rows } = await db.query<{ task_id: string; body_sha256: string; state: 'pending' | 'done'; age_ms: number }>(EXISTING, [
      key,
      taskName,
    ])
    const row = rows[0]
    if (row) return { state: row.state, taskId: row.task_id, sameBody: row.body_sha256 === bodySha256, ageMs: row.age_ms }
    if (attempt >= 5) {
      throw new KtaskError('KTASK_REFUSED', `Idempotency-Key "${key}" keeps being claimed and released by other requests: retry later`, {
        field: 'Idempotency-Key',
      })
    }
  }
}

/** The task was produced: the key now answers with its id. */
export async function completeIdempotencyKey(db: pg.Pool, key: string, taskName: string, taskId: string): Promise<void> {
  await db.query(COMPLETE, [key, taskName, taskId])
}

/** The task was not created after all (invalid body, broker down): free the key. */
export async function releaseIdempotencyKey(db: pg.Pool, key: string, taskName: string, taskId: string): Promise<void> {
  await db.query(RELEASE, [key, taskName, taskId])
}

/** Frees a claim that stayed pending (its request died mid-way), unless it completed in the meantime. */
export async function releaseStaleIdempotencyKey(db: pg.Pool, key: string, taskName: string, taskId: string): Promise<void> {
  await db.query(RELEASE_PENDING, [key, taskName, taskId])
}

export async function pruneIdempotencyKeys(db: pg.Pool, retentionDays: number): Promise<number> {
  const res = await db.query(PRUNE, [new Date(Date.now() - retentionDays * 86_400_000)])
  return res.rowCount ?? 0
}
