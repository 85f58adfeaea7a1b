/**
 * What users register — tasks (`app.task`), consumers of other services' events (`app.consume`), the
 * events they publish (`app.event`) and schedules (`app.schedule`) — the handles they get back, and the
 * context their handlers receive.
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AvroSchemaInput } from '../codec/avro-codec.ts'
import type { Signature, StepOptions, StepSignature } from '../flows/canvas.ts'
import type { Span } from '@opentelemetry/api'
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
  /** pino child logger bound to group, topic, partition, offset, task id, attempt and trace id. */
  log: Logger
  /**
   * The OpenTelemetry consumer span this run is in (`process <topic>`, a child of the span around the
   * enqueue): add attributes or events. Spans the handler starts are its children. Non-recording without
   * an OpenTelemetry SDK; in an isolated handler, a non-recording span carrying the run's trace context.
   */
  span: Span
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
  /**
   * Enqueues a flow in `ctx.tx`, through the outbox (see `app.enqueueFlow`): it exists if and only if this
   * handler's transaction commits; its workflow id is derived like `enqueue`'s task ids. Needs `ctx.tx`.
   */
  enqueueFlow(flow: Signature, options?: Omit<FlowOptions, 'tx'>): Promise<FlowResult>
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

/**
 * One message of a batch handler's chunk: its decoded payload (a task's args, or an event) and what a
 * single handler reads from its `ctx`.
 */
export interface BatchItem<Payload = unknown> {
  readonly payload: Payload
  /** The task id (tasks) or message id (events); stable across retries, replays and DLQ redrives. */
  readonly taskId: string
  /** Same value as `taskId`: the idempotency key of effects outside Postgres. */
  readonly idempotencyKey: string
  /** 1 on the first run, 2 on the first retry, … (each item counts its own attempts). */
  readonly attempt: number
  readonly headers: Readonly<Record<string, string>>
  readonly topic: string
  readonly partition: number
  readonly offset: string
  /** The message key, or null. */
  readonly key: string | null
  /** The Kafka record's timestamp, ms since the epoch. */
  readonly timestamp: number
}

/** The `ctx` of a batch handler: one transaction and one deadline for the whole chunk. */
export interface BatchContext<Payload = unknown> {
  /**
   * A node-postgres client inside the transaction that also writes the ledger rows of the items that
   * succeed: effects written through it commit exactly once, together with those rows.
   */
  tx: pg.ClientBase
  /** Aborted when the batch exceeds `timeoutMs`, or when the worker's shutdown grace period ends. */
  signal: AbortSignal
  /** pino child logger bound to group, topic, partition, task and the chunk's first and last offsets. */
  log: Logger
  /** The OpenTelemetry consumer span of the batch (its first item's trace context). */
  span: Span
  /**
   * Marks one item failed: it is retried (or dead-lettered) on its own, like a failed single handler, and
   * its ledger row does not commit. Effects the handler wrote for it through `ctx.tx` DO commit: write
   * effects only for the items it does not fail. Throw `UnrecoverableError` to dead-letter it at once.
   */
  fail(item: BatchItem<Payload>, error: unknown): void
}

/** A batch handler's word on one item (`{ result }` is what `app.status` shows for a tracked task). */
export type BatchItemResult<Result = unknown> = { result: Result } | { error: unknown }

/**
 * What a batch handler may return: the outcome of some items, keyed by item or task id. Items not in it
 * (and not passed to `ctx.fail`) succeeded; `{ error }` fails an item like `ctx.fail`.
 */
export type BatchResult<Payload = unknown, Result = unknown> = ReadonlyMap<BatchItem<Payload> | string, BatchItemResult<Result>>

/**
 * Handles the messages of one transaction chunk at once (up to `worker.transactionBatchSize`, in offset
 * order, duplicates already left out). Returning (or resolving) marks every item not failed as succeeded;
 * throwing fails every item of the chunk (nothing of it commits; each is retried on its own).
 */
