/**
 * Registered definitions, normalised. A *route* is what one consumer group works on: a task queue
 * (group `<prefix>.<queue>`, many tasks told apart by the `ktask-task` header) or one `app.consume()`
 * registration. Each route owns its retry tier topics and its DLQ.
 */
import type { Type } from 'avsc'
import { toAvroType } from '../codec/avro-codec.ts'
import type {
  BatchContext,
  BatchItem,
  ConsumeDefinition,
  HandlerContext,
  IdempotencyKeySource,
  TaskDefinition,
} from '../config/definitions.ts'
import type { Ordering } from '../config/options.ts'
import { checkInt, checkName, resolveQueueOptions, type ResolvedAppConfig, type ResolvedDatabase } from '../config/resolve.ts'
import { handlerDefaults } from '../config/defaults.ts'
import { resolveIsolation, type ResolvedIsolation } from '../config/isolation.ts'
import { resolveConcurrency, resolveRateLimit, type ResolvedConcurrency, type ResolvedRateLimit } from '../config/limits.ts'
import { refuseUnknownConsumeOptions, refuseUnknownTaskOptions } from '../config/known-options.ts'
import { KtaskError, configError } from '../errors.ts'
import { tierDelays } from '../retry/backoff.ts'
import { resolveRetryPolicy, type ResolvedRetryPolicy } from '../retry/policy.ts'
import { consumerBase, dlqTopic, queueTopic, taskSubject as subjectOf, tierTopic } from '../topology/names.ts'

export interface HandlerSpec {
  kind: 'task' | 'event'
  /** Task name, or the consumer's group id. */
  name: string
  /** The task's queue (tasks only). */
  queue?: string
  /** Reader schema; undefined = decode with the writer's schema. */
  type: Type | undefined
  /** The single handler (a batch definition's refuses to run: its chunks go to `batchHandler`). */
  handler: (args: unknown, ctx: HandlerContext) => unknown
  /** Set for `batchHandler` definitions: the worker runs their chunks through it (worker/batch-runner.ts). */
  batchHandler?: (items: readonly BatchItem[], ctx: BatchContext) => unknown
  retry: ResolvedRetryPolicy
  timeoutMs: number
  ledger: boolean
  transaction: boolean
  track: boolean
  idempotencyKey?: IdempotencyKeySource<unknown>
  /** Tasks only: where the handler runs when not in the worker (see config/isolation.ts). */
  isolation?: ResolvedIsolation
  /** Tasks only: shared limits (see config/limits.ts). */
  rateLimit?: ResolvedRateLimit
  concurrency?: ResolvedConcurrency
}

export interface Route {
  kind: 'queue' | 'consumer'
  /** Queue name or consumer group id. */
  name: string
  groupId: string
  sourceTopic: string
  /** Base of the topics the route owns: `<base>.retry.<delay>`, `<base>.dlq`. */
  base: string
  /** Retry tier topics by base delay (ms). */
  retryTopics: Map<number, string>
  dlqTopic: string
  ordering: Ordering
  /** Partitions for topics ktask creates (queue routes; consumer routes copy the source topic's). */
  partitions: number | undefined
  replicationFactor: number
  fromBeginning: boolean
  specs: Map<string, HandlerSpec>
  /** Some handler uses blocked-key retries: keys with a message waiting in a tier hold later ones back. */
  blockingKeys: boolean
}

/** `handler` or `batchHandler`, exactly one (a definition with both would leave it unclear which runs). */
function handlersOf(owner: string, def: TaskDefinition | ConsumeDefinition): Pick<HandlerSpec, 'handler' | 'batchHandler'> {
  const { handler, batchHandler } = def as { handler?: unknown; batchHandler?: unknown }
  if (handler !== undefined && batchHandler !== undefined) {
    throw configError(`${owner}.batchHandler`, 'cannot be given together with handler: define exactly one of them')
  }
  if (batchHandler === undefined) {
    if (typeof handler !== 'function') throw configError(`${owner}.handler`, 'must be a function (or give batchHandler instead)')
    return { handler: handler as HandlerSpec['handler'] }
  }
  if (typeof batchHandler !== 'function') throw configError(`${owner}.batchHandler`, 'must be a function')
  return { handler: singleRunRefused(owner), batchHandler: batchHandler as HandlerSpec['batchHandler'] }
}

