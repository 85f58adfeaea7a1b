/**
 * The option names ktask knows, listed once per options type, and the check that refuses any other name.
 * TypeScript users get a compile error for a misspelt option, but a JavaScript user's `retries: 5`, or an
 * option of a later ktask version, would otherwise be ignored without a word: the app would run with
 * defaults its author thinks they changed.
 *
 * Each list is built from a `Record<keyof Options, true>`: adding an option to an interface without
 * listing it here (or listing one that does not exist) fails to compile.
 */
import { configError } from '../errors.ts'
import type {
  ConcurrencyOptions,
  ConsumeDefinition,
  EventDefinition,
  RateLimitOptions,
  ScheduleDefinition,
  TaskDefinition,
} from './definitions.ts'
import type {
  AppOptions,
  BackoffOptions,
  DatabaseOptions,
  HttpServiceOptions,
  KafkaClientOptions,
  KafkaRetryOptions,
  KafkaSaslOptions,
  LedgerOptions,
  OutboxOptions,
  WebhooksOptions,
  ProducerOptions,
  QueueOptions,
  RetryOptions,
  SchemaRegistryOptions,
  WorkerOptions,
} from './options.ts'

const names = <T>(all: Record<keyof T, true>): readonly (keyof T & string)[] => Object.keys(all) as (keyof T & string)[]

export const APP_OPTION_NAMES = names<AppOptions>({
  brokers: true,
  clientId: true,
  kafka: true,
  schemaRegistry: true,
  database: true,
  prefix: true,
  logger: true,
  logLevel: true,
  queues: true,
  ledger: true,
  maxMessageBytes: true,
  taskRetentionDays: true,
  worker: true,
  producer: true,
  outbox: true,
  webhooks: true,
})
export const EVENT_OPTION_NAMES = names<EventDefinition>({
  topic: true,
  schema: true,
  key: true,
  partitions: true,
  replicationFactor: true,
})
export const SCHEDULE_OPTION_NAMES = names<ScheduleDefinition>({
  name: true,
  task: true,
  args: true,
  cron: true,
  every: true,
  timezone: true,
  overlap: true,
  catchUp: true,
  catchUpWindow: true,
})
export const WEBHOOKS_OPTION_NAMES = names<WebhooksOptions>({
  allowPrivateNetworks: true,
  timeoutMs: true,
  attempts: true,
  backoff: true,
  queue: true,
})
export const OUTBOX_OPTION_NAMES = names<OutboxOptions>({ batchSize: true, concurrency: true, pollIntervalMs: true })
export const KAFKA_OPTION_NAMES = names<KafkaClientOptions>({
  client: true,
  ssl: true,
  sasl: true,
  connectionTimeout: true,
  authenticationTimeout: true,
  reauthenticationThreshold: true,
  requestTimeout: true,
  enforceRequestTimeout: true,
  retry: true,
})
export const KAFKA_RETRY_OPTION_NAMES = names<KafkaRetryOptions>({
  maxRetryTime: true,
  initialRetryTime: true,
  factor: true,
  multiplier: true,
  retries: true,
})
type KafkaSaslNames = {
  [M in KafkaSaslOptions['mechanism']]: keyof Extract<KafkaSaslOptions, { mechanism: M }>
}[KafkaSaslOptions['mechanism']]
/** Every name some SASL mechanism uses (which ones a mechanism needs is for the broker to tell). */
export const KAFKA_SASL_OPTION_NAMES = names<Record<KafkaSaslNames, unknown>>({
  mechanism: true,
  username: true,
  password: true,
  oauthBearerProvider: true,
  authorizationIdentity: true,
  accessKeyId: true,
  secretAccessKey: true,
  sessionToken: true,
})
export const SCHEMA_REGISTRY_OPTION_NAMES = names<SchemaRegistryOptions>({ url: true, auth: true, timeoutMs: true })
export const DATABASE_OPTION_NAMES = names<DatabaseOptions>({
  connectionString: true,
  max: true,
  statementTimeoutMs: true,
  idleInTransactionTimeoutMs: true,
  migrate: true,
})
export const QUEUE_OPTION_NAMES = names<QueueOptions>({ partitions: true, replicationFactor: true, ordering: true })
export const LEDGER_OPTION_NAMES = names<LedgerOptions>({ retentionDays: true, pruneIntervalMs: true })
export const PRODUCER_OPTION_NAMES = names<ProducerOptions>({ maxQueuedBytes: true })
export const WORKER_OPTION_NAMES = names<WorkerOptions>({
  queues: true,
  consumers: true,
  concurrency: true,
  shutdownGraceMs: true,
  sessionTimeoutMs: true,
  heartbeatIntervalMs: true,
  commitIntervalMs: true,
  commitThreshold: true,
  maxBufferedPerPartition: true,
  transactionBatchSize: true,
  fetchMaxWaitMs: true,
  fetchMaxBytesPerPartition: true,
  fetchMaxBytes: true,
  statsIntervalMs: true,
  startTimeoutMs: true,
  maxClockSkewMs: true,
})
export const RETRY_OPTION_NAMES = names<RetryOptions>({ attempts: true, backoff: true, retryable: true, ordering: true })
export const BACKOFF_OPTION_NAMES = names<BackoffOptions>({ type: true, delayMs: true, maxDelayMs: true, jitter: true })
export const TASK_OPTION_NAMES = names<TaskDefinition>({
  name: true,
  queue: true,
  schema: true,
  handler: true,
  batchHandler: true,
  track: true,
  retry: true,
  timeoutMs: true,
  ledger: true,
  transaction: true,
  rateLimit: true,
  concurrency: true,
  isolation: true,
  module: true,
  hardTimeoutMs: true,
  maxTasksPerChild: true,
  maxMemoryPerChildMb: true,
})
export const RATE_LIMIT_OPTION_NAMES = names<RateLimitOptions>({ max: true, perMs: true, key: true })
export const CONCURRENCY_OPTION_NAMES = names<ConcurrencyOptions>({ max: true, key: true, leaseMs: true })
export const CONSUME_OPTION_NAMES = names<ConsumeDefinition>({
  topic: true,
  groupId: true,
  schema: true,
  handler: true,
  batchHandler: true,
  idempotencyKey: true,
  ordering: true,
  fromBeginning: true,
  retry: true,
  timeoutMs: true,
  ledger: true,
  transaction: true,
})
export const HTTP_OPTION_NAMES = names<HttpServiceOptions>({
  port: true,
  host: true,
  token: true,
  bodyLimitBytes: true,
  ssePollMs: true,
  maxEventStreams: true,
  eventStreamMaxMs: true,
  readyTimeoutMs: true,
  idempotencyWaitMs: true,
})

