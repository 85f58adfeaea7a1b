/**
 * The handle `app.task()` returns: enqueue one task or many. Arguments are validated against the task's
 * Avro schema before anything is produced; the broker acknowledges (acks = all) before enqueue resolves.
 */
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, isKtaskError } from '../errors.ts'
import type { OutgoingMessage } from '../producer/batching-producer.ts'
import { newTaskId, newTraceparent } from '../producer/ids.ts'
import { H } from '../retry/headers.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { taskSubject, type HandlerSpec } from '../routing/routes.ts'

export interface EnqueueOptions {
  /** Ordering key: tasks with the same key are handled in enqueue order. @defaultValue the task id */
  key?: string
  /** Your own task id (1-200 chars); enqueueing the same id twice runs the task once with the ledger. @defaultValue a new UUIDv7 */
  taskId?: string
  /** Extra string headers. A `traceparent` given here is propagated. @defaultValue `{}` */
  headers?: Record<string, string>
}

export interface EnqueueManyItem<Args> extends EnqueueOptions {
  args: Args
}

export interface Task<Args = unknown> {
  readonly name: string
  readonly queue: string
  /** The argument schema (Avro, as JSON). */
  readonly schema: Readonly<Record<string, unknown>>
  /** Whether state, progress and result are kept (`track: true`). */
  readonly tracked: boolean
  /** Validates, encodes and produces one task; resolves with its id once the broker acknowledged it. */
  enqueue(args: Args, options?: EnqueueOptions): Promise<{ taskId: string }>
  /**
   * Validates every item first (nothing is produced if one is invalid), then produces them in batches.
   * If the broker fails midway, some items may have been produced: retry with the same `taskId`s.
   */
  enqueueMany(items: EnqueueManyItem<Args>[]): Promise<{ taskIds: string[] }>
}

export interface TaskHandleDeps {
  runtime: AppRuntime
  config: ResolvedAppConfig
  spec: HandlerSpec
  queue: string
  topic: string
  partitions: number
  replicationFactor: number
  /** Called with the new task ids before they are produced (task-state tracking). */
  beforeProduce?: (taskIds: string[]) => Promise<void>
  /** Called when producing them failed (undo what beforeProduce recorded). */
  produceFailed?: (taskIds: string[]) => Promise<void>
}

export interface CreatedTaskHandle<Args> {
  handle: Task<Args>
  /**
   * What an enqueue does before producing: register the schema, create the topic, connect the producer.
   * Afterwards an enqueue only encodes and produces, which bounds its time (see enqueueBudgetMs).
   */
  prepare: () => Promise<void>
}

export function createTaskHandle<Args>(deps: TaskHandleDeps): CreatedTaskHandle<Args> {
  const { runtime, config, spec, topic } = deps
  let schemaId: Promise<number> | undefined
  const getSchemaId = (): Promise<number> => {
    schemaId ??= runtime.codec.register(taskSubject(config, spec.name), spec.type!).catch((err: unknown) => {
      schemaId = undefined
      throw err
    })
    return schemaId
  }

  const build = (id: number, args: unknown, options: EnqueueOptions, what: string): OutgoingMessage => {
    const taskId = options.taskId ?? newTaskId()
    if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 200) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: taskId must be a string of 1-200 characters`, { field: 'taskId' })
    }
    if (options.key !== undefined && typeof options.key !== 'string') {
      throw new KtaskError('KTASK_VALIDATION', `${what}: key must be a string`, { field: 'key' })
    }
    const value = runtime.codec.encode(id, spec.type!, args, what)
    const extra = options.headers ?? {}
    for (const [name, v] of Object.entries(extra)) {
      if (typeof v !== 'string')
        throw new KtaskError('KTASK_VALIDATION', `${what}: header "${name}" must be a string`, { field: `headers.${name}` })
    }
    return {
      topic,
      key: options.key ?? taskId,
      value,
      headers: {
        ...extra,
        [H.id]: taskId,
        [H.task]: spec.name,
        [H.attempt]: '1',
        [H.enqueuedAt]: String(Date.now()),
        [H.traceparent]: extra[H.traceparent] ?? newTraceparent(),
      },
    }
  }

  const ensureTopic = (): Promise<void> =>
    runtime.ensureTopics([{ topic, partitions: deps.partitions, replicationFactor: deps.replicationFactor }])

  const produce = async (messages: OutgoingMessage[]): Promise<void> => {
    await ensureTopic()
    const ids = messages.map((m) => m.headers[H.id]!)
    if (deps.beforeProduce) await deps.beforeProduce(ids)
    try {
      await runtime.producer().send(messages)
    } catch (err) {
      await deps.produceFailed?.(ids).catch(() => {})
      throw err
    }
  }

  const what = `Invalid args for task "${spec.name}"`
  const handle: Task<Args> = {
    name: spec.name,
    queue: deps.queue,
    schema: spec.type!.schema({ exportAttrs: true }) as Record<string, unknown>,
    tracked: spec.track,
    async enqueue(args, options = {}) {
      runtime.assertOpen()
      const message = build(await getSchemaId(), args, options, what)
      await produce([message])
      return { taskId: message.headers[H.id]! }
    },
    async enqueueMany(items) {
      runtime.assertOpen()
      if (!Array.isArray(items)) throw new KtaskError('KTASK_VALIDATION', `${what}: enqueueMany expects an array`, { field: 'items' })
      const id = await getSchemaId()
      const messages = items.map((item, i) => {
        try {
          return build(id, item?.args, item ?? {}, `${what} (items[${i}])`)
        } catch (err) {
          if (isKtaskError(err) && err.field) Object.assign(err, { field: `items[${i}].${err.field}` })
          throw err
        }
      })
      await produce(messages)
      return { taskIds: messages.map((m) => m.headers[H.id]!) }
    },
  }
  const prepare = async (): Promise<void> => {
    runtime.assertOpen()
    await getSchemaId()
    await ensureTopic()
    await runtime.producer().connect()
  }
  return { handle, prepare }
}
