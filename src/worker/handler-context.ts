/**
 * The `ctx` a handler receives. A class with prototype getters: one small object per message, and the
 * logger child and the AbortController are only made when a handler asks for them. `ctx.tx` is the
 * transaction's pg client behind a guard that refuses use after the handler finished (a stray query
 * must never land in the next message's transaction).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { HandlerContext } from '../config/definitions.ts'
import { KtaskError } from '../errors.ts'
import type { InboundMessage, PreparedOk } from './inbound.ts'

export interface ScopedClient {
  client: pg.ClientBase
  /** After this, any use of `client` throws. */
  end(): void
}

export function scopeClient(target: pg.ClientBase): ScopedClient {
  let active = true
  const client = new Proxy(target, {
    get(t, prop) {
      if (!active) {
        throw new KtaskError('KTASK_STATE', 'ctx.tx was used after the handler finished (an un-awaited query?)', { field: 'ctx.tx' })
      }
      const value: unknown = Reflect.get(t, prop, t)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })
  return { client, end: () => void (active = false) }
}

export interface ContextParams {
  message: InboundMessage
  prepared: PreparedOk
  group: string
  tx: pg.ClientBase | undefined
  /** Why ctx.tx is missing, for the error a handler gets when it asks anyway. */
  noTxReason: string
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
    if (!this.#p.tx) throw new KtaskError('KTASK_INVALID_CONFIG', `ctx.tx is not available: ${this.#p.noTxReason}`, { field: 'transaction' })
    return this.#p.tx
  }

  /** Aborts `ctx.signal` (now if a handler holds it, or as soon as it asks). */
  abort(reason: unknown): void {
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }
}
