/**
 * `?delayMs=` / `?runAt=` of POST /v1/tasks/:name: when the task may run. The route schema only parses
 * them (an integer, an ISO 8601 date-time); the range and the database they need are checked by the
 * library's own enqueue, so the HTTP service and `task.enqueue` refuse the same values with the same field.
 */
import type { TimingOptions } from '../config/definitions.ts'
import { KtaskError, isKtaskError } from '../errors.ts'
import { MAX_DELAY_MS } from '../producer/timing.ts'

export interface TimingQuery {
  delayMs?: number
  runAt?: string
}

const NAMES: ReadonlySet<string> = new Set(['delayMs', 'runAt'])

export const timingQuerySchema = {
  type: 'object',
  properties: {
    delayMs: {
      type: 'integer',
      description: `Run no earlier than this many ms from now (0 to ${MAX_DELAY_MS}: 366 days), by the database's clock. Needs a database.`,
    },
    runAt: {
      type: 'string',
      format: 'date-time',
      description:
        'Run no earlier than this ISO 8601 date-time with offset (at most 366 days ahead; a past one: at once). Needs a database.',
    },
  },
}

/**
 * The enqueue options the query asks for ({} for "at once"). An unknown parameter is refused rather than
 * ignored: `?delay=60000` must not run the task now.
 */
export function timingOf(query: TimingQuery): TimingOptions {
  for (const name of Object.keys(query)) {
    if (!NAMES.has(name)) {
      throw new KtaskError('KTASK_VALIDATION', `Unknown query parameter "${name}" (known: delayMs, runAt)`, { field: name })
    }
  }
  return {
    ...(query.delayMs !== undefined ? { delayMs: query.delayMs } : {}),
    ...(query.runAt !== undefined ? { runAt: new Date(query.runAt) } : {}),
  }
}

/** The query as an Idempotency-Key's request fingerprint includes it: undefined for "at once". */
export function timingFingerprint(query: TimingQuery): TimingQuery | undefined {
  if (query.delayMs === undefined && query.runAt === undefined) return undefined
  return { delayMs: query.delayMs, runAt: query.runAt }
}

/**
 * A delay the app cannot keep for want of a database is the request's to change, like an Idempotency-Key
 * on such an app: 400 naming the parameter, not a server error.
 */
export function asRequestError(err: unknown): unknown {
  if (isKtaskError(err, 'KTASK_INVALID_CONFIG') && err.field !== undefined && NAMES.has(err.field)) {
    return new KtaskError('KTASK_VALIDATION', err.message, { field: err.field, cause: err })
  }
  return err
}
