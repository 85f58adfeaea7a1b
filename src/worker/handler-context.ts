/**
 * The `ctx` a handler receives. `ctx.tx` is the transaction's pg client behind a guard that refuses use
 * after the handler finished (a stray query must never land in the next message's transaction).
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
  signal: AbortSignal
  tx: pg.ClientBase | undefined
  /** Why ctx.tx is missing, for the error a handler gets when it asks anyway. */
  noTxReason: string
  logger: Logger
  progress: (fraction: number, message?: string) => void
}

export function createHandlerContext(p: ContextParams): HandlerContext {
  let log: Logger | undefined
  const { message, prepared } = p
  return {
    taskId: prepared.messageId,
    idempotencyKey: prepared.messageId,
    attempt: prepared.attempt,
    signal: p.signal,
    headers: message.headers,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.raw.key === null ? null : message.raw.key.toString('utf8'),
    // Built on first use: most handlers never log, and a pino child per message is not free.
    get log() {
      log ??= p.logger.child({
        group: p.group, topic: message.topic, partition: message.partition, offset: message.offset,
        taskId: prepared.messageId, task: prepared.spec.name, attempt: prepared.attempt,
      })
      return log
    },
    get tx(): pg.ClientBase {
      if (!p.tx) throw new KtaskError('KTASK_INVALID_CONFIG', `ctx.tx is not available: ${p.noTxReason}`, { field: 'transaction' })
      return p.tx
    },
    progress: p.progress,
  }
}
