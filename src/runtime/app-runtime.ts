/**
 * Resources one app shares between producers, workers and the HTTP service, each created on first use:
 * the Kafka transport and admin, the batching producer, the Avro codec and the Postgres pool (migrated once).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import { AvroCodec } from '../codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../codec/registry-client.ts'
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, infrastructureError } from '../errors.ts'
import { createTransport } from '../kafka/client.ts'
import { ensureTopics, type TopicSpec } from '../kafka/topics.ts'
import type { KafkaTransport, TransportAdmin } from '../kafka/transport.ts'
import { BatchingProducer } from '../producer/batching-producer.ts'
import { migrate } from '../store/migrate.ts'
import { createPool } from '../store/pool.ts'
import { Pruner } from '../store/pruner.ts'
import { OUTBOX_CHANNEL, TIMERS_CHANNEL, countDueTimers } from '../store/outbox.ts'
import { KtaskMetrics, type MetricsRoute } from '../observability/metrics.ts'
import { Notifications } from '../outbox/notifications.ts'
import { Relay } from '../outbox/relay.ts'
import { TimerDispatcher } from '../outbox/timer-dispatcher.ts'

/** Something that runs in the background of every worker and `ktask serve` (the scheduler, …). */
export interface BackgroundPart {
  start(parts: { notifications: Notifications; wakeRelay: () => void }): void
  stop(): Promise<void>
}

/** Connections the background holds at most besides the relay's and the dispatcher's lanes: the scheduler's and the pruner's. */
const BACKGROUND_CONNECTIONS = 2

export class AppRuntime {
  readonly config: ResolvedAppConfig
  readonly logger: Logger
  readonly transport: KafkaTransport
  readonly codec: AvroCodec
  #admin: Promise<TransportAdmin> | undefined
  #producer: BatchingProducer | undefined
  #pool: pg.Pool | undefined
  #metrics: KtaskMetrics | undefined
  #migrated: Promise<void> | undefined
  #ensuredTopics = new Set<string>()
  #closed = false
  #background: { stop(): Promise<void> } | undefined
  #backgroundUsers = 0
  readonly #backgroundParts: BackgroundPart[] = []
  #poolSize = 10
  /** Connections of the background (relay lanes, timer dispatcher, scheduler), on top of #poolSize. */
  #backgroundConnections = 0

  constructor(config: ResolvedAppConfig) {
    this.config = config
    this.logger = config.logger
    this.transport = createTransport(config)
    this.codec = new AvroCodec(new HttpSchemaRegistryClient(config.schemaRegistry))
  }

  get closed(): boolean {
    return this.#closed
  }

  assertOpen(): void {
    if (this.#closed) throw new KtaskError('KTASK_STATE', 'The app is closed')
  }

  #dropAdmin(): void {
    const old = this.#admin
    this.#admin = undefined
    void old?.then((a) => a.disconnect()).catch(() => {})
  }

