/**
 * Where a task's or flow's final status is POSTed (`notify`): ktask.notify_targets, keyed by the task or
 * workflow id. The secret stays here; delivery tasks carry the owner id only.
 */
import type pg from 'pg'
import { deleteInBatches } from './prune-batches.ts'
import type { Queryable } from './queryable.ts'

export interface StoredTarget {
  url: string
  secret: string | null
}

export async function saveTargets(
  db: Queryable,
  scope: string,
  targets: { ownerId: string; url: string; secret?: string }[],
): Promise<void> {
  if (targets.length === 0) return
  await db.query(
    `INSERT INTO ktask.notify_targets (owner_id, scope, url, secret)
     SELECT u.owner_id, $1, u.url, u.secret FROM unnest($2::text[], $3::text[], $4::text[]) AS u(owner_id, url, secret)
     ON CONFLICT (owner_id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret`,
    [scope, targets.map((t) => t.ownerId), targets.map((t) => t.url), targets.map((t) => t.secret ?? null)],
  )
}

export async function targetOf(db: Queryable, ownerId: string): Promise<StoredTarget | undefined> {
  const { rows } = await db.query<StoredTarget>('SELECT url, secret FROM ktask.notify_targets WHERE owner_id = $1', [ownerId])
  return rows[0]
}

/**
 * Targets older than `retentionDays` whose task or flow can no longer end: not a running flow, not a task
 * still waiting for its time. (A target outlives its notification on purpose: a delivery in the DLQ can be
 * redriven while the target is there.)
 */
export function pruneNotifyTargets(pool: pg.Pool, retentionDays: number, batchSize = 5000): Promise<number> {
  return deleteInBatches(
    pool,
    `DELETE FROM ktask.notify_targets WHERE owner_id IN (
       SELECT n.owner_id FROM ktask.notify_targets n
        WHERE n.created_at < $1
          AND NOT EXISTS (SELECT 1 FROM ktask.flows f WHERE f.workflow_id = n.owner_id AND f.state = 'RUNNING')
          AND NOT EXISTS (SELECT 1 FROM ktask.timers t WHERE t.message_id = n.owner_id)
        LIMIT $2)`,
    new Date(Date.now() - retentionDays * 86_400_000),
    batchSize,
  )
}
