/**
 * Prometheus metrics (prom-client), one registry per app: what a worker does (from its events, so the hot
 * path pays only for a counter increment), what is enqueued, and — read when scraped, at most every
 * `refreshMs` — consumer lag, DLQ sizes, due timers and the database pool.
 *
 * Label values are bounded: queue, task and group names, topics and partitions, outcomes and pause reasons;
 * never a task id.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { Listener } from './emitter.ts'
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics.ts'
import type { PauseReason, WorkerEvents } from './worker-events.ts'

export type TaskOutcome = 'succeeded' | 'failed' | 'retried' | 'dead' | 'duplicate'

/** A route as metrics name it: a queue (or a consumer's group id) and its consumer group. */
export interface MetricsRoute {
  name: string
  groupId: string
  sourceTopic: string
  dlqTopic: string
  /** Every topic its group consumes (source and retry tiers). */
  topics: string[]
}

/** A route's names for metrics. */
export function metricsRoute(route: {
  name: string
  groupId: string
  sourceTopic: string
  dlqTopic: string
  retryTopics: Map<number, string>
}): MetricsRoute {
  return {
    name: route.name,
    groupId: route.groupId,
    sourceTopic: route.sourceTopic,
    dlqTopic: route.dlqTopic,
    topics: [route.sourceTopic, ...route.retryTopics.values()],
  }
}

/** What the scrape-time gauges read; each may fail (an outage), which leaves the gauge's last values. */
export interface MetricsSources {
  /** Routes of the workers running in this process. */
  routes(): MetricsRoute[]
  /** High watermark per partition of a topic. */
  highWatermarks(topic: string): Promise<{ partition: number; high: number; low: number }[]>
  /** The group's committed offsets (-1: none) per topic partition. */
  committed(groupId: string, topics: string[]): Promise<{ topic: string; partitions: { partition: number; offset: number }[] }[]>
  /** Timers due now and not yet published (absent without a database). */
  timersDue?: () => Promise<number>
  /** The pool's connections (undefined without a database, or before it is made). */
  pool?: () => { total: number; idle: number; waiting: number } | undefined
}

/** What a worker's consumer groups hold right now. */
export interface WorkerGauges {
  group: string
  inFlight: number
  buffered: number
  /** The partitions it owns, with their end offset as last fetched and its position (first offset not done). */
  partitions?: { topic: string; partition: number; highWatermark: number; position: number }[]
}

/** The part of a worker metrics listen to. */
export interface ObservableWorker {
  on<K extends keyof WorkerEvents>(event: K, listener: Listener<WorkerEvents[K]>): () => void
  /** Read when scraped (absent: no gauges for this worker). */
  gauges?(): WorkerGauges[]
}

