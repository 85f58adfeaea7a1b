/**
 * One error family for everything ktask throws. Each error has a stable `code`; fields are enumerable so
 * that pino logs them; `cause` keeps the underlying error.
 */

export const codes = [
  /** An option is missing or invalid; `option` names it. */
  'KTASK_INVALID_CONFIG',
  /** Task arguments or a request body do not match the Avro schema; `field` names the first bad field. */
  'KTASK_VALIDATION',
  /** No task with that name is registered. */
  'KTASK_UNKNOWN_TASK',
  /** A message cannot be decoded (wire format, schema id, schema mismatch, headers, size). */
  'KTASK_DECODE',
  /** A handler ran longer than its `timeoutMs` (or, isolated, its `hardTimeoutMs`: its thread or process was terminated). */
  'KTASK_TIMEOUT',
  /**
   * An isolated handler's thread or child process died while running it (`process.exit`, an error thrown
   * outside the handler's promise, out of memory, a native crash), or could not load the task's module.
   */
  'KTASK_CRASH',
  /** The handler asked not to be retried (see `UnrecoverableError`). */
  'KTASK_UNRECOVERABLE',
  /**
   * Kafka, the schema registry or Postgres is unreachable: not the message's fault. A handler may throw
   * it too, for a dependency of its own: the partition pauses and retries instead of spending an attempt.
   */
  'KTASK_INFRASTRUCTURE',
  /** A named object (topic, group, task, DLQ message) does not exist. */
  'KTASK_NOT_FOUND',
  /**
   * Refused, and asking again will not help: an unsafe operation (e.g. resetting offsets of an active
   * group), or Kafka refusing a message for good (`reason`: too-large, not-authorized, policy,
   * invalid-record, unknown-topic).
   */
  'KTASK_REFUSED',
  /** The app, worker or producer is closed or not started. */
  'KTASK_STATE',
  /**
   * A webhook was not delivered: the receiver answered other than 2xx (`status`), could not be reached,
   * or did not answer in time (`reason`). `retryable` says whether another attempt may succeed.
   */
  'KTASK_WEBHOOK',
] as const

export type KtaskErrorCode = (typeof codes)[number]

const BRAND = Symbol.for('ktask.error')

export interface KtaskErrorDetails {
  /** The option, field or header the error is about (dotted path for nested fields). */
  field?: string
  cause?: unknown
  [key: string]: unknown
}

export class KtaskError extends Error {
  readonly code: KtaskErrorCode
  readonly field?: string
  readonly [BRAND] = true

  constructor(code: KtaskErrorCode, message: string, details: KtaskErrorDetails = {}) {
    const { cause, ...rest } = details
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'KtaskError'
    this.code = code
    Object.assign(this, rest)
  }
}

/** True for any error of the ktask family, even across duplicated module copies. */
export function isKtaskError(err: unknown, code?: KtaskErrorCode): err is KtaskError {
  const branded = typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true
  return branded && (code === undefined || (err as KtaskError).code === code)
}

/**
 * Throw this from a handler to send the message to the dead-letter queue at once, without retries
 * (the equivalent of BullMQ's `UnrecoverableError`).
 */
export class UnrecoverableError extends KtaskError {
  constructor(message: string, details: KtaskErrorDetails = {}) {
    super('KTASK_UNRECOVERABLE', message, details)
    this.name = 'UnrecoverableError'
  }
}

/**
 * An error and what it wraps, outermost first: `cause` (standard) or `originalError` (kafkajs' retrier),
 * at most `depth` levels (wrappers can be cyclic).
 */
export function* errorChain(err: unknown, depth = 4): Generator<object> {
  for (let e = err, level = 0; e !== null && typeof e === 'object' && level < depth; level++) {
    yield e
    const wrapper = e as { cause?: unknown; originalError?: unknown }
    e = wrapper.cause ?? wrapper.originalError
  }
}

export function configError(option: string, reason: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_INVALID_CONFIG', `Invalid option "${option}": ${reason}`, { field: option, cause })
}

export function infrastructureError(component: 'kafka' | 'registry' | 'postgres', cause: unknown): KtaskError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new KtaskError('KTASK_INFRASTRUCTURE', `${component} unavailable: ${reason}`, { component, cause })
}

/**
 * What a handler threw, made safe to read. A handler can throw anything: an error whose `name` or
 * `message` getter throws, an object without a prototype (no string form), a BigInt-holding object that
 * JSON cannot write. Reading those while building a retry or DLQ hop would throw inside the partition's
 * loop; such a value is replaced by an error that says so (the message is still retried or dead-lettered).
 */
export function readableThrown(value: unknown): unknown {
  try {
    if (value instanceof Error) {
      void String(value.name)
      void String(value.message)
      void (value.stack === undefined ? '' : String(value.stack))
      return value
    }
    if (value !== null && typeof value === 'object') {
      // Only whether these throw matters (no prototype: no string form; a BigInt inside: no JSON).
      void `${value as unknown as string}`
      void JSON.stringify(value)
    }
    return value
  } catch (err) {
    const replaced = new Error(`The handler threw a value that cannot be read (reading it threw: ${describeQuietly(err)})`)
    replaced.name = 'UnreadableThrownValue'
    return replaced
  }
}

function describeQuietly(err: unknown): string {
  try {
    return err instanceof Error ? err.message : typeof err
  } catch {
    return 'unknown'
  }
}
