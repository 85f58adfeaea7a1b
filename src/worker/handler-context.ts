/**
 * The `ctx` a handler receives. A class with prototype getters: one small object per message, and the
 * logger child and the AbortController are only made when a handler asks for them. `ctx.tx` is the
 * transaction's pg client behind a guard that refuses use after the handler finished (a stray query
 * must never land in the next message's transaction).
 */
import type { Logger } from 'pino'
import { INVALID_SPAN_CONTEXT, trace, type Span } from '@opentelemetry/api'
import type pg from 'pg'
import type {
  EnqueueResult,
  EventType,
  FlowOptions,
  FlowResult,
  FollowUpOptions,
  HandlerContext,
  PublishOptions,
  PublishResult,
  Task,
} from '../config/definitions.ts'
import type { Signature } from '../flows/canvas.ts'
import { KtaskError } from '../errors.ts'
import { derivedId } from '../producer/ids.ts'
import { H } from '../retry/headers.ts'
import { markFromTransaction } from '../store/unavailable.ts'
import type { Envelope } from './envelope.ts'
import type { Ready } from './preparation.ts'

export interface ScopedClient {
  /** The handler's `ctx.tx`: refuses use once the handler finished. */
  client: pg.ClientBase
  /** For ktask's own statements about this message (task state, key queue): never ended. */
  own: Pick<pg.ClientBase, 'query'>
  /** A query through `client` failed (the handler may have caught it). */
  readonly failed: boolean
  /** A savepoint was taken before the message's first statement: rolling back to it undoes the message alone. */
  readonly savepointTaken: boolean
  /** Statements still running (a handler that timed out can leave one behind). */
  readonly pending: ReadonlySet<Promise<unknown>>
  /** When a statement of this scope last finished (performance.now()); 0 if none ran. */
  readonly lastActivity: number
  /** After this, any use of `client` throws. */
  end(): void
}

export interface ScopeOptions {
  /**
   * Take this savepoint before the first statement. It is queued on the connection right before that
   * statement, not awaited: pg runs a client's queries in order, so it costs no extra wait in the handler.
   */
  savepoint?: string
}

