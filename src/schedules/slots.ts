/**
 * Slots of cron and interval schedules, and which of them to fire after a pause — pure, no I/O.
 *
 * Cron expressions are evaluated by croner: maintained, zero dependencies, IANA time zones, and documented
 * Vixie-cron DST rules that already fire a repeated fixed time once (cron-parser needs luxon and moves a
 * nonexistent time by an hour). One correction: croner fires a fixed time that falls in a spring-forward
 * gap at the gap's end (02:30 → 03:00), ktask skips it, so each instant must still match in the zone's
 * wall clock (`Cron.match`).
 */
import { Cron } from 'croner'
import { KtaskError } from '../errors.ts'
import { parseDuration } from './duration.ts'

export { parseDuration } from './duration.ts'

const SECOND_MS = 1000
const DAY_MS = 86_400_000
/** How far back `latestAtOrBefore` looks, and the longest `every`. */
const LOOKBACK_MS = 366 * DAY_MS
/** Due cron slots counted one by one for `skipped`; beyond that the count is extrapolated. */
const COUNT_LIMIT = 1000

/** A schedule's timing: exactly one of `cron` and `every`. */
export interface SlotSpec {
  /** Five fields (minute hour day-of-month month day-of-week) or six with seconds first. */
  cron?: string
  /** A period (`'30s'`, `'5m'`, milliseconds); slots are its multiples since the Unix epoch. */
  every?: string | number
  /** IANA time zone the cron expression is read in (only with `cron`). @defaultValue `'UTC'` */
  timezone?: string
}

/** The slots of one schedule: instants it fires at, computed the same way by every process. */
export interface CompiledSlots {
  /** 'cron' or 'every' */
  readonly kind: 'cron' | 'every'
  /** The first slot strictly after `t`, or undefined if there is none (a cron that never matches again). */
  next(t: Date): Date | undefined
  /** The latest slot at or before `t`, or undefined if none within the last 366 days. */
  latestAtOrBefore(t: Date): Date | undefined
  /** Slots in (after, upTo], oldest first, at most `max`. */
  between(after: Date, upTo: Date, max: number): Date[]
}

/**
 * Validates and compiles. `owner` is a prefix for field names in errors, e.g. 'schedule "nightly"'.
 *
 * Cron takes 5 fields, or 6 with seconds first (`'* * * * * *'` is every second), read in `timezone`. In a
 * DST gap a fixed time (`'30 2 * * *'`) does not fire that day; a time that occurs twice fires once, at
 * the first occurrence. A job with a wildcard or step in its time fields (hourly `'0 * * * *'`) fires on
 * every real instant that matches: 23 hourly slots on a spring-forward day, 25 on a fall-back day.
 * `every` slots are the multiples of the period since the Unix epoch, from 1 s to 366 days.
 *
 * @throws KtaskError `KTASK_INVALID_CONFIG` with `field` `${owner}.cron`, `.every` or `.timezone`.
 */
export function compileSlots(spec: SlotSpec, owner: string): CompiledSlots {
  const hasCron = spec.cron !== undefined && spec.cron !== null
  const hasEvery = spec.every !== undefined && spec.every !== null
  if (hasCron === hasEvery) throw invalid(`${owner}.cron`, `${owner} needs exactly one of cron or every`)
  const hasTimezone = spec.timezone !== undefined && spec.timezone !== null
  if (hasEvery) {
    if (hasTimezone) throw invalid(`${owner}.timezone`, `${owner}.timezone applies only with cron, not with every`)
    return new EverySlots(parseEvery(spec.every, `${owner}.every`))
  }
  const timezone = hasTimezone ? checkTimezone(spec.timezone, `${owner}.timezone`) : 'UTC'
  return new CronSlots(parseCron(spec.cron, timezone, `${owner}.cron`))
}

/** How to handle the slots that came due while nothing fired (a pause, a stopped app). */
export type CatchUp = 'skip' | 'none' | 'all'

/** What to do at `now`: the outcome of {@link decideSlots}. */
export interface SlotDecision {
  /** Slots to fire now, oldest first. */
  fire: Date[]
  /** The schedule's new last slot (the latest slot considered, fired or skipped); undefined: nothing due. */
  advanceTo: Date | undefined
  /**
   * How many due slots were skipped by the policy. Exact for `every`; for cron exact up to 1000, and
   * beyond that extrapolated from the spacing of the first 1000 (counting each would take too long).
   */
  skipped: number
}

/**
 * Which slots to fire at `now`, given the last slot already handled (null: never ran — then nothing in the
 * past fires: advanceTo = latest slot at or before now, fire = []). Due slots are those in (lastSlot, now].
 * - 'skip': fire only the latest due slot; the earlier ones count as skipped.
 * - 'none': fire the latest due slot only if now - slot <= windowMs; all others skipped.
 * - 'all': fire every due slot with now - slot <= windowMs, oldest first, at most `max` (≥ 1; then
 *   advanceTo is the last fired one, so the rest fire on the next call); older ones are skipped.
 * advanceTo is always the latest slot considered (so a slot is never considered twice).
 */