export type BatchHandler<Payload = unknown, Result = unknown> = (
  items: readonly BatchItem<Payload>[],
  ctx: BatchContext<Payload>,
) => Promise<BatchResult<Payload, Result> | void> | BatchResult<Payload, Result> | void

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
  /** POST the task's final status (SUCCEEDED, DEAD, CANCELLED) here. Needs the app's `webhooks` option. @defaultValue none */
  notify?: NotifyTarget
  /**
   * A step (`otherTask.step()`) enqueued once this task SUCCEEDED, with its result as `ctx.previous` (and
   * as its args when the step has none). The task then runs as a one-step flow (needs a database; not
   * with `delayMs`, `runAt`, `taskId` or `headers`): `workflowId` in the result. @defaultValue none
   */
  link?: StepSignature
  /** A step enqueued once this task is dead-lettered; `ctx.previous` is `{ workflowId, failed }` (see FlowOptions.onFailure). @defaultValue none */
  linkError?: StepSignature
}

/** `ctx.enqueue` options: the id is derived, the transaction is the handler's. */
export type FollowUpOptions = Omit<EnqueueOptions, 'taskId' | 'tx' | 'link' | 'linkError'>

export interface EnqueueManyItem<Args> extends Omit<EnqueueOptions, 'tx' | 'link' | 'linkError'> {
  args: Args
}

export interface EnqueueResult {
  taskId: string
  /** With `link` / `linkError`: the one-step flow the task runs in (`app.flowStatus`). */
  workflowId?: string
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
  /** Ordering key of every step that does not set its own (`task.step(args, { key })`). @defaultValue each step's task id */
  key?: string
  /**
   * `failFast`: a failed step cancels the steps not started and fails the flow; `continue`: what waits for
   * a failed step gets `{ error }` in place of its result. @defaultValue `'failFast'`
   */
  failurePolicy?: 'failFast' | 'continue'
  /**
   * A step (`task.step()`) run once when the flow SUCCEEDED: `ctx.previous` is the flow's result (its last
   * part's), which is also its args when it is given none. @defaultValue none
   */
  onSuccess?: StepSignature
  /**
   * A step run once when the flow FAILED: `ctx.previous` is `{ workflowId, failed: [{ step, path, task,
   * taskId, error }] }` (its args when it is given none). @defaultValue none
   */
  onFailure?: StepSignature
  /** POST the flow's final status to this URL (see `NotifyTarget`). Needs the app's `webhooks` option. @defaultValue none */
  notify?: NotifyTarget
}

/**
 * Where ktask POSTs a task's or flow's final status, signed per Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`), retried with backoff and dead-lettered at the end. The
 * secret is kept in Postgres, never put in a Kafka message.
 */
