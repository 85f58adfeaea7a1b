/**
 * What every partition lane shares, whichever way it runs its messages (ordered-lane.ts, keyed-lane.ts):
 * a bounded buffer of fetched messages, the offset tracker, the pauses, preparing a message once, running
 * a chunk through the executor, parking behind a blocked key, and routing failures to their hops.
 *
 * - Retry tiers: a message never runs before its due time; while the head waits, the partition's fetching
 *   is paused and resumed when it is due.
 * - Outages (Postgres, registry, broker): the message stays where it is, the partition pauses with
 *   exponential backoff and the same work is tried again — nothing is marked done, nothing dead-lettered.
 *
 * Offsets are marked done in the tracker only after the outcome is durable (committed transaction or
 * acknowledged retry/DLQ hop); the group consumer commits the tracker's position.
 */
import type { Logger } from 'pino'
import { isKtaskError } from '../errors.ts'
import type { FetchedMessage } from '../kafka/messages.ts'
import type { TypedEmitter } from '../observability/emitter.ts'
import type { WorkerEvents } from '../observability/worker-events.ts'
import { classifyFailure, refusedByHandler, type HopTopics } from '../retry/classify.ts'
import { H, errorLine, type FailureStage } from '../retry/headers.ts'
import type { DeadLetterLog } from './dead-letter-log.ts'
import { Deque } from './deque.ts'
import { effectiveDueAt } from './due-time.ts'
import { Envelope } from './envelope.ts'
import type { ChunkRunner, ExecItem, ExecutionHooks, Failed, Outcome, RoutedMessage } from './execution.ts'
import type { HopRouter } from './hop-router.ts'
import type { KeyBlocking } from './key-blocking.ts'
import type { LimitGate, LimitState, Verdict } from './limit-gate.ts'
import { LanePauses, type FetchControl } from './lane-pauses.ts'
import { OffsetTracker } from './offset-tracker.ts'
import type { Preparation } from './preparation.ts'
import type { WorkerStats } from './worker-stats.ts'
import { databaseTime } from '../store/database-time.ts'

/** One buffered message and what the lane learnt about it so far. */
export interface LaneEntry {
  readonly envelope: Envelope
  /** Prepared once: a chunk that runs again does not decode again. */
  preparation?: Preparation
  /** A failure whose hop is not acknowledged yet (routing is tried again after an outage). */
  failed?: Failed
  /** Its outcome is durable: committed, or its retry/DLQ hop acknowledged. */
  done: boolean
  /** It headed its key's blocked queue when it last ran (blocked-key retries). */
  keyHead: boolean
  /** Retry tiers: when it may run (its not-before, bounded; see due-time.ts), fixed when first looked at. */
  dueAt?: number
  /** Task limits: the slot it reserved and the lease it holds (limit-gate.ts). */
  limits?: LimitState
}

/** The route as a lane needs it. */
export interface LaneRoute extends HopTopics {
  readonly groupId: string
  /** Base of the route's own topics (tier delays are read from their names). */
  readonly base: string
}

export interface LaneOptions {
  maxBufferedPerPartition: number
  transactionBatchSize: number
  commitThreshold: number
  maxClockSkewMs: number
}

export interface LaneDeps {
  route: LaneRoute
  topic: string
  partition: number
  isRetryTier: boolean
  preparer: { prepare(m: Envelope): Preparation | Promise<Preparation> }
  executor: ChunkRunner
  router: Pick<HopRouter, 'plan' | 'deliver'>
  /** Set when the route uses blocked-key retries. */
  blocking?: Pick<KeyBlocking, 'firstBlocked' | 'park' | 'beforeHops' | 'afterHops'>
  /** Set when a task of the route has `rateLimit` or `concurrency`. */
  limits?: Pick<LimitGate, 'admit' | 'release'>
  /** Set when the app has a database: one DLQ record per message. */
  deadLetters?: Pick<DeadLetterLog, 'claim' | 'confirm'>
  hooks?: ExecutionHooks
  semaphore: { run<T>(fn: () => Promise<T>): Promise<T> }
  options: LaneOptions
  /** Pauses / resumes fetching of this partition in the Kafka consumer. */
  fetch: FetchControl
  events: TypedEmitter<WorkerEvents>
  /** Bound to the lane's group, topic and partition. */
  logger: Logger
  stats: WorkerStats
  /** Asks for an offset commit now (the partition reached `commitThreshold` done messages). */
  requestCommit(): void
  /** The lane's loop failed (a bug, not an outage): the partition cannot move any more. */
  onFatal(error: unknown): void
}

export type LaneState = 'running' | 'stopping' | 'revoked'

