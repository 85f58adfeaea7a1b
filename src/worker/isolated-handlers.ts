/**
 * The worker's side of isolated handlers: one pool of threads or child processes per isolated task
 * (started lazily, closed with the worker), and the bridge that carries the handler's `ctx` calls to the
 * message's `ctx` here — its transaction, its follow-ups, its progress and its log.
 */
import { ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { traceHeaders } from '../observability/tracing.ts'
import type { Logger } from 'pino'
import type { EventType, Task } from '../config/definitions.ts'
import { configError, KtaskError } from '../errors.ts'
import { IsolationPool, type IsolatedRun, type RunHost } from '../isolation/pool.ts'
import type { Call, ContextData } from '../isolation/protocol.ts'
import type { HandlerSpec, Route } from '../routing/routes.ts'
import type { ExecItem } from './execution.ts'
import type { Context } from './handler-context.ts'

export interface IsolatedHandlersDeps {
  prefix: string
  logLevel: string
  logger: Logger
  /** Threads or processes per task at most (the worker's concurrency). */
  size: number
  /** The module `ktask worker <module>` loaded, if the worker was started that way. */
  appModule: string | undefined
  /** The app's handles, for `ctx.enqueue` / `ctx.publish` calls made in a child (which names them). */
  task(name: string): Task<unknown> | undefined
  event(topic: string): EventType<unknown> | undefined
}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])

export class IsolatedHandlers {
  readonly #deps: IsolatedHandlersDeps
  readonly #pools = new Map<string, IsolationPool>()

  constructor(deps: IsolatedHandlersDeps) {
    this.#deps = deps
  }

  /** Refuses, at worker start, an isolated task whose handler no module is known to load. */
  check(routes: Route[]): void {
    for (const route of routes) {
      for (const spec of route.specs.values()) {
        if (!spec.isolation || spec.isolation.module || this.#deps.appModule) continue
        throw configError(
          `task "${spec.name}".module`,
          `isolation '${spec.isolation.kind}' needs the module that defines the task, for its ${spec.isolation.kind === 'thread' ? 'threads' : 'child processes'} to load: ` +
            "set module: import.meta.url in the task's definition, or start the worker with `ktask worker <module>`",
        )
      }
    }
  }

  run(item: ExecItem, ctx: Context): IsolatedRun {
    const spec = item.prepared.spec
    return this.#pool(spec).run(item.prepared.args, contextData(ctx), this.#host(ctx))
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(pools.map((p) => p.close()))
  }

  #pool(spec: HandlerSpec): IsolationPool {
    let pool = this.#pools.get(spec.name)
    if (pool) return pool
    const isolation = spec.isolation!
    const logger = this.#deps.logger.child({ task: spec.name, isolation: isolation.kind })
    pool = new IsolationPool({
      kind: isolation.kind,
      start: {
        module: (isolation.module ?? this.#deps.appModule)!,
        prefix: this.#deps.prefix,
        task: spec.name,
        logLevel: this.#deps.logLevel,
      },
      size: this.#deps.size,
      hardTimeoutMs: isolation.hardTimeoutMs,
      maxTasksPerChild: isolation.maxTasksPerChild,
      maxMemoryPerChildMb: isolation.maxMemoryPerChildMb,
      logger,
    })
    pool.onEvent = (event) => {
      if (event.type === 'retired')
        logger.debug(
          { pid: event.pid, reason: event.reason, memoryMb: Math.round(event.memoryMb), tasks: event.tasks },
          'isolated child recycled',
        )
      if (event.type === 'died' && event.during === 'idle') logger.warn({ pid: event.pid, ...event.exit }, 'idle isolated child exited')
    }
    this.#pools.set(spec.name, pool)
    return pool
  }

  #host(ctx: Context): RunHost {
    return {
      call: (call) => this.#call(ctx, call),
      progress: (fraction, message) => ctx.progress(fraction, message),
      log: (level, line) => {
        const { msg, level: _level, ...fields } = line
        ctx.log[LOG_LEVELS.has(level) ? (level as 'info') : 'info'](fields, typeof msg === 'string' ? msg : '')
      },
    }
  }

  async #call(ctx: Context, call: Call): Promise<unknown> {
    switch (call.op) {
      case 'query': {
        const r = await ctx.tx.query(call.text, call.values)
        // Only what crosses a structured clone (a result also holds the type parsers, functions).
        return { command: r.command, rowCount: r.rowCount, oid: r.oid, rows: r.rows, fields: r.fields.map((f) => ({ ...f })) }
      }
      case 'enqueue': {
        const task = this.#deps.task(call.task)
        if (!task) throw new KtaskError('KTASK_UNKNOWN_TASK', `ctx.enqueue: the worker's app has no task "${call.task}"`, { field: 'task' })
        return ctx.enqueue(task, call.args, call.options as never)
      }
      case 'publish': {
        const eventType = this.#deps.event(call.topic)
        if (!eventType)
          throw new KtaskError('KTASK_NOT_FOUND', `ctx.publish: the worker's app declares no event on topic "${call.topic}"`, {
            field: 'eventType',
          })
        return ctx.publish(eventType, call.event, call.options as never)
      }
      case 'enqueueFlow':
        return ctx.enqueueFlow(call.flow as never, call.options as never)
    }
  }
}

function contextData(ctx: Context): ContextData {
  let noTx: string | undefined
  try {
    void ctx.tx
  } catch (error) {
    noTx = (error as Error).message
  }
  return {
    taskId: ctx.taskId,
    attempt: ctx.attempt,
    headers: ctx.headers,
    topic: ctx.topic,
    partition: ctx.partition,
    offset: ctx.offset,
    key: ctx.key,
    timestamp: ctx.timestamp,
    workflowId: ctx.workflowId,
    previous: ctx.previous,
    results: ctx.results,
    noTx,
    trace: traceHeaders(trace.setSpan(ROOT_CONTEXT, ctx.span)),
  }
}
