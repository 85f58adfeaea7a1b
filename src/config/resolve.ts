/**
 * Options → resolved configuration: defaults (from defaults.ts), environment applied under code, and every
 * value validated at construction so a bad option fails fast with its name.
 */
import type { Level, Logger } from 'pino'
import { configError } from '../errors.ts'
import { createDefaultLogger } from './default-logger.ts'
import {
  appDefaults,
  databaseDefaults,
  ledgerDefaults,
  outboxDefaults,
  webhooksDefaults,
  producerDefaults,
  queueDefaults,
  schemaRegistryDefaults,
  withDefaults,
  workerDefaults,
} from './defaults.ts'
import { WORKER_OPTION_NAMES, refuseUnknown, refuseUnknownAppOptions } from './known-options.ts'
import { kafkaSecurityFromEnv, registryAuthFromEnv } from './security-env.ts'
import type {
  AppOptions,
  KafkaClientName,
  KafkaClientOptions,
  LedgerOptions,
  OutboxOptions,
  WebhooksOptions,
  QueueOptions,
  SchemaRegistryOptions,
  WorkerOptions,
  ProducerOptions,
} from './options.ts'

export interface ResolvedDatabase {
  connectionString: string
  max: number | undefined
  statementTimeoutMs: number
  idleInTransactionTimeoutMs: number
  migrate: boolean
}

export interface ResolvedAppConfig {
  brokers: string[]
  clientId: string
  kafka: KafkaClientOptions & { client: KafkaClientName }
  schemaRegistry: Required<Pick<SchemaRegistryOptions, 'url' | 'timeoutMs'>> & Pick<SchemaRegistryOptions, 'auth'>
  database: ResolvedDatabase | undefined
  prefix: string
  logger: Logger
  queues: Record<string, Required<QueueOptions>>
  ledger: Required<LedgerOptions>
  maxMessageBytes: number
  taskRetentionDays: number
  worker: WorkerOptions
  producer: Required<ProducerOptions>
  outbox: Required<OutboxOptions>
  /** Undefined: webhooks are off (`notify` is refused). */
  webhooks: Required<WebhooksOptions> | undefined
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/

export function checkName(option: string, value: unknown): string {
  if (typeof value !== 'string' || !TOPIC_NAME.test(value) || value.length > 200) {
    throw configError(option, `must be a non-empty string of letters, digits, '.', '_' or '-' (got ${JSON.stringify(value)})`)
  }
  return value
}

export function checkInt(option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(option, `must be an integer between ${min} and ${max} (got ${JSON.stringify(value)})`)
  }
  return value
}

function parseBrokers(value: unknown, option: string): string[] {
  const list = typeof value === 'string' ? value.split(',') : value
  if (!Array.isArray(list) || list.length === 0) throw configError(option, 'must list at least one "host:port"')
  return list.map((raw, i) => {
    const broker = String(raw).trim()
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) throw configError(`${option}[${i}]`, `must be "host:port" (got ${JSON.stringify(raw)})`)
    return broker
  })
}

function checkUrl(option: string, value: string): string {
  try {
    const url = new URL(value)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)')
    return value.replace(/\/+$/, '')
  } catch (err) {
    throw configError(option, `must be an http(s) URL (got ${JSON.stringify(value)})`, err)
  }
}

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer', 'aws']

function checkNumber(option: string, value: unknown, min: number, max: number): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)) {
    throw configError(option, `must be a number between ${min} and ${max} (got ${JSON.stringify(value)})`)
  }
}