/** Names users write for an option that ktask calls otherwise (offered only where the target exists). */
const ALIASES: Record<string, string> = {
  retries: 'retry',
  attempts: 'retry',
  maxAttempts: 'retry',
  backoff: 'retry',
  timeout: 'timeoutMs',
}

/** Edits (insert, delete, substitute one character) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution)
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * The known name the user most likely meant, or undefined when none is close: an alias, the same name in
 * another case, a name that only adds a unit (`shutdownGrace` → `shutdownGraceMs`), else the nearest by
 * edit distance within a third of the name's length (two edits in a 7-letter name; fewer would miss
 * `partiton`, more would offer `url` for `max`).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const alias = ALIASES[name]
  if (alias !== undefined && known.includes(alias)) return alias
  const lower = name.toLowerCase()
  const sameLetters = known.find((k) => k.toLowerCase() === lower)
  if (sameLetters) return sameLetters
  const withUnit = known.find((k) => name.length >= 4 && k.startsWith(name) && /^(Ms|Bytes|Days|s)$/.test(k.slice(name.length)))
  if (withUnit) return withUnit
  let best: { name: string; distance: number } | undefined
  for (const k of known) {
    const distance = editDistance(lower, k.toLowerCase())
    if (!best || distance < best.distance) best = { name: k, distance }
  }
  const allowed = Math.max(1, Math.floor(name.length / 3))
  return best && best.distance <= allowed ? best.name : undefined
}

function describe(name: string, known: readonly string[]): string {
  const suggestion = closestName(name, known)
  return suggestion ? `"${name}" (did you mean "${suggestion}"?)` : `"${name}"`
}

/**
 * Throws KTASK_INVALID_CONFIG when `value` (an options object) has a name not in `known`. The error's
 * field is `<owner>.<name>` of the first unknown name (just `<name>` when owner is empty); its message
 * names every unknown one, with the closest known name, or lists the known names when none is close.
 * Anything that is not a plain object is left to the value checks.
 */
