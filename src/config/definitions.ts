/**
 * What users register — tasks (`app.task`), consumers of other services' events (`app.consume`), the
 * events they publish (`app.event`) and schedules (`app.schedule`) — the handles they get back, and the
 * context their handlers receive.
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AvroSchemaInput } from '../codec/avro-codec.ts'
import type { StepOptions, StepSignature } from '../flows/canvas.ts'
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
  /**
   * Enqueues a follow-up task in `ctx.tx`, through the outbox: it exists if and only if this handler's
   * transaction commits. Its id is derived from this message's id and the call's position, so a handler
   * that runs again enqueues nothing new. Needs `ctx.tx`.
   */
  enqueue<Args>(task: Task<Args>, args: Args, options?: FollowUpOptions): Promise<EnqueueResult>
  /** Publishes a domain event in `ctx.tx`, through the outbox (see `enqueue`). Needs `ctx.tx`. */
  publish<Event>(eventType: EventType<Event>, event: Event, options?: Omit<PublishOptions, 'tx'>): Promise<PublishResult>
  /** In a flow: its workflow id; undefined outside flows. */
  readonly workflowId: string | undefined
  /**
   * In a flow: the result of the step before this one (after a group: the group's results, in order);
   * undefined for a first step or outside flows.
   */
  readonly previous: unknown
  /** In a flow, after a group (a chord's callback): the group's results in the order given; else undefined. */
  readonly results: unknown[] | undefined
}

/** Anything node-postgres can run a statement on: a `pg.Client`, a `pg.PoolClient` (in your transaction). */
export type TransactionClient = Pick<pg.ClientBase, 'query'>

/** When a task may run: at once (neither), `delayMs` from now, or at `runAt`. */
export interface TimingOptions {
  /**
   * Run no earlier than this many ms from now, by the database's clock; 0 to 366 days. Needs a database.
   * @defaultValue none (at once)
   */
  delayMs?: number
  /** Run no earlier than this moment (at most 366 days ahead; a past one means at once). Needs a database. @defaultValue none */
  runAt?: Date
}

export interface EnqueueOptions extends TimingOptions {
  /** Ordering key: tasks with the same key are handled in enqueue order. @defaultValue the task id */
  key?: string
  /** Your own task id (1-200 chars); enqueueing the same id twice runs the task once with the ledger. @defaultValue a new UUIDv7 */
  taskId?: string
  /** Extra string headers. A `traceparent` given here is propagated. @defaultValue `{}` */
  headers?: Record<string, string>
  /**
   * Your node-postgres client, inside your transaction: the task is written to ktask's outbox in it and
   * exists if and only if your transaction commits (a relay publishes it after). @defaultValue none
   */
  tx?: TransactionClient
}

/** `ctx.enqueue` options: the id is derived, the transaction is the handler's. */
export type FollowUpOptions = Omit<EnqueueOptions, 'taskId' | 'tx'>

export interface EnqueueManyItem<Args> extends Omit<EnqueueOptions, 'tx'> {
  args: Args
}

export interface EnqueueResult {
  taskId: string
  /** For a delayed task: when it is due, by the database's clock. */
  runAt?: Date
}

export interface Task<Args = unknown> {
  readonly name: string
  readonly queue: string
  /** The argument schema (Avro, as JSON). */
  readonly schema: Readonly<Record<string, unknown>>
  /** Whether state, progress and result are kept (`track: true`). */
  readonly tracked: boolean
  /**
   * Validates, encodes and enqueues one task. Without `tx` or a delay it resolves once the broker
   * acknowledged it; with either, once it is written to Postgres (the relay publishes it).
   */
  enqueue(args: Args, options?: EnqueueOptions): Promise<EnqueueResult>
  /**
   * Validates every item first (nothing is enqueued if one is invalid), then enqueues them in batches.
   * Without `tx`, if the broker fails midway some items may have been produced: retry with the same `taskId`s.
   */
  enqueueMany(
    items: EnqueueManyItem<Args>[],
    options?: { tx?: TransactionClient },
  ): Promise<{ taskIds: string[]; runAt?: (Date | undefined)[] }>
  /**
   * A step of a flow (see `chain`, `group`, `chord` and `app.enqueueFlow`): with `args`, validated when the
   * flow is enqueued; without, its args are the previous step's result, validated when it becomes due.
   */
  step(args?: Args, options?: StepOptions): StepSignature
}

