/**
 * Every option a user can pass, with its default. Precedence: code > environment > defaults;
 * see resolve.ts for the environment variables and validation.
 */
import type { ConnectionOptions } from 'node:tls'
import type { Logger } from 'pino'

export interface AppOptions {
  /** Kafka bootstrap brokers ("host:port", array or comma-separated). @defaultValue env `KTASK_BROKERS`, else `127.0.0.1:9092` */
  brokers?: string[] | string
  /** Client id sent to Kafka. @defaultValue `'ktask'` */
  clientId?: string
  /** Kafka client settings for real clusters: TLS, SASL, timeouts, retries. @defaultValue `{}` */
  kafka?: KafkaClientOptions
  /** Confluent-compatible schema registry. */
  schemaRegistry?: SchemaRegistryOptions
  /** PostgreSQL for the idempotency ledger, `ctx.tx` and task state. `false` runs without a database. */
  database?: DatabaseOptions | false
  /** Prefix of every topic and consumer group ktask creates. @defaultValue env `KTASK_PREFIX`, else `'ktask'` */
  prefix?: string
  /**
   * A pino logger. @defaultValue `pino({ level })` writing JSON to stdout; env `KTASK_LOG_DESTINATION=stderr`
   * and `KTASK_LOG_FORMAT=pretty` (readable lines, via pino-pretty) change where and how
   */
  logger?: Logger
  /** Log level when no logger is given. @defaultValue env `LOG_LEVEL`, else `'info'` */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Queue declarations; a queue used by a task but not declared here gets the defaults. @defaultValue `{}` */
  queues?: Record<string, QueueOptions>
  /** Idempotency ledger settings. */
  ledger?: LedgerOptions
  /** Largest message value a worker accepts; bigger ones are dead-lettered with stage `decode`. @defaultValue `1_048_576` */
  maxMessageBytes?: number
  /** How long finished tracked tasks (`track: true`) stay in `ktask.tasks`. @defaultValue `7` days */
  taskRetentionDays?: number
  /** Defaults for every `app.worker()` of this app (and `ktask worker`); per-call options win. @defaultValue `{}` */
  worker?: WorkerOptions
  /** The app's producer (enqueue, retry and DLQ hops). */
  producer?: ProducerOptions
  /**
   * The outbox relay and timer dispatcher every worker and `ktask serve` run: they publish what was
   * written in a transaction (`ctx.enqueue`, `enqueue({ tx })`, `publish({ tx })`) and delayed tasks when due.
   */
  outbox?: OutboxOptions
  /**
   * Webhooks (`notify: { url, secret? }` on an enqueue or a flow): deliveries go through a ktask queue of
   * their own, retried with backoff and dead-lettered at the end. Give `{}` (or `true`) to turn them on;
   * workers that run every queue then deliver them. @defaultValue off
   */
  webhooks?: WebhooksOptions | boolean
}

export interface WebhooksOptions {
  /**
   * Send to private, loopback and link-local addresses (an internal receiver, tests). Checked when
   * connecting, on every address the name resolves to, not only at enqueue. @defaultValue `false`
   */
  allowPrivateNetworks?: boolean
  /** Limit for one delivery attempt (connect, send, read the answer), in ms. @defaultValue `10_000` */
  timeoutMs?: number
  /** Attempts before a notification is dead-lettered (the first included). @defaultValue `8` */
  attempts?: number
  /** Wait between attempts. @defaultValue exponential from `5000` ms, at most `3_600_000` */
  backoff?: BackoffOptions
  /** The queue deliveries go through (list it in a worker's `queues` to deliver there). @defaultValue `'ktask-webhooks'` */
  queue?: string
}

