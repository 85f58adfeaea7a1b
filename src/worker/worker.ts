/**
 * The worker facade: `start()` joins one consumer group per route (task queue or consumer), `stop()`
 * shuts down gracefully — fetch nothing more, let in-flight handlers finish within `shutdownGraceMs`
 * (then abort their signal), commit what is durable, leave the groups.
 */
import type { Route } from '../routing/routes.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { resolveWorkerOptions, type ResolvedWorkerOptions } from '../config/resolve.ts'
import type { WorkerOptions } from '../config/options.ts'
import { KtaskError } from '../errors.ts'
import { TypedEmitter, type Listener } from '../observability/emitter.ts'
import type { WorkerGauges } from '../observability/metrics.ts'
import type { WorkerEvents } from '../observability/worker-events.ts'
import type { FollowUps } from './handler-context.ts'
import type { ExecutionHooks } from './execution.ts'
import { Deadlines } from './deadlines.ts'
import { GroupConsumer } from './group-consumer.ts'
import { IsolatedHandlers, type IsolatedHandlersDeps } from './isolated-handlers.ts'
import { insideIsolationChild } from '../isolation/registry.ts'
import { handleLayers as handleLayersOf, type Middleware } from '../middleware/middleware.ts'
import { Semaphore } from './semaphore.ts'
import { startWhenAvailable } from './start-wait.ts'
import { databaseTime, NOTABLE_OFFSET_MS } from '../store/database-time.ts'
import { WorkerStats } from './worker-stats.ts'

export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed'

/** Counters since start (see `worker.stats()`). */
export type WorkerCounters = ReturnType<WorkerStats['snapshot']>

/** A worker of an app (`app.worker()`): joins one consumer group per queue or consumer it works on. */
export interface Worker {
  /** The options in force: what was given, over the app's `worker` defaults, over ktask's. */
  readonly options: Readonly<Required<Omit<WorkerOptions, 'queues' | 'consumers'>> & Pick<WorkerOptions, 'queues' | 'consumers'>>
  readonly state: WorkerState
  /** Subscribes to a worker event; returns the function that unsubscribes. */
  on<K extends keyof WorkerEvents>(event: K, listener: Listener<WorkerEvents[K]>): () => void
  /** Counters since start: succeeded, duplicates, failed attempts, retried, dead-lettered, parked. */
  stats(): WorkerCounters
  /** Resolves once every consumer group has been joined. */
  start(): Promise<void>
  /**
   * Graceful stop: fetch nothing more, let in-flight handlers finish within `shutdownGraceMs` (then abort
   * their signal), commit what is durable, leave the groups. Safe to call more than once.
   */
  stop(): Promise<void>
}

/** @internal What a worker needs from its app (kept small so the worker does not depend on the App class). */
export interface WorkerHost {
  runtime: AppRuntime
  /** Routes for the selected queues / consumers; throws naming an unknown one. */
  routes(queues: string[] | undefined, consumers: string[] | undefined): Route[]
  hooks?: ExecutionHooks
  /** ctx.enqueue / ctx.publish. */
  followUps?: FollowUps
  /** The app's middleware (app.use): their `handle` parts run around every handler. */
  middleware?: () => readonly Middleware[]
  /** What isolated handlers need of the app (tasks defined with `isolation`). */
  isolation?: Pick<IsolatedHandlersDeps, 'prefix' | 'task' | 'event'> & { appModule(): string | undefined }
}

/** @internal The worker implementation; users hold it as a `Worker`. */
export class AppWorker implements Worker {
  readonly options: ResolvedWorkerOptions
  readonly #host: WorkerHost
  readonly #events: TypedEmitter<WorkerEvents>
  readonly #stats = new WorkerStats()
  readonly #deadlines = new Deadlines()
  #consumers: GroupConsumer[] = []
  #isolated: IsolatedHandlers | undefined
  #state: WorkerState = 'idle'
  #releaseBackground: (() => Promise<void>) | undefined
  #statsTimer: NodeJS.Timeout | undefined
  #clockTimer: NodeJS.Timeout | undefined
  #stopped: Promise<void> | undefined
  #startAbort: AbortController | undefined

  constructor(host: WorkerHost, options: WorkerOptions = {}) {
    this.options = resolveWorkerOptions(options)
    this.#host = host
    this.#events = new TypedEmitter<WorkerEvents>(host.runtime.logger)
  }

  get state(): WorkerState {
    return this.#state
  }

  /** @internal What each consumer group holds right now (metrics). */
  gauges(): WorkerGauges[] {
    return this.#consumers.map((c) => c.gauges())
  }

  /** Subscribes to a worker event; returns the function that unsubscribes. */
  on<K extends keyof WorkerEvents>(event: K, listener: Listener<WorkerEvents[K]>): () => void {
    return this.#events.on(event, listener)
  }

  stats(): WorkerCounters {
    return this.#stats.snapshot()
  }

