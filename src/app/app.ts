/**
 * `createApp()` — the entry point: define tasks and consumers, enqueue, run workers.
 */
import type {
  ConsumeDefinition,
  EventDefinition,
  EventType,
  FlowOptions,
  FlowResult,
  ScheduleDefinition,
  TaskDefinition,
} from '../config/definitions.ts'
import type { Signature } from '../flows/canvas.ts'
import type { AppOptions, WorkerOptions } from '../config/options.ts'
import type { Logger } from 'pino'
import { resolveAppOptions, resolveQueueOptions, type ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, configError } from '../errors.ts'
import { migrate, type MigrationResult } from '../store/migrate.ts'
import { getTask, type TaskStatus } from '../store/task-store.ts'
import { cancelTask } from '../store/cancel.ts'
import { getFlow, type FlowStatus } from '../store/flow-status.ts'
import { listSchedules, recordTriggered, setPaused, type ScheduleRow } from '../store/schedules.ts'
import { Scheduler, type ScheduleEntry } from '../schedules/scheduler.ts'
import { newTaskId } from '../producer/ids.ts'
import type { FollowUps } from '../worker/handler-context.ts'
import { TaskStateWriter } from '../store/task-state-writer.ts'
import type { ExecutionHooks } from '../worker/execution.ts'
import { AppWorker, type Worker } from '../worker/worker.ts'
import { appModuleOf, registerIsolatedHandler } from '../isolation/registry.ts'
import { consumerRoute, eventSpec, queueRoute, taskSpec, type HandlerSpec, type Route } from '../routing/routes.ts'
import { queueTopic } from '../topology/names.ts'
import { provisionRoute } from '../topology/provision.ts'
import { AppRuntime, type BackgroundPart } from '../runtime/app-runtime.ts'
import type { Registry } from 'prom-client'
import { attachHooks, checkMiddleware, type Middleware } from '../middleware/middleware.ts'
import { AppMetrics } from './app-metrics.ts'
import { registerInternals } from './internals.ts'
import { createEventType, eventInternals } from './event-handle.ts'
import { resolveSchedule, type DeclaredSchedule } from './schedules.ts'
import { createTaskHandle, taskInternals, type Task } from './task-handle.ts'
import { inTransaction } from './transactions.ts'
import { taskTrackingHooks } from './task-tracking.ts'
import { combineHooks, enqueueFlow, flowHooks, type FlowDeps } from './flows.ts'
import { createNotifier, isRetryableWebhookFailure, WEBHOOK_ARGS_SCHEMA, WEBHOOK_TASK, type Notifier, type WebhookArgs } from './notify.ts'

/**
 * An app: its tasks and consumers, and the clients they share. Its configuration and clients are private
 * (ktask's own HTTP service and CLI reach them through app/internals.ts), so they can change without
 * breaking users.
 */
export class App {
  readonly #config: ResolvedAppConfig
  readonly #runtime: AppRuntime
  readonly #tasks = new Map<string, { spec: HandlerSpec; queue: string; handle: Task<unknown> }>()
  readonly #schedules = new Map<string, DeclaredSchedule>()
  readonly #events: EventType<unknown>[] = []
  readonly #consumers = new Map<string, { def: ConsumeDefinition; spec: HandlerSpec }>()
  readonly #workers = new Set<Worker>()
  readonly #middleware: Middleware[] = []
  readonly #stateWriter: TaskStateWriter | undefined
  readonly #hooks: ExecutionHooks | undefined
  readonly #notifier: Notifier
  readonly #metrics: AppMetrics

