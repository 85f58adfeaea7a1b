/**
 * ktask.outbox and ktask.timers: messages written in a caller's transaction, published later — at once by a
 * relay (outbox/relay.ts), or when their timer is due by a timer dispatcher (outbox/timer-dispatcher.ts). The message is
 * encoded when the row is written, so what the relay produces is exactly what the caller validated.
 *
 * Inserting notifies the relays (`pg_notify` is delivered when the caller's transaction commits, and
 * never when it rolls back).
 */
import type { Queryable } from './queryable.ts'

/** A message as it will be produced. */
export interface OutboxMessage {
  topic: string
  key: Buffer | string | null
  value: Buffer | null
  headers: Record<string, string>
  /** The task or event id (ktask-id header), fixed now: a second publish of the row is a ledger no-op. */
  messageId: string
}

/** A message that waits: for `delayMs` from now by the database's clock, or until `runAt`. */
export interface TimedMessage extends OutboxMessage {
  delayMs?: number
  runAt?: Date
}

/**
 * Lanes the outbox is divided into by topic and key. A relay owns a lane while it publishes from it, so a
 * key's rows go out one relay at a time, in id order; more lanes let more relays publish in parallel.
 * Fixed: a key must map to the same lane in every process and version.
 */
export const OUTBOX_LANES = 16

export const OUTBOX_CHANNEL = 'ktask_outbox'
export const TIMERS_CHANNEL = 'ktask_timers'

/** FNV-1a over topic, a zero byte and the key: cheap, stable across processes, spreads keys evenly. */
export function laneOf(topic: string, key: Buffer | string | null): number {
  let h = 0x811c9dc5
  const add = (byte: number): void => {
    h ^= byte
    h = Math.imul(h, 0x01000193)
  }
  for (let i = 0; i < topic.length; i++) add(topic.charCodeAt(i) & 0xff)
  add(0)
  if (key !== null) {
    const bytes = typeof key === 'string' ? Buffer.from(key) : key
    for (const b of bytes) add(b)
  }
  return (h >>> 0) % OUTBOX_LANES
}

const keyBytes = (key: Buffer | string | null): Buffer | null => (key === null ? null : typeof key === 'string' ? Buffer.from(key) : key)

const INSERT_OUTBOX = `WITH ins AS (
    INSERT INTO ktask.outbox (lane, topic, key, value, headers, message_id)
    SELECT * FROM unnest($1::smallint[], $2::text[], $3::bytea[], $4::bytea[], $5::jsonb[], $6::text[])
    RETURNING 1)
  SELECT (SELECT count(*) FROM ins)::int AS n, pg_notify('${OUTBOX_CHANNEL}', '')`

/** Writes messages to the outbox on `db` (the caller's transaction, usually), in this order. */
export async function insertOutbox(db: Queryable, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return
  await db.query(INSERT_OUTBOX, [
    messages.map((m) => laneOf(m.topic, m.key)),
    messages.map((m) => m.topic),
    messages.map((m) => keyBytes(m.key)),
    messages.map((m) => m.value),
    messages.map((m) => JSON.stringify(m.headers)),
    messages.map((m) => m.messageId),
  ])
}

/**
 * Due times come from the database's clock (`clock_timestamp()`), so workers' clocks never decide when a
 * task may start. The same message id twice keeps the first timer (an enqueue retried with its taskId).
 */
const INSERT_TIMERS = `WITH ins AS (
    INSERT INTO ktask.timers (due_at, lane, topic, key, value, headers, message_id)
    SELECT COALESCE(u.run_at, clock_timestamp() + u.delay_ms * interval '1 millisecond'), u.lane, u.topic, u.key, u.value, u.headers, u.message_id
    FROM unnest($1::float8[], $2::timestamptz[], $3::smallint[], $4::text[], $5::bytea[], $6::bytea[], $7::jsonb[], $8::text[])
      AS u(delay_ms, run_at, lane, topic, key, value, headers, message_id)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id, due_at)
  SELECT message_id, due_at, pg_notify('${TIMERS_CHANNEL}', '') IS NULL AS notified FROM ins
  -- The statement's snapshot predates its own inserts: these are the timers that already existed.
  UNION ALL SELECT message_id, due_at, false FROM ktask.timers WHERE message_id = ANY($8::text[])`

/** Writes timers; returns each message's due time (the database's clock), by message id. */
export async function insertTimers(db: Queryable, messages: readonly TimedMessage[]): Promise<Map<string, Date>> {
  if (messages.length === 0) return new Map()
  const { rows } = await db.query<{ message_id: string; due_at: Date }>(INSERT_TIMERS, [
    messages.map((m) => (m.runAt === undefined ? (m.delayMs ?? 0) : null)),
    messages.map((m) => m.runAt ?? null),
    messages.map((m) => laneOf(m.topic, m.key)),
    messages.map((m) => m.topic),
    messages.map((m) => keyBytes(m.key)),
    messages.map((m) => m.value),
    messages.map((m) => JSON.stringify(m.headers)),
    messages.map((m) => m.messageId),
  ])
  return new Map(rows.map((r) => [r.message_id, r.due_at]))
}