/** A batch definition's `handler`: the worker never calls it (if it ever did, this says why it failed). */
function singleRunRefused(owner: string): HandlerSpec['handler'] {
  return () => {
    throw new KtaskError('KTASK_STATE', `${owner} has a batchHandler and cannot run one message alone`)
  }
}

function commonSpec(owner: string, def: TaskDefinition | ConsumeDefinition, database: ResolvedDatabase | undefined) {
  const handlers = handlersOf(owner, def)
  const hasDatabase = database !== undefined
  const timeoutMs = checkInt(`${owner}.timeoutMs`, def.timeoutMs ?? handlerDefaults.timeoutMs, 1)
  const ledger = def.ledger ?? hasDatabase
  const transaction = def.transaction ?? hasDatabase
  const idleMs = database?.idleInTransactionTimeoutMs ?? 0
  if (transaction && idleMs > 0 && timeoutMs >= idleMs) {
    // A handler that runs this long without touching ctx.tx would have its transaction ended by Postgres.
    throw configError(
      `${owner}.timeoutMs`,
      `must be lower than database.idleInTransactionTimeoutMs (${idleMs} ms) when the handler runs in a transaction (got ${timeoutMs}): lower timeoutMs or raise the idle timeout`,
    )
  }
  if ((ledger || transaction) && !hasDatabase) {
    throw configError(`${owner}.${ledger ? 'ledger' : 'transaction'}`, 'needs a database, but the app was created with database: false')
  }
  if (ledger && !transaction) {
    throw configError(`${owner}.transaction`, 'cannot be false while ledger is on: the ledger row commits with the handler transaction')
  }
  if (handlers.batchHandler && !transaction) {
    throw configError(`${owner}.transaction`, 'cannot be false with a batchHandler: its chunk shares one transaction (ctx.tx)')
  }
  const retry = resolveRetryPolicy(def.retry, owner)
  if (retry.ordering === 'key' && !hasDatabase) {
    throw configError(`${owner}.retry.ordering`, "'key' needs a database (blocked keys are kept in Postgres)")
  }
  return { timeoutMs, ledger, transaction, retry, ...handlers }
}

export function taskSpec(def: TaskDefinition, database: ResolvedDatabase | undefined): HandlerSpec {
  if (typeof def.name !== 'string' || !/^[a-zA-Z0-9._:-]{1,200}$/.test(def.name)) {
    throw configError('task.name', `must be 1-200 letters, digits or . _ : - (got ${JSON.stringify(def.name)})`)
  }
  const owner = `task "${def.name}"`
  refuseUnknownTaskOptions(owner, def)
  checkName(`${owner}.queue`, def.queue)
  if (def.schema === undefined) throw configError(`${owner}.schema`, 'is required (an Avro record schema)')
  const type = toAvroType(def.schema, owner)
  const track = def.track ?? handlerDefaults.track
  if (track && !database) throw configError(`${owner}.track`, 'needs a database, but the app was created with database: false')
  const rateLimit = resolveRateLimit(owner, def.rateLimit, database !== undefined)
  const concurrency = resolveConcurrency(owner, def.concurrency, database !== undefined)
  const common = commonSpec(owner, def, database)
  if (common.retry.ordering === 'key' && (rateLimit?.key || concurrency?.key)) {
    // A deferred message would leave its key's blocked queue holding a row nobody removes.
    throw configError(
      `${owner}.retry.ordering`,
      "'key' cannot be combined with a rateLimit or concurrency key (deferred messages leave their key's order)",
    )
  }
  const isolation = resolveIsolation(owner, def, common.timeoutMs)
  if (common.batchHandler) refuseWithBatch(owner, { isolation, rateLimit, concurrency })
  return {
    kind: 'task',
    name: def.name,
    queue: def.queue,
    type,
    track,
    ...common,
    ...(isolation ? { isolation } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(concurrency ? { concurrency } : {}),
  }
}

/**
 * Options a batch handler does not support: an isolated child runs one message's handler at a time, and
 * rate and concurrency limits admit, defer and lease messages one by one (a chunk would start items
 * before their slot, or hold one lease for many runs).
 */
function refuseWithBatch(owner: string, options: Record<'isolation' | 'rateLimit' | 'concurrency', unknown>): void {
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) throw configError(`${owner}.${name}`, 'is not supported with a batchHandler (use a single handler)')
  }
}