/** Options of `app.enqueueFlow`. */
export interface FlowOptions {
  /** Write the flow in your transaction (node-postgres client): it exists if and only if you commit. */
  tx?: TransactionClient
  /**
   * `failFast`: a failed step cancels the steps not started and fails the flow; `continue`: what waits for
   * a failed step gets `{ error }` in place of its result. @defaultValue `'failFast'`
   */
  onFailure?: 'failFast' | 'continue'
}

export interface FlowResult {
  workflowId: string
}

export interface EventDefinition<Event = unknown> {
  /** The topic the events go to (created if missing, like a queue's). */
  topic: string
  /** Avro schema of the event, registered under the subject `<topic>-value` so consumers in any language decode it. */
  schema: AvroSchemaInput
  /** The message key (per-key order): a payload field (dotted path) or a function of the event. @defaultValue the event id */
  key?: string | ((event: Event) => string)
  /** Partitions of the topic when ktask creates it. @defaultValue `6` */
  partitions?: number
  /** Replication factor of the topic when ktask creates it. @defaultValue `-1` (the broker's default) */
  replicationFactor?: number
}

export interface PublishOptions {
  /** Overrides the definition's key. */
  key?: string
  /** Your own event id (1-200 chars), sent as the `ktask-id` header consumers deduplicate by. @defaultValue a new UUIDv7 */
  eventId?: string
  /** Extra string headers. @defaultValue `{}` */
  headers?: Record<string, string>
  /** Your node-postgres client inside your transaction: the event exists if and only if it commits. @defaultValue none */
  tx?: TransactionClient
}

export interface PublishResult {
  eventId: string
}

/** What `app.event()` returns. */
export interface EventType<Event = unknown> {
  readonly topic: string
  /** The event schema (Avro, as JSON). */
  readonly schema: Readonly<Record<string, unknown>>
  /**
   * Validates and encodes the event, then produces it (resolves once the broker acknowledged it) or, with
   * `tx`, writes it to the outbox in your transaction (the relay publishes it, in per-key order).
   */
  publish(event: Event, options?: PublishOptions): Promise<PublishResult>
}

export interface ScheduleDefinition<Args = unknown> {
  /** Unique schedule name. */
  name: string
  /** The task it enqueues. */
  task: Task<Args>
  /** The task's arguments, the same for every run. @defaultValue `{}` */
  args?: Args
  /** A cron expression (5 fields, or 6 with seconds first); exactly one of `cron` and `every`. */
  cron?: string
  /** A fixed interval: `'30s'`, `'5m'`, `'1h'`, `'1d'` or ms; slots are multiples of it since the Unix epoch. */
  every?: string | number
  /** IANA time zone of the cron expression. @defaultValue `'UTC'` */
  timezone?: string
  /** `'skip'`: a slot whose previous run is not final yet is skipped (needs a tracked task). @defaultValue `'allow'` */
  overlap?: 'allow' | 'skip'
  /**
   * After downtime: `'skip'` fires the latest missed slot once, `'none'` fires nothing missed (only a slot
   * reached within `catchUpWindow`), `'all'` fires every missed slot within `catchUpWindow`. @defaultValue `'skip'`
   */
  catchUp?: 'skip' | 'none' | 'all'
  /** How late a slot may still fire with `catchUp: 'none'` or `'all'`. @defaultValue `'1m'` for none, `'1d'` for all */
  catchUpWindow?: string | number
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