export function decideSlots(
  slots: CompiledSlots,
  lastSlot: Date | null,
  now: Date,
  policy: { catchUp: CatchUp; windowMs: number; max: number },
): SlotDecision {
  const latest = slots.latestAtOrBefore(now)
  if (lastSlot === null) return { fire: [], advanceTo: latest, skipped: 0 }
  if (latest === undefined || latest <= lastSlot) return { fire: [], advanceTo: undefined, skipped: 0 }
  const inWindow = (slot: Date): boolean => now.getTime() - slot.getTime() <= policy.windowMs
  switch (policy.catchUp) {
    case 'skip':
      return { fire: [latest], advanceTo: latest, skipped: countSlots(slots, lastSlot, latest) - 1 }
    case 'none': {
      const fire = inWindow(latest) ? [latest] : []
      return { fire, advanceTo: latest, skipped: countSlots(slots, lastSlot, latest) - fire.length }
    }
    case 'all': {
      if (!(policy.max >= 1)) throw new RangeError(`catch-up max must be at least 1, got ${policy.max}`)
      // The oldest slot in the window is the first one at or after now - windowMs.
      const beforeWindow = new Date(Math.max(lastSlot.getTime(), now.getTime() - policy.windowMs - 1))
      const skipped = beforeWindow > lastSlot ? countSlots(slots, lastSlot, beforeWindow) : 0
      const fire = slots.between(beforeWindow, now, policy.max)
      return { fire, advanceTo: fire.at(-1) ?? latest, skipped }
    }
  }
}

/** Slots of `every`: multiples of the period since the epoch, computed without enumerating. */
class EverySlots implements CompiledSlots {
  readonly kind = 'every'

  readonly #periodMs: number

  constructor(periodMs: number) {
    this.#periodMs = periodMs
  }

  next(t: Date): Date {
    return new Date((Math.floor(t.getTime() / this.#periodMs) + 1) * this.#periodMs)
  }

  latestAtOrBefore(t: Date): Date {
    return new Date(Math.floor(t.getTime() / this.#periodMs) * this.#periodMs)
  }

  between(after: Date, upTo: Date, max: number): Date[] {
    const out: Date[] = []
    for (let slot = this.next(after).getTime(); slot <= upTo.getTime() && out.length < max; slot += this.#periodMs) {
      out.push(new Date(slot))
    }
    return out
  }

  /** How many slots lie in (after, upTo]. */
  count(after: Date, upTo: Date): number {
    return Math.max(0, Math.floor(upTo.getTime() / this.#periodMs) - Math.floor(after.getTime() / this.#periodMs))
  }
}

class CronSlots implements CompiledSlots {
  readonly kind = 'cron'

  readonly #cron: Cron

  constructor(cron: Cron) {
    this.#cron = cron
  }

  next(t: Date): Date | undefined {
    let slot = this.#cron.nextRun(t)
    while (slot !== null && !this.#cron.match(slot)) slot = this.#cron.nextRun(slot)
    return slot ?? undefined
  }

  latestAtOrBefore(t: Date): Date | undefined {
    const oldest = t.getTime() - LOOKBACK_MS
    // previousRuns includes a run earlier in the reference's own second, so t + 1 ms includes t itself.
    let reference = new Date(t.getTime() + 1)
    for (;;) {
      const [slot] = this.#cron.previousRuns(1, reference)
      if (slot === undefined || slot.getTime() < oldest) return undefined
      if (this.#cron.match(slot)) return slot
      reference = slot
    }
  }

  between(after: Date, upTo: Date, max: number): Date[] {
    const out: Date[] = []
    for (let slot = this.next(after); slot !== undefined && slot <= upTo && out.length < max; slot = this.next(slot)) {
      out.push(slot)
    }
    return out
  }
}

/** How many slots lie in (after, upTo]; see {@link SlotDecision.skipped}. */
function countSlots(slots: CompiledSlots, after: Date, upTo: Date): number {
  if (slots instanceof EverySlots) return slots.count(after, upTo)
  const counted = slots.between(after, upTo, COUNT_LIMIT)
  const last = counted.at(-1)
  if (counted.length < COUNT_LIMIT || last === undefined) return counted.length
  const perMs = counted.length / (last.getTime() - after.getTime())
  return counted.length + Math.floor((upTo.getTime() - last.getTime()) * perMs)
}

function parseEvery(value: unknown, field: string): number {
  const periodMs = parseDuration(value, field)
  if (periodMs < SECOND_MS || periodMs > LOOKBACK_MS) {
    throw invalid(field, `${field} must be from 1s to 366d, got ${periodMs} ms`)
  }
  return periodMs
}

function checkTimezone(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, `${field} must be an IANA time zone name such as 'Europe/Berlin'`)
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: value })
  } catch (err) {
    if (err instanceof RangeError) throw invalid(field, `${field}: unknown time zone '${value}'`, err)
    throw err
  }
  return value
}

function parseCron(value: unknown, timezone: string, field: string): Cron {
  if (typeof value !== 'string') throw invalid(field, `${field} must be a cron expression string, got ${typeof value}`)
  let cron: Cron
  try {
    // 'no-wildcard': a list of fixed times ('30 2,14 * * *') runs once in a repeated hour, like a single one.
    cron = new Cron(value, { timezone, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' })
  } catch (err) {
    throw invalid(field, `${field}: invalid cron expression '${value}': ${(err as Error).message}`, err)
  }
  // croner takes an ISO date as a one-off job; a schedule must repeat.
  if (cron.getOnce() !== null) throw invalid(field, `${field}: invalid cron expression '${value}': a date, not a cron expression`)
  return cron
}

function invalid(field: string, message: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_INVALID_CONFIG', message, cause === undefined ? { field } : { field, cause })
}