/** The Kafka client settings: the environment's TLS/SASL under the code's, timeouts and retries checked. */
function resolveKafka(options: KafkaClientOptions = {}, env: NodeJS.ProcessEnv): KafkaClientOptions & { client: KafkaClientName } {
  const client = resolveKafkaClient(options.client, env)
  if (client === 'platformatic') refuseForPlatformatic(options)
  const mechanism = options.sasl?.mechanism as unknown
  if (options.sasl !== undefined && (typeof mechanism !== 'string' || !SASL_MECHANISMS.includes(mechanism.toLowerCase()))) {
    throw configError('kafka.sasl.mechanism', `must be one of ${SASL_MECHANISMS.join(', ')} (got ${JSON.stringify(mechanism)})`)
  }
  for (const name of ['connectionTimeout', 'authenticationTimeout', 'requestTimeout'] as const) {
    if (options[name] !== undefined) checkInt(`kafka.${name}`, options[name], 1)
  }
  if (options.enforceRequestTimeout !== undefined && typeof options.enforceRequestTimeout !== 'boolean') {
    throw configError('kafka.enforceRequestTimeout', `must be true or false (got ${JSON.stringify(options.enforceRequestTimeout)})`)
  }
  if (options.ssl !== undefined && typeof options.ssl !== 'boolean' && (options.ssl === null || typeof options.ssl !== 'object')) {
    throw configError('kafka.ssl', 'must be true, false or TLS connection options')
  }
  if (options.reauthenticationThreshold !== undefined) checkInt('kafka.reauthenticationThreshold', options.reauthenticationThreshold, 0)
  const retry = options.retry ?? {}
  for (const name of ['maxRetryTime', 'initialRetryTime', 'retries'] as const) {
    if (retry[name] !== undefined) checkInt(`kafka.retry.${name}`, retry[name], 0)
  }
  checkNumber('kafka.retry.factor', retry.factor, 0, 1)
  checkNumber('kafka.retry.multiplier', retry.multiplier, 1, 100)
  return { ...kafkaSecurityFromEnv(env, options), ...options, client }
}

const KAFKA_CLIENTS: readonly KafkaClientName[] = ['kafkajs', 'platformatic']

function resolveKafkaClient(inCode: unknown, env: NodeJS.ProcessEnv): KafkaClientName {
  const [option, value] = inCode !== undefined ? ['kafka.client', inCode] : ['KTASK_KAFKA_CLIENT', env.KTASK_KAFKA_CLIENT || undefined]
  if (value === undefined) return 'kafkajs'
  if (!(KAFKA_CLIENTS as readonly unknown[]).includes(value)) {
    throw configError(option, `must be one of ${KAFKA_CLIENTS.join(', ')} (got ${JSON.stringify(value)})`)
  }
  return value as KafkaClientName
}

/** kafkajs settings that @platformatic/kafka has no equivalent for: refused rather than silently ignored. */
function refuseForPlatformatic(options: KafkaClientOptions): void {
  const unsupported = (option: string): never => {
    throw configError(option, "has no equivalent with kafka.client 'platformatic' (remove it, or use kafka.client 'kafkajs')")
  }
  if (options.authenticationTimeout !== undefined) unsupported('kafka.authenticationTimeout')
  if (options.reauthenticationThreshold !== undefined) unsupported('kafka.reauthenticationThreshold')
  if (options.enforceRequestTimeout === false) unsupported('kafka.enforceRequestTimeout')
  if ((options.sasl?.mechanism as unknown) === 'aws') unsupported('kafka.sasl.mechanism')
  for (const name of ['maxRetryTime', 'factor', 'multiplier'] as const) {
    if (options.retry?.[name] !== undefined) unsupported(`kafka.retry.${name}`)
  }
}

function resolveQueue(name: string, options: QueueOptions | undefined): Required<QueueOptions> {
  checkName(`queues.${name}`, name)
  const q = withDefaults(queueDefaults, options)
  checkInt(`queues.${name}.partitions`, q.partitions, 1, 10_000)
  if (q.replicationFactor !== -1) checkInt(`queues.${name}.replicationFactor`, q.replicationFactor, 1, 100)
  if (q.ordering !== 'partition' && q.ordering !== 'key') {
    throw configError(`queues.${name}.ordering`, `must be 'partition' or 'key' (got ${JSON.stringify(q.ordering)})`)
  }
  return q
}

