/**
 * The handle `app.task()` returns: enqueue one task or many. Arguments are validated against the task's
 * Avro schema before anything is written or produced.
 *
 * Two ways out:
 * - at once, without `tx`: produced directly; resolves once the broker acknowledged (acks = all);
 * - with `tx` (the caller's transaction) or a delay: written to Postgres — the outbox, or a timer when it
 *   is delayed — and published by the relay (outbox/relay.ts), with the id fixed now.
 */
import type {
  EnqueueManyItem,
  EnqueueOptions,
  EnqueueResult,
  FlowOptions,
  FlowResult,
  FollowUpOptions,
  NotifyTarget,
  Task,
  TransactionClient,
} from '../config/definitions.ts'
import type { StepSignature } from '../flows/canvas.ts'
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, isKtaskError } from '../errors.ts'
import { stepOf } from '../flows/canvas.ts'
import type { OutgoingMessage } from '../producer/batching-producer.ts'
import { derivedId, newTaskId } from '../producer/ids.ts'
import { traceHeaders } from '../observability/tracing.ts'
import { resolveTiming, type Timing } from '../producer/timing.ts'
import { H } from '../retry/headers.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { taskSubject, type HandlerSpec } from '../routing/routes.ts'
import { insertOutbox, insertTimers } from '../store/outbox.ts'
import type { Queryable } from '../store/queryable.ts'
import { insertPending, insertTracked } from '../store/task-store.ts'
import { compose, enqueueLayers, type EnqueueContext, type Middleware } from '../middleware/middleware.ts'
import { inTransaction } from './transactions.ts'

export type { EnqueueManyItem, EnqueueOptions, Task }

/** Checks and stores `notify` targets (app/notify.ts implements it). */
export interface NotifyTargets {
  /** Throws KTASK_VALIDATION / KTASK_INVALID_CONFIG naming `field`; returns the target to store. */
  check(target: unknown, field: string): NotifyTarget
  saveMany(db: Queryable, targets: { ownerId: string; target: NotifyTarget }[]): Promise<void>
}

export interface TaskHandleDeps {
  runtime: AppRuntime
  config: ResolvedAppConfig
  spec: HandlerSpec
  queue: string
  topic: string
  partitions: number
  replicationFactor: number
  /** `notify` targets (app/notify.ts). */
  notify: NotifyTargets
  /** The app's middleware (`app.use`), in registration order. */
  middleware(): readonly Middleware[]
  /** `link` / `linkError`: the task runs as a one-step flow with those callbacks (app/flows.ts). */
  flow(flow: StepSignature, options: FlowOptions, internal: { workflowId: string }): Promise<FlowResult>
}

/** What ktask itself does with a task handle besides its public methods. */
export interface TaskInternals {
  readonly spec: HandlerSpec
  /**
   * Register the schema, create the topic and connect the producer, so that the next enqueue only
   * encodes and produces (which bounds its time; see enqueueBudgetMs).
   */
  prepare(): Promise<void>
  /** Validates and encodes args as an enqueue would (KTASK_VALIDATION naming the field), writing nothing. */
  validateArgs(args: unknown, what: string): Promise<void>
  /** Writes one task to the outbox (or a timer) on `db`, in the caller's transaction, with the id given. */
  writeInTransaction(db: Queryable, args: unknown, options: FollowUpOptions, taskId: string, what: string): Promise<EnqueueResult>
  /** Several at once (one statement per table): all are validated and encoded before anything is written. */
  writeManyInTransaction(db: Queryable, items: { args: unknown; options: FollowUpOptions; taskId: string; what: string }[]): Promise<void>
}

const REGISTRY = Symbol.for('ktask.task.internals')
const shared = globalThis as { [REGISTRY]?: WeakMap<object, TaskInternals> }
const registry = (shared[REGISTRY] ??= new WeakMap())

/** The internals of a handle made by `app.task()`; undefined for anything else. */
export function taskInternals(handle: unknown): TaskInternals | undefined {
  return handle !== null && typeof handle === 'object' ? registry.get(handle) : undefined
}

interface Built {
  message: OutgoingMessage
  taskId: string
  args: unknown
  timing: Timing | undefined
  notify: NotifyTarget | undefined
}

