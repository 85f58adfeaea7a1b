/**
 * `rateLimit` and `concurrency` of a task, checked once at definition: a bad value is a KtaskError naming
 * the option, and limits need the database they are shared through.
 */
import { configError } from '../errors.ts'
import type { ConcurrencyOptions, RateLimitOptions } from './definitions.ts'
import { checkInt } from './resolve.ts'

/** The key of a message under a per-key limit; undefined: the message is not limited. */
export type LimitKey = (args: unknown) => string | number | null | undefined

export interface ResolvedRateLimit {
  max: number
  perMs: number
  /** One start every `intervalMs` (`perMs / max`): at most `max` in any window of `perMs`. */
  intervalMs: number
  key: LimitKey | undefined
}

export interface ResolvedConcurrency {
  max: number
  key: LimitKey | undefined
  leaseMs: number
}

export const limitDefaults = {
  leaseMs: 30_000,
} satisfies Required<Pick<ConcurrencyOptions, 'leaseMs'>>

/** Shorter leases would be renewed too often to be worth it (and a slow renewal could lose them). */
const MIN_LEASE_MS = 300

function checkObject(option: string, value: unknown): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw configError(option, `must be an object like { max, ... } (got ${JSON.stringify(value)})`)
  }
}

function checkKey(option: string, key: unknown): LimitKey | undefined {
  if (key === undefined) return undefined
  if (typeof key !== 'function') throw configError(option, `must be a function of the task's args (got ${typeof key})`)
  return key as LimitKey
}

function needsDatabase(option: string, hasDatabase: boolean): void {
  if (!hasDatabase) {
    throw configError(
      option,
      'needs a database (limits are shared between workers in Postgres), but the app was created with database: false',
    )
  }
}

export function resolveRateLimit(owner: string, value: RateLimitOptions | undefined, hasDatabase: boolean): ResolvedRateLimit | undefined {
  if (value === undefined) return undefined
  const option = `${owner}.rateLimit`
  checkObject(option, value)
  const max = checkInt(`${option}.max`, value.max, 1)
  const perMs = checkInt(`${option}.perMs`, value.perMs, 1)
  const key = checkKey(`${option}.key`, value.key)
  needsDatabase(option, hasDatabase)
  return { max, perMs, intervalMs: perMs / max, key }
}

export function resolveConcurrency(
  owner: string,
  value: ConcurrencyOptions | undefined,
  hasDatabase: boolean,
): ResolvedConcurrency | undefined {
  if (value === undefined) return undefined
  const option = `${owner}.concurrency`
  checkObject(option, value)
  const max = checkInt(`${option}.max`, value.max, 1)
  const key = checkKey(`${option}.key`, value.key)
  const leaseMs = checkInt(`${option}.leaseMs`, value.leaseMs ?? limitDefaults.leaseMs, MIN_LEASE_MS)
  needsDatabase(option, hasDatabase)
  return { max, key, leaseMs }
}