  constructor(options: AppOptions = {}) {
    this.#config = resolveAppOptions(options)
    this.#runtime = new AppRuntime(this.#config)
    this.#notifier = createNotifier({
      config: this.#config,
      runtime: this.#runtime,
      delivery: () => taskInternals(this.#tasks.get(WEBHOOK_TASK)?.handle),
    })
    this.#metrics = new AppMetrics({
      runtime: this.#runtime,
      workers: () => this.#workers,
      routes: (queues, consumers) => this.#routes(queues, consumers),
      queueOf: (task) => this.#tasks.get(task)?.queue,
    })
    if (this.#runtime.hasDatabase) {
      this.#stateWriter = new TaskStateWriter(() => this.#runtime.pool(), this.logger)
      this.#hooks = combineHooks(
        taskTrackingHooks(this.#stateWriter),
        flowHooks(this.#flowDeps()),
        this.#notifier.hooks(),
        this.#metrics.hooks,
      )
      this.#runtime.addBackgroundPart(this.#scheduler())
    } else {
      this.#hooks = this.#metrics.hooks
    }
    if (this.#config.webhooks) this.#webhookTask(this.#config.webhooks)
    registerInternals(this, {
      config: this.#config,
      runtime: this.#runtime,
      routes: (queues, consumers) => this.#routes(queues, consumers),
      prepareTask: (name) => this.#prepareTask(name),
    })
  }

  #flowDeps(): FlowDeps {
    return {
      runtime: this.#runtime,
      scope: this.#config.prefix,
      task: (name) => taskInternals(this.#tasks.get(name)?.handle),
      notify: this.#notifier,
    }
  }

  /** The delivery task of webhooks: its queue's retries and DLQ are the webhooks' (see app/notify.ts). */
  #webhookTask(settings: NonNullable<ResolvedAppConfig['webhooks']>): void {
    if (!this.#runtime.hasDatabase) {
      throw configError(
        'webhooks',
        'needs a database (targets are kept in ktask.notify_targets), but the app was created with database: false',
      )
    }
    const notifier = this.#notifier
    this.task<WebhookArgs>({
      name: WEBHOOK_TASK,
      queue: settings.queue,
      schema: WEBHOOK_ARGS_SCHEMA,
      // Delivery is at least once by nature (the receiver deduplicates by webhook-id): no transaction is
      // held across the HTTP call.
      transaction: false,
      ledger: false,
      timeoutMs: settings.timeoutMs + 5000,
      retry: { attempts: settings.attempts, backoff: settings.backoff, retryable: isRetryableWebhookFailure },
      handler: (args, ctx) => notifier.deliver(args, ctx.signal),
    })
  }

  /** The app's pino logger (the `logger` option, or the one built from `logLevel`). */
  get logger(): Logger {
    return this.#config.logger
  }

  /**
   * Adds a middleware (user component): code around every enqueue (`enqueue`) and handler (`handle`), in
   * the order added, and hooks on outcomes and worker start/stop. Add it before creating workers.
   */
  use(middleware: Middleware): this {
    this.#middleware.push(checkMiddleware(middleware))
    return this
  }

  /** Defines a task; the returned handle enqueues it. Names are unique per app. */
  task<Args = unknown, Result = unknown>(definition: TaskDefinition<Args, Result>): Task<Args> {
    const spec = taskSpec(definition as TaskDefinition, this.#config.database)
    if (this.#tasks.has(spec.name)) throw configError('task.name', `task "${spec.name}" is already defined`)
    const queue = this.#config.queues[definition.queue] ?? resolveQueueOptions(definition.queue)
    const handle = createTaskHandle<unknown>({
      runtime: this.#runtime,
      config: this.#config,
      spec,
      queue: definition.queue,
      topic: queueTopic(this.#config.prefix, definition.queue),
      partitions: queue.partitions,
      replicationFactor: queue.replicationFactor,
      notify: this.#notifier,
      middleware: () => this.#middleware,
      flow: (flow, options, internal) => enqueueFlow(this.#flowDeps(), flow, options, internal),
    })
    this.#tasks.set(spec.name, { spec, queue: definition.queue, handle })
    // A thread or child process that imports the app's module finds the handler here.
    if (spec.isolation) registerIsolatedHandler(this.#config.prefix, spec.name, spec.handler)
    return handle
  }

  /**
   * Declares a domain event this service publishes: `publish(event, { tx? })` encodes it with its Avro
   * schema (subject `<topic>-value`) and produces it, or writes it to the outbox in your transaction.
   */
  event<Event = unknown>(definition: EventDefinition<Event>): EventType<Event> {
    const eventType = createEventType(this.#runtime, definition)
    this.#events.push(eventType)
    return eventType
  }

  /**
   * Declares a schedule: its task is enqueued at each slot of `cron` or `every`, by whichever worker (or
   * `ktask serve`) claims the slot first — never twice. Needs a database. Declare schedules before
   * starting workers; ones no longer declared are disabled, not deleted.
   */
  schedule<Args>(definition: ScheduleDefinition<Args>): void {
    if (!this.#runtime.hasDatabase) {
      throw configError('schedule', 'needs a database (slots are claimed in ktask.schedules), but the app was created with database: false')
    }
    const declared = resolveSchedule(definition, taskInternals)
    if (this.#schedules.has(declared.name)) throw configError('schedule.name', `schedule "${declared.name}" is already defined`)
    this.#schedules.set(declared.name, declared)
  }

  /** The schedules in the database for this app's prefix (also ones no longer declared), with their last and next run. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    this.#runtime.assertOpen()
    await this.#runtime.ensureMigrated()
    const rows = await listSchedules(this.#runtime.pool(), this.#config.prefix)
    const now = new Date()
    const seen = new Set<string>()
    const infos: ScheduleInfo[] = rows.map((row) => {
      seen.add(row.name)
      const declared = this.#schedules.get(row.name)
      const enabled = !row.paused && !row.removed
      return {
        ...row,
        declared: declared !== undefined,
        nextRunAt: enabled ? (declared?.slots.next(now) ?? row.nextSlot) : null,
      }
    })
    // Declared here but not yet in the database (no worker has run since).
    for (const [name, d] of this.#schedules) {
      if (seen.has(name)) continue
      infos.push({
        name,
        task: d.task,
        spec: d.spec,
        paused: false,
        removed: false,
        lastSlot: null,
        lastTaskId: null,
        lastFiredAt: null,
        nextSlot: null,
        fired: 0,
        skipped: 0,
        declared: true,
        nextRunAt: d.slots.next(now) ?? null,
      })
    }
    return infos.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Pauses a schedule (no slot fires until resumed); false when there is no such schedule in the database. */
  async pauseSchedule(name: string): Promise<boolean> {
    this.#runtime.assertOpen()
    await this.#runtime.ensureMigrated()
    return setPaused(this.#runtime.pool(), this.#config.prefix, name, true)
  }

  /** Resumes a paused schedule from now: the slots that passed while it was paused do not fire. */
  async resumeSchedule(name: string): Promise<boolean> {
    this.#runtime.assertOpen()
    await this.#runtime.ensureMigrated()
    return setPaused(this.#runtime.pool(), this.#config.prefix, name, false)
  }

  /** Enqueues a schedule's task now, outside its slots (through the outbox); resolves with the task id. */
  async triggerSchedule(name: string): Promise<{ taskId: string }> {
    this.#runtime.assertOpen()
    const declared = this.#schedules.get(name)
    if (!declared) {
      throw new KtaskError(
        'KTASK_NOT_FOUND',
        `No schedule "${name}" is declared in this app (known: ${[...this.#schedules.keys()].join(', ') || 'none'})`,
        {
          field: 'name',
        },
      )
    }
    await this.#runtime.ensureMigrated()
    const taskId = `${this.#config.prefix}:schedule:${name}:manual:${newTaskId()}`
    await inTransaction(this.#runtime.pool(), async (client) => {
      await declared.internals.writeInTransaction(client, declared.args, {}, taskId, `Invalid args for schedule "${name}"`)
      await recordTriggered(client, this.#config.prefix, name, taskId)
    })
    return { taskId }
  }

  /**
   * Enqueues a flow of steps (`chain`, `group`, `chord` of `task.step()`): every step is validated first
   * (unknown task, args that do not fit the schema: a KtaskError naming the step, nothing written), then
   * the flow and its first steps are written in one transaction (yours with `tx`). Each later step is
   * published in the transaction of the step it waited for, so every join fires exactly once. Needs a
   * database.
   */
  enqueueFlow(flow: Signature, options: FlowOptions = {}): Promise<FlowResult> {
    return enqueueFlow(this.#flowDeps(), flow, options)
  }
  /** A flow's state and every step's (task id, state, result or error, attempts); null when unknown. */
  async flowStatus(workflowId: string): Promise<FlowStatus | null> {
    this.#runtime.assertOpen()
    await this.#runtime.ensureMigrated()
    return getFlow(this.#runtime.pool(), this.#config.prefix, workflowId)
  }

  /**
   * Cancels a task that has not started: a delayed one waiting for its time, one not yet published from
   * the outbox, or one already queued (it is skipped when a worker reaches it). Resolves true when it
   * was cancelled — it will never run, and a tracked task becomes CANCELLED — and false when it already
   * ran, is running, or (tracked) is unknown or final. Needs a database.
   */
  async cancel(taskId: string): Promise<boolean> {
    this.#runtime.assertOpen()
    if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 200) {
      throw new KtaskError('KTASK_VALIDATION', 'cancel(taskId): taskId must be a string of 1-200 characters', { field: 'taskId' })
    }
    if (!this.#runtime.hasDatabase) {
      throw configError(
        'database',
        'cancel needs a database (it marks the task in ktask.inbox), but the app was created with database: false',
      )
    }
    await this.#runtime.ensureMigrated()
    const groups = this.queueNames().map((q) => queueTopic(this.#config.prefix, q))
    const result = await cancelTask(this.#runtime.pool(), taskId, (queue) => queueTopic(this.#config.prefix, queue), groups)
    if (result.cancelled) {
      this.logger.info({ taskId, stage: result.stage }, 'task cancelled')
      await this.#notifier.taskCancelled(taskId)
    }
    return result.cancelled
  }

  /** The scheduler every worker and `ktask serve` run (it does nothing while no schedule is declared). */
  #scheduler(): BackgroundPart {
    const runtime = this.#runtime
    let wakeRelay = (): void => {}
    const scheduler = new Scheduler({
      pool: () => runtime.pool(),
      ready: () => runtime.ensureMigrated(),
      logger: this.logger,
      scope: this.#config.prefix,
      entries: () =>
        [...this.#schedules.values()].map((d): ScheduleEntry => ({
          ...d,
          fire: async (db, taskId) => {
            await d.internals.writeInTransaction(db, d.args, {}, taskId, `Invalid args for schedule "${d.name}"`)
          },
        })),
      wakeRelay: () => wakeRelay(),
    })
    return {
      start: (parts) => {
        wakeRelay = parts.wakeRelay
        scheduler.start()
      },
      stop: () => scheduler.stop(),
    }
  }

  /** Consumes domain events another service publishes to `topic`, in consumer group `groupId`. */
  consume<Event = unknown>(definition: ConsumeDefinition<Event>): void {
    const spec = eventSpec(definition as ConsumeDefinition, this.#config.database)
    if (this.#consumers.has(definition.groupId))
      throw configError('consume.groupId', `a consumer with group "${definition.groupId}" is already registered`)
    this.#consumers.set(definition.groupId, { def: definition as ConsumeDefinition, spec })
  }

  /** A registered task's handle, by name (throws KTASK_UNKNOWN_TASK). */
  getTask(name: string): Task<unknown> {
    const entry = this.#tasks.get(name)
    if (!entry) throw new KtaskError('KTASK_UNKNOWN_TASK', `Unknown task "${name}"`, { field: 'name' })
    return entry.handle
  }

  /** See AppInternals.prepareTask. */
  async #prepareTask(name: string): Promise<void> {
    await taskInternals(this.getTask(name))!.prepare()
  }

  /** Names of the registered tasks. */
  taskNames(): string[] {
    return [...this.#tasks.keys()]
  }

  /** Queue names that have at least one task. */
  queueNames(): string[] {
    return [...new Set([...this.#tasks.values()].map((t) => t.queue))]
  }

  /** Group ids of the registered consumers. */
  consumerGroups(): string[] {
    return [...this.#consumers.keys()]
  }

  /** Creates a worker for the given queues / consumers (default: all of them). Call `start()` on it. */
  worker(options: WorkerOptions = {}): Worker {
    this.#runtime.assertOpen()
    const worker = new AppWorker(
      {
        runtime: this.#runtime,
        routes: (q, c) => this.#routes(q, c),
        hooks: this.#hooks,
        middleware: () => this.#middleware,
        isolation: {
          prefix: this.#config.prefix,
          appModule: () => appModuleOf(this),
          task: (name) => this.#tasks.get(name)?.handle,
          event: (topic) => this.#events.find((e) => e.topic === topic),
        },
        followUps: {
          ...followUps,
          flow: (db, flow, options, id) => {
            if ((options as FlowOptions).tx !== undefined) {
              throw new KtaskError('KTASK_VALIDATION', "ctx.enqueueFlow: tx cannot be given (the transaction is the handler's)", {
                field: 'tx',
              })
            }
            return enqueueFlow(this.#flowDeps(), flow as Signature, { ...options, tx: db }, { workflowId: id })
          },
        },
      },
      { ...this.#config.worker, ...withoutUndefined(options) },
    )
    this.#workers.add(worker)
    attachHooks(worker, this.#middleware, this.logger)
    this.#metrics.workerCreated(worker)
    return worker
  }

  /**
   * The app's Prometheus registry (prom-client): task outcomes, enqueues, handler durations, consumer lag,
   * paused partitions, DLQ sizes, due timers, the database pool and Node.js process metrics of the workers
   * in this process. Serve `await registry.metrics()` yourself, or use `ktask worker --metrics-port` /
   * `ktask serve` (`GET /metrics`). Counting starts with the first call.
   */
  metrics(): Registry {
    return this.#metrics.registry()
  }

  /** The routes a worker runs. */
  #routes(queues: string[] | undefined, consumers: string[] | undefined): Route[] {
    const everything = queues === undefined && consumers === undefined
    const wantedQueues = queues ?? (everything ? this.queueNames() : [])
    const wantedConsumers = consumers ?? (everything ? this.consumerGroups() : [])
    const routes: Route[] = []
    for (const queue of wantedQueues) {
      const specs = [...this.#tasks.values()].filter((t) => t.queue === queue).map((t) => t.spec)
      if (specs.length === 0) {
        throw configError('queues', `no task is defined on queue "${queue}" (known: ${this.queueNames().join(', ') || 'none'})`)
      }
      routes.push(queueRoute(this.#config, queue, specs))
    }
    for (const group of wantedConsumers) {
      const entry = this.#consumers.get(group)
      if (!entry) throw configError('consumers', `no consumer with group "${group}" (known: ${this.consumerGroups().join(', ') || 'none'})`)
      routes.push(consumerRoute(this.#config, entry.def, entry.spec))
    }
    return routes
  }

  /**
   * State, progress, result and error of a task defined with `track: true`; null for an unknown id.
   * Needs the database.
   */
  async status(taskId: string): Promise<TaskStatus | null> {
    this.#runtime.assertOpen()
    await this.#runtime.ensureMigrated()
    return getTask(this.#runtime.pool(), taskId)
  }

  /** Applies ktask's Postgres migrations (also done automatically when a worker starts). */
  async migrate(): Promise<MigrationResult> {
    return migrate(this.#runtime.pool())
  }

  /**
   * Creates the topics of every queue (source, retry tiers, DLQ) and of every declared event (registering
   * its schema) without starting a worker.
   */
  async provision(): Promise<void> {
    for (const eventType of this.#events) await eventInternals(eventType)!.prepare()
    for (const queue of this.queueNames()) {
      await provisionRoute(this.#runtime, this.#routes([queue], [])[0]!)
    }
  }

  /** Stops this app's workers, then closes the producer, admin client and database pool. */
  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((w) => w.stop()))
    await this.#stateWriter?.close()
    await this.#runtime.close()
  }
}

/** A schedule as `listSchedules()` shows it. */
export interface ScheduleInfo extends ScheduleRow {
  /** Declared in this app's code (false: removed from the code, kept disabled). */
  declared: boolean
  /** When it fires next (null while paused or removed). */
  nextRunAt: Date | null
}

/** ctx.enqueue / ctx.publish: the handle's own validation and encoding, written in the handler's transaction. */
const followUps: Omit<FollowUps, 'flow'> = {
  async enqueue(db, task, args, options, id) {
    const internals = taskInternals(task)
    if (!internals)
      throw new KtaskError('KTASK_VALIDATION', 'ctx.enqueue(task, …): task must be a handle returned by app.task()', { field: 'task' })
    for (const field of ['taskId', 'tx'] as const) {
      if ((options as Record<string, unknown>)[field] !== undefined) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `ctx.enqueue: ${field} cannot be given (the id is derived, the transaction is the handler's)`,
          { field },
        )
      }
    }
    return internals.writeInTransaction(db, args, options, id, `Invalid args for task "${internals.spec.name}" (ctx.enqueue)`)
  },
  async publish(db, eventType, event, options, id) {
    const internals = eventInternals(eventType)
    if (!internals)
      throw new KtaskError('KTASK_VALIDATION', 'ctx.publish(eventType, …): eventType must be a handle returned by app.event()', {
        field: 'eventType',
      })
    if ((options as Record<string, unknown>).tx !== undefined) {
      throw new KtaskError('KTASK_VALIDATION', "ctx.publish: tx cannot be given (the transaction is the handler's)", { field: 'tx' })
    }
    return internals.writeInTransaction(db, event, options, options.eventId ?? id)
  },
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Creates an app. Options are validated here; a bad one throws KTASK_INVALID_CONFIG naming it. */
export function createApp(options: AppOptions = {}): App {
  return new App(options)
}