export function refuseUnknown(owner: string, value: unknown, known: readonly string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return
  const unknown = Object.keys(value).filter((name) => !known.includes(name))
  if (unknown.length === 0) return
  const [first, ...others] = unknown as [string, ...string[]]
  const suggestion = closestName(first, known)
  let reason = suggestion ? `is not an option; did you mean "${suggestion}"?` : `is not an option (known: ${known.join(', ')})`
  if (others.length > 0) reason += ` Also unknown: ${others.map((name) => describe(name, known)).join(', ')}`
  throw configError(owner ? `${owner}.${first}` : first, reason)
}

/** The names of a task or consumer definition and of its `retry` and `retry.backoff`. */
function refuseUnknownHandlerOptions(owner: string, definition: TaskDefinition | ConsumeDefinition, known: readonly string[]): void {
  refuseUnknown(owner, definition, known)
  refuseUnknown(`${owner}.retry`, definition.retry, RETRY_OPTION_NAMES)
  refuseUnknown(`${owner}.retry.backoff`, definition.retry?.backoff, BACKOFF_OPTION_NAMES)
}

/** For `app.task()`: refuses unknown names of the definition, its `retry` and `retry.backoff`. */
export function refuseUnknownTaskOptions(owner: string, definition: TaskDefinition): void {
  refuseUnknownHandlerOptions(owner, definition, TASK_OPTION_NAMES)
  refuseUnknown(`${owner}.rateLimit`, definition.rateLimit, RATE_LIMIT_OPTION_NAMES)
  refuseUnknown(`${owner}.concurrency`, definition.concurrency, CONCURRENCY_OPTION_NAMES)
}

/** For `app.consume()`: refuses unknown names of the definition, its `retry` and `retry.backoff`. */
export function refuseUnknownConsumeOptions(owner: string, definition: ConsumeDefinition): void {
  refuseUnknownHandlerOptions(owner, definition, CONSUME_OPTION_NAMES)
}

/** Every name of the app options, nested ones included (each queue's, the worker defaults', …). */
export function refuseUnknownAppOptions(options: AppOptions): void {
  refuseUnknown('', options, APP_OPTION_NAMES)
  refuseUnknown('kafka', options.kafka, KAFKA_OPTION_NAMES)
  refuseUnknown('kafka.retry', options.kafka?.retry, KAFKA_RETRY_OPTION_NAMES)
  refuseUnknown('kafka.sasl', options.kafka?.sasl, KAFKA_SASL_OPTION_NAMES)
  refuseUnknown('schemaRegistry', options.schemaRegistry, SCHEMA_REGISTRY_OPTION_NAMES)
  refuseUnknown('database', options.database, DATABASE_OPTION_NAMES)
  refuseUnknown('ledger', options.ledger, LEDGER_OPTION_NAMES)
  refuseUnknown('producer', options.producer, PRODUCER_OPTION_NAMES)
  refuseUnknown('outbox', options.outbox, OUTBOX_OPTION_NAMES)
  if (typeof options.webhooks === 'object' && options.webhooks !== null) refuseUnknown('webhooks', options.webhooks, WEBHOOKS_OPTION_NAMES)
  refuseUnknown('worker', options.worker, WORKER_OPTION_NAMES)
  for (const [name, queue] of Object.entries(options.queues ?? {})) refuseUnknown(`queues.${name}`, queue, QUEUE_OPTION_NAMES)
}