export interface NotifyTarget {
  /** http(s) URL; private, loopback and link-local addresses are refused unless `webhooks.allowPrivateNetworks`. */
  url: string
  /** Signing secret: `whsec_<base64>`, or any string of 24+ characters (its UTF-8 bytes). @defaultValue unsigned */
  secret?: string
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

export interface TaskDefinition<Args = unknown, Result = unknown> extends HandlerDefinitionBase, IsolationOptions {
  /** Unique task name, e.g. `email.send`. */
  name: string
  /** Queue (topic `<prefix>.<queue>`) the task is enqueued to. */
  queue: string
  /** Avro schema of the arguments: a record schema object, its JSON text, an .avsc path, or an avsc Type. */
  schema: AvroSchemaInput
  /** Runs one task. Exactly one of `handler` and `batchHandler` is required. */
  handler?: (args: Args, ctx: TaskContext) => Promise<Result> | Result
  /**
   * Runs a chunk of tasks at once, in one transaction (see `BatchHandler` and README, "Batch handlers").
   * Exactly one of `handler` and `batchHandler` is required; not with `isolation`, `rateLimit`,
   * `concurrency` or `transaction: false`. @defaultValue none
   */
  batchHandler?: BatchHandler<Args, Result>
  /** Keep state, progress and result in `ktask.tasks` (see `app.status`). @defaultValue `false` */
  track?: boolean
  /**
   * At most `max` starts per `perMs` across every worker process of the queue (shared through Postgres;
   * needs a database). Without `key`, only this task's partitions pause until the next slot; with `key`,
   * a message over its key's limit is deferred (its offset committed) so other keys flow.
   * @defaultValue none (unlimited)
   */
  rateLimit?: RateLimitOptions<Args>
  /**
   * At most `max` runs of this task at once across every worker process (per key with `key`), kept as
   * leases in Postgres that expire when a worker dies (needs a database). @defaultValue none (unlimited)
   */
  concurrency?: ConcurrencyOptions<Args>
}

/** A task's shared rate limit (see `TaskDefinition.rateLimit`). */
export interface RateLimitOptions<Args = unknown> {
  /** Starts allowed per `perMs`, spread evenly (one every `perMs / max` ms); a positive integer. */
  max: number
  /** The window, in ms; a positive integer. */
  perMs: number
  /**
   * A limit per key (e.g. the tenant): a message over its key's limit is deferred through ktask.timers to
   * its reserved slot, keeping its task id and attempt, and never blocks its partition. A message whose key
   * is `null` or `undefined` is not limited. @defaultValue none (one limit for the whole task)
   */
  key?: (args: Args) => string | number | null | undefined
}

/** A task's shared concurrency limit (see `TaskDefinition.concurrency`). */
export interface ConcurrencyOptions<Args = unknown> {
  /** Runs allowed at once; a positive integer. */
  max: number
  /**
   * A limit per key ("at most 2 exports per user"): a message whose key is full is deferred through
   * ktask.timers with a short backoff, so its partition flows. A message whose key is `null` or `undefined`
   * is not limited. @defaultValue none (one limit for the whole task)
   */
  key?: (args: Args) => string | number | null | undefined
  /**
   * How long a run's slot stays taken without being renewed (renewed every third of it while the handler
   * runs): a SIGKILLed worker's slots come back after this. A positive integer (ms), at least 300.
   * @defaultValue `30_000`
   */
  leaseMs?: number
}

/** Where a task's handler runs: in the worker (`none`), a worker thread, or a child process. */
export type IsolationMode = 'none' | 'thread' | 'process'

/**
 * Isolation of a task's handler (see README, "Limits and isolation"): it runs in a pool of worker threads
 * or child processes owned by the worker, which keeps the consumer, the ledger and the transaction.
 */
export interface IsolationOptions {
  /**
   * `'thread'` or `'process'`: the handler runs in a worker thread or a child process of the worker, which
   * loads `module` (or the module given to `ktask worker`) and runs it from there. `ctx` works the same:
   * `ctx.tx.query()`, `ctx.enqueue`, `ctx.publish` and `ctx.enqueueFlow` are carried to the message's
   * transaction in the worker. Args, results and rows pass by structured clone.
   * @defaultValue `'none'`
   */
  isolation?: IsolationMode
  /**
   * The module a thread or child process imports to find this task's handler (`import.meta.url` of the
   * file that defines it; it must define it on import, and not start a worker). Needed with isolation
   * unless the worker is started with `ktask worker <module>`. @defaultValue the module `ktask worker` loaded
   */
  module?: string
  /**
   * Isolated handlers: past this (ms since the run started) the handler's thread or process is terminated
   * and replaced. Must be greater than `timeoutMs`, at which the attempt has already failed (stage
   * `timeout`) and `ctx.signal` aborted. @defaultValue `timeoutMs` + 5000
   */
  hardTimeoutMs?: number
  /** Isolated handlers: a thread or process is replaced after this many runs. @defaultValue none (unlimited) */
  maxTasksPerChild?: number
  /**
   * Isolated handlers: a thread or process holding more than this after a run is replaced (process: its
   * RSS; thread: its heap and buffers, and its heap is capped at twice this). At least 16. @defaultValue none (unlimited)
   */
  maxMemoryPerChildMb?: number
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
  /** Handles one event. Exactly one of `handler` and `batchHandler` is required. */
  handler?: (event: Event, ctx: EventContext) => unknown
  /**
   * Handles a chunk of events at once, in one transaction (see `BatchHandler`). Exactly one of `handler`
   * and `batchHandler` is required; not with `transaction: false`. @defaultValue none
   */
  batchHandler?: BatchHandler<Event>
  /** @defaultValue the `ktask-id` header, else `<topic>/<partition>/<offset>` */
  idempotencyKey?: IdempotencyKeySource<Event>
  /** @defaultValue `'partition'` */
  ordering?: Ordering
  /** Where a new group starts: the earliest retained event (true) or only new ones. @defaultValue `true` */
  fromBeginning?: boolean
}
