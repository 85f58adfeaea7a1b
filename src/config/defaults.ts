/**
 * Every default value of ktask's options, declared once. resolve.ts (app and worker options) and the HTTP
 * service's options, retry/ and routing/ read them from here; the TSDoc
 * `@defaultValue` of options.ts and README's configuration tables are checked against them by
 * test/unit/config/defaults.test.ts.
 *
 * Environment variables come between code and these values (see resolve.ts): `brokers`, `prefix`,
 * `logLevel`, `schemaRegistry.url` and `database.connectionString` are the last resort, used when
 * neither the code nor the environment gives one.
 */
import type {
  AppOptions,
  BackoffOptions,
  DatabaseOptions,
  HttpServiceOptions,
  KafkaClientOptions,
  KafkaRetryOptions,
  LedgerOptions,
  OutboxOptions,
  WebhooksOptions,
  ProducerOptions,
  QueueOptions,
  RetryOptions,
  SchemaRegistryOptions,
  WorkerOptions,
} from './options.ts'
import type { ConsumeDefinition, TaskDefinition } from './definitions.ts'

export const appDefaults = {
  brokers: ['127.0.0.1:9092'],
  clientId: 'ktask',
  prefix: 'ktask',
  logLevel: 'info',
  maxMessageBytes: 1_048_576,
  taskRetentionDays: 7,
} satisfies Required<Pick<AppOptions, 'clientId' | 'prefix' | 'logLevel' | 'maxMessageBytes' | 'taskRetentionDays'>> & { brokers: string[] }

/**
 * The Kafka client's own defaults (kafkajs 2.2: src/index.js, src/broker/index.js, src/retry/defaults.js):
 * ktask leaves these unset, so they are what a client gets; declared for the documentation and for what
 * derives time budgets from them.
 */
export const kafkaClientDefaults = {
  connectionTimeout: 1000,
  authenticationTimeout: 10_000,
  reauthenticationThreshold: 10_000,
  requestTimeout: 30_000,
  enforceRequestTimeout: true,
} satisfies Required<Omit<KafkaClientOptions, 'client' | 'ssl' | 'sasl' | 'retry'>>

export const kafkaRetryDefaults = {
  maxRetryTime: 30_000,
  initialRetryTime: 300,
  factor: 0.2,
  multiplier: 2,
  retries: 5,
} satisfies Required<KafkaRetryOptions>

export const schemaRegistryDefaults = {
  url: 'http://127.0.0.1:8081/apis/ccompat/v7',
  timeoutMs: 5000,
} satisfies Required<Omit<SchemaRegistryOptions, 'auth'>>

/** `max` has no fixed default: the pool grows to the largest worker's concurrency + 4 (at least 10). */
export const databaseDefaults = {
  connectionString: 'postgres://postgres@127.0.0.1:5432/test',
  statementTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 60_000,
  migrate: true,
} satisfies Required<Omit<DatabaseOptions, 'max'>>

export const queueDefaults = { partitions: 6, replicationFactor: -1, ordering: 'partition' } satisfies Required<QueueOptions>

export const ledgerDefaults = { retentionDays: 7, pruneIntervalMs: 600_000 } satisfies Required<LedgerOptions>

export const outboxDefaults = { batchSize: 500, concurrency: 4, pollIntervalMs: 2000 } satisfies Required<OutboxOptions>

export const webhooksDefaults = {
  allowPrivateNetworks: false,
  timeoutMs: 10_000,
  attempts: 8,
  backoff: { type: 'exponential', delayMs: 5000, maxDelayMs: 3_600_000, jitter: true },
  queue: 'ktask-webhooks',
} satisfies Required<WebhooksOptions>

export const producerDefaults = { maxQueuedBytes: 64 * 1024 * 1024 } satisfies Required<ProducerOptions>

/** `queues` and `consumers` default to everything the app registered. */
export const workerDefaults = {
  concurrency: 16,
  shutdownGraceMs: 30_000,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  commitIntervalMs: 500,
  commitThreshold: 5000,
  maxBufferedPerPartition: 1000,
  transactionBatchSize: 50,
  fetchMaxWaitMs: 500,
  // kafkajs' defaults (1 MiB / 10 MiB) cost ~100 MiB of RSS in a busy worker and bought no throughput;
  // 128 KiB / 1 MiB drained a backlog as fast as 256 KiB / 2 MiB with 70 MiB less RSS.
  fetchMaxBytesPerPartition: 131_072,
  fetchMaxBytes: 1_048_576,
  statsIntervalMs: 60_000,
  startTimeoutMs: 0,
  maxClockSkewMs: 30_000,
} satisfies Required<Omit<WorkerOptions, 'queues' | 'consumers'>>

/**
 * A task's or consumer's retry policy (retry/policy.ts reads these).
 */
export const retryDefaults = { attempts: 3, ordering: 'none' } satisfies Required<Pick<RetryOptions, 'attempts' | 'ordering'>>

export const backoffDefaults = { type: 'exponential', delayMs: 1000, maxDelayMs: 600_000, jitter: true } satisfies Required<BackoffOptions>

/**
 * What `app.task()` and `app.consume()` definitions get when they leave an option out (`ledger` and
 * `transaction` have none: they are on exactly when the app has a database).
 */
export const handlerDefaults = {
  timeoutMs: 30_000,
  track: false,
  isolation: 'none',
  ordering: 'partition',
  fromBeginning: true,
} satisfies Required<Pick<TaskDefinition, 'timeoutMs' | 'track' | 'isolation'> & Pick<ConsumeDefinition, 'ordering' | 'fromBeginning'>>

/** `token` has no default: without one the service needs no authentication. */
export const httpDefaults = {
  port: 8080,
  host: '0.0.0.0',
  bodyLimitBytes: 1_048_576,
  ssePollMs: 250,
  maxEventStreams: 1000,
  eventStreamMaxMs: 1_800_000,
  readyTimeoutMs: 2000,
  idempotencyWaitMs: 5000,
} satisfies Required<Omit<HttpServiceOptions, 'token'>>

/** What `withDefaults` returns: every defaulted option set (to the user's type or the default's), the others as given. */
export type WithDefaults<D, O> = Omit<O, keyof D> & { [K in keyof D]-?: K extends keyof O ? Exclude<O[K], undefined> | D[K] : D[K] }

/**
 * `defaults` overlaid with the options that are set. An option given as `undefined` takes its default
 * (a plain spread would let it replace the default, and the value check then refused it).
 */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O | undefined): WithDefaults<D, O> {
  const set = Object.entries(options ?? {}).filter(([, value]) => value !== undefined)
  return { ...defaults, ...Object.fromEntries(set) } as WithDefaults<D, O>
}
