/**
 * One Kafka consumer group working on one route (a task queue or an `app.consume()` registration):
 * its source topic plus its retry tiers. kafkajs fetches; `eachBatch` only hands messages to partition
 * lanes and returns, so a slow handler never delays fetching, heartbeats or other partitions.
 *
 * Offsets: `autoCommit` is off. Every `commitIntervalMs`, when a partition has `commitThreshold` newly
 * done messages, when a rebalance starts, and on stop, the lanes'
 * positions (first offset not yet durable) are committed — only for partitions assigned to this member in
 * the current generation (a revoked partition is never committed; the broker fences stale generations).
 */
import type { Logger } from 'pino'
import type { Route } from '../routing/routes.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import type { ResolvedWorkerOptions } from '../config/resolve.ts'
import { KtaskError, errorChain, infrastructureError, isKtaskError } from '../errors.ts'
import type { TypedEmitter } from '../observability/emitter.ts'
import type { WorkerGauges } from '../observability/metrics.ts'
import type { WorkerEvents } from '../observability/worker-events.ts'
import { refusalOf } from '../kafka/produce-errors.ts'
import type { TopicSpec } from '../kafka/topics.ts'
import type { FetchedBatch, TransportConsumer } from '../kafka/transport.ts'
import { headersToStrings } from '../retry/headers.ts'
import { readRanges } from '../kafka/read-range.ts'
import { provisionRoute } from '../topology/provision.ts'
import { byTopic, fetchPlanForAssignment, type FetchPlan } from './assignment.ts'
import { DeadLetterLog } from './dead-letter-log.ts'
import type { Deadlines } from './deadlines.ts'
import type { FollowUps } from './handler-context.ts'
import type { ExecutionHooks } from './execution.ts'
import { Executor } from './executor.ts'
import { HopRouter } from './hop-router.ts'
import { KeyBlocking } from './key-blocking.ts'
import { KeyedLane } from './keyed-lane.ts'
import { LeaseKeeper, LimitGate } from './limit-gate.ts'
import type { LaneCore } from './lane-core.ts'
import { OrderedLane } from './ordered-lane.ts'
import type { IsolatedHandlers } from './isolated-handlers.ts'
import type { HandleLayer } from '../middleware/middleware.ts'
import { Preparer } from './preparation.ts'
import type { Semaphore } from './semaphore.ts'
import type { WorkerStats } from './worker-stats.ts'

export interface GroupConsumerDeps {
  runtime: AppRuntime
  route: Route
  options: ResolvedWorkerOptions
  semaphore: Semaphore
  events: TypedEmitter<WorkerEvents>
  stats: WorkerStats
  /** Running handlers' deadlines (shared by the worker's groups; aborted together on shutdown). */
  deadlines: Deadlines
  hooks?: ExecutionHooks
  followUps?: FollowUps
  /** The worker's isolated handlers (threads / child processes). */
  isolated?: IsolatedHandlers
  /** The app's `handle` middleware, outermost first. */
  handleLayers?: readonly HandleLayer[]
}

const FINAL_COMMIT_TIMEOUT_MS = 10_000
const REBALANCE_COMMIT_ERRORS = new Set(['ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID'])

/** The Kafka protocol error type of a (possibly wrapped) kafkajs error. */
function protocolErrorType(err: unknown): string | undefined {
  for (const e of errorChain(err)) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string') return type
  }
  return undefined
}

