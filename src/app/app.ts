/**
 * `createApp()` — the entry point: define tasks and consumers, enqueue, run workers.
 */
import type { ConsumeDefinition, TaskDefinition } from '../config/definitions.ts'
import type { AppOptions, WorkerOptions } from '../config/options.ts'
import type { Logger } from 'pino'
import { resolveAppOptions, resolveQueueOptions, type ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, configError } from '../errors.ts'
import { migrate, type MigrationResult } from '../store/migrate.ts'
import { getTask, insertPending, type TaskStatus } from '../store/task-store.ts'
import { TaskStateWriter } from '../store/task-state-writer.ts'
import type { ExecutionHooks } from '../worker/execution.ts'
import { AppWorker, type Worker } from '../worker/worker.ts'
import { consumerRoute, eventSpec, queueRoute, taskSpec, type HandlerSpec, type Route } from '../routing/routes.ts'
import { queueTopic } from '../topology/names.ts'
import { provisionRoute } from '../topology/provision.ts'
import { AppRuntime } from '../runtime/app-runtime.ts'
import { registerInternals } from './internals.ts'
import { createTaskHandle, type Task } from './task-handle.ts'
import { taskTrackingHooks } from './task-tracking.ts'

/**
 * An app: its tasks and consumers, and the clients they share. Its configuration and clients are private
 * (ktask's own HTTP service and CLI reach them through app/internals.ts), so they can change without
 * breaking users.
 */
export class App {
  readonly #config: ResolvedAppConfig
  readonly #runtime: AppRuntime
  readonly #tasks = new Map<string, { spec: HandlerSpec; queue: string; handle: Task<unknown>; prepare: () => Promise<void> }>()
  readonly #consumers = new Map<string, { def: ConsumeDefinition; spec: HandlerSpec }>()
  readonly #workers = new Set<Worker>()
  readonly #stateWriter: TaskStateWriter | undefined
  readonly #hooks: ExecutionHooks | undefined

  constructor(options: AppOptions = {}) {
    this.#config = resolveAppOptions(options)
    this.#runtime = new AppRuntime(this.#config)
    if (this.#runtime.hasDatabase) {
      this.#stateWriter = new TaskStateWriter(() => this.#runtime.pool(), this.logger)
      this.#hooks = taskTrackingHooks(this.#stateWriter)
    }
    registerInternals(this, {
      config: this.#config,
      runtime: this.#runtime,
      routes: (queues, consumers) => this.#routes(queues, consumers),
      prepareTask: (name) => this.#prepareTask(name),
    })
  }

  /** The app's pino logger (the `logger` option, or the one built from `logLevel`). */
  get logger(): Logger {
    return this.#config.logger
  }

  /** Defines a task; the returned handle enqueues it. Names are unique per app. */
  task<Args = unknown, Result = unknown>(definition: TaskDefinition<Args, Result>): Task<Args> {
    const spec = taskSpec(definition as TaskDefinition, this.#config.database)
    if (this.#tasks.has(spec.name)) throw configError('task.name', `task "${spec.name}" is already defined`)
    const queue = this.#config.queues[definition.queue] ?? resolveQueueOptions(definition.queue)
    const { handle, prepare } = createTaskHandle<unknown>({
      runtime: this.#runtime,
      config: this.#config,
      spec,
      queue: definition.queue,
      topic: queueTopic(this.#config.prefix, definition.queue),
      partitions: queue.partitions,
      replicationFactor: queue.replicationFactor,
      ...(spec.track
        ? {
            // Visible as PENDING before the broker has it: the caller can poll its status at once.
            beforeProduce: async (ids: string[]) => {
              await this.#runtime.ensureMigrated()
              await insertPending(this.#runtime.pool(), ids, spec.name, definition.queue)
            },
            produceFailed: async (ids: string[]) => {
              await this.#runtime.pool().query(`DELETE FROM ktask.tasks WHERE task_id = ANY($1) AND state = 'PENDING'`, [ids])
            },
          }
        : {}),
    })
    this.#tasks.set(spec.name, { spec, queue: definition.queue, handle, prepare })
    return handle
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
    this.getTask(name)
    await this.#tasks.get(name)!.prepare()
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
      { runtime: this.#runtime, routes: (q, c) => this.#routes(q, c), hooks: this.#hooks },
      { ...this.#config.worker, ...withoutUndefined(options) },
    )
    this.#workers.add(worker)
    return worker
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

  /** Creates the topics of every queue (source, retry tiers, DLQ) without starting a worker. */
  async provision(): Promise<void> {
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

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Creates an app. Options are validated here; a bad one throws KTASK_INVALID_CONFIG naming it. */
export function createApp(options: AppOptions = {}): App {
  return new App(options)
}