/** A row as a publisher takes it (an outbox row, or a due timer). */
export interface OutboxRow {
  /** Its outbox id; null for a due timer (never in the outbox). */
  id: string | null
  lane: number
  createdAt: Date
  topic: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  messageId: string
}

/** Any constants work; they only have to be the same for every ktask process (the lane is the second key). */
export const OUTBOX_LOCK_CLASS = 72_654_231
export const TIMERS_LOCK_CLASS = 72_654_232

/** The lanes that have rows to publish: one index probe per lane. */
const BUSY_LANES = `SELECT l AS lane FROM generate_series(0, ${OUTBOX_LANES - 1}) l
  WHERE EXISTS (SELECT 1 FROM ktask.outbox o WHERE o.lane = l AND o.refused IS NULL)`

export async function busyLanes(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ lane: number }>(BUSY_LANES)
  return rows.map((r) => r.lane)
}

/** Owns the lane (of the outbox or of the timers, by `lockClass`) until the transaction ends; false when another process owns it. */
export async function tryLockLane(db: Queryable, lockClass: number, lane: number): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS locked', [lockClass, lane])
  return rows[0]!.locked
}

/**
 * Takes the lane's oldest rows: deletes them and returns them in id order, in one statement (the relay
 * publishes them before its COMMIT; a failed produce rolls the delete back). SKIP LOCKED leaves out a row
 * a cancel is deleting right now (with the lane's lock held, no other relay holds any of them).
 */
const TAKE = `DELETE FROM ktask.outbox WHERE id IN (
    SELECT id FROM ktask.outbox WHERE lane = $1 AND refused IS NULL ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
  RETURNING id, lane, created_at, topic, key, value, headers, message_id`

export async function takeRows(db: Queryable, lane: number, limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<TakenRow>(TAKE, [lane, limit])
  return rows.map(toRow).sort((x, y) => (BigInt(x.id!) < BigInt(y.id!) ? -1 : 1)) // RETURNING keeps no order
}

interface TakenRow {
  id: string
  lane: number
  created_at: Date
  topic: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  message_id: string
}

function toRow(r: TakenRow): OutboxRow {
  return {
    id: r.id,
    lane: r.lane,
    createdAt: r.created_at,
    topic: r.topic,
    key: r.key,
    value: r.value,
    headers: r.headers,
    messageId: r.message_id,
  }
}

/**
 * The broker refused a taken row for good: it is put in the outbox, marked, for an operator (`refused` says
 * why; setting it to NULL publishes it again) — an outbox row with its id, so it keeps its place in its lane.
 */
export async function putBackRefused(db: Queryable, row: OutboxRow, reason: string): Promise<void> {
  await db.query(
    `INSERT INTO ktask.outbox (id, lane, created_at, topic, key, value, headers, message_id, refused)
     VALUES (COALESCE($1::bigint, nextval('ktask.outbox_id_seq')), $2, $3, $4, $5, $6, $7, $8, $9)`,
    [row.id, row.lane, row.createdAt, row.topic, row.key, row.value, JSON.stringify(row.headers), row.messageId, reason.slice(0, 1000)],
  )
}

/** The lanes that have due timers: one index probe per lane (timers_lane_due_idx). */
const DUE_LANES = `SELECT l AS lane FROM generate_series(0, ${OUTBOX_LANES - 1}) l
  WHERE EXISTS (SELECT 1 FROM ktask.timers t WHERE t.lane = l AND t.due_at <= clock_timestamp())`

export async function dueLanes(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ lane: number }>(DUE_LANES)
  return rows.map((r) => r.lane)
}

/**
 * Takes the lane's due timers, oldest first: deletes them and returns them, in one statement; tracked
 * tasks go from SCHEDULED to PENDING with it (the dispatcher publishes them before its COMMIT; a failed
 * produce rolls both back). SKIP LOCKED leaves out a timer a cancel is deleting right now.
 */
const TAKE_DUE = `WITH due AS (
    DELETE FROM ktask.timers WHERE id IN (
      SELECT id FROM ktask.timers WHERE lane = $1 AND due_at <= clock_timestamp() ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING id, due_at, lane, created_at, topic, key, value, headers, message_id),
  pending AS (
    UPDATE ktask.tasks t SET state = 'PENDING', updated_at = clock_timestamp()
    FROM due WHERE t.task_id = due.message_id AND t.state = 'SCHEDULED'
    RETURNING 1)
  -- (a data-modifying WITH runs whether or not it is read: \`pending\` needs no reference)
  SELECT NULL AS id, lane, created_at, topic, key, value, headers, message_id FROM due ORDER BY due_at, id`

export async function takeDueTimers(db: Queryable, lane: number, limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<TakenRow>(TAKE_DUE, [lane, limit])
  return rows.map(toRow)
}

/** Milliseconds until the next timer is due by the database's clock (≤ 0: one is due); undefined: none. */
export async function nextTimerInMs(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT (EXTRACT(EPOCH FROM (min(due_at) - clock_timestamp())) * 1000)::float8 AS ms FROM ktask.timers`,
  )
  const ms = rows[0]?.ms
  return ms === null || ms === undefined ? undefined : ms
}

/** Timers due now and not yet published (a metric: how far the dispatchers are behind). */
export async function countDueTimers(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ktask.timers WHERE due_at <= clock_timestamp()')
  return rows[0]!.n
}
