/**
 * Shared task limits (migration 0011): rate-limit slots (GCRA, one row per limit and key) and concurrency
 * leases. Every statement runs on its own (autocommit), never in a handler's transaction: a slot or a
 * lease must be visible to every other worker while the handler runs, which an uncommitted row is not.
 */
import type { Queryable } from './queryable.ts'

export interface RateSlots {
  /** When the first granted slot is, ms since the epoch by the database's clock. */
  firstMs: number
  /** The database's clock when the slots were reserved. */
  nowMs: number
  /** Consecutive slots granted, `intervalMs` apart (at least one). */
  granted: number
}

/** Reserves up to `n` consecutive slots of (scope, key) from the next free one, spanning at most `horizonMs`. */
export async function takeRateSlots(
  db: Queryable,
  scope: string,
  key: string,
  n: number,
  intervalMs: number,
  horizonMs: number,
): Promise<RateSlots> {
  const { rows } = await db.query<{ first_ms: number; now_ms: number; granted: number }>(
    'SELECT first_ms, now_ms, granted FROM ktask.take_rate_slots($1, $2, $3, $4, $5)',
    [scope, key, n, intervalMs, horizonMs],
  )
  const row = rows[0]!
  return { firstMs: Number(row.first_ms), nowMs: Number(row.now_ms), granted: row.granted }
}

/** Takes a lease on one of `max` slots of (scope, key); false when all are taken by live leases. */
export async function acquireLease(
  db: Queryable,
  lease: { scope: string; key: string; id: string },
  max: number,
  leaseMs: number,
): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>('SELECT ktask.acquire_lease($1, $2, $3, $4, $5) AS ok', [
    lease.scope,
    lease.key,
    lease.id,
    max,
    leaseMs,
  ])
  return rows[0]!.ok
}

/** Pushes the expiry of live leases `leaseMs` ahead. */
export async function renewLeases(db: Queryable, ids: readonly string[], leaseMs: number): Promise<void> {
  if (ids.length === 0) return
  await db.query(
    `UPDATE ktask.concurrency_leases SET expires_at = clock_timestamp() + $2 * interval '1 millisecond' WHERE lease_id = ANY($1::text[])`,
    [ids, leaseMs],
  )
}

export async function releaseLeases(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  await db.query('DELETE FROM ktask.concurrency_leases WHERE lease_id = ANY($1::text[])', [ids])
}