export function scopeClient(target: pg.ClientBase, options: ScopeOptions = {}): ScopedClient {
  let active = true
  let failed = false
  let savepointTaken = false
  let lastActivity = 0
  const pending = new Set<Promise<unknown>>()
  const track = <T>(res: T, fromHandler: boolean): T => {
    if (res === null || typeof res !== 'object' || typeof (res as unknown as Promise<unknown>).then !== 'function') return res
    // One settle handler per statement (this runs for every query a handler makes).
    const settled: Promise<unknown> = (res as unknown as Promise<unknown>).then(
      (value) => {
        lastActivity = performance.now()
        pending.delete(settled)
        return value
      },
      (err: unknown) => {
        lastActivity = performance.now()
        pending.delete(settled)
        // Errors of ctx.tx queries are tagged, so that "Postgres is down" is told apart from a handler's own
        // network errors (an HTTP call failing with ECONNREFUSED is the message's failure, not an outage).
        if (fromHandler) {
          failed = true
          markFromTransaction(err)
        }
        throw err
      },
    )
    pending.add(settled)
    return settled as T
  }
  const takeSavepoint = (): void => {
    if (!options.savepoint || savepointTaken) return
    savepointTaken = true
    track(target.query(`SAVEPOINT ${options.savepoint}`), false).catch(() => {
      /* the statement queued behind it fails the same way and says why */
    })
  }
  const run =
    (fromHandler: boolean) =>
    (...args: unknown[]): unknown => {
      takeSavepoint()
      return track((target.query as (...a: unknown[]) => unknown)(...args), fromHandler)
    }
  const ownQuery = run(false)
  const handlerQuery = run(true)
  const guardedQuery = (...args: unknown[]): unknown => {
    // Also refused through a reference the handler kept to ctx.tx.query.
    if (!active) throw usedAfterEnd()
    return handlerQuery(...args)
  }
  const client = new Proxy(target, {
    get(t, prop) {
      if (!active) throw usedAfterEnd()
      if (prop === 'query') return guardedQuery
      const value: unknown = Reflect.get(t, prop, t)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })
  return {
    client,
    own: { query: ownQuery as pg.ClientBase['query'] },
    get failed() {
      return failed
    },
    get savepointTaken() {
      return savepointTaken
    },
    pending,
    get lastActivity() {
      return lastActivity
    },
    end: () => void (active = false),
  }
}

function usedAfterEnd(): KtaskError {
  return new KtaskError('KTASK_STATE', 'ctx.tx was used after the handler finished (an un-awaited query?)', { field: 'ctx.tx' })
}

/**
 * How `ctx.enqueue` and `ctx.publish` write to the outbox (the app provides it): `db` is the handler's
 * transaction, `id` the follow-up's derived id.
 */
export interface FollowUps {
  enqueue(db: pg.ClientBase, task: unknown, args: unknown, options: FollowUpOptions, id: string): Promise<EnqueueResult>
  publish(db: pg.ClientBase, eventType: unknown, event: unknown, options: Omit<PublishOptions, 'tx'>, id: string): Promise<PublishResult>
  flow(db: pg.ClientBase, flow: unknown, options: Omit<FlowOptions, 'tx'>, id: string): Promise<FlowResult>
}

export interface ContextParams {
  envelope: Envelope
  prepared: Ready
  group: string
  tx: pg.ClientBase | undefined
  /** Tells why ctx.tx is missing, for the error a handler gets when it asks anyway. */
  hasDatabase: boolean
  logger: Logger
  progress: (fraction: number, message?: string) => void
  followUps: FollowUps | undefined
  /** The consumer span the handler runs in (a non-recording one without an OpenTelemetry SDK). */
  span?: Span
}

export class Context implements HandlerContext {
  readonly #p: ContextParams
  #log: Logger | undefined
  #controller: AbortController | undefined
  #abortReason: unknown
  /** Follow-ups written so far: the next one's position, from which its id is derived. */
  #followUps = 0
  readonly progress: (fraction: number, message?: string) => void

  constructor(p: ContextParams) {
    this.#p = p
    this.progress = p.progress
  }

  get taskId(): string {
    return this.#p.prepared.messageId
  }

  get span(): Span {
    return this.#p.span ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
  }

  get idempotencyKey(): string {
    return this.#p.prepared.messageId
  }

  get attempt(): number {
    return this.#p.envelope.attempt
  }

  get headers(): Record<string, string> {
    return this.#p.envelope.headers
  }

  get workflowId(): string | undefined {
    return this.#p.envelope.headers[H.flow]
  }

  get previous(): unknown {
    return this.#flowInput()?.v
  }

  get results(): unknown[] | undefined {
    const input = this.#flowInput()
    return input?.list && Array.isArray(input.v) ? input.v : undefined
  }

  #input: { v: unknown; list: boolean } | null | undefined
  #flowInput(): { v: unknown; list: boolean } | null {
    if (this.#input === undefined) {
      const raw = this.#p.envelope.headers[H.flowInput]
      this.#input = raw === undefined ? null : (JSON.parse(raw) as { v: unknown; list: boolean })
    }
    return this.#input
  }

  get topic(): string {
    return this.#p.envelope.topic
  }

  get partition(): number {
    return this.#p.envelope.partition
  }

  get offset(): string {
    return this.#p.envelope.offset
  }

  get timestamp(): number {
    return Number(this.#p.envelope.timestamp)
  }

  get key(): string | null {
    const key = this.#p.envelope.key
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
    const { envelope, prepared } = this.#p
    this.#log ??= this.#p.logger.child({
      group: this.#p.group,
      topic: envelope.topic,
      partition: envelope.partition,
      offset: envelope.offset,
      taskId: prepared.messageId,
      task: prepared.spec.name,
      attempt: envelope.attempt,
      ...traceIdOf(envelope.headers),
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

  enqueue<Args>(task: Task<Args>, args: Args, options: FollowUpOptions = {}): Promise<EnqueueResult> {
    return this.#followUp('enqueue', (f, tx, id) => f.enqueue(tx, task, args, options, id))
  }

  publish<Event>(eventType: EventType<Event>, event: Event, options: Omit<PublishOptions, 'tx'> = {}): Promise<PublishResult> {
    return this.#followUp('publish', (f, tx, id) => f.publish(tx, eventType, event, options, id))
  }

  enqueueFlow(flow: Signature, options: Omit<FlowOptions, 'tx'> = {}): Promise<FlowResult> {
    return this.#followUp('enqueueFlow', (f, tx, id) => f.flow(tx, flow, options, id))
  }

  /**
   * The id comes from this message's id and the call's position: a handler that runs again (its
   * transaction rolled back) writes the same ids, and a copy of a follow-up is a ledger no-op.
   */
  async #followUp<T>(what: string, write: (f: FollowUps, tx: pg.ClientBase, id: string) => Promise<T>): Promise<T> {
    const followUps = this.#p.followUps
    if (!followUps) throw new KtaskError('KTASK_STATE', `ctx.${what} is not available here`)
    const tx = this.tx
    const position = this.#followUps++
    return write(followUps, tx, derivedId('follow-up', this.taskId, String(position)))
  }

  /** Aborts `ctx.signal` (now if a handler holds it, or as soon as it asks). */
  abort(reason: unknown): void {
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }
}

/** The trace id of the message's W3C traceparent, for log lines (none without a valid one). */
function traceIdOf(headers: Readonly<Record<string, string | undefined>>): { traceId?: string } {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/.exec(headers.traceparent ?? '')
  return m && !/^0+$/.test(m[1]!) ? { traceId: m[1]! } : {}
}