  admin(): Promise<TransportAdmin> {
    this.#admin ??= (async () => {
      const admin = this.transport.admin()
      try {
        await admin.connect()
      } catch (err) {
        this.#admin = undefined
        throw infrastructureError('kafka', err)
      }
      return admin
    })()
    return this.#admin
  }

  producer(): BatchingProducer {
    this.assertOpen()
    this.#producer ??= new BatchingProducer(this.transport.producer(), this.config.producer)
    return this.#producer
  }

  get hasDatabase(): boolean {
    return this.config.database !== undefined
  }

  /** The app's metrics, once something asked for them (app.metrics(), a metrics port, `ktask serve`). */
  get metrics(): KtaskMetrics | undefined {
    return this.#metrics
  }

  /** Creates the app's metrics (once); `routes` names what the workers running in this process consume. */
  enableMetrics(routes: () => MetricsRoute[]): KtaskMetrics {
    this.#metrics ??= new KtaskMetrics({
      routes,
      highWatermarks: async (topic) => (await this.admin()).topicOffsets(topic),
      committed: async (groupId, topics) => (await this.admin()).groupOffsets(groupId, topics),
      ...(this.hasDatabase
        ? {
            timersDue: async () => {
              await this.ensureMigrated()
              return countDueTimers(this.pool())
            },
            pool: () =>
              this.#pool ? { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount } : undefined,
          }
        : {}),
    })
    return this.#metrics
  }

  /** The shared pool; throws KTASK_INVALID_CONFIG when the app runs without a database. */
  pool(): pg.Pool {
    this.assertOpen()
    const db = this.config.database
    if (!db)
      throw new KtaskError('KTASK_INVALID_CONFIG', 'This feature needs a database, but the app was created with database: false', {
        field: 'database',
      })
    this.#pool ??= createPool(
      {
        connectionString: db.connectionString,
        max: db.max ?? this.#poolSize + this.#backgroundConnections,
        statementTimeoutMs: db.statementTimeoutMs,
        idleInTransactionTimeoutMs: db.idleInTransactionTimeoutMs,
        applicationName: this.config.clientId,
      },
      this.logger,
    )
    return this.#pool
  }

  /**
   * Makes room for `size` connections (a worker's concurrency plus its own statements), growing the
   * pool if it already exists — the HTTP service or a tracked enqueue may have created it smaller.
   * A `database.max` the user chose is kept; too small a one only gets a warning.
   */
  reservePoolSize(size: number): void {
    this.#poolSize = Math.max(this.#poolSize, size)
    const fixed = this.config.database ? this.config.database.max : undefined
    if (fixed !== undefined) {
      if (fixed < size)
        this.logger.warn(
          { 'database.max': fixed, needed: size },
          'database.max is below the worker concurrency + 4: handlers will wait for connections',
        )
      return
    }
    this.#growPool()
  }

  #growPool(): void {
    const wanted = this.#poolSize + this.#backgroundConnections
    if (this.#pool && this.config.database?.max === undefined && this.#pool.options.max < wanted) this.#pool.options.max = wanted
  }

  /** Applies migrations once per process (when `database.migrate` is on); retried after a failure. */
  ensureMigrated(): Promise<void> {
    if (!this.config.database?.migrate) return Promise.resolve()
    this.#migrated ??= migrate(this.pool()).then(
      (res) => {
        if (res.applied.length > 0) this.logger.info({ applied: res.applied.map((m) => m.name) }, 'migrations applied')
      },
      (err: unknown) => {
        this.#migrated = undefined
        throw err
      },
    )
    return this.#migrated
  }

  /** Creates missing topics once per process. */
  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const missing = specs.filter((s) => !this.#ensuredTopics.has(s.topic))
    if (missing.length === 0) return
    let created: string[]
    try {
      created = await ensureTopics(await this.admin(), missing)
    } catch (err) {
      if (err instanceof KtaskError) throw err
      // The next attempt gets a new admin client: after requests timed out on a slow broker, kafkajs's
      // admin kept answering "Broker not connected" for good — a worker's start retried it for minutes
      // after the broker was fine again (the coordinator-slow fault case).
      this.#dropAdmin()
      throw infrastructureError('kafka', err)
    }
    for (const s of missing) this.#ensuredTopics.add(s.topic)
    if (created.length > 0) this.logger.info({ topics: created }, 'topics created')
  }

  /**
   * Creates a topic ktask owns that has gone missing while running (deleted by someone). True when it
   * exists afterwards, so the caller may try its produce again.
   */
  async recreateTopic(spec: TopicSpec): Promise<boolean> {
    try {
      const created = await ensureTopics(await this.admin(), [spec])
      if (created.length > 0)
        this.logger.warn({ topic: spec.topic }, 'a topic of ours was missing (deleted while running?); created it again')
      return true
    } catch (err) {
      this.logger.warn({ err, topic: spec.topic }, 'could not create a missing topic again')
      return false
    }
  }

  /** Adds a part to what retainBackground() runs (started now if the background already runs). */
  addBackgroundPart(part: BackgroundPart): void {
    this.#backgroundParts.push(part)
  }

  /**
   * What runs while something of this app runs (a worker, the HTTP service): the pruner keeping ktask's
   * tables bounded, the outbox relay, the timer dispatcher and the added parts (the scheduler). Started by
   * the first user and stopped when the last one releases it. Nothing without a database.
   */
  retainBackground(): () => Promise<void> {
    if (!this.hasDatabase) return async () => {}
    if (this.#backgroundUsers++ === 0) this.#background = this.#startBackground()
    let released = false
    return async () => {
      if (released) return
      released = true
      if (--this.#backgroundUsers === 0) {
        const background = this.#background
        this.#background = undefined
        await background?.stop()
      }
    }
  }

  #startBackground(): { stop(): Promise<void> } {
    const { ledger, taskRetentionDays, outbox } = this.config
    const db = this.config.database!
    // The relay's lanes and the timer dispatcher's lanes each hold a connection while they publish.
    this.#backgroundConnections = 2 * outbox.concurrency + BACKGROUND_CONNECTIONS
    this.#growPool()
    const ready = (): Promise<void> => this.ensureMigrated()
    const pool = (): pg.Pool => this.pool()
    const pruner = new Pruner({
      pool,
      ready,
      logger: this.logger,
      ledgerRetentionDays: ledger.retentionDays,
      taskRetentionDays,
      intervalMs: ledger.pruneIntervalMs,
      lowWatermarks: async (topic) => {
        const admin = await this.admin()
        if (!(await admin.listTopics()).includes(topic)) return undefined
        return new Map((await admin.topicOffsets(topic)).map((o) => [o.partition, o.low]))
      },
    })
    const notifications = new Notifications({
      connectionString: db.connectionString,
      applicationName: this.config.clientId,
      channels: [OUTBOX_CHANNEL, TIMERS_CHANNEL],
      logger: this.logger,
    })
    const relay = new Relay({ pool, ready, send: (messages) => this.producer().send(messages), logger: this.logger }, outbox)
    const timers = new TimerDispatcher({ pool, ready, send: (messages) => this.producer().send(messages), logger: this.logger }, outbox)
    const unsubscribe = [notifications.on(OUTBOX_CHANNEL, () => relay.wake()), notifications.on(TIMERS_CHANNEL, () => timers.wake())]
    const parts = [...this.#backgroundParts]
    pruner.start()
    notifications.start()
    relay.start()
    timers.start()
    for (const part of parts) part.start({ notifications, wakeRelay: () => relay.wake() })
    return {
      stop: async () => {
        for (const off of unsubscribe) off()
        await Promise.all([pruner.stop(), relay.stop(), timers.stop(), ...parts.map((p) => p.stop())])
        await notifications.stop()
      },
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const background = this.#background
    this.#background = undefined
    this.#backgroundUsers = 0
    await background?.stop()
    await this.#producer?.disconnect()
    if (this.#admin) await (await this.#admin.catch(() => undefined))?.disconnect().catch(() => {})
    await this.#pool?.end().catch(() => {})
  }
}
