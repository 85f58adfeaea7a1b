/**
 * User components (`app.use(middleware)`), like Celery's signals and Karafka's monitor: code around every
 * enqueue and every handler, hooks on outcomes, and start/stop with the worker.
 *
 * - `enqueue` and `handle` run in registration order, each around the next (an onion). An `enqueue` that
 *   throws rejects the enqueue: the caller gets its error, nothing is produced or written. A `handle` that
 *   throws fails the attempt like the handler would (it is part of it).
 * - The hooks (`onSuccess`, `onFailure`, `onRetry`, `onDeadLetter`) run once the outcome is decided and
 *   cannot change it: one that throws (or rejects) is logged, and the message's outcome and offset stay
 *   what they were.
 */
import type { Logger } from 'pino'
import type { HandlerContext } from '../config/definitions.ts'
import { configError } from '../errors.ts'
import type { WorkerEvents } from '../observability/worker-events.ts'

/** One task of an enqueue, as an `enqueue` middleware sees it. */
export interface EnqueueMessage {
  readonly taskId: string
  readonly args: unknown
  /** The message's headers: add or change string headers here (ktask's own `ktask-*` ones are set after). */
  readonly headers: Record<string, string>
}

export interface EnqueueContext {
  /** The task's name. */
  readonly task: string
  readonly queue: string
  /** The tasks of this call (one for `enqueue`, every item of `enqueueMany`). */
  readonly messages: readonly EnqueueMessage[]
  /** Written in a transaction (`tx`, `ctx.enqueue`, a flow step, a delay) rather than produced at once. */
  readonly transactional: boolean
}

export interface HandleContext<Args = unknown> {
  /** The task's name, or the consumer's group id for events. */
  readonly task: string
  /** The queue, or the consumer's group id for events. */
  readonly queue: string
  readonly args: Args
  /** The handler's context (task id, attempt, headers, signal, logger, tx, …). */
  readonly ctx: HandlerContext
}

export interface Middleware {
  /** Shown in logs when one of its parts throws. */
  name?: string
  /** Around each enqueue call: call `next()` to go on (its promise resolves once the tasks are out). */
  enqueue?(ctx: EnqueueContext, next: () => Promise<void>): Promise<void>
  /** Around each handler run: return what `next()` resolves to (the handler's result) or something else. */
  handle?(ctx: HandleContext, next: () => Promise<unknown>): Promise<unknown>
  /** A task succeeded (its effects are committed). */
  onSuccess?(event: WorkerEvents['task:succeeded']): void | Promise<void>
  /** An attempt failed (it will be retried, or dead-lettered: see `willRetry`). */
  onFailure?(event: WorkerEvents['task:failed']): void | Promise<void>
  /** A failed attempt was sent to a retry tier. */
  onRetry?(event: WorkerEvents['task:failed']): void | Promise<void>
  /** A message was dead-lettered. */
  onDeadLetter?(event: WorkerEvents['task:dead']): void | Promise<void>
  /** A worker of the app started (after it joined its groups). */
  start?(): void | Promise<void>
  /** A worker of the app stopped. */
  stop?(): void | Promise<void>
}

type Layer<C, R> = (ctx: C, next: () => Promise<R>) => Promise<R>
export type HandleLayer = Layer<HandleContext, unknown>

/**
 * Runs `last` inside the layers, first layer outermost. A layer that calls `next()` twice gets an error
 * (the enqueue or handler would run twice).
 */
export function compose<C, R>(layers: readonly Layer<C, R>[], ctx: C, last: () => Promise<R>): Promise<R> {
  const at = (i: number): Promise<R> => {
    if (i === layers.length) return last()
    let called = false
    return layers[i]!(ctx, () => {
      if (called) return Promise.reject(new Error('middleware called next() twice'))
      called = true
      return at(i + 1)
    })
  }
  return at(0)
}

/** The `enqueue` layers of the middleware, in order. */
export function enqueueLayers(middleware: readonly Middleware[]): Layer<EnqueueContext, void>[] {
  return middleware.flatMap((m) => (m.enqueue ? [m.enqueue.bind(m)] : []))
}

/** The `handle` layers of the middleware, in order. */
export function handleLayers(middleware: readonly Middleware[]): HandleLayer[] {
  return middleware.flatMap((m) => (m.handle ? [m.handle.bind(m)] : []))
}

const PARTS = ['enqueue', 'handle', 'onSuccess', 'onFailure', 'onRetry', 'onDeadLetter', 'start', 'stop'] as const

/** Throws KTASK_INVALID_CONFIG naming the part that is not a function (or a middleware that is no object). */
export function checkMiddleware(middleware: unknown): Middleware {
  if (middleware === null || typeof middleware !== 'object') throw configError('middleware', 'must be an object (see Middleware)')
  const m = middleware as Record<string, unknown>
  for (const part of PARTS) {
    if (m[part] !== undefined && typeof m[part] !== 'function') throw configError(`middleware.${part}`, 'must be a function')
  }
  if (!PARTS.some((part) => m[part] !== undefined)) throw configError('middleware', `has none of ${PARTS.join(', ')}`)
  return middleware
}

/** What the hooks listen to (a worker). */
export interface HookedWorker {
  on<K extends keyof WorkerEvents>(event: K, listener: (payload: WorkerEvents[K]) => void | Promise<void>): () => void
}

/**
 * Subscribes the middleware's hooks to the worker's events. Events are emitted once an outcome is durable,
 * and a listener that throws is logged by the worker's emitter: hooks cannot change outcomes or offsets.
 * `start` / `stop` run on the worker's `started` / `stopped`; `logger` reports one that fails.
 */
export function attachHooks(worker: HookedWorker, middleware: readonly Middleware[], logger: Logger): void {
  const guard =
    <T>(m: Middleware, part: string, fn: (payload: T) => unknown) =>
    async (payload: T): Promise<void> => {
      try {
        await fn(payload)
      } catch (err) {
        logger.error({ err, middleware: m.name, hook: part }, 'middleware hook threw; the outcome stays as it was')
      }
    }
  for (const m of middleware) {
    if (m.onSuccess) worker.on('task:succeeded', guard(m, 'onSuccess', m.onSuccess.bind(m)))
    if (m.onFailure) worker.on('task:failed', guard(m, 'onFailure', m.onFailure.bind(m)))
    if (m.onRetry) {
      const onRetry = guard(m, 'onRetry', m.onRetry.bind(m))
      worker.on('task:failed', (e) => (e.willRetry ? onRetry(e) : undefined))
    }
    if (m.onDeadLetter) worker.on('task:dead', guard(m, 'onDeadLetter', m.onDeadLetter.bind(m)))
    if (m.start) worker.on('started', guard(m, 'start', m.start.bind(m)))
    if (m.stop) worker.on('stopped', guard(m, 'stop', m.stop.bind(m)))
  }
}