export interface OutboxOptions {
  /** Outbox rows (or due timers) one relay (or timer dispatcher) transaction publishes. @defaultValue `500` */
  batchSize?: number
  /**
   * Lanes one relay, and one timer dispatcher, publish in parallel (each holds a database connection
   * meanwhile: a process's background uses up to twice this many). @defaultValue `4`
   */
  concurrency?: number
  /**
   * How often the relay and the timer dispatcher look without being notified (Postgres LISTEN/NOTIFY wakes
   * them at once; this is the fallback), in ms. @defaultValue `2000`
   */
  pollIntervalMs?: number
}

/**
 * How ktask's Kafka clients connect, authenticate and retry. Unset timeouts and retry settings keep the
 * values of the Kafka client library ktask runs on (listed as defaults here).
 */
export interface KafkaClientOptions {
  /**
   * The Kafka client library ktask runs on: `'kafkajs'`, or `'platformatic'` (@platformatic/kafka; see
   * docs/kafka-clients.md for what it supports). The members of one consumer group must all use the same one.
   * @defaultValue env `KTASK_KAFKA_CLIENT`, else `'kafkajs'`
   */
  client?: KafkaClientName
  /**
   * TLS to the brokers: `true` (trusting the system's CAs), or Node's `tls.connect()` options (`ca`,
   * `cert`, `key`, `servername`, `rejectUnauthorized`, …).
   * @defaultValue env `KTASK_KAFKA_SSL` / `KTASK_KAFKA_SSL_CA_FILE`, else off
   */
  ssl?: boolean | ConnectionOptions
  /** SASL authentication. @defaultValue env `KTASK_KAFKA_SASL_MECHANISM|USERNAME|PASSWORD`, else none */
  sasl?: KafkaSaslOptions
  /** How long to wait for a TCP (and TLS) connection to a broker, in ms. @defaultValue `1000` */
  connectionTimeout?: number
  /** How long to wait for SASL authentication, in ms. @defaultValue `10_000` */
  authenticationTimeout?: number
  /** How long before a SASL session expires it is renewed, in ms. @defaultValue `10_000` */
  reauthenticationThreshold?: number
  /** How long to wait for a broker's answer to one request, in ms. @defaultValue `30_000` */
  requestTimeout?: number
  /**
   * Fail a request after `requestTimeout`; `false` waits for the answer however long it takes (and the
   * HTTP Idempotency-Key takeover then never happens). @defaultValue `true`
   */
  enforceRequestTimeout?: boolean
  /** How failed requests are retried (not produce: the producer's sends have their own retries). */
  retry?: KafkaRetryOptions
}

/** The Kafka client libraries ktask can run on. */
export type KafkaClientName = 'kafkajs' | 'platformatic'

/** SASL mechanisms: username and password (PLAIN, SCRAM), OAUTHBEARER with a token provider, or AWS IAM. */
export type KafkaSaslOptions =
  | KafkaSaslPassword<'plain'>
  | KafkaSaslPassword<'scram-sha-256'>
  | KafkaSaslPassword<'scram-sha-512'>
  | {
      mechanism: 'oauthbearer'
      /** Called for a token when connecting, and again before it expires. */
      oauthBearerProvider: () => Promise<{ value: string }>
    }
  | { mechanism: 'aws'; authorizationIdentity: string; accessKeyId: string; secretAccessKey: string; sessionToken?: string }

/** A SASL mechanism that authenticates with a username and a password. */
export interface KafkaSaslPassword<Mechanism extends 'plain' | 'scram-sha-256' | 'scram-sha-512'> {
  mechanism: Mechanism
  username: string
  password: string
}

/**
 * Retries of a failed Kafka request: exponential waits, randomised by ±`factor`, the first
 * `initialRetryTime`, each `multiplier` times the one before, at most `maxRetryTime` in all.
 */
export interface KafkaRetryOptions {
  /** Longest total time spent retrying, in ms. @defaultValue `30_000` */
  maxRetryTime?: number
  /** Wait before the first retry, in ms. @defaultValue `300` */
  initialRetryTime?: number
  /** Randomisation of each wait (0.2 = ±20%). @defaultValue `0.2` */
  factor?: number
  /** Growth of the wait from one retry to the next. @defaultValue `2` */
  multiplier?: number
  /** Retries after the first attempt. @defaultValue `5` */
  retries?: number
}