export function createTaskHandle<Args>(deps: TaskHandleDeps): Task<Args> {
  const { runtime, config, spec, topic } = deps
  let schemaId: Promise<number> | undefined
  const getSchemaId = (): Promise<number> => {
    schemaId ??= runtime.codec.register(taskSubject(config, spec.name), spec.type!).catch((err: unknown) => {
      schemaId = undefined
      throw err
    })
    return schemaId
  }

  const build = (id: number, args: unknown, options: EnqueueOptions, what: string, prefix = ''): Built => {
    const taskId = options.taskId ?? newTaskId()
    if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 200) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: taskId must be a string of 1-200 characters`, { field: `${prefix}taskId` })
    }
    if (options.key !== undefined && typeof options.key !== 'string') {
      throw new KtaskError('KTASK_VALIDATION', `${what}: key must be a string`, { field: `${prefix}key` })
    }
    const timing = resolveTiming(options, { what, prefix, hasDatabase: runtime.hasDatabase })
    const notify = options.notify === undefined ? undefined : deps.notify.check(options.notify, `${prefix}notify`)
    const value = runtime.codec.encode(id, spec.type!, args, what)
    const extra = options.headers ?? {}
    for (const [name, v] of Object.entries(extra)) {
      if (typeof v !== 'string')
        throw new KtaskError('KTASK_VALIDATION', `${what}: header "${name}" must be a string`, { field: `${prefix}headers.${name}` })
    }
    const message: OutgoingMessage = {
      topic,
      key: options.key ?? taskId,
      value,
      headers: {
        // The caller's active span (none without one); a traceparent given in `headers` wins.
        ...(extra[H.traceparent] === undefined ? traceHeaders() : {}),
        ...extra,
        [H.id]: taskId,
        [H.task]: spec.name,
        [H.attempt]: '1',
        [H.enqueuedAt]: String(Date.now()),
        ...(notify ? { [H.notify]: '1' } : {}),
      },
    }
    return { message, taskId, args, timing, notify }
  }

  /**
   * Runs the app's `enqueue` middleware around `next` (which produces or writes `built`). Headers they set
   * are checked (strings only) and ktask's own `ktask-*` headers are put back before `next`.
   */
  const throughMiddleware = async <T>(built: Built[], transactional: boolean, next: () => Promise<T>): Promise<T> => {
    const layers = enqueueLayers(deps.middleware())
    if (layers.length === 0) return next()
    const own = built.map((b) => Object.entries(b.message.headers).filter(([name]) => name.startsWith('ktask-')))
    const ctx: EnqueueContext = {
      task: spec.name,
      queue: deps.queue,
      messages: built.map((b) => ({ taskId: b.taskId, args: b.args, headers: b.message.headers })),
      transactional,
    }
    let result: T | undefined
    await compose(layers, ctx, async () => {
      built.forEach((b, i) => {
        for (const [name, value] of Object.entries(b.message.headers)) {
          if (typeof value !== 'string') {
            throw new KtaskError('KTASK_VALIDATION', `enqueue middleware set header "${name}" to a ${typeof value}; headers are strings`, {
              field: `headers.${name}`,
            })
          }
        }
        Object.assign(b.message.headers, Object.fromEntries(own[i]!))
      })
      result = await next()
    })
    return result as T
  }

  const ensureTopic = (): Promise<void> =>
    runtime.ensureTopics([{ topic, partitions: deps.partitions, replicationFactor: deps.replicationFactor }])

  /** At once, without a transaction: straight to the broker (tracked tasks are PENDING before it). */
  const produce = async (built: Built[]): Promise<void> => {
    const ids = built.map((b) => b.taskId)
    // Stored first: a target without its task is harmless (pruned), a task without its target is not.
    if (built.some((b) => b.notify)) {
      await runtime.ensureMigrated()
      await deps.notify.saveMany(runtime.pool(), notifyTargets(built))
    }
    if (spec.track) {
      await runtime.ensureMigrated()
      await insertPending(runtime.pool(), ids, spec.name, deps.queue)
    }
    try {
      await runtime.producer().send(built.map((b) => b.message))
      runtime.metrics?.enqueued(deps.queue, spec.name, built.length)
    } catch (err) {
      if (spec.track) {
        await runtime
          .pool()
          .query(`DELETE FROM ktask.tasks WHERE task_id = ANY($1) AND state = 'PENDING'`, [ids])
          .catch(() => {})
      }
      throw err
    }
  }

  /** Through Postgres: the outbox (at once) or a timer (delayed), and the tracked state, on `db`. */
  const write = async (db: Queryable, built: Built[]): Promise<Map<string, Date>> => {
    const now = built.filter((b) => !b.timing)
    const timed = built.filter((b) => b.timing)
    await deps.notify.saveMany(db, notifyTargets(built))
    await insertOutbox(
      db,
      now.map((b) => ({ ...b.message, messageId: b.taskId })),
    )
    const due = await insertTimers(
      db,
      timed.map((b) => ({ ...b.message, messageId: b.taskId, ...b.timing })),
    )
    if (spec.track) {
      await insertTracked(db, spec.name, deps.queue, [
        ...now.map((b) => ({ taskId: b.taskId, state: 'PENDING' as const, runAt: null })),
        ...timed.map((b) => ({ taskId: b.taskId, state: 'SCHEDULED' as const, runAt: due.get(b.taskId) ?? null })),
      ])
    }
    runtime.metrics?.enqueued(deps.queue, spec.name, built.length)
    return due
  }

  const checkTx = (tx: unknown, what: string): TransactionClient | undefined => {
    if (tx === undefined) return undefined
    if (tx === null || typeof (tx as TransactionClient).query !== 'function') {
      throw new KtaskError('KTASK_VALIDATION', `${what}: tx must be a node-postgres client (in your transaction)`, { field: 'tx' })
    }
    if (!runtime.hasDatabase) {
      throw new KtaskError(
        'KTASK_INVALID_CONFIG',
        `${what}: tx needs the app's database (its relay publishes the outbox), but the app was created with database: false`,
        { field: 'tx' },
      )
    }
    return tx as TransactionClient
  }

  const notifyTargets = (built: Built[]): { ownerId: string; target: NotifyTarget }[] =>
    built.flatMap((b) => (b.notify ? [{ ownerId: b.taskId, target: b.notify }] : []))

  const enqueueBuilt = async (built: Built[], tx: TransactionClient | undefined): Promise<Map<string, Date>> => {
    await ensureTopic()
    if (!tx && built.every((b) => !b.timing)) {
      await produce(built)
      return new Map()
    }
    await runtime.ensureMigrated()
    if (tx) return write(tx, built)
    return inTransaction(runtime.pool(), (client) => write(client, built))
  }

  const what = `Invalid args for task "${spec.name}"`

  /**
   * `link` / `linkError` (Celery's callbacks): the task runs as a one-step flow whose onSuccess /
   * onFailure they are, so each runs once, after the task's outcome is durable. Its id is the flow's step.
   */
  const enqueueLinked = async (args: unknown, options: EnqueueOptions): Promise<EnqueueResult> => {
    for (const field of ['taskId', 'delayMs', 'runAt'] as const) {
      if (options[field] !== undefined) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `${what}: ${field} cannot be combined with link / linkError (the task runs as a flow step)`,
          {
            field,
          },
        )
      }
    }
    if (options.headers !== undefined) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: headers cannot be combined with link / linkError`, { field: 'headers' })
    }
    const workflowId = newTaskId()
    const { workflowId: id } = await deps.flow(
      stepOf(spec.name, { given: true, value: args }, options.key === undefined ? {} : { key: options.key }),
      {
        ...(options.tx === undefined ? {} : { tx: options.tx }),
        ...(options.link === undefined ? {} : { onSuccess: options.link }),
        ...(options.linkError === undefined ? {} : { onFailure: options.linkError }),
        ...(options.notify === undefined ? {} : { notify: options.notify }),
      },
      { workflowId },
    )
    return { taskId: derivedId('flow', id, '0'), workflowId: id }
  }
  const handle: Task<Args> = {
    name: spec.name,
    queue: deps.queue,
    schema: spec.type!.schema({ exportAttrs: true }) as Record<string, unknown>,
    tracked: spec.track,
    async enqueue(args, options = {}) {
      runtime.assertOpen()
      if (options.link !== undefined || options.linkError !== undefined) return enqueueLinked(args, options)
      const tx = checkTx(options.tx, what)
      const built = build(await getSchemaId(), args, options, what)
      const due = await throughMiddleware([built], tx !== undefined || built.timing !== undefined, () => enqueueBuilt([built], tx))
      const runAt = due.get(built.taskId)
      return runAt ? { taskId: built.taskId, runAt } : { taskId: built.taskId }
    },
    async enqueueMany(items, options = {}) {
      runtime.assertOpen()
      if (!Array.isArray(items)) throw new KtaskError('KTASK_VALIDATION', `${what}: enqueueMany expects an array`, { field: 'items' })
      const tx = checkTx(options.tx, what)
      const id = await getSchemaId()
      const built = items.map((item, i) => {
        try {
          return build(id, item?.args, item ?? {}, `${what} (items[${i}])`, `items[${i}].`)
        } catch (err) {
          if (isKtaskError(err) && err.field && !err.field.startsWith('items[')) Object.assign(err, { field: `items[${i}].${err.field}` })
          throw err
        }
      })
      const due = await throughMiddleware(built, tx !== undefined || built.some((b) => b.timing), () => enqueueBuilt(built, tx))
      const taskIds = built.map((b) => b.taskId)
      return due.size === 0 ? { taskIds } : { taskIds, runAt: taskIds.map((t) => due.get(t)) }
    },
    step(args, options) {
      return stepOf(spec.name, args === undefined ? { given: false } : { given: true, value: args }, options)
    },
  }
  registry.set(handle, {
    spec,
    prepare: async () => {
      runtime.assertOpen()
      await getSchemaId()
      await ensureTopic()
      await runtime.producer().connect()
    },
    async validateArgs(args, argsWhat) {
      runtime.codec.encode(await getSchemaId(), spec.type!, args, argsWhat)
    },
    async writeInTransaction(db, args, options, taskId, followUpWhat) {
      runtime.assertOpen()
      const built = build(await getSchemaId(), args, { ...options, taskId }, followUpWhat)
      await ensureTopic()
      const due = await throughMiddleware([built], true, () => write(db, [built]))
      const runAt = due.get(taskId)
      return runAt ? { taskId, runAt } : { taskId }
    },
    async writeManyInTransaction(db, items) {
      runtime.assertOpen()
      if (items.length === 0) return
      const id = await getSchemaId()
      const built = items.map((i) => build(id, i.args, { ...i.options, taskId: i.taskId }, i.what))
      await ensureTopic()
      await throughMiddleware(built, true, () => write(db, built))
    },
  })
  return handle
}
