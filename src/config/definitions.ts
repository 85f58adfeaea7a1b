/**
 * What users register: tasks (`app.task`) and consumers of other services' events (`app.consume`),
 * and the context their handlers receive.
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AvroSchemaInput } from '../codec/avro-codec.ts'
import type { Ordering, RetryOptions } from './options.ts'

export interface HandlerContext {
  /** The task id (tasks) or message id (events); stable across retries, replays and DLQ redrives. */
  taskId: string
  /** Same value as `taskId`: use it as the idempotency key of effects outside Postgres. */
  idempotencyKey: string
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number
  /** Aborted when the handler exceeds `timeoutMs`, or when the worker's shutdown grace period ends. */
  signal: AbortSignal
  /** pino child logger bound to group, topic, partition, offset and task id. */
  log: Logger
  /** The message's headers as strings. */
  headers: Record<string, string>
  /**
   * A node-postgres client inside the transaction that also writes the ledger row: effects written through
   * it commit exactly once. Throws if the app has no database or the definition set `transaction: false`.
   */
  tx: pg.ClientBase
  topic: string
  partition: number
  offset: string
  /** The message key, or null. */
  key: string | null
  /** The Kafka record's timestamp, ms since the epoch (when the producer created it, unless the topic uses log-append time). */
  timestamp: number
  /** Report progress (0..1, optional message); stored for tracked tasks, coalesced. */
  progress(fraction: number, message?: string): void
}

export type TaskContext = HandlerContext
export type EventContext = HandlerContext

interface HandlerDefinitionBase {
  /** Retry policy. @defaultValue `{ attempts: 3, backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 600000, jitter: true } }` */
  retry?: RetryOptions
  /** A run longer than this is aborted and counts as a failed attempt (stage `timeout`). @defaultValue `30_000` */
  timeoutMs?: number
  /** Record each message in the idempotency ledger (needs the database). @defaultValue `true` with a database */
  ledger?: boolean
  /** Run the handler inside a Postgres transaction exposed as `ctx.tx`. @defaultValue `true` with a database */
  transaction?: boolean
}

export interface TaskDefinition<Args = unknown, Result = unknown> extends HandlerDefinitionBase {
  /** Unique task name, e.g. `email.send`. */
  name: string
  /** Queue (topic `<prefix>.<queue>`) the task is enqueued to. */
  queue: string
  /** Avro schema of the arguments: a record schema object, its JSON text, an .avsc path, or an avsc Type. */
  schema: AvroSchemaInput
  handler: (args: Args, ctx: TaskContext) => Promise<Result> | Result
  /** Keep state, progress and result in `ktask.tasks` (see `app.status`). @defaultValue `false` */
  track?: boolean
}

/** Where the message id of an event comes from: a payload field (dotted path), a header, or a function. */
export type IdempotencyKeySource<Event> =
  | string
  | { header: string }
  | ((event: Event, meta: { topic: string; partition: number; offset: string; headers: Record<string, string> }) => string)

export interface ConsumeDefinition<Event = unknown> extends HandlerDefinitionBase {
  /** The topic another service publishes to (not created by ktask). */
  topic: string
  /** Consumer group; also names this consumer's retry and DLQ topics. Unique per app. */
  groupId: string
  /** Reader schema; without it events are decoded with the writer's schema. */
  schema?: AvroSchemaInput
  handler: (event: Event, ctx: EventContext) => unknown
  /** @defaultValue the `ktask-id` header, else `<topic>/<partition>/<offset>` */
  idempotencyKey?: IdempotencyKeySource<Event>
  /** @defaultValue `'partition'` */
  ordering?: Ordering
  /** Where a new group starts: the earliest retained event (true) or only new ones. @defaultValue `true` */
  fromBeginning?: boolean
}