export interface ProducerOptions {
  /**
   * Most bytes of messages that may wait for the broker at once (queued or in flight). Beyond it a send
   * fails at once with KTASK_INFRASTRUCTURE: during a long broker outage, enqueues fail with a clear error
   * instead of growing memory. @defaultValue `67_108_864` (64 MiB)
   */
  maxQueuedBytes?: number
}

export interface SchemaRegistryOptions {
  /** Base URL of the Confluent-compatible API. @defaultValue env `KTASK_SCHEMA_REGISTRY_URL`, else `http://127.0.0.1:8081/apis/ccompat/v7` */
  url?: string
  /** Basic auth. @defaultValue none */
  auth?: { username: string; password: string }
  /** Per-request timeout in ms. @defaultValue `5000` */
  timeoutMs?: number
}

export interface DatabaseOptions {
  /** @defaultValue env `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test` */
  connectionString?: string
  /** Pool size. @defaultValue worker concurrency + 4 (at least 10) */
  max?: number
  /** `statement_timeout` for every connection, in ms. @defaultValue `30_000` */
  statementTimeoutMs?: number
  /** `idle_in_transaction_session_timeout`, in ms. @defaultValue `60_000` */
  idleInTransactionTimeoutMs?: number
  /** Apply ktask's migrations when the app first uses the database. @defaultValue `true` */
  migrate?: boolean
}

export interface QueueOptions {
  /** Partitions of the queue topic (and of its retry and DLQ topics). @defaultValue `6` */
  partitions?: number
  /** Replication factor of the topics ktask creates. @defaultValue `-1` (the broker's default) */
  replicationFactor?: number
  /**
   * `'partition'`: one message at a time per partition, in offset order (default).
   * `'key'`: messages with different keys of one partition run in parallel; one key never runs twice at once.
   * @defaultValue `'partition'`
   */
  ordering?: Ordering
}

export type Ordering = 'partition' | 'key'

export interface LedgerOptions {
  /**
   * How long ledger rows are kept. Replaying or redriving a message older than this re-applies its effects.
   * @defaultValue `7` days
   */
  retentionDays?: number
  /** How often a worker prunes expired rows (in small batches). @defaultValue `600_000` (10 min) */
  pruneIntervalMs?: number
}

export interface BackoffOptions {
  /** @defaultValue `'exponential'` */
  type?: 'fixed' | 'exponential'
  /** Delay before the first retry (exponential doubles it each time). @defaultValue `1000` */
  delayMs?: number
  /** Upper bound of any delay. @defaultValue `600_000` */
  maxDelayMs?: number
  /** Add up to 20% random extra delay so retries of many failures spread out. @defaultValue `true` */
  jitter?: boolean
}

export interface RetryOptions {
  /** Total runs, the first included (`ctx.attempt` counts from 1). `1` = never retry. @defaultValue `3` */
  attempts?: number
  backoff?: BackoffOptions
  /** Return false to dead-letter an error at once (like throwing `UnrecoverableError`). @defaultValue retry all */
  retryable?: (error: unknown) => boolean
  /**
   * `'key'` ("blocked key"): while a key has a message waiting in a retry tier, later messages of that key
   * wait behind it; other keys keep flowing. Needs the database. @defaultValue `'none'`
   */
  ordering?: 'none' | 'key'
}

