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

export class AppRuntime {
  readonly config: ResolvedAppConfig
  readonly logger: Logger
  readonly transport: KafkaTransport
  readonly codec: AvroCodec
  #admin: Promise<TransportAdmin> | undefined
  #producer: BatchingProducer | undefined
  #pool: pg.Pool | undefined
  #migrated: Promise<void> | undefined
  #ensuredTopics = new Set<string>()
  #closed = false
  #pruner: Pruner | undefined
  #prunerUsers = 0
  #poolSize = 10

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
        max: db.max ?? this.#poolSize,
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
    if (this.#pool && this.#pool.options.max < size) this.#pool.options.max = size
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
      throw err instanceof KtaskError ? err : infrastructureError('kafka', err)
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

  /**
   * Keeps ktask's tables bounded while something of this app runs (a worker, the HTTP service): one
   * pruner per app, started by the first user and stopped when the last one releases it.
   */
  retainPruner(): () => Promise<void> {
    if (!this.hasDatabase) return async () => {}
    if (this.#prunerUsers++ === 0) {
      const { ledger, taskRetentionDays } = this.config
      this.#pruner = new Pruner({
        pool: () => this.pool(),
        ready: () => this.ensureMigrated(),
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
      this.#pruner.start()
    }
    let released = false
    return async () => {
      if (released) return
      released = true
      if (--this.#prunerUsers === 0) await this.#pruner?.stop()
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#pruner?.stop()
    await this.#producer?.disconnect()
    if (this.#admin) await (await this.#admin.catch(() => undefined))?.disconnect().catch(() => {})
    await this.#pool?.end().catch(() => {})
  }
}
