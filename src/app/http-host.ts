/**
 * What the HTTP service needs of an app, as one small interface: http/ depends on this, never on the
 * App's internals or on runtime/, and a test can fake it without casts.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { enqueueBudgetMs } from '../producer/enqueue-budget.ts'
import type { FlowStatus } from '../store/flow-status.ts'
import { statementBudgetMs } from '../store/pool.ts'
import { getTasks, type TaskStatus } from '../store/task-store.ts'
import type { App, ScheduleInfo } from './app.ts'
import { internals } from './internals.ts'
import { operationsHost, type OperationsHost } from './operations-host.ts'
import type { Task } from './task-handle.ts'

export type { ScheduleInfo }

/** The dashboard's operations (operations-host.ts) are part of it. */
export interface HttpHost extends OperationsHost {
  readonly logger: Logger
  /** False when the app was created with `database: false`. */
  readonly hasDatabase: boolean
  /** The app's schema registry: readiness checks it with a client of its own, with these credentials. */
  readonly registry: { url: string; auth?: { username: string; password: string } | undefined; timeoutMs: number }
  /**
   * The longest a prepared enqueue, and one statement of the pool, can take (Infinity: unbounded); an
   * Idempotency-Key claim is taken over only once its holder cannot be working any more.
   */
  readonly budgets: { enqueueMs: number; statementMs: number }
  taskNames(): string[]
  /** Throws KTASK_UNKNOWN_TASK. */
  getTask(name: string): Task<unknown>
  /** Schema registered, topic created, producer connected: the next enqueue only produces. */
  prepareTask(name: string): Promise<void>
  status(taskId: string): Promise<TaskStatus | null>
  /** The statuses of those ids that have one, in one statement. */
  statuses(taskIds: string[]): Promise<Map<string, TaskStatus>>
  /** See App.flowStatus: the flow and its steps; null when no flow of the app's prefix has this id. */
  flowStatus(workflowId: string): Promise<FlowStatus | null>
  /** The flows of those ids that exist, read one after another (one pool connection at a time). */
  flowStatuses(workflowIds: string[]): Promise<Map<string, FlowStatus>>
  /** See App.cancel: true when the task will never run. Throws KTASK_INVALID_CONFIG without a database. */
  cancel(taskId: string): Promise<boolean>
  /** See App.listSchedules; none without a database (an app without one cannot declare schedules). */
  listSchedules(): Promise<ScheduleInfo[]>
  /** The pool, migrated; throws KTASK_INVALID_CONFIG without a database. */
  database(): Promise<pg.Pool>
  /** Resolves when Kafka answers (cluster metadata). */
  pingKafka(): Promise<unknown>
  /** Resolves when Postgres answers. */
  pingDatabase(): Promise<unknown>
  /** Runs the background (pruner, outbox relay, timers, schedules) while the service runs; call the returned function to stop. */
  retainBackground(): () => Promise<void>
}

/** What an enqueue and one statement can take with these settings (see HttpHost.budgets). */
export function budgetsOf(config: Pick<ResolvedAppConfig, 'kafka' | 'database'>): HttpHost['budgets'] {
  return {
    enqueueMs: enqueueBudgetMs(config),
    statementMs: config.database ? statementBudgetMs(config.database.statementTimeoutMs) : 0,
  }
}

/** The app as the HTTP service sees it. */
export function httpHost(app: App): HttpHost {
  const parts = internals(app)
  const { config, runtime } = parts
  const database = async (): Promise<pg.Pool> => {
    runtime.assertOpen()
    await runtime.ensureMigrated()
    return runtime.pool()
  }
  return {
    ...operationsHost(app),
    logger: app.logger,
    hasDatabase: runtime.hasDatabase,
    registry: config.schemaRegistry,
    budgets: budgetsOf(config),
    taskNames: () => app.taskNames(),
    getTask: (name) => app.getTask(name),
    prepareTask: (name) => parts.prepareTask(name),
    status: (taskId) => app.status(taskId),
    statuses: async (taskIds) => getTasks(await database(), taskIds),
    flowStatus: (workflowId) => app.flowStatus(workflowId),
    flowStatuses: async (workflowIds) => {
      const found = new Map<string, FlowStatus>()
      for (const id of workflowIds) {
        const flow = await app.flowStatus(id)
        if (flow) found.set(id, flow)
      }
      return found
    },
    cancel: (taskId) => app.cancel(taskId),
    listSchedules: async () => (runtime.hasDatabase ? app.listSchedules() : []),
    database,
    pingKafka: async () => (await runtime.admin()).describeCluster(),
    pingDatabase: () => runtime.pool().query('SELECT 1'),
    retainBackground: () => runtime.retainBackground(),
  }
}
