/**
 * Task limits as a lane applies them, just before a chunk runs (shared through Postgres, store/limits.ts):
 *
 * - `rateLimit` without key: the lane reserves start slots (one every `perMs / max` ms) for the chunk's
 *   messages in one statement; those whose slot is near start at it (the executor waits for each slot), a
 *   slot further ahead pauses the partition until then. Reserved slots are kept by the message while it
 *   waits, so waiting lanes line up instead of asking again all at once.
 * - `rateLimit` with key: the message's slot is reserved for its key; one further ahead than a moment is
 *   deferred to it through ktask.timers (same task id and attempt, a header saying the slot is taken) and
 *   its offset is done, so other keys of the partition flow.
 * - `concurrency`: a lease per running message, renewed while it runs and released after its outcome;
 *   the lease of a dead worker expires. Without key a full limit pauses the partition (polling with
 *   backoff); with key the message is deferred with a short backoff.
 *
 * None of this is in the handler's transaction: other workers must see a slot or lease while the handler
 * runs. A crash between reserving and running only wastes a slot (or a lease until it expires); the
 * effects still commit once, with their ledger row.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { LimitKey } from '../config/limits.ts'
import { KtaskError } from '../errors.ts'
import { H, intHeader } from '../retry/headers.ts'
import type { HandlerSpec } from '../routing/routes.ts'
import { acquireLease, releaseLeases, renewLeases, takeRateSlots } from '../store/limits.ts'
import { insertTimers } from '../store/outbox.ts'
import type { Queryable } from '../store/queryable.ts'
import type { Envelope } from './envelope.ts'
import type { ExecItem } from './execution.ts'
import { DatabaseTime } from '../store/database-time.ts'

/** Slots this close (ms) run now, the executor waiting for each; further ones wait (or defer). */
export const SLOT_HORIZON_MS = 100
/**
 * How late a handler may start after its slot: one interval (but at least 25 ms, what a busy event loop
 * and a transaction's first statements take). At most `max` slots fall in any window of `perMs`, so at
 * most `max` plus `ceil(late / interval)` starts do; a message later than that gives its slot up.
 */
export function startLateMs(intervalMs: number): number {
  return Math.max(25, intervalMs)
}

/** A reserved-slot header older than this is not trusted (a redrive long after): the slot is taken again. */
const RESERVATION_MAX_AGE_MS = 3_600_000

/** What a lane keeps of a message's limits between attempts to run it. */
export interface LimitState {
  /** Its rate-limit start (local ms), or `0` when it needs none (unlimited key, reserved before). */
  slot?: number
  leaseId?: string
  /** Times a full unkeyed concurrency limit made it wait (the poll backs off). */
  waits?: number
}

export type Verdict =
  | { kind: 'run' }
  /** Written to ktask.timers: its offset may be done. */
  | { kind: 'deferred'; why: 'rate-limit' | 'concurrency'; inMs: number }
  /** Not now: the partition waits `ms`, then tries again (the message keeps what it reserved). */
  | { kind: 'wait'; why: 'rate-limit' | 'concurrency'; ms: number }
  /** Its limit's `key` function threw or returned something that is not a key. */
  | { kind: 'failed'; error: KtaskError }

const RUN: Verdict = { kind: 'run' }

export interface LimitGateDeps {
  pool(): Queryable
  groupId: string
  /** Where deferred messages go back to (the queue's topic). */
  sourceTopic: string
  leases: LeaseKeeper
  logger: Logger
}

/** The slot a deferred message reserved for `attempt`, if its header says so. */
export function reservedSlot(headers: Readonly<Record<string, string>>, attempt: number, now: number): boolean {
  const value = headers[H.rateSlot]
  const m = value === undefined ? null : /^(\d+):(\d+)$/.exec(value)
  return m !== null && Number(m[1]) === attempt && now - Number(m[2]) < RESERVATION_MAX_AGE_MS
}

/** Backoff of a message deferred (or waiting) behind a full concurrency limit: 100 ms doubling to 2 s, jittered. */
export function concurrencyBackoffMs(tries: number, random = Math.random): number {
  const base = Math.min(2000, 100 * 2 ** Math.min(tries, 5))
  return Math.round(base * (0.5 + random() / 2))
}

