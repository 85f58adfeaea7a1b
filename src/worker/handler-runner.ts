/**
 * Runs one handler with its context, deadline and abort signal. The outcome tells success, failure,
 * timeout (signal aborted, counts as an attempt) and shutdown (grace period over: not an attempt).
 */
import { context as otelContext, type Context as OtelContext, type Span } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { compose, type HandleLayer } from '../middleware/middleware.ts'
import { endConsumerSpan, startConsumerSpan } from '../observability/tracing.ts'
import { KtaskError, readableThrown } from '../errors.ts'
import { IsolationFailure, type IsolatedRun } from '../isolation/pool.ts'
import type { Deadlines, RunningHandler } from './deadlines.ts'
import type { ExecItem, ExecutionHooks } from './execution.ts'
import { Context, type FollowUps, type ScopedClient } from './handler-context.ts'
import type { IsolatedHandlers } from './isolated-handlers.ts'

export type HandlerRun =
  /** `txQueryFailed`: a ctx.tx query failed and the handler returned anyway (it caught the error). */
  | { kind: 'ok'; result: unknown; durationMs: number; txQueryFailed: boolean }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: KtaskError }
  /** An isolated handler's thread or process died while running it (stage `crash`). */
  | { kind: 'crash'; error: KtaskError }
  | { kind: 'shutdown' }

export interface HandlerRunnerDeps {
  /** Tells a handler asking for ctx.tx without one why it has none. */
  hasDatabase: boolean
  groupId: string
  logger: Logger
  /** Deadlines of running handlers; aborts them all when the worker's shutdown grace period ends. */
  deadlines: Deadlines
  hooks?: ExecutionHooks
  /** ctx.enqueue / ctx.publish (set by the app). */
  followUps?: FollowUps
  /** Runs the handlers of tasks defined with `isolation` (set by the worker). */
  isolated?: IsolatedHandlers
  /** The app's `handle` middleware, outermost first (app.use). */
  handleLayers?: readonly HandleLayer[]
  /** The route's name (queue, or consumer group id): what `handle` middleware sees as `queue`. */
  queue?: string
}

/**
 * Runs the handler of `item` in its consumer span (observability/tracing.ts); `scoped` is its transaction
 * (ended when the handler finishes), if it has one.
 */
export function runHandler(deps: HandlerRunnerDeps, item: ExecItem, scoped: ScopedClient | undefined): HandlerRun | Promise<HandlerRun> {
  const { prepared, envelope } = item
  const traced = startConsumerSpan({
    topic: envelope.topic,
    partition: envelope.partition,
    offset: envelope.offset,
    group: deps.groupId,
    messageId: prepared.messageId,
    task: prepared.spec.name,
    attempt: envelope.attempt,
    headers: envelope.headers,
  })
  const end = (run: HandlerRun): HandlerRun => {
    endConsumerSpan(traced.span, run.kind === 'ok' || run.kind === 'shutdown' ? undefined : run.error)
    return run
  }
  // A handler that finished synchronously gets its outcome without a promise (the no-op path's hops).
  const run = runInSpan(deps, item, scoped, traced)
  return run instanceof Promise ? run.then(end) : end(run)
}

function runInSpan(
  deps: HandlerRunnerDeps,
  item: ExecItem,
  scoped: ScopedClient | undefined,
  traced: { span: Span; context: OtelContext },
): HandlerRun | Promise<HandlerRun> {
  const { prepared, envelope } = item
  const spec = prepared.spec
  const ctx = new Context({
    envelope,
    prepared,
    group: deps.groupId,
    tx: scoped?.client,
    hasDatabase: deps.hasDatabase,
    logger: deps.logger,
    progress: (fraction, text) => deps.hooks?.progress?.(item, fraction, text),
    followUps: deps.followUps,
    span: traced.span,
  })
  deps.hooks?.started?.(item)
  const started = performance.now()
  let isolated: IsolatedRun | undefined
  const invoke = (): unknown => {
    if (!spec.isolation) return spec.handler(prepared.args, ctx)
    if (!deps.isolated) throw new KtaskError('KTASK_STATE', `task "${spec.name}" is isolated, but this worker runs no isolated handlers`)
    isolated = deps.isolated.run(item, ctx)
    return isolated.result
  }
  const layers = deps.handleLayers ?? []
  // Called directly: a handler that finishes synchronously needs no deadline, promise or timer entry
  // (a synchronous handler cannot be interrupted anyway). Only a pending promise races its deadline.
  let value: unknown
  try {
    value = otelContext.with(traced.context, () =>
      layers.length === 0
        ? invoke()
        : compose(layers, { task: spec.name, queue: deps.queue ?? deps.groupId, args: prepared.args, ctx }, async () => invoke()),
    )
  } catch (error) {
    scoped?.end()
    return { kind: 'error', error: readableThrown(error) }
  }
  if (value === null || typeof value !== 'object' || typeof (value as PromiseLike<unknown>).then !== 'function') {
    scoped?.end()
    return { kind: 'ok', result: value, durationMs: performance.now() - started, txQueryFailed: scoped?.failed ?? false }
  }
  return settle(deps, item, scoped, ctx, value as PromiseLike<unknown>, started, () => isolated)
}

/** Waits for a handler's promise, against its deadline (and the worker's shutdown grace). */
async function settle(
  deps: HandlerRunnerDeps,
  item: ExecItem,
  scoped: ScopedClient | undefined,
  ctx: Context,
  pending: PromiseLike<unknown>,
  started: number,
  isolatedRun: () => IsolatedRun | undefined,
): Promise<HandlerRun> {
  const spec = item.prepared.spec
  const isolated = isolatedRun()
  let stopped: 'timeout' | 'shutdown' | undefined
  let running: RunningHandler | undefined
  try {
    const result = await new Promise<unknown>((resolve, reject) => {
      running = {
        // An isolated handler's time starts when it starts in its child (not while a new child loads).
        deadline: isolated ? Number.POSITIVE_INFINITY : started + spec.timeoutMs,
        abort: (reason) => {
          stopped = reason
          const error =
            reason === 'timeout'
              ? new KtaskError('KTASK_TIMEOUT', `Handler exceeded timeoutMs (${spec.timeoutMs} ms)`, { timeoutMs: spec.timeoutMs })
              : new KtaskError('KTASK_STATE', 'worker shutdown grace period ended')
          ctx.abort(error)
          isolated?.abort(error)
          reject(error)
        },
      }
      deps.deadlines.add(running)
      const entry = running
      void isolated?.started.then(() => (entry.deadline = performance.now() + spec.timeoutMs))
      pending.then(resolve, reject)
    })
    return { kind: 'ok', result, durationMs: performance.now() - started, txQueryFailed: scoped?.failed ?? false }
  } catch (error) {
    if (stopped === 'timeout') return { kind: 'timeout', error: error as KtaskError }
    if (stopped === 'shutdown') return { kind: 'shutdown' }
    if (error instanceof IsolationFailure)
      return error.stage === 'timeout' ? { kind: 'timeout', error: error.error } : { kind: 'crash', error: error.error }
    return { kind: 'error', error: readableThrown(error) }
  } finally {
    if (running) deps.deadlines.delete(running)
    scoped?.end()
  }
}