export function resolveQueueOptions(name: string, options?: QueueOptions): Required<QueueOptions> {
  return resolveQueue(name, options)
}

/**
 * Operations (createOps, the CLI's commands) log only trouble — warn and above — unless LOG_LEVEL asks
 * for more; spread it under the caller's options so a `logLevel` in code still wins.
 */
export function operationsLogLevel(env: NodeJS.ProcessEnv = process.env): Pick<AppOptions, 'logLevel'> {
  return env.LOG_LEVEL ? {} : { logLevel: 'warn' }
}

/** The prefix of topics and groups: the `prefix` option, else KTASK_PREFIX, else `ktask`. */
export function resolvePrefix(prefix: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return checkName(prefix ? 'prefix' : 'KTASK_PREFIX', prefix ?? env.KTASK_PREFIX ?? appDefaults.prefix)
}

export function resolveAppOptions(options: AppOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedAppConfig {
  refuseUnknownAppOptions(options)
  const brokers = parseBrokers(options.brokers ?? env.KTASK_BROKERS ?? appDefaults.brokers, options.brokers ? 'brokers' : 'KTASK_BROKERS')
  const prefix = resolvePrefix(options.prefix, env)
  const registryUrl = options.schemaRegistry?.url ?? env.KTASK_SCHEMA_REGISTRY_URL ?? schemaRegistryDefaults.url
  const schemaRegistry = {
    url: checkUrl(options.schemaRegistry?.url ? 'schemaRegistry.url' : 'KTASK_SCHEMA_REGISTRY_URL', registryUrl),
    timeoutMs: checkInt('schemaRegistry.timeoutMs', options.schemaRegistry?.timeoutMs ?? schemaRegistryDefaults.timeoutMs, 100),
    auth: options.schemaRegistry?.auth ?? registryAuthFromEnv(env),
  }

  let database: ResolvedDatabase | undefined
  if (options.database !== false) {
    const db = options.database ?? {}
    const connectionString = db.connectionString ?? env.DATABASE_URL ?? databaseDefaults.connectionString
    if (!/^postgres(ql)?:\/\//.test(connectionString)) {
      throw configError(
        db.connectionString ? 'database.connectionString' : 'DATABASE_URL',
        `must be a postgres:// URL (got ${JSON.stringify(connectionString.replace(/:[^:@/]*@/, ':***@'))})`,
      )
    }
    database = {
      connectionString,
      max: db.max === undefined ? undefined : checkInt('database.max', db.max, 1, 1000),
      statementTimeoutMs: checkInt('database.statementTimeoutMs', db.statementTimeoutMs ?? databaseDefaults.statementTimeoutMs, 0),
      idleInTransactionTimeoutMs: checkInt(
        'database.idleInTransactionTimeoutMs',
        db.idleInTransactionTimeoutMs ?? databaseDefaults.idleInTransactionTimeoutMs,
        0,
      ),
      migrate: db.migrate ?? databaseDefaults.migrate,
    }
  }

  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
  const level = options.logLevel ?? env.LOG_LEVEL ?? appDefaults.logLevel
  if (!levels.includes(level))
    throw configError(options.logLevel ? 'logLevel' : 'LOG_LEVEL', `must be one of ${levels.join(', ')} (got ${JSON.stringify(level)})`)
  const logger = options.logger ?? createDefaultLogger(level as Level | 'silent', env)

  const queues: Record<string, Required<QueueOptions>> = {}
  for (const [name, q] of Object.entries(options.queues ?? {})) queues[name] = resolveQueue(name, q)

  const ledger = withDefaults(ledgerDefaults, options.ledger)
  checkInt('ledger.retentionDays', ledger.retentionDays, 1)
  checkInt('ledger.pruneIntervalMs', ledger.pruneIntervalMs, 1000)
  const outbox = withDefaults(outboxDefaults, options.outbox)
  checkInt('outbox.batchSize', outbox.batchSize, 1)
  checkInt('outbox.concurrency', outbox.concurrency, 1)
  checkInt('outbox.pollIntervalMs', outbox.pollIntervalMs, 10)
  const webhooks = resolveWebhooks(options.webhooks)

  return {
    brokers,
    clientId: options.clientId ?? appDefaults.clientId,
    kafka: resolveKafka(options.kafka, env),
    schemaRegistry,
    database,
    prefix,
    logger,
    queues,
    ledger,
    maxMessageBytes: checkInt('maxMessageBytes', options.maxMessageBytes ?? appDefaults.maxMessageBytes, 64),
    taskRetentionDays: checkInt('taskRetentionDays', options.taskRetentionDays ?? appDefaults.taskRetentionDays, 1),
    worker: options.worker ?? {},
    producer: {
      maxQueuedBytes: checkInt('producer.maxQueuedBytes', options.producer?.maxQueuedBytes ?? producerDefaults.maxQueuedBytes, 1024 * 1024),
    },
    outbox,
    webhooks,
  }
}

function resolveWebhooks(option: AppOptions['webhooks']): Required<WebhooksOptions> | undefined {
  if (option === undefined || option === false) return undefined
  if (option !== true && (typeof option !== 'object' || option === null)) throw configError('webhooks', 'must be an object or a boolean')
  const given = option === true ? {} : option
  const w = withDefaults(webhooksDefaults, { ...given, backoff: undefined })
  if (typeof w.allowPrivateNetworks !== 'boolean') throw configError('webhooks.allowPrivateNetworks', 'must be a boolean')
  checkInt('webhooks.timeoutMs', w.timeoutMs, 100)
  checkInt('webhooks.attempts', w.attempts, 1, 100)
  if (typeof w.queue !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(w.queue)) {
    throw configError('webhooks.queue', 'must be 1-100 characters of letters, digits, ".", "_" and "-"')
  }
  return { ...w, backoff: { ...webhooksDefaults.backoff, ...(given.backoff ?? {}) } }
}

export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'queues' | 'consumers'>> & Pick<WorkerOptions, 'queues' | 'consumers'>

export function resolveWorkerOptions(options: WorkerOptions = {}): ResolvedWorkerOptions {
  refuseUnknown('', options, WORKER_OPTION_NAMES)
  const o = withDefaults(workerDefaults, options)
  checkInt('concurrency', o.concurrency, 1, 10_000)
  checkInt('shutdownGraceMs', o.shutdownGraceMs, 0)
  checkInt('sessionTimeoutMs', o.sessionTimeoutMs, 1000)
  checkInt('heartbeatIntervalMs', o.heartbeatIntervalMs, 100)
  if (o.heartbeatIntervalMs >= o.sessionTimeoutMs) {
    throw configError('heartbeatIntervalMs', `must be lower than sessionTimeoutMs (${o.sessionTimeoutMs})`)
  }
  checkInt('commitIntervalMs', o.commitIntervalMs, 10)
  checkInt('commitThreshold', o.commitThreshold, 0)
  checkInt('maxBufferedPerPartition', o.maxBufferedPerPartition, 1)
  checkInt('transactionBatchSize', o.transactionBatchSize, 1, 64)
  checkInt('fetchMaxWaitMs', o.fetchMaxWaitMs, 10, 60_000)
  checkInt('statsIntervalMs', o.statsIntervalMs, 0)
  checkInt('startTimeoutMs', o.startTimeoutMs, 0)
  checkInt('maxClockSkewMs', o.maxClockSkewMs, 0, 86_400_000)
  checkInt('fetchMaxBytesPerPartition', o.fetchMaxBytesPerPartition, 1024)
  checkInt('fetchMaxBytes', o.fetchMaxBytes, 1024)
  return o
}