/** The message's key under a limit: undefined when it is not limited, a KtaskError for a bad key. */
export function limitKeyOf(option: string, key: LimitKey, args: unknown): string | undefined | KtaskError {
  let value: unknown
  try {
    value = key(args)
  } catch (err) {
    return new KtaskError('KTASK_DECODE', `${option} threw: ${(err as Error)?.message ?? String(err)}`, {
      field: option,
      reason: 'bad-limit-key',
      cause: err,
    })
  }
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return String(value)
  return new KtaskError('KTASK_DECODE', `${option} must return a string or a number (got ${typeof value})`, {
    field: option,
    reason: 'bad-limit-key',
  })
}

export class LimitGate {
  readonly #d: LimitGateDeps
  // Slots come from one clock (the database's) so that workers space their starts alike; each gate keeps
  // the estimate its own statements give (store/database-time.ts).
  readonly #clock = new DatabaseTime()

  constructor(deps: LimitGateDeps) {
    this.#d = deps
  }

  /**
   * Verdicts for a prefix of `items` (`states` beside them, kept by the lane): it ends at the first `wait`
   * or `failed`. Items that run get their start time (`startAt`) and lease. Throws when Postgres is
   * down; leases taken before stay in `states` (release them).
   */
  async admit(items: ExecItem[], states: LimitState[]): Promise<Verdict[]> {
    const out: Verdict[] = []
    for (let i = 0; i < items.length; i++) {
      const v = await this.#admitOne(items, states, i)
      out.push(v)
      if (v.kind === 'wait' || v.kind === 'failed') break
    }
    return out
  }

  /** Gives back the leases of messages that ran (or will not run now). */
  async release(states: readonly (LimitState | undefined)[]): Promise<void> {
    const ids: string[] = []
    for (const st of states) {
      if (st?.leaseId === undefined) continue
      ids.push(st.leaseId)
      st.leaseId = undefined
    }
    await this.#d.leases.release(ids)
  }

  async #admitOne(items: ExecItem[], states: LimitState[], i: number): Promise<Verdict> {
    const item = items[i]!
    const st = states[i]!
    const spec = item.prepared.spec
    const { rateLimit: rate, concurrency } = spec
    if (!rate && !concurrency) return RUN
    const scope = `${this.#d.groupId}/${spec.name}`
    if (rate && st.slot === undefined) {
      const key = rate.key ? limitKeyOf(`task "${spec.name}".rateLimit.key`, rate.key, item.prepared.args) : ''
      if (key instanceof KtaskError) return { kind: 'failed', error: key }
      if (key === undefined || reservedSlot(item.envelope.headers, item.envelope.attempt, Date.now())) st.slot = 0
      else if (key === '' && !rate.key) await this.#takeRun(scope, items, states, i)
      else {
        const s = await this.#takeSlots(scope, key, 1, rate.intervalMs)
        if (s.inMs > SLOT_HORIZON_MS) return this.#defer(item, 'rate-limit', s.inMs, true)
        st.slot = s.first
      }
    }
    const untilSlot = (st.slot ?? 0) - Date.now()
    // Woken a little early: the executor waits for the slot itself, so the way to it costs no lateness.
    if (untilSlot > SLOT_HORIZON_MS) return { kind: 'wait', why: 'rate-limit', ms: untilSlot - SLOT_HORIZON_MS / 2 }
    if (concurrency && st.leaseId === undefined) {
      const key = concurrency.key ? limitKeyOf(`task "${spec.name}".concurrency.key`, concurrency.key, item.prepared.args) : ''
      if (key instanceof KtaskError) return { kind: 'failed', error: key }
      if (key !== undefined) {
        const id = this.#d.leases.newId()
        if (await acquireLease(this.#d.pool(), { scope, key, id }, concurrency.max, concurrency.leaseMs)) {
          st.leaseId = id
          this.#d.leases.hold(id, concurrency.leaseMs)
        } else if (concurrency.key) {
          const tries = intHeader(item.envelope.headers, H.limitDeferrals) ?? 0
          return this.#defer(item, 'concurrency', concurrencyBackoffMs(Number.isNaN(tries) ? 0 : tries), rate !== undefined)
        } else {
          st.waits = (st.waits ?? 0) + 1
          return { kind: 'wait', why: 'concurrency', ms: concurrencyBackoffMs(st.waits) }
        }
      }
    }
    if (rate && st.slot) {
      item.startAt = st.slot
      item.startLateMs = startLateMs(rate.intervalMs)
    }
    return RUN
  }

