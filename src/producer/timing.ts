/**
 * `delayMs` / `runAt` of an enqueue, checked before anything is written (pure).
 */
import { KtaskError } from '../errors.ts'

/** The longest delay: a task may wait up to 366 days (a yearly job booked a leap year ahead). */
export const MAX_DELAY_MS = 366 * 86_400_000

export type Timing = { delayMs: number; runAt?: undefined } | { runAt: Date; delayMs?: undefined }

/**
 * The timing of one enqueue, or undefined for "at once". `prefix` is put before field names (e.g.
 * `items[3].`); `what` starts the message. Throws KTASK_VALIDATION naming the field, or
 * KTASK_INVALID_CONFIG when the app has no database to keep the timer in.
 */
export function resolveTiming(
  options: { delayMs?: unknown; runAt?: unknown },
  { what, prefix = '', hasDatabase, now = Date.now() }: { what: string; prefix?: string; hasDatabase: boolean; now?: number },
): Timing | undefined {
  const { delayMs, runAt } = options
  if (delayMs === undefined && runAt === undefined) return undefined
  if (delayMs !== undefined && runAt !== undefined) {
    throw new KtaskError('KTASK_VALIDATION', `${what}: give delayMs or runAt, not both`, { field: `${prefix}runAt` })
  }
  const field = `${prefix}${delayMs !== undefined ? 'delayMs' : 'runAt'}`
  let timing: Timing
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
      throw new KtaskError(
        'KTASK_VALIDATION',
        `${what}: delayMs must be a number of milliseconds from 0 to ${MAX_DELAY_MS} (366 days) (got ${JSON.stringify(delayMs)})`,
        { field },
      )
    }
    timing = { delayMs }
  } else {
    if (!(runAt instanceof Date) || Number.isNaN(runAt.getTime())) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: runAt must be a valid Date (got ${describe(runAt)})`, { field })
    }
    if (runAt.getTime() - now > MAX_DELAY_MS) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: runAt must be at most 366 days ahead (got ${runAt.toISOString()})`, { field })
    }
    timing = { runAt }
  }
  if (!hasDatabase) {
    throw new KtaskError(
      'KTASK_INVALID_CONFIG',
      `${what}: ${field} needs a database (delayed tasks wait in ktask.timers), but the app was created with database: false`,
      { field },
    )
  }
  return timing
}

function describe(value: unknown): string {
  if (value instanceof Date) return 'an invalid Date'
  try {
    return `${typeof value} ${JSON.stringify(value)}`
  } catch {
    return typeof value
  }
}