export interface MetricsOptions {
  /** Scrape-time figures (lag, DLQ, timers) are read at most this often, in ms. @defaultValue 5000 */
  refreshMs?: number
  /** Node.js process metrics (CPU, memory, event loop lag, GC). @defaultValue true */
  processMetrics?: boolean
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

export class KtaskMetrics {
  readonly registry = new Registry()
  readonly #sources: MetricsSources
  readonly #refreshMs: number
  readonly #outcomes: FastCounter<'queue' | 'task' | 'outcome'>
  readonly #enqueued: Counter<'queue' | 'task'>
  readonly #duration: FastHistogram<'queue' | 'task'>
  readonly #toStart: FastHistogram<'queue'>
  // Per message, a series is found with map lookups by name (no label objects, no string joins).
  readonly #toStartOf = new Map<string, HistogramSeries>()
  readonly #workers = new Set<ObservableWorker>()
  readonly #paused = new Map<string, PauseReason>()
  #lastRefresh = 0
  #refreshing: Promise<void> | undefined
  /** From the admin API, every refreshMs: end offset and committed lag per [group, topic, partition]. */
  #lag: Map<string, { high: number; lag: number }> = new Map()
  #dlq: Map<string, number> = new Map()
  #timersDue: number | undefined

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    this.#sources = sources
    this.#refreshMs = options.refreshMs ?? 5000
    const registers = [this.registry]
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry })
    this.#outcomes = new FastCounter({
      name: 'ktask_task_outcomes_total',
      help: 'Handled messages by outcome: succeeded, failed (every failed attempt), retried (sent to a retry tier), dead (dead-lettered), duplicate (skipped by the ledger)',
      labelNames: ['queue', 'task', 'outcome'],
      registers,
    })
    this.#enqueued = new Counter({
      name: 'ktask_enqueued_total',
      help: "Tasks enqueued by this process: produced, or written to the outbox or a timer (counted when written: a caller's transaction may still roll back)",
      labelNames: ['queue', 'task'],
      registers,
    })
    this.#duration = new FastHistogram({
      name: 'ktask_handler_duration_seconds',
      help: 'Duration of handlers that succeeded',
      labelNames: ['queue', 'task'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.#toStart = new FastHistogram({
      name: 'ktask_enqueue_to_start_seconds',
      help: "From a task's enqueue to its handler's first start (first attempts only: a retry's wait is its backoff)",
      labelNames: ['queue'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    const workers = this.#workers
    const perGroup = (read: (g: WorkerGauges) => number) =>
      function (this: Gauge<'group'>): void {
        this.reset()
        for (const worker of workers) for (const g of worker.gauges?.() ?? []) this.inc({ group: g.group }, read(g))
      }
    new Gauge({
      name: 'ktask_in_flight',
      help: 'Messages being run now (in handler chunks) by the workers of this process',
      labelNames: ['group'],
      registers,
      collect: perGroup((g) => g.inFlight),
    })
    new Gauge({
      name: 'ktask_buffered_messages',
      help: 'Messages fetched and held by the workers of this process, running or waiting to run',
      labelNames: ['group'],
      registers,
      collect: perGroup((g) => g.buffered),
    })
    // prom-client calls collect() with the metric as `this`: the app's state is reached through these.
    const refresh = (): Promise<void> => this.#refresh()
    const paused = this.#paused
    const lag = (): Map<string, number> => this.#currentLag()
    new Gauge({
      name: 'ktask_consumer_lag',
      help:
        "Messages not yet done per partition of the topics this process's workers consume: for partitions a worker here owns, " +
        'the end offset its last fetch saw minus its position (live); for the others, the end offset minus the committed offset (every few seconds)',
      labelNames: ['group', 'topic', 'partition'],
      registers,
      async collect() {
        await refresh()
        this.reset()
        for (const [key, n] of lag()) {
          const [group, topic, partition] = JSON.parse(key) as [string, string, number]
          this.set({ group, topic, partition: String(partition) }, n)
        }
      },
    })
    const dlq = (): Map<string, number> => this.#dlq
    new Gauge({
      name: 'ktask_dlq_messages',
      help: "Records in a route's DLQ topic (end offset minus start offset, summed over partitions)",
      labelNames: ['queue'],
      registers,
      async collect() {
        await refresh()
        this.reset()
        for (const [queue, n] of dlq()) this.set({ queue }, n)
      },
    })
    new Gauge({
      name: 'ktask_paused_partitions',
      help: 'Partitions whose fetching a worker of this process paused, by group and reason (backpressure, not-due, outage)',
      labelNames: ['group', 'reason'],
      registers,
      collect() {
        this.reset()
        const counts = new Map<string, number>()
        for (const [key, reason] of paused) {
          const group = (JSON.parse(key) as [string])[0]
          const at = JSON.stringify([group, reason])
          counts.set(at, (counts.get(at) ?? 0) + 1)
        }
        for (const [at, n] of counts) {
          const [group, reason] = JSON.parse(at) as [string, string]
          this.set({ group, reason }, n)
        }
      },
    })
    const timersDue = (): number | undefined => this.#timersDue
    if (sources.timersDue) {
      new Gauge({
        name: 'ktask_timers_due',
        help: 'Delayed tasks (and other timers) due and not yet published, in the whole database',
        registers,
        async collect() {
          await refresh()
          const n = timersDue()
          if (n !== undefined) this.set(n)
        },
      })
    }
    if (sources.pool) {
      const pool = (): ReturnType<NonNullable<MetricsSources['pool']>> => sources.pool?.()
      new Gauge({
        name: 'ktask_db_pool_connections',
        help: "The app's Postgres pool: total connections, idle ones, and clients waiting for one",
        labelNames: ['state'],
        registers,
        collect() {
          const p = pool()
          if (!p) return
          this.set({ state: 'total' }, p.total)
          this.set({ state: 'idle' }, p.idle)
          this.set({ state: 'waiting' }, p.waiting)
        },
      })
    }
  }

  /** A handler started: its first attempt's wait since the enqueue (the `ktask-enqueued-at` header). */
  started(queue: string, attempt: number, enqueuedAt: string | undefined): void {
    if (attempt !== 1 || enqueuedAt === undefined) return
    const ms = Date.now() - Number(enqueuedAt)
    if (!Number.isFinite(ms)) return
    let series = this.#toStartOf.get(queue)
    if (!series) this.#toStartOf.set(queue, (series = this.#toStart.series(queue)))
    series.observe(Math.max(0, ms) / 1000)
  }

  /** Tasks accepted by an enqueue. */
  enqueued(queue: string, task: string, count: number): void {
    this.#enqueued.inc({ queue, task }, count)
  }

  /** Counts what the worker does; `queueOf` names a group's route. Returns the function that stops it. */
  observe(worker: ObservableWorker, queueOf: (groupId: string) => string): () => void {
    this.#workers.add(worker)
    const byGroup = new Map<string, Map<string, TaskSeries>>()
    const of = (e: { group: string; name: string }): TaskSeries => {
      let tasks = byGroup.get(e.group)
      if (!tasks) byGroup.set(e.group, (tasks = new Map<string, TaskSeries>()))
      let series = tasks.get(e.name)
      if (!series) tasks.set(e.name, (series = this.#taskSeries(queueOf(e.group), e.name)))
      return series
    }
    const offs = [
      worker.on('task:succeeded', (e) => {
        const series = of(e)
        series.succeeded.inc()
        series.duration.observe(e.durationMs / 1000)
      }),
      worker.on('task:duplicate', (e) => of(e).duplicate.inc()),
      worker.on('task:failed', (e) => {
        const series = of(e)
        series.failed.inc()
        if (e.willRetry) series.retried.inc()
      }),
      worker.on('task:dead', (e) => of(e).dead.inc()),
      worker.on('partition:paused', (e) => {
        this.#paused.set(partitionKey(e), e.reason)
      }),
      worker.on('partition:resumed', (e) => {
        this.#paused.delete(partitionKey(e))
      }),
      worker.on('rebalance', ({ group, assigned }) => {
        // Partitions no longer assigned are no longer ours to report.
        for (const key of [...this.#paused.keys()]) {
          const [g, topic, partition] = JSON.parse(key) as [string, string, number]
          if (g === group && !(assigned[topic] ?? []).includes(partition)) this.#paused.delete(key)
        }
      }),
      worker.on('stopped', ({ groups }) => {
        for (const key of [...this.#paused.keys()]) if (groups.includes((JSON.parse(key) as [string])[0])) this.#paused.delete(key)
      }),
    ]
    return () => {
      offs.forEach((off) => off())
      this.#workers.delete(worker)
    }
  }

  /**
   * Lag per [group, topic, partition]: live from the fetched batches for partitions owned here (the admin
   * API's end offset, when newer, still counts: a paused partition fetches nothing), else the admin figure.
   */
  #currentLag(): Map<string, number> {
    const lag = new Map<string, number>()
    for (const [key, admin] of this.#lag) lag.set(key, admin.lag)
    for (const worker of this.#workers) {
      for (const g of worker.gauges?.() ?? []) {
        for (const p of g.partitions ?? []) {
          const key = JSON.stringify([g.group, p.topic, p.partition])
          const high = Math.max(p.highWatermark, this.#lag.get(key)?.high ?? -1)
          lag.set(key, Math.max(0, high - p.position))
        }
      }
    }
    return lag
  }

  #taskSeries(queue: string, task: string): TaskSeries {
    const outcome = (o: TaskOutcome): CounterSeries => this.#outcomes.series(queue, task, o)
    return {
      succeeded: outcome('succeeded'),
      failed: outcome('failed'),
      retried: outcome('retried'),
      dead: outcome('dead'),
      duplicate: outcome('duplicate'),
      duration: this.#duration.series(queue, task),
    }
  }

  /** Reads lag, DLQ sizes and due timers, at most every refreshMs; one read at a time. */
  #refresh(): Promise<void> {
    if (Date.now() - this.#lastRefresh < this.#refreshMs) return Promise.resolve()
    this.#refreshing ??= this.#read().finally(() => {
      this.#lastRefresh = Date.now()
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #read(): Promise<void> {
    const routes = this.#sources.routes()
    const lag = new Map<string, { high: number; lag: number }>()
    const dlq = new Map<string, number>()
    await Promise.all(
      routes.map(async (route) => {
        try {
          const [committed, ...highs] = await Promise.all([
            this.#sources.committed(route.groupId, route.topics),
            ...route.topics.map((t) => this.#sources.highWatermarks(t)),
          ])
          route.topics.forEach((topic, i) => {
            const offsets = new Map((committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, p.offset]))
            for (const { partition, high, low } of highs[i]!) {
              const at = offsets.get(partition) ?? -1
              // No commit yet: everything still in the log waits.
              lag.set(JSON.stringify([route.groupId, topic, partition]), { high, lag: Math.max(0, high - (at < 0 ? low : at)) })
            }
          })
          const dlqOffsets = await this.#sources.highWatermarks(route.dlqTopic)
          dlq.set(
            route.name,
            dlqOffsets.reduce((sum, p) => sum + (p.high - p.low), 0),
          )
        } catch {
          // An outage or a topic not created yet: keep this route's last figures.
          for (const [key, value] of this.#lag) if ((JSON.parse(key) as [string])[0] === route.groupId) lag.set(key, value)
          const last = this.#dlq.get(route.name)
          if (last !== undefined) dlq.set(route.name, last)
        }
      }),
    )
    this.#lag = lag
    this.#dlq = dlq
    if (this.#sources.timersDue) this.#timersDue = await this.#sources.timersDue().catch(() => this.#timersDue)
  }
}

/** What one task of one queue counts, by outcome, and times. */
interface TaskSeries {
  succeeded: CounterSeries
  failed: CounterSeries
  retried: CounterSeries
  dead: CounterSeries
  duplicate: CounterSeries
  duration: HistogramSeries
}

function partitionKey(e: { group: string; topic: string; partition: number }): string {
  return JSON.stringify([e.group, e.topic, e.partition])
}
