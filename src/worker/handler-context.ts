/**
 * The `ctx` a handler receives. A class with prototype getters: one small object per message, and the
 * logger child and the AbortController are only made when a handler asks for them. `ctx.tx` is the
 * transaction's pg client behind a guard that refuses use after the handler finished (a stray query
 * must never land in the next message's transaction).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { HandlerContext } from '../config/definitions.ts'
import { KtaskError, errorChain } from '../errors.ts'
import type { InboundMessage, PreparedOk } from './inbound.ts'

export interface ScopedClient {
  client: pg.ClientBase
  /** A query through `client` failed (the handler may have caught it). */
  readonly failed: boolean
  /** After this, any use of `client` throws. */
  end(): void
}

const FROM_TX = Symbol.for('ktask.fromTransaction')

/** True when `err` (or an error it wraps as `cause`) was rejected by a query on `ctx.tx`. */
export function raisedByTransaction(err: unknown): boolean {
  for (const e of errorChain(err)) if ((e as Record<symbol, unknown>)[FROM_TX] === true) return true
  return false
}

function markFromTransaction(err: unknown): void {
  if (err !== null && typeof err === 'object' && !Object.isFrozen(err)) {
    Object.defineProperty(err, FROM_TX, { value: true, enumerable: false })
  }
}

export function scopeClient(target: pg.ClientBase): ScopedClient {
  let active = true
  let failed = false
  // Errors of ctx.tx queries are tagged, so that "Postgres is down" is told apart from a handler's own
  // network errors (an HTTP call failing with ECONNREFUSED is the message's failure, not an outage).
  const query = (...args: unknown[]): unknown => {
    const res: unknown = (target.query as (...a: unknown[]) => unknown)(...args)
    if (res !== null && typeof res === 'object' && typeof (res as Promise<unknown>).then === 'function') {
      return (res as Promise<unknown>).then(undefined, (err: unknown) => {
        failed = true
        markFromTransaction(err)
        throw err
      })
    }
    return res
  }
  const client = new Proxy(target, {
    get(t, prop) {
      if (!active) {
        throw new KtaskError('KTASK_STATE', 'ctx.tx was used after the handler finished (an un-awaited query?)', { field: 'ctx.tx' })
      }
      if (prop === 'query') return query
      const value: unknown = Reflect.get(t, prop, t)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })
  return {
    client,
    get failed() {
      return failed
    },
    end: () => void (active = false),
  }
}

export interface ContextParams {
  message: InboundMessage
  prepared: PreparedOk
  group: string
  tx: pg.ClientBase | undefined
  /** Tells why ctx.tx is missing, for the error a handler gets when it asks anyway. */
  hasDatabase: boolean
  logger: Logger
  progress: (fraction: number, message?: string) => void
}

export class Context implements HandlerContext {
  readonly #p: ContextParams
  #log: Logger | undefined
  #controller: AbortController | undefined
  #abortReason: unknown
  readonly progress: (fraction: number, message?: string) => void

  constructor(p: ContextParams) {
    this.#p = p
    this.progress = p.progress
  }

  get taskId(): string {
    return this.#p.prepared.messageId
  }

  get idempotencyKey(): string {
    return this.#p.prepared.messageId
  }

  get attempt(): number {
    return this.#p.prepared.attempt
  }

  get headers(): Record<string, string> {
    return this.#p.message.headers
  }

  get topic(): string {
    return this.#p.message.topic
  }

  get partition(): number {
    return this.#p.message.partition
  }

  get offset(): string {
    return this.#p.message.offset
  }

  get timestamp(): number {
    return Number(this.#p.message.raw.timestamp)
  }

  get key(): string | null {
    const key = this.#p.message.raw.key
    return key === null ? null : key.toString('utf8')
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  get log(): Logger {
    const { message, prepared } = this.#p
    this.#log ??= this.#p.logger.child({
      group: this.#p.group, topic: message.topic, partition: message.partition, offset: message.offset,
      taskId: prepared.messageId, task: prepared.spec.name, attempt: prepared.attempt,
    })
    return this.#log
  }

  get tx(): pg.ClientBase {
    if (!this.#p.tx) {
      const reason = this.#p.hasDatabase ? `"${this.#p.prepared.spec.name}" was defined with transaction: false` : 'the app has no database'
      throw new KtaskError('KTASK_INVALID_CONFIG', `ctx.tx is not available: ${reason}`, { field: 'transaction' })
    }
    return this.#p.tx
  }

  /** Aborts `ctx.signal` (now if a handler holds it, or as soon as it asks). */
  abort(reason: unknown): void {
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }
}