const DISCONNECT_TIMEOUT_MS = 15_000

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`
const fromTpKey = (key: string): { topic: string; partition: number } => {
  const at = key.lastIndexOf('\u0000')
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KtaskError('KTASK_INFRASTRUCTURE', `${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export class GroupConsumer {
  readonly route: Route
  readonly #d: GroupConsumerDeps
  readonly #log: Logger
  #consumer: TransportConsumer | undefined
  readonly #lanes = new Map<string, LaneCore>()
  /** Revoked lanes whose in-flight work has not finished yet (stop() waits for them too). */
  readonly #retiring = new Set<LaneCore>()
  #assigned = new Set<string>()
  #tierTopics = new Set<string>()
  #ownedSpecs = new Map<string, TopicSpec>()
  #recreating: Promise<void> | undefined
  #router: HopRouter | undefined
  #deadLetters: DeadLetterLog | undefined
  #preparer: Preparer
  #executor: Executor
  /** Set when a task of the route has `rateLimit` or `concurrency`. */
  #limits: { gate: LimitGate; leases: LeaseKeeper } | undefined
  #commitTimer: NodeJS.Timeout | undefined
  #committing: Promise<void> | undefined
  #stopping = false
  /** Called when kafkajs gives up on this consumer (crash without restart). */
  onFatal: (error: unknown) => void = () => {}

  constructor(deps: GroupConsumerDeps) {
    this.#d = deps
    this.route = deps.route
    this.#log = deps.runtime.logger.child({ group: deps.route.groupId })
    this.#preparer = new Preparer(deps.route, deps.runtime.codec, deps.runtime.config.maxMessageBytes)
    const { runtime } = deps
    this.#executor = new Executor({
      hasDatabase: runtime.hasDatabase,
      pool: () => runtime.pool(),
      idleInTransactionTimeoutMs: runtime.config.database?.idleInTransactionTimeoutMs ?? 0,
      topics: deps.route,
      groupId: deps.route.groupId,
      logger: this.#log,
      deadlines: deps.deadlines,
      hooks: deps.hooks,
      ...(deps.followUps ? { followUps: deps.followUps } : {}),
      ...(deps.isolated ? { isolated: deps.isolated } : {}),
      ...(deps.handleLayers?.length ? { handleLayers: deps.handleLayers, queue: deps.route.name } : {}),
    })
    if ([...deps.route.specs.values()].some((s) => s.rateLimit || s.concurrency)) {
      const leases = new LeaseKeeper(() => runtime.pool(), this.#log)
      const gate = new LimitGate({
        pool: () => runtime.pool(),
        groupId: deps.route.groupId,
        sourceTopic: deps.route.sourceTopic,
        leases,
        logger: this.#log,
      })
      this.#limits = { gate, leases }
    }
  }

  /** What the group's lanes hold right now, and each owned partition's end offset and position (metrics). */
  gauges(): WorkerGauges {
    let inFlight = 0
    let buffered = 0
    const partitions: WorkerGauges['partitions'] = []
    for (const [key, lane] of this.#lanes) {
      if (lane.state === 'revoked') continue
      inFlight += lane.inFlight
      buffered += lane.buffered
      if (lane.highWatermark >= 0) {
        const { topic, partition } = fromTpKey(key)
        partitions.push({ topic, partition, highWatermark: lane.highWatermark, position: lane.tracker.position() })
      }
    }
    return { group: this.route.groupId, inFlight, buffered, partitions }
  }

  /** Provisions the route's topics, joins the group and starts consuming. */
  async start(): Promise<void> {
    const { runtime, route, options } = this.#d
    const tiers = await this.#provisionTopics()
    const consumer = runtime.transport.consumer(
      {
        groupId: route.groupId,
        sessionTimeoutMs: options.sessionTimeoutMs,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        rebalanceTimeoutMs: Math.max(60_000, options.sessionTimeoutMs),
        maxWaitTimeMs: options.fetchMaxWaitMs,
        maxBytesPerPartition: options.fetchMaxBytesPerPartition,
        maxBytes: options.fetchMaxBytes,
      },
      {
        onJoin: (assigned) => this.#onAssignment(assigned),
        onRebalancing: () => void this.#commit('rebalance'),
        onCrash: (error, restart) => this.#onCrash(error, restart),
      },
    )
    this.#consumer = consumer
    try {
      await consumer.connect()
      await consumer.subscribe([route.sourceTopic], route.fromBeginning)
      // A new group must not skip messages already waiting in retry tiers.
      if (tiers.length > 0) await consumer.subscribe(tiers, true)
      await consumer.run((batch) => this.#onBatch(batch))
    } catch (err) {
      await consumer.disconnect().catch(() => {})
      throw isKtaskError(err) ? err : infrastructureError('kafka', err)
    }
    this.#commitTimer = setInterval(() => void this.#commit('interval'), options.commitIntervalMs)
    this.#log.info({ topics: [route.sourceTopic, ...tiers] }, 'consumer started')
  }

  /** Creates missing retry/DLQ (and, for queues, source) topics; returns every retry tier to subscribe to. */
  async #provisionTopics(): Promise<string[]> {
    const { runtime, route } = this.#d
    const provisioned = await provisionRoute(runtime, route)
    this.#tierTopics = new Set(provisioned.tiers)
    this.#ownedSpecs = provisioned.ownedSpecs
    this.#router = new HopRouter({
      groupId: route.groupId,
      dlqTopic: route.dlqTopic,
      producer: () => runtime.producer(),
      partitions: provisioned.ownedPartitions,
      logger: this.#log,
      recreateTopic: async (topic) => {
        const spec = provisioned.ownedSpecs.get(topic)
        return spec !== undefined && runtime.recreateTopic(spec)
      },
    })
    if (runtime.hasDatabase) {
      this.#deadLetters = new DeadLetterLog({
        groupId: route.groupId,
        pool: () => runtime.pool(),
        logger: this.#log,
        endOffsets: async (topic) => {
          const offsets = await (await runtime.admin()).topicOffsets(topic)
          return Object.fromEntries(offsets.map((o) => [String(o.partition), o.high]))
        },
        findCopy: async (topic, from, matches) => {
          const offsets = await (await runtime.admin()).topicOffsets(topic)
          const ranges = new Map(offsets.map((o) => [o.partition, { from: from[String(o.partition)] ?? o.low, to: o.high }]))
          let found = false
          await readRanges(runtime.transport, topic, ranges, (_p, m) => void (found ||= matches(headersToStrings(m.headers))))
          return found
        },
      })
    }
    return provisioned.tiers
  }

  #onBatch(batch: FetchedBatch): void {
    if (this.#stopping) return
    const key = tpKey(batch.topic, batch.partition)
    const { fetchedOffset } = batch
    let lane = this.#lanes.get(key)
    if (lane?.state === 'running' && fetchedOffset < lane.tracker.committed) {
      // The log starts over below what this lane committed: the topic was deleted and created again (kafkajs
      // reset an out-of-range offset). Its first offsets are new messages, not re-deliveries of done ones.
      this.#log.warn(
        { topic: batch.topic, partition: batch.partition, fetchedOffset, committed: lane.tracker.committed },
        'the partition log went backwards (topic re-created?); starting over from the fetched offset',
      )
      this.#retire(key, lane)
      lane = undefined
    }
    if (!lane || lane.state !== 'running') {
      lane = this.#createLane(batch.topic, batch.partition, fetchedOffset)
    } else if (fetchedOffset > lane.tracker.position() && lane.tracker.pendingCount === 0) {
      // Offsets we never saw were skipped (retention, or another member moved on): nothing to wait for.
      lane.tracker.seenThrough(fetchedOffset - 1)
    }
    if (batch.highWatermark > lane.highWatermark) lane.highWatermark = batch.highWatermark
    lane.push(batch.messages, batch.lastOffset)
  }

  #createLane(topic: string, partition: number, committed: number): LaneCore {
    const consumer = this.#consumer!
    const router = this.#router!
    const Lane = this.route.ordering === 'key' ? KeyedLane : OrderedLane
    const lane: LaneCore = new Lane(
      {
        route: this.route,
        topic,
        partition,
        isRetryTier: this.#tierTopics.has(topic),
        preparer: this.#preparer,
        executor: this.#executor,
        router,
        deadLetters: this.#deadLetters,
        limits: this.#limits?.gate,
        blocking: this.route.blockingKeys
          ? new KeyBlocking({
              groupId: this.route.groupId,
              pool: () => this.#d.runtime.pool(),
              producer: () => this.#d.runtime.producer(),
              partitionFor: (t, p) => router.partitionFor(t, p),
              tiers: this.#tierTopics,
              logger: this.#log,
            })
          : undefined,
        semaphore: this.#d.semaphore,
        options: this.#d.options,
        events: this.#d.events,
        stats: this.#d.stats,
        hooks: this.#d.hooks,
        logger: this.#log.child({ topic, partition }),
        onFatal: (error) => this.#onLaneFailure(lane, error),
        requestCommit: () => void this.#commit('threshold'),
        fetch: {
          pause: () => consumer.pause([{ topic, partitions: [partition] }]),
          resume: () => consumer.resume([{ topic, partitions: [partition] }]),
        },
      },
      committed,
    )
    this.#lanes.set(tpKey(topic, partition), lane)
    lane.start()
    return lane
  }

  #onAssignment(memberAssignment: Record<string, number[]>): void {
    const assigned = new Set<string>()
    for (const [topic, partitions] of Object.entries(memberAssignment)) {
      for (const p of partitions) assigned.add(tpKey(topic, p))
    }
    for (const [key, lane] of this.#lanes) {
      if (!assigned.has(key)) this.#retire(key, lane)
    }
    this.#assigned = assigned
    this.#applyFetchPlan(
      fetchPlanForAssignment(memberAssignment, ({ topic, partition }) => {
        const lane = this.#lanes.get(tpKey(topic, partition))
        return lane?.state === 'running' ? lane.paused : undefined
      }),
    )
    this.#log.info({ assigned: memberAssignment }, 'partitions assigned')
    this.#d.events.emit('rebalance', () => ({ group: this.route.groupId, assigned: memberAssignment }))
  }

  /** Pause / resume after a join: kafkajs kept the flags of the previous assignment (see assignment.ts). */
  #applyFetchPlan(plan: FetchPlan): void {
    const consumer = this.#consumer
    if (!consumer) return
    try {
      if (plan.pause.length > 0) consumer.pause(byTopic(plan.pause))
      if (plan.resume.length > 0) consumer.resume(byTopic(plan.resume))
    } catch (err) {
      // Only between a crash and kafkajs' restart; the restart joins again and comes back here.
      this.#log.debug({ err }, 'could not apply pause state after the assignment')
    }
  }

  /** The partition is no longer ours: stop its lane; handlers still running finish as zombies (the ledger decides). */
  #retire(key: string, lane: LaneCore): void {
    lane.revoke()
    this.#lanes.delete(key)
    this.#retiring.add(lane)
    void lane.stop().finally(() => this.#retiring.delete(lane))
  }

  /** A partition lane stopped on a bug: report it like a crash that cannot restart (the CLI exits 1). */
  #onLaneFailure(lane: LaneCore, error: unknown): void {
    const key = tpKey(lane.topic, lane.partition)
    if (this.#lanes.get(key) === lane) {
      // Out of the map, so the partition is not fed to a lane that no longer runs; kafkajs already handed
      // its unfinished messages over, so fetch them again from its position for a fresh lane.
      this.#lanes.delete(key)
      try {
        this.#consumer?.seek(lane.topic, lane.partition, lane.tracker.position())
        this.#consumer?.resume([{ topic: lane.topic, partitions: [lane.partition] }])
      } catch (err) {
        this.#log.debug({ err }, 'could not seek a failed lane back (consumer restarting)')
      }
    }
    this.#d.events.emit('crash', () => ({ group: this.route.groupId, error, restart: false }))
    if (!this.#stopping) this.onFatal(error)
  }

  #onCrash(error: unknown, restart: boolean): void {
    this.#log.error(
      { err: error, restart },
      restart ? 'Kafka consumer crashed; kafkajs restarts it' : 'Kafka consumer crashed and cannot restart',
    )
    this.#d.events.emit('crash', () => ({ group: this.route.groupId, error, restart }))
    // Whatever restarts will join again and get a fresh assignment; nothing of the old one is committed.
    for (const [key, lane] of this.#lanes) this.#retire(key, lane)
    this.#assigned = new Set()
    if (restart && refusalOf(error)?.reason === 'unknown-topic' && !this.#recreating) {
      this.#recreating = this.#recreateMissingTopics().finally(() => (this.#recreating = undefined))
    }
    if (!restart && !this.#stopping) this.onFatal(error)
  }

  /** A subscribed topic of ours was deleted: kafkajs crashes and restarts in a loop until it exists again. */
  async #recreateMissingTopics(): Promise<void> {
    const { runtime } = this.#d
    try {
      const existing = new Set(await (await runtime.admin()).listTopics())
      for (const spec of this.#ownedSpecs.values()) if (!existing.has(spec.topic)) await runtime.recreateTopic(spec)
    } catch (err) {
      this.#log.debug({ err }, 'could not check for missing topics')
    }
  }

  /** Commits every assigned lane's durable position that moved since the last commit. */
  #commit(reason: string): Promise<void> {
    if (!this.#consumer) return Promise.resolve()
    if (this.#committing) {
      // The interval can skip a beat; a rebalance or shutdown commit must include what finished since.
      return reason === 'interval' || reason === 'threshold' ? this.#committing : this.#committing.then(() => this.#commit(reason))
    }
    const pending: { lane: LaneCore; topic: string; partition: number; offset: number }[] = []
    for (const [key, lane] of this.#lanes) {
      if (lane.state === 'revoked' || !this.#assigned.has(key)) continue
      const offset = lane.tracker.uncommitted()
      if (offset === undefined) continue
      const [topic, partition] = key.split('\u0000') as [string, string]
      pending.push({ lane, topic, partition: Number(partition), offset })
    }
    if (pending.length === 0) return Promise.resolve()
    const consumer = this.#consumer
    this.#committing = consumer
      .commit(pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })))
      .then(() => {
        for (const p of pending) p.lane.tracker.markCommitted(p.offset)
        this.#log.debug({ reason, offsets: pending.map((p) => `${p.topic}[${p.partition}]@${p.offset}`) }, 'offsets committed')
      })
      .catch((err: unknown) => {
        // A commit racing a rebalance is refused by the broker (stale generation); the lanes that stay
        // ours commit again after the rejoin, so that is routine, not a warning.
        const routine = REBALANCE_COMMIT_ERRORS.has(protocolErrorType(err) ?? '')
        this.#log[routine ? 'debug' : 'warn']({ err, reason }, 'offset commit failed; will retry')
        this.#d.events.emit('error', () => ({ group: this.route.groupId, error: err, context: 'offset commit' }))
      })
      .finally(() => {
        this.#committing = undefined
      })
    return this.#committing
  }

  /** First phase of a graceful stop: fetch nothing more. */
  pauseAll(): void {
    this.#stopping = true
    if (!this.#consumer) return
    try {
      this.#consumer.pause([this.route.sourceTopic, ...this.#tierTopics].map((topic) => ({ topic })))
    } catch {
      /* not running (crashed): nothing to pause */
    }
  }

  /** Second phase: let in-flight work finish (handlers are aborted when the grace period ends). */
  async drain(): Promise<void> {
    // Revoked lanes too: their handlers hold pool connections, and closing the app waits for those.
    await Promise.all([...this.#lanes.values(), ...this.#retiring].map((lane) => lane.stop()))
  }

  /** Last phase: commit what is durable, then leave the group. */
  async close(): Promise<void> {
    clearInterval(this.#commitTimer)
    this.#limits?.leases.stop()
    if (!this.#consumer) return
    await this.#committing
    await withTimeout(this.#commit('shutdown'), FINAL_COMMIT_TIMEOUT_MS, 'final offset commit').catch((err: unknown) => {
      this.#log.warn({ err }, 'final offset commit failed; the next owner re-runs uncommitted messages (the ledger skips applied ones)')
    })
    await withTimeout(this.#consumer.disconnect(), DISCONNECT_TIMEOUT_MS, 'consumer disconnect').catch((err: unknown) => {
      this.#log.warn({ err }, 'consumer disconnect failed')
    })
    this.#log.info('consumer stopped')
  }
}