  /** Reserves slots; `first` is the first one by this process's clock, `inMs` how far ahead it is. */
  async #takeSlots(scope: string, key: string, n: number, intervalMs: number): Promise<{ first: number; granted: number; inMs: number }> {
    const sent = Date.now()
    const s = await takeRateSlots(this.#d.pool(), scope, key, n, intervalMs, SLOT_HORIZON_MS)
    this.#clock.sample(sent, Date.now(), s.nowMs)
    return { first: this.#clock.toLocal(s.firstMs), granted: s.granted, inMs: s.firstMs - s.nowMs }
  }

  /** One statement for the run of messages from `i` that need a slot of the same unkeyed limit. */
  async #takeRun(scope: string, items: ExecItem[], states: LimitState[], i: number): Promise<void> {
    const spec: HandlerSpec = items[i]!.prepared.spec
    const rate = spec.rateLimit!
    let n = 1
    const now = Date.now()
    while (i + n < items.length) {
      const next = items[i + n]!
      if (next.prepared.spec !== spec || states[i + n]!.slot !== undefined) break
      if (reservedSlot(next.envelope.headers, next.envelope.attempt, now)) break
      n++
    }
    const s = await this.#takeSlots(scope, '', n, rate.intervalMs)
    for (let m = 0; m < s.granted; m++) states[i + m]!.slot = s.first + m * rate.intervalMs
  }

  /** Back through ktask.timers in `inMs`, same id, payload and attempt; `slotTaken`: it needs no new slot. */
  async #defer(item: ExecItem, why: 'rate-limit' | 'concurrency', inMs: number, slotTaken: boolean): Promise<Verdict> {
    const e: Envelope = item.envelope
    const tries = intHeader(e.headers, H.limitDeferrals) ?? 0
    const headers: Record<string, string> = { ...e.headers, [H.limitDeferrals]: String((Number.isNaN(tries) ? 0 : tries) + 1) }
    if (slotTaken) headers[H.rateSlot] = `${e.attempt}:${Date.now()}`
    await insertTimers(this.#d.pool(), [
      { topic: this.#d.sourceTopic, key: e.key, value: e.value, headers, messageId: item.prepared.messageId, delayMs: Math.ceil(inMs) },
    ])
    return { kind: 'deferred', why, inMs }
  }
}

/**
 * The leases this process holds, renewed together every third of the shortest lease time. A lease whose
 * renewal fails (Postgres down) may expire while its handler runs: the limit is then briefly not kept,
 * the price of slots that come back when a worker dies.
 */
export class LeaseKeeper {
  readonly #pool: () => Queryable
  readonly #logger: Logger
  readonly #held = new Map<string, number>()
  readonly #prefix = randomUUID()
  #seq = 0
  #timer: NodeJS.Timeout | undefined
  #everyMs = Infinity

  constructor(pool: () => Queryable, logger: Logger) {
    this.#pool = pool
    this.#logger = logger
  }

  newId(): string {
    return `${this.#prefix}:${++this.#seq}`
  }

  hold(id: string, leaseMs: number): void {
    this.#held.set(id, leaseMs)
    const every = Math.max(100, Math.floor(leaseMs / 3))
    if (this.#timer && every >= this.#everyMs) return
    clearInterval(this.#timer)
    this.#everyMs = every
    this.#timer = setInterval(() => void this.#renew(), every)
    this.#timer.unref()
  }

  async release(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    for (const id of ids) this.#held.delete(id)
    if (this.#held.size === 0) this.stop()
    try {
      await releaseLeases(this.#pool(), ids)
    } catch (err) {
      this.#logger.warn({ err, leases: ids.length }, 'could not release concurrency leases; they expire by themselves')
    }
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#everyMs = Infinity
  }

  async #renew(): Promise<void> {
    const byTime = new Map<number, string[]>()
    for (const [id, ms] of this.#held) byTime.set(ms, [...(byTime.get(ms) ?? []), id])
    try {
      for (const [ms, ids] of byTime) await renewLeases(this.#pool(), ids, ms)
    } catch (err) {
      this.#logger.warn({ err, leases: this.#held.size }, 'could not renew concurrency leases; retrying')
    }
  }
}
