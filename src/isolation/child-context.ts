/**
 * The `ctx` of a handler running in a worker thread or child process. What it reads (ids, headers, flow
 * input) came with the run; what has effects is asked of the worker, which holds the transaction:
 * `ctx.tx.query()`, `ctx.enqueue`, `ctx.publish`, `ctx.enqueueFlow` run in the message's transaction
 * there (with its ledger row), `ctx.progress` and `ctx.log` are forwarded. `ctx.signal` aborts when the
 * worker says so (soft timeout, shutdown).
 */
import { INVALID_SPAN_CONTEXT, trace, type Span } from '@opentelemetry/api'
import type { Logger } from 'pino'
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
import { contextFromHeaders } from '../observability/tracing.ts'
import type { Call, ContextData } from './protocol.ts'

export interface ChildContextParams {
  data: ContextData
  /** Made when the handler first reads ctx.log. */
  logger: () => Logger
  /** Asks the worker to make a call in the handler's transaction. */
  call(call: Call): Promise<unknown>
  progress(fraction: number, message: string | undefined): void
}

/** Query config options that cannot be carried to the worker (they hold functions or stream rows). */
const UNSUPPORTED_CONFIG = ['rowMode', 'types', 'submit', 'callback'] as const

export class ChildContext implements HandlerContext {
  readonly #p: ChildContextParams
  readonly #controller = new AbortController()
  #ended = false
  #tx: pg.ClientBase | undefined
  #log: Logger | undefined

  constructor(p: ChildContextParams) {
    this.#p = p
  }

  get taskId(): string {
    return this.#p.data.taskId
  }
  /** Non-recording: the worker records the run's span; spans started here (with an SDK in the child) are its children. */
  get span(): Span {
    return trace.getSpan(contextFromHeaders(this.#p.data.trace)) ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
  }
  get idempotencyKey(): string {
    return this.#p.data.taskId
  }
  get attempt(): number {
    return this.#p.data.attempt
  }
  get headers(): Record<string, string> {
    return this.#p.data.headers
  }
  get topic(): string {
    return this.#p.data.topic
  }
  get partition(): number {
    return this.#p.data.partition
  }
  get offset(): string {
    return this.#p.data.offset
  }
  get key(): string | null {
    return this.#p.data.key
  }
  get timestamp(): number {
    return this.#p.data.timestamp
  }
  get workflowId(): string | undefined {
    return this.#p.data.workflowId
  }
  get previous(): unknown {
    return this.#p.data.previous
  }
  get results(): unknown[] | undefined {
    return this.#p.data.results
  }
  get signal(): AbortSignal {
    return this.#controller.signal
  }
  get log(): Logger {
    this.#log ??= this.#p.logger()
    return this.#log
  }

  progress = (fraction: number, message?: string): void => {
    if (!this.#ended) this.#p.progress(fraction, message)
  }

  get tx(): pg.ClientBase {
    const refusal = this.#p.data.noTx
    if (refusal !== undefined) throw new KtaskError('KTASK_INVALID_CONFIG', refusal, { field: 'transaction' })
    this.#tx ??= this.#transactionProxy()
    return this.#tx
  }

  /** Only `query()` crosses to the worker; anything else of a pg client is refused with a reason. */
  #transactionProxy(): pg.ClientBase {
    const query = (textOrConfig: unknown, values?: unknown, callback?: unknown): Promise<unknown> => {
      if (typeof values === 'function' || callback !== undefined) throw refused('query callbacks (use the promise it returns)')
      let text: unknown = textOrConfig
      let params: unknown = values
      if (textOrConfig !== null && typeof textOrConfig === 'object') {
        const config = textOrConfig as Record<string, unknown>
        for (const option of UNSUPPORTED_CONFIG) if (config[option] !== undefined) throw refused(`query option "${option}"`)
        text = config.text
        params = config.values ?? values
      }
      if (typeof text !== 'string') throw refused('a query without its SQL text (pass a string or { text, values })')
      if (params !== undefined && !Array.isArray(params)) throw refused('query values that are not an array')
      return this.#call({ op: 'query', text, values: params as unknown[] | undefined })
    }
    return new Proxy({} as pg.ClientBase, {
      get(_target, prop) {
        if (prop === 'query') return query
        if (prop === 'then') return undefined
        throw refused(`ctx.tx.${String(prop)}`)
      },
    })
  }

  enqueue<Args>(task: Task<Args>, args: Args, options: FollowUpOptions = {}): Promise<EnqueueResult> {
    if (typeof task?.name !== 'string') return Promise.reject(notA('task handle (what app.task() returned)', 'ctx.enqueue'))
    return this.#call({ op: 'enqueue', task: task.name, args, options }) as Promise<EnqueueResult>
  }

  publish<Event>(eventType: EventType<Event>, event: Event, options: Omit<PublishOptions, 'tx'> = {}): Promise<PublishResult> {
    if (typeof eventType?.topic !== 'string') return Promise.reject(notA('event type (what app.event() returned)', 'ctx.publish'))
    return this.#call({ op: 'publish', topic: eventType.topic, event, options }) as Promise<PublishResult>
  }

  enqueueFlow(flow: Signature, options: Omit<FlowOptions, 'tx'> = {}): Promise<FlowResult> {
    return this.#call({ op: 'enqueueFlow', flow, options }) as Promise<FlowResult>
  }

  #call(call: Call): Promise<unknown> {
    if (this.#ended) {
      return Promise.reject(
        new KtaskError('KTASK_STATE', 'ctx was used after the handler finished (an un-awaited call?)', { field: 'ctx.tx' }),
      )
    }
    return this.#p.call(call)
  }

  abort(reason: unknown): void {
    this.#controller.abort(reason)
  }

  /** The run is over: later calls are refused here already (the worker refuses them too). */
  end(): void {
    this.#ended = true
  }
}

function refused(what: string): KtaskError {
  return new KtaskError(
    'KTASK_INVALID_CONFIG',
    `${what} is not available to an isolated handler: ctx.tx runs query(text, values) in the worker's transaction, nothing else`,
    { field: 'isolation' },
  )
}

function notA(what: string, where: string): KtaskError {
  return new KtaskError('KTASK_VALIDATION', `${where}: expected a ${what}`, { field: 'task' })
}
