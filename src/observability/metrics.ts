/**
 * Prometheus metrics (prom-client), one registry per app: what a worker does (from its events, so the hot
 * path pays only for a counter increment), what is enqueued, and — read when scraped, at most every
 * `refreshMs` — consumer lag, DLQ sizes, due timers and the database pool.
 *
 * Label values are bounded: queue, task and group names, topics and partitions, outcomes and pause reasons;
 * never a task id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Listener } from './emitter.ts'
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
  readonly #outcomes: Counter<'queue' | 'task' | 'outcome'>
  readonly #enqueued: Counter<'queue' | 'task'>
  readonly #duration: Histogram<'queue' | 'task'>
  readonly #toStart: Histogram<'queue'>
  // The hot path's label sets, cached: prom-client hashes a label object on every call otherwise.
  readonly #outcomeOf = cached((queue, task, outcome) => this.#outcomes.labels(queue, task, outcome))
  readonly #durationOf = cached((queue, task) => this.#duration.labels(queue, task))
  readonly #toStartOf = cached((queue) => this.#toStart.labels(queue))
  readonly #workers = new Set<ObservableWorker>()
  readonly #paused = new Map<string, PauseReason>()
  #lastRefresh = 0
  #refreshing: Promise<void> | undefined
  #lag: Map<string, number> = new Map()
  #dlq: Map<string, number> = new Map()
  #timersDue: number | undefined

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    this.#sources = sources
    this.#refreshMs = options.refreshMs ?? 5000
    const registers = [this.registry]
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry })
    this.#outcomes = new Counter({
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
    this.#duration = new Histogram({
      name: 'ktask_handler_duration_seconds',
      help: 'Duration of handlers that succeeded',
      labelNames: ['queue', 'task'],
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.#toStart = new Histogram({
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
    const lag = (): Map<string, number> => this.#lag
    new Gauge({
      name: 'ktask_consumer_lag',
      help: "Messages after the group's committed offset, per partition of the topics this process's workers consume",
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
    if (Number.isFinite(ms)) this.#toStartOf(queue).observe(Math.max(0, ms) / 1000)
  }

  /** Tasks accepted by an enqueue. */
  enqueued(queue: string, task: string, count: number): void {
    this.#enqueued.inc({ queue, task }, count)
  }

  /** Counts what the worker does; `queueOf` names a group's route. Returns the function that stops it. */
  observe(worker: ObservableWorker, queueOf: (groupId: string) => string): () => void {
    this.#workers.add(worker)
    const outcome = (e: { group: string; name: string }, o: TaskOutcome): void => this.#outcomeOf(queueOf(e.group), e.name, o).inc()
    const offs = [
      worker.on('task:succeeded', (e) => {
        outcome(e, 'succeeded')
        this.#durationOf(queueOf(e.group), e.name).observe(e.durationMs / 1000)
      }),
      worker.on('task:duplicate', (e) => outcome(e, 'duplicate')),
      worker.on('task:failed', (e) => {
        outcome(e, 'failed')
        if (e.willRetry) outcome(e, 'retried')
      }),
      worker.on('task:dead', (e) => outcome(e, 'dead')),
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
    const lag = new Map<string, number>()
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
              lag.set(JSON.stringify([route.groupId, topic, partition]), Math.max(0, high - (at < 0 ? low : at)))
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

/** `make` once per distinct list of label values. */
function cached<T>(make: (...values: string[]) => T): (...values: string[]) => T {
  const children = new Map<string, T>()
  return (...values) => {
    const key = values.join('\u0000')
    let child = children.get(key)
    if (child === undefined) children.set(key, (child = make(...values)))
    return child
  }
}

function partitionKey(e: { group: string; topic: string; partition: number }): string {
  return JSON.stringify([e.group, e.topic, e.partition])
}