export interface WorkerOptions {
  /** Queues to work on. @defaultValue every queue that has a task */
  queues?: string[]
  /** Consumers (by group id) to run. @defaultValue every `app.consume()` registration */
  consumers?: string[]
  /** Handlers (or transaction chunks) running at once across the worker. @defaultValue `16` */
  concurrency?: number
  /** On stop, how long in-flight handlers may take before their signal is aborted. @defaultValue `30_000` */
  shutdownGraceMs?: number
  /** Kafka group session timeout. @defaultValue `30_000` */
  sessionTimeoutMs?: number
  /** Kafka heartbeat interval. @defaultValue `3_000` */
  heartbeatIntervalMs?: number
  /** How often done offsets are committed. @defaultValue `500` */
  commitIntervalMs?: number
  /**
   * Also commit as soon as a partition has this many newly done messages (bounds what a crash makes a
   * peer run again when the interval is long); 0 = interval only. @defaultValue `5000`
   */
  commitThreshold?: number
  /** Messages buffered per partition before its fetching pauses. @defaultValue `1000` */
  maxBufferedPerPartition?: number
  /** Most messages of one partition whose effects commit in one Postgres transaction. @defaultValue `50` */
  transactionBatchSize?: number
  /** Longest wait of a fetch on an idle partition (also how soon a resumed partition is fetched). @defaultValue `500` */
  fetchMaxWaitMs?: number
  /** Most bytes one fetch returns per partition (a message larger than this is still fetched). @defaultValue `131_072` */
  fetchMaxBytesPerPartition?: number
  /** Most bytes one fetch returns in all. @defaultValue `1_048_576` */
  fetchMaxBytes?: number
  /** How often the worker logs its counters at info level (`worker stats`); 0 = never. @defaultValue `60_000` */
  statsIntervalMs?: number
  /**
   * How long `start()` keeps trying while Kafka or Postgres do not answer (each failed attempt logged, then
   * retried after 1 s doubling to 10 s) before it fails with KTASK_INFRASTRUCTURE; 0 = wait until they do,
   * as a supervisor restarting the process would. @defaultValue `0`
   */
  startTimeoutMs?: number
  /**
   * How far another worker's clock may run ahead of this one's. A retry-tier message waits at most its
   * tier's delay (+20% jitter) plus this, from when this worker first sees it, whatever due time its
   * `ktask-not-before` header says. @defaultValue `30_000`
   */
  maxClockSkewMs?: number
}

/** Options of the HTTP service (`createHttpService`, `ktask serve`); resolved and validated in http/options.ts. */
export interface HttpServiceOptions {
  /** Port to listen on; `0` picks a free one. @defaultValue env `KTASK_HTTP_PORT`, else `8080` */
  port?: number
  /**
   * Interface to listen on. Any address other than loopback without a `token` logs a warning at listen
   * time: anyone who can reach the port can enqueue tasks. @defaultValue env `KTASK_HTTP_HOST`, else `'0.0.0.0'`
   */
  host?: string
  /**
   * Bearer token every route needs except /healthz and /readyz (visible ASCII, no spaces); unset = no
   * auth. An empty environment variable counts as unset. @defaultValue env `KTASK_HTTP_TOKEN`
   */
  token?: string
  /** Largest request body; bigger ones get 413. @defaultValue `1_048_576` */
  bodyLimitBytes?: number
  /**
   * How often event streams look for changes. All open streams share one Postgres statement per
   * interval, however many there are. @defaultValue `250`
   */
  ssePollMs?: number
  /**
   * Most event streams (GET /v1/tasks/:id/events) open at once; one more gets 503 with Retry-After.
   * @defaultValue `1000`
   */
  maxEventStreams?: number
  /**
   * Longest life of one event stream: it then ends with a `reconnect` event and the client opens a new
   * one (EventSource does so by itself). Bounds what a forgotten client holds. @defaultValue `1_800_000` (30 min)
   */
  eventStreamMaxMs?: number
  /** How long /readyz waits for each dependency. @defaultValue `2000` */
  readyTimeoutMs?: number
  /**
   * How long a POST waits for an earlier request with the same Idempotency-Key that is still enqueueing
   * before answering 409 (with Retry-After). @defaultValue `5000`
   */
  idempotencyWaitMs?: number
}
