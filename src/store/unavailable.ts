/**
 * Whether a Postgres failure means "the database is unavailable" (pause, retry the same work) rather than
 * "this statement is wrong" (the message's own failure), and which errors came from a handler's ctx.tx.
 */
import { errorChain } from '../errors.ts'

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'])

/**
 * True when a Postgres error means "the database is unavailable" rather than "this statement is wrong":
 * connection failures (SQLSTATE class 08), shutdowns (57P01..57P03), and socket errors.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false
  const e = err as { code?: unknown; message?: unknown }
  const code = typeof e.code === 'string' ? e.code : ''
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true
  if (CONNECTION_ERROR_CODES.has(code)) return true
  const message = typeof e.message === 'string' ? e.message : ''
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout/i.test(
    message,
  )
}

const FROM_TX = Symbol.for('ktask.fromTransaction')

/** Tags an error a query on a handler's `ctx.tx` rejected with. */
export function markFromTransaction(err: unknown): void {
  if (err !== null && typeof err === 'object' && !Object.isFrozen(err)) {
    Object.defineProperty(err, FROM_TX, { value: true, enumerable: false })
  }
}

/** True when `err` (or an error it wraps as `cause`) was rejected by a query on `ctx.tx`. */
export function raisedByTransaction(err: unknown): boolean {
  for (const e of errorChain(err)) if ((e as Record<symbol, unknown>)[FROM_TX] === true) return true
  return false
}
