/**
 * ktask.schedules: one row per schedule declared in code (app.schedule), per scope (the app's prefix).
 * Slots are claimed by moving `last_slot` forward with a conditional update in the transaction that
 * writes their outbox rows (schedules/scheduler.ts), so no slot fires twice, whoever races for it.
 */
import type pg from 'pg'
import type { Queryable } from './queryable.ts'

export interface ScheduleRow {
  name: string
  task: string
  spec: Record<string, unknown>
  paused: boolean
  removed: boolean
  lastSlot: Date | null
  lastTaskId: string | null
  lastFiredAt: Date | null
  nextSlot: Date | null
  fired: number
  skipped: number
}

/**
 * Declares the schedules of this code: new ones start now (nothing in the past fires); ones declared
 * again are enabled (a removed one returns); those no longer declared are disabled, not deleted.
 */
export async function declareSchedules(
  db: Queryable,
  scope: string,
  schedules: { name: string; task: string; spec: Record<string, unknown> }[],
): Promise<void> {
  await db.query(
    `INSERT INTO ktask.schedules (scope, name, task, spec, last_slot)
       SELECT $1, u.name, u.task, u.spec, clock_timestamp() FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS u(name, task, spec)
     ON CONFLICT (scope, name) DO UPDATE SET task = EXCLUDED.task, spec = EXCLUDED.spec, removed = false, updated_at = clock_timestamp()
       WHERE ktask.schedules.removed OR ktask.schedules.task <> EXCLUDED.task OR ktask.schedules.spec <> EXCLUDED.spec`,
    [scope, schedules.map((s) => s.name), schedules.map((s) => s.task), schedules.map((s) => JSON.stringify(s.spec))],
  )
  await db.query(
    `UPDATE ktask.schedules SET removed = true, updated_at = clock_timestamp()
       WHERE scope = $1 AND NOT removed AND NOT (name = ANY($2::text[]))`,
    [scope, schedules.map((s) => s.name)],
  )
}

/**
 * The schedule's row for a tick, locked; undefined when another scheduler holds it right now (it is
 * firing this schedule: nothing to do here). `now` is the database's clock.
 */
export async function lockSchedule(
  client: pg.ClientBase,
  scope: string,
  name: string,
): Promise<{ row: ScheduleRow; now: Date; lastRunFinal: boolean | null } | undefined> {
  const { rows } = await client.query<Record<string, unknown>>(
    `SELECT s.*, clock_timestamp() AS now,
        (SELECT t.state IN ('SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED') FROM ktask.tasks t WHERE t.task_id = s.last_task_id) AS last_run_final
       FROM ktask.schedules s WHERE s.scope = $1 AND s.name = $2 FOR UPDATE OF s SKIP LOCKED`,
    [scope, name],
  )
  const r = rows[0]
  if (!r) return undefined
  return { row: toRow(r), now: r.now as Date, lastRunFinal: (r.last_run_final as boolean | null) ?? null }
}

/**
 * Moves the schedule to `slot` — only forward (last_slot < slot) and only while it is enabled — with the
 * counts and the task of the last slot fired (null: none fired). False when the update did not apply.
 */
export async function advanceSchedule(
  client: Queryable,
  scope: string,
  name: string,
  u: { slot: Date; lastTaskId: string | null; fired: number; skipped: number; nextSlot: Date | null },
): Promise<boolean> {
  const res = await client.query(
    `UPDATE ktask.schedules SET last_slot = $3,
        last_task_id = COALESCE($4, last_task_id),
        last_fired_at = CASE WHEN $4::text IS NULL THEN last_fired_at ELSE clock_timestamp() END,
        fired = fired + $5, skipped = skipped + $6, next_slot = $7, updated_at = clock_timestamp()
      WHERE scope = $1 AND name = $2 AND NOT paused AND NOT removed AND (last_slot IS NULL OR last_slot < $3)`,
    [scope, name, u.slot, u.lastTaskId, u.fired, u.skipped, u.nextSlot],
  )
  return (res.rowCount ?? 0) === 1
}

/** A run outside the slots (`ktask schedules trigger`): recorded as the last run, slots untouched. */
export async function recordTriggered(client: Queryable, scope: string, name: string, taskId: string): Promise<void> {
  await client.query(
    `UPDATE ktask.schedules SET last_task_id = $3, last_fired_at = clock_timestamp(), fired = fired + 1, updated_at = clock_timestamp()
      WHERE scope = $1 AND name = $2`,
    [scope, name, taskId],
  )
}

/**
 * Pauses or resumes; true when the schedule exists. Resuming starts from now: slots that passed while
 * it was paused do not fire.
 */
export async function setPaused(db: Queryable, scope: string, name: string, paused: boolean): Promise<boolean> {
  const res = await db.query(
    `UPDATE ktask.schedules SET paused = $3, updated_at = clock_timestamp(),
        last_slot = CASE WHEN $3 THEN last_slot ELSE GREATEST(last_slot, clock_timestamp()) END
      WHERE scope = $1 AND name = $2`,
    [scope, name, paused],
  )
  return (res.rowCount ?? 0) === 1
}

export async function listSchedules(db: Queryable, scope: string): Promise<ScheduleRow[]> {
  const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM ktask.schedules WHERE scope = $1 ORDER BY name', [scope])
  return rows.map(toRow)
}

function toRow(r: Record<string, unknown>): ScheduleRow {
  return {
    name: r.name as string,
    task: r.task as string,
    spec: r.spec as Record<string, unknown>,
    paused: r.paused as boolean,
    removed: r.removed as boolean,
    lastSlot: (r.last_slot as Date | null) ?? null,
    lastTaskId: (r.last_task_id as string | null) ?? null,
    lastFiredAt: (r.last_fired_at as Date | null) ?? null,
    nextSlot: (r.next_slot as Date | null) ?? null,
    fired: Number(r.fired),
    skipped: Number(r.skipped),
  }
}