  /**
   * Resolves once every consumer group has been joined. While Kafka or Postgres do not answer it waits
   * and tries again (see start-wait.ts) for up to `startTimeoutMs`; `stop()` meanwhile ends the wait.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new KtaskError('KTASK_STATE', `Worker cannot start: it is ${this.#state}`)
    const { runtime } = this.#host
    if (insideIsolationChild()) {
      throw new KtaskError(
        'KTASK_STATE',
        "A worker cannot start inside an isolated handler's thread or process: the module it loads (the task's `module`) must define tasks, not start a worker",
        { field: 'module' },
      )
    }
    this.#state = 'starting'
    runtime.assertOpen()
    const abort = (this.#startAbort = new AbortController())
    let started: boolean
    try {
      const routes = this.#host.routes(this.options.queues, this.options.consumers)
      if (routes.length === 0)
        throw new KtaskError('KTASK_INVALID_CONFIG', 'Nothing to work on: no task queues or consumers are registered', { field: 'queues' })
      this.#isolated = this.#isolatedHandlers(routes)
      if (runtime.hasDatabase) runtime.reservePoolSize(this.options.concurrency + 4)
      started = await startWhenAvailable(
        () => this.#startOnce(routes),
        // Stopped during an attempt: whatever it started is closed once it is done.
        (attempt) => void attempt.then(() => this.#closeConsumers()),
        { timeoutMs: this.options.startTimeoutMs, signal: abort.signal, logger: runtime.logger },
      )
    } catch (err) {
      await this.#isolated?.close()
      this.#state = 'stopped'
      throw err
    }
    if (!started) {
      await this.#isolated?.close()
      this.#state = 'stopped'
      throw new KtaskError('KTASK_STATE', 'Worker stopped before it could start')
    }
    this.#releaseBackground = runtime.retainBackground()
    if (runtime.hasDatabase) {
      // Clocks drift; a failed measurement (Postgres away) keeps the last offset.
      this.#clockTimer = setInterval(() => void this.#measureClock().catch(() => {}), 60_000)
      this.#clockTimer.unref()
    }
    if (this.options.statsIntervalMs > 0) {
      this.#statsTimer = setInterval(() => runtime.logger.info({ stats: this.stats() }, 'worker stats'), this.options.statsIntervalMs)
      this.#statsTimer.unref()
    }
    this.#state = 'running'
    this.#events.emit('started', () => ({ groups: this.#consumers.map((c) => c.route.groupId) }))
  }

  /** Due times count in the database's time (store/database-time.ts): measure how far ours is from it. */
  async #measureClock(): Promise<void> {
    const { runtime } = this.#host
    const before = databaseTime.offsetMs()
    const offset = await databaseTime.measure(runtime.pool())
    // Said once when it becomes notable, not every minute.
    if (Math.abs(offset) >= NOTABLE_OFFSET_MS && Math.abs(before) < NOTABLE_OFFSET_MS)
      runtime.logger.warn(
        { clockOffsetMs: offset },
        `this machine's clock is ${Math.abs(offset)} ms ${offset > 0 ? 'behind' : 'ahead of'} the database's: due times (retries, delays, limits) follow the database's clock`,
      )
  }

  /** One attempt: migrations, then one consumer group per route; on failure what it started is closed. */
  async #startOnce(routes: Route[]): Promise<void> {
    const { runtime } = this.#host
    try {
      // With a database the DLQ record is kept there too (one DLQ record per message), whatever the specs use.
      if (runtime.hasDatabase) {
        await runtime.ensureMigrated()
        await this.#measureClock()
      }
      const semaphore = new Semaphore(this.options.concurrency)
      const handleLayers = handleLayersOf(this.#host.middleware?.() ?? [])
      this.#consumers = routes.map(
        (route) =>
          new GroupConsumer({
            runtime,
            route,
            options: this.options,
            semaphore,
            events: this.#events,
            stats: this.#stats,
            deadlines: this.#deadlines,
            hooks: this.#host.hooks,
            ...(this.#host.followUps ? { followUps: this.#host.followUps } : {}),
            ...(this.#isolated ? { isolated: this.#isolated } : {}),
            handleLayers,
          }),
      )
      for (const c of this.#consumers) c.onFatal = (error) => this.#crashed(error)
      await Promise.all(this.#consumers.map((c) => c.start()))
    } catch (err) {
      await this.#closeConsumers()
      throw err
    }
  }

  async #closeConsumers(): Promise<void> {
    const consumers = this.#consumers
    this.#consumers = []
    await Promise.all(consumers.map((c) => c.close()))
  }

  /** Graceful stop; safe to call more than once (later calls wait for the first). */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped'
      return
    }
    if (this.#state === 'starting') {
      // Waiting for the infrastructure (or in an attempt): end it; start() rejects and cleans up.
      this.#startAbort?.abort()
      return
    }
    this.#state = 'stopping'
    await this.#releaseBackground?.()
    clearInterval(this.#statsTimer)
    clearInterval(this.#clockTimer)
    for (const c of this.#consumers) c.pauseAll()
    const grace = setTimeout(() => {
      this.#host.runtime.logger.warn({ graceMs: this.options.shutdownGraceMs }, 'shutdown grace period over; aborting running handlers')
      this.#deadlines.abortAll()
    }, this.options.shutdownGraceMs)
    try {
      await Promise.all(this.#consumers.map((c) => c.drain()))
    } finally {
      clearTimeout(grace)
    }
    await Promise.all(this.#consumers.map((c) => c.close()))
    // In-flight handlers are done (or were given up on): their threads and processes end now.
    await this.#isolated?.close()
    this.#state = 'stopped'
    this.#events.emit('stopped', () => ({ groups: this.#consumers.map((c) => c.route.groupId) }))
  }

  /** The pools of isolated handlers, when a route has any; refuses one no module is known to load. */
  #isolatedHandlers(routes: Route[]): IsolatedHandlers | undefined {
    const host = this.#host.isolation
    if (!host || !routes.some((r) => [...r.specs.values()].some((s) => s.isolation))) return undefined
    const isolated = new IsolatedHandlers({
      prefix: host.prefix,
      task: host.task,
      event: host.event,
      appModule: host.appModule(),
      logLevel: this.#host.runtime.logger.level,
      logger: this.#host.runtime.logger,
      size: this.options.concurrency,
    })
    isolated.check(routes)
    return isolated
  }

  #crashed(error: unknown): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return
    this.#state = 'crashed'
    this.#host.runtime.logger.error({ err: error }, 'worker crashed')
  }
}