export abstract class LaneCore {
  readonly tracker: OffsetTracker
  protected readonly d: LaneDeps
  protected readonly buffer = new Deque<LaneEntry>()
  protected readonly pauses: LanePauses
  protected laneState: LaneState = 'running'
  /** The highest offset done, and how many were done (to see progress while stopping). */
  protected highestDone = -1
  protected doneTotal = 0
  #doneSinceCommitRequest = 0
  #wake: (() => void) | undefined
  readonly #interrupt = new AbortController()
  #loop: Promise<void> | undefined

  constructor(deps: LaneDeps, committed: number) {
    this.d = deps
    this.tracker = new OffsetTracker(committed)
    this.pauses = new LanePauses({
      fetch: deps.fetch,
      events: deps.events,
      logger: deps.logger,
      groupId: deps.route.groupId,
      topic: deps.topic,
      partition: deps.partition,
      active: () => this.laneState === 'running',
      signal: this.#interrupt.signal,
    })
  }

  /** The lane's loop: runs until the lane stops or is revoked. */
  protected abstract run(): Promise<void>

  get state(): LaneState {
    return this.laneState
  }

  get topic(): string {
    return this.d.topic
  }

  get partition(): number {
    return this.d.partition
  }

  /** Messages of the chunks running now (metrics). */
  inFlight = 0
  /** The partition's end offset as last fetched (-1: none yet): with the tracker's position, its lag. */
  highWatermark = -1

  /** Messages fetched and held: running, or waiting to run (metrics). */
  get buffered(): number {
    return this.buffer.length
  }

  /** Whether fetching of the partition is paused for one of the lane's reasons. */
  get paused(): boolean {
    return this.pauses.paused
  }