export function eventSpec(def: ConsumeDefinition, database: ResolvedDatabase | undefined): HandlerSpec {
  const owner = `consumer "${String(def.groupId)}"`
  refuseUnknownConsumeOptions(owner, def)
  checkName('consume.groupId', def.groupId)
  checkName(`${owner}.topic`, def.topic)
  const type = def.schema === undefined ? undefined : toAvroType(def.schema, owner)
  const key = def.idempotencyKey
  if (key !== undefined && typeof key !== 'string' && typeof key !== 'function' && typeof key?.header !== 'string') {
    throw configError(`${owner}.idempotencyKey`, 'must be a payload field name, { header: name } or a function')
  }
  return { kind: 'event', name: def.groupId, type, track: false, idempotencyKey: key, ...commonSpec(owner, def, database) }
}

function retryTopicsFor(base: string, specs: Iterable<HandlerSpec>): Map<number, string> {
  const topics = new Map<number, string>()
  for (const spec of specs) {
    for (const delay of tierDelays(spec.retry.backoff, spec.retry.attempts)) topics.set(delay, tierTopic(base, delay))
  }
  return topics
}

export function queueRoute(config: ResolvedAppConfig, queue: string, specs: HandlerSpec[]): Route {
  const q = config.queues[queue] ?? resolveQueueOptions(queue)
  const base = queueTopic(config.prefix, queue)
  const byName = new Map(specs.map((s) => [s.name, s]))
  return {
    kind: 'queue',
    name: queue,
    groupId: base,
    sourceTopic: base,
    base,
    retryTopics: retryTopicsFor(base, specs),
    dlqTopic: dlqTopic(base),
    ordering: q.ordering,
    partitions: q.partitions,
    replicationFactor: q.replicationFactor,
    fromBeginning: true,
    specs: byName,
    blockingKeys: specs.some((s) => s.retry.ordering === 'key'),
  }
}

export function consumerRoute(config: ResolvedAppConfig, def: ConsumeDefinition, spec: HandlerSpec): Route {
  const base = consumerBase(config.prefix, def.groupId)
  const ordering = def.ordering ?? handlerDefaults.ordering
  if (ordering !== 'partition' && ordering !== 'key') {
    throw configError(`consumer "${def.groupId}".ordering`, `must be 'partition' or 'key' (got ${JSON.stringify(ordering)})`)
  }
  return {
    kind: 'consumer',
    name: def.groupId,
    groupId: def.groupId,
    sourceTopic: def.topic,
    base,
    retryTopics: retryTopicsFor(base, [spec]),
    dlqTopic: dlqTopic(base),
    ordering,
    partitions: undefined,
    replicationFactor: -1,
    fromBeginning: def.fromBeginning ?? handlerDefaults.fromBeginning,
    specs: new Map([[spec.name, spec]]),
    blockingKeys: spec.retry.ordering === 'key',
  }
}

/** The registry subject a task's argument schema is registered under. */
export function taskSubject(config: ResolvedAppConfig, taskName: string): string {
  return subjectOf(config.prefix, taskName)
}