  start(): void {
    this.#loop ??= this.run().catch((err: unknown) => {
      // A bug, not an outage: the partition cannot move any more and its offsets stay uncommitted.
      // Stalling silently would be worse than stopping: the worker reports it as fatal.
      this.d.logger.error({ err }, 'partition lane failed')
      this.d.onFatal(err)
    })
  }

  /** Buffers fetched messages, skipping re-deliveries of offsets already buffered, running or done. */
  push(messages: readonly FetchedMessage[], lastOffset: number): void {
    if (this.laneState !== 'running') return
    for (const raw of messages) {
      const offset = Number(raw.offset)
      if (this.tracker.has(offset)) continue
      this.tracker.add(offset)
      this.buffer.push({ envelope: new Envelope(this.d.topic, this.d.partition, raw), done: false, keyHead: false })
    }
    this.tracker.seenThrough(lastOffset)
    if (this.tracker.pendingCount >= this.d.options.maxBufferedPerPartition) this.pauses.add('backpressure')
    this.#wake?.()
  }

  /** Stop taking new work; resolves when in-flight work has finished (or been abandoned at grace expiry). */
  async stop(): Promise<void> {
    if (this.laneState === 'running') this.laneState = 'stopping'
    this.#interrupt.abort()
    this.#wake?.()
    await this.#loop
  }

  /** The partition was assigned elsewhere: stop at once; in-flight handlers finish as zombies (the ledger decides). */
  revoke(): void {
    this.laneState = 'revoked'
    this.#interrupt.abort()
    this.#wake?.()
  }

  // ---- steps shared by both loops --------------------------------------------------------------------

  /** Waits for a message to be pushed or the lane to stop. */
  protected idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined
        resolve()
      }
    })
  }

  /**
   * Prepares an entry once. Throws KTASK_INFRASTRUCTURE (registry down); the caller backs off. Returns
   * without a promise when the schema is known — per message on the hot path, a promise would cost.
   */
  protected prepare(entry: LaneEntry): Preparation | Promise<Preparation> {
    if (entry.preparation) return entry.preparation
    const p = this.d.preparer.prepare(entry.envelope)
    return p instanceof Promise ? p.then((done) => this.#prepared(entry, done)) : this.#prepared(entry, p)
  }

  #prepared(entry: LaneEntry, p: Preparation): Preparation {
    entry.preparation = p
    if (!p.ok) this.fail(entry, 'decode', p.error)
    return p
  }

  /** Records a failure outside a handler (decode, a refused park) with the decision classifyFailure makes. */
  protected fail(entry: LaneEntry, stage: FailureStage, error: unknown): void {
    const decision = classifyFailure(
      { stage, error, attempt: entry.envelope.attempt },
      { retry: entry.preparation?.spec?.retry, topics: this.d.route },
    )
    // A pause here would be an infrastructure error, which preparing throws instead of returning.
    entry.failed = {
      stage,
      error,
      decision: decision.kind === 'pause' ? { kind: 'dead', topic: this.d.route.dlqTopic, reason: 'decode' } : decision,
    }
  }

  /** True when it waited (the caller re-checks state and head); false when the message is due. */
  protected async waitUntilDue(entry: LaneEntry): Promise<boolean> {
    const wait = this.dueAt(entry) - databaseTime.now()
    if (wait <= 0) return false
    await this.pauses.waitNotDue(wait)
    return true
  }

  protected dueAt(entry: LaneEntry): number {
    entry.dueAt ??= effectiveDueAt(
      entry.envelope.notBefore,
      databaseTime.now(),
      this.d.topic,
      this.d.route.base,
      this.d.options.maxClockSkewMs,
    )
    return entry.dueAt
  }

  /**
   * Blocked-key routes: trims the chunk before the first message whose key waits behind another one,
   * parking it if it is first. False when nothing is left to run now (parked, or an outage backed off).
   */
  protected async holdBlocked(chunk: ExecItem[], entries: LaneEntry[]): Promise<boolean> {
    try {
      const blocked = await this.d.blocking!.firstBlocked(chunk)
      chunk.forEach((item, i) => (entries[i]!.keyHead = item.dequeueKey !== undefined))
      if (blocked.index === -1) return true
      if (blocked.index > 0) {
        chunk.length = blocked.index
        entries.length = blocked.index
        return true
      }
      const item = chunk[0]!
      await this.d.blocking!.park(item, blocked.head!)
      this.d.stats.parked++
      this.markDone(entries[0]!)
      this.d.events.emit('task:parked', () => ({
        ...this.eventBase(entries[0]!),
        behind: blocked.head!.messageId,
        retryTopic: blocked.head!.topic,
      }))
      return false
    } catch (err) {
      if (isKtaskError(err, 'KTASK_REFUSED')) {
        // The head's tier refuses this message for good: it cannot wait there. It fails instead (stage
        // produce) and takes the usual way: another tier, or the DLQ.
        this.fail(entries[0]!, 'produce', err)
        await this.routeFailures([entries[0]!])
        return false
      }
      await this.pauses.outage(err, 'blocked-key check')
      return false
    }
  }

  /**
   * Task limits: trims the chunk to what may run now (a rate slot near, a concurrency lease taken). Deferred
   * messages are done; a limit that is full pauses the partition for its wait. False when nothing is left to
   * run now (the caller looks at the buffer again).
   */
  protected async admitLimited(chunk: ExecItem[], entries: LaneEntry[]): Promise<boolean> {
    const gate = this.d.limits
    if (!gate) return true
    const states = entries.map((e) => (e.limits ??= {}))
    let verdicts: Verdict[]
    try {
      verdicts = await gate.admit(chunk, states)
    } catch (err) {
      await gate.release(states)
      await this.pauses.outage(err, 'limits')
      return false
    }
    let wait: Extract<Verdict, { kind: 'wait' }> | undefined
    const run: number[] = []
    verdicts.forEach((v, i) => {
      const entry = entries[i]!
      if (v.kind === 'run') run.push(i)
      else if (v.kind === 'wait') wait = v
      else if (v.kind === 'failed') this.fail(entry, 'decode', v.error)
      else {
        entry.limits = undefined
        this.d.logger.debug(
          { taskId: this.messageIdOf(entry), offset: entry.envelope.offset, why: v.why, inMs: v.inMs },
          'deferred by a limit',
        )
        this.markDone(entry)
      }
    })
    const items = run.map((i) => chunk[i]!)
    const kept = run.map((i) => entries[i]!)
    chunk.splice(0, chunk.length, ...items)
    entries.splice(0, entries.length, ...kept)
    if (chunk.length > 0) return true
    if (wait) await this.pauses.waitLimited(wait.ms)
    return false
  }

  /** Runs a chunk, then routes its failures. False when an outage interrupted it (already backed off). */
  protected async execute(chunk: ExecItem[], entries: LaneEntry[]): Promise<boolean> {
    let result
    try {
      result = await this.d.semaphore.run(async () => {
        this.inFlight += chunk.length
        try {
          return await this.d.executor.run(chunk)
        } finally {
          this.inFlight -= chunk.length
        }
      })
    } finally {
      // Slots and leases are per run: a message that runs again (an outage, shutdown) takes new ones.
      if (this.d.limits) {
        await this.d.limits.release(entries.map((e) => e.limits))
        for (const e of entries) e.limits = undefined
      }
    }
    const failed: LaneEntry[] = []
    let pause: Extract<Outcome, { kind: 'pause' }> | undefined
    result.outcomes.forEach((outcome, i) => {
      if (!outcome) return
      if (outcome.kind === 'pause') pause = outcome
      else this.#apply(entries[i]!, outcome, failed)
    })
    if (failed.length > 0 && !(await this.routeFailures(failed))) return false
    if (pause) {
      await this.pauses.outage(pause.error, pause.stage)
      return false
    }
    return true
  }

  #apply(entry: LaneEntry, outcome: Exclude<Outcome, { kind: 'pause' }>, failed: LaneEntry[]): void {
    const base = () => this.eventBase(entry)
    if (outcome.kind === 'retry' || outcome.kind === 'dead') {
      entry.failed = { stage: outcome.stage, error: outcome.error, decision: outcome.decision }
      failed.push(entry)
    } else if (outcome.how === 'succeeded') {
      this.d.stats.succeeded++
      this.markDone(entry)
      this.d.events.emit('task:succeeded', () => ({ ...base(), durationMs: outcome.durationMs }))
    } else {
      this.d.stats.duplicates++
      this.d.logger.debug({ taskId: this.messageIdOf(entry), offset: entry.envelope.offset }, 'duplicate skipped')
      this.markDone(entry)
      this.d.events.emit('task:duplicate', base)
    }
  }

  /** Produces the retry/DLQ hops of failed entries; marks them done once acknowledged. False after an outage. */
  protected async routeFailures(entries: LaneEntry[]): Promise<boolean> {
    // A revoked partition's failures are the new owner's to retry: producing a hop here would duplicate it.
    if (this.laneState === 'revoked') return false
    const routed: RoutedMessage[] = entries.map((e) => ({
      envelope: e.envelope,
      spec: e.preparation?.spec,
      messageId: this.messageIdOf(e),
      keyHead: e.keyHead,
      ...e.failed!,
    }))
    const planned = this.d.router.plan(routed)
    let plan
    try {
      await this.d.blocking?.beforeHops(planned)
      const already = (await this.d.deadLetters?.claim(planned)) ?? new Set<number>()
      plan = await this.d.router.deliver(planned, already)
      await this.d.deadLetters?.confirm(plan, already)
      await this.d.blocking?.afterHops(plan)
    } catch (err) {
      await this.pauses.outage(err, 'produce')
      return false
    }
    const hooks = this.d.hooks
    if (hooks?.routed) await Promise.all(plan.decisions.map(async (decision, i) => hooks.routed?.(routed[i]!, decision)))
    plan.decisions.forEach((decision, i) => {
      const entry = entries[i]!
      const f = routed[i]!
      const base = this.eventBase(entry)
      const willRetry = decision.kind === 'retry'
      this.d.stats.failed++
      this.d.events.emit('task:failed', () => ({
        ...base,
        stage: f.stage,
        error: f.error,
        willRetry,
        retryTopic: willRetry ? decision.topic : undefined,
      }))
      if (willRetry) {
        this.d.stats.retried++
      } else {
        this.d.stats.deadLettered++
        // A refusal the handler meant (UnrecoverableError) is news, not a fault: one line, no stack (the
        // DLQ headers keep it). Exhausted retries and undecodable input keep theirs.
        const why = refusedByHandler(decision.reason) ? { reason: errorLine(f.error) } : { err: f.error }
        this.d.logger.warn(
          { taskId: f.messageId, stage: f.stage, ...why, dlq: decision.topic, hopRefused: decision.hopRefused, stub: decision.stub },
          'message dead-lettered',
        )
        this.d.events.emit('task:dead', () => ({ ...base, stage: f.stage, error: f.error, dlqTopic: decision.topic }))
      }
      entry.failed = undefined
      this.markDone(entry)
    })
    this.pauses.recovered()
    return true
  }

  protected markDone(entry: LaneEntry): void {
    const offset = entry.envelope.offsetNumber
    this.tracker.markDone(offset)
    entry.done = true
    this.doneTotal++
    if (offset > this.highestDone) this.highestDone = offset
    const threshold = this.d.options.commitThreshold
    if (threshold > 0 && ++this.#doneSinceCommitRequest >= threshold) {
      this.#doneSinceCommitRequest = 0
      this.d.requestCommit()
    }
    if (this.pauses.has('backpressure') && this.tracker.pendingCount < this.d.options.maxBufferedPerPartition / 2) {
      this.pauses.remove('backpressure')
    }
  }

  protected messageIdOf(entry: LaneEntry): string {
    return entry.preparation?.messageId ?? entry.envelope.id
  }

  protected eventBase(entry: LaneEntry) {
    const m = entry.envelope
    return {
      group: this.d.route.groupId,
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      taskId: this.messageIdOf(entry),
      name: entry.preparation?.spec?.name ?? m.headers[H.task] ?? '',
      attempt: m.attempt,
    }
  }
}

/** An entry's chunk item (it must be prepared and ready). */
export function itemOf(entry: LaneEntry): ExecItem {
  if (!entry.preparation?.ok) throw new Error('itemOf: the entry is not ready to run')
  return { envelope: entry.envelope, prepared: entry.preparation }
}
