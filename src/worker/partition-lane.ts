/**
 * One assigned partition: a bounded buffer of fetched messages and the loop that runs them.
 *
 * - `partition` ordering: strictly in offset order, several messages per Postgres transaction (chunks).
 * - `key` ordering: messages of different keys run in parallel; one key never runs twice at once.
 * - Retry tiers: a message is never run before its `ktask-not-before`; while the head waits, fetching
 *   of the partition is paused and resumed when it is due.
 * - Outages (Postgres, registry, broker): the message stays where it is, the partition pauses with
 *   exponential backoff and the same work is tried again — nothing is marked done, nothing dead-lettered.
 *
 * Offsets are marked done in the tracker only after the outcome is durable (committed transaction or
 * acknowledged retry/DLQ hop); the group consumer commits the tracker's position.
 */
import type { KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import { isKtaskError } from '../errors.ts'
import type { Route } from '../routing/routes.ts'
import type { ResolvedWorkerOptions } from '../config/resolve.ts'
import type { TypedEmitter } from '../observability/emitter.ts'
import type { WorkerEvents } from '../observability/worker-events.ts'
import { errorLine } from '../retry/headers.ts'
import type { DeadLetterLog } from '../retry/dead-letter-log.ts'
import { refusedByHandler, type RetryRouter } from '../retry/router.ts'
import type { ExecItem, ExecOutcome, ExecutionHooks, Executor } from './executor.ts'
import type { KeyBlocking } from './key-blocking.ts'
import { notBeforeOf, originOfMessage, toInbound, type InboundMessage, type MessagePreparer, type PreparedOk } from './inbound.ts'
import { Deque } from './deque.ts'
import { effectiveDueAt } from './due-time.ts'
import { LanePauses } from './lane-pauses.ts'
import { OffsetTracker } from './offset-tracker.ts'
import type { Semaphore } from './semaphore.ts'
import type { WorkerStats } from './worker-stats.ts'

export interface LaneDeps {
  route: Route
  topic: string
  partition: number
  isRetryTier: boolean
  preparer: MessagePreparer
  executor: Executor
  router: RetryRouter
  /** Set when the route uses blocked-key retries. */
  blocking?: KeyBlocking
  /** Set when the app has a database: one DLQ record per message. */
  deadLetters?: DeadLetterLog
  hooks?: ExecutionHooks
  semaphore: Semaphore
  options: ResolvedWorkerOptions
  /** Pauses / resumes fetching of this partition in the Kafka consumer. */
  fetch: { pause(): void; resume(): void }
  events: TypedEmitter<WorkerEvents>
  logger: Logger
  stats: WorkerStats
  /** Asks for an offset commit now (the partition reached `commitThreshold` done messages). */
  requestCommit(): void
  /** The lane's loop failed (a bug, not an outage): the partition cannot move any more. */
  onFatal(error: unknown): void
}

type LaneState = 'running' | 'stopping' | 'revoked'

export class PartitionLane {
  readonly tracker: OffsetTracker
  readonly #d: LaneDeps
  readonly #queue = new Deque<InboundMessage>()
  #state: LaneState = 'running'
  #wake: (() => void) | undefined
  readonly #interrupt = new AbortController()
  readonly #pauses: LanePauses
  /** Key ordering on stop: the highest offset done, and how many were done (to see progress). */
  #highestDone = -1
  #doneTotal = 0
  #doneSinceCommitRequest = 0
  #loop: Promise<void> | undefined
  // Key ordering: a FIFO per key, and the runners currently draining one.
  readonly #keyQueues = new Map<string, InboundMessage[]>()
  readonly #runners = new Set<Promise<void>>()

  constructor(deps: LaneDeps, committed: number) {
    this.#d = deps
    this.tracker = new OffsetTracker(committed)
    this.#pauses = new LanePauses({
      groupId: deps.route.groupId, topic: deps.topic, partition: deps.partition, fetch: deps.fetch, events: deps.events,
      logger: deps.logger, active: () => this.#state === 'running', signal: this.#interrupt.signal,
    })
  }

  get state(): LaneState {
    return this.#state
  }

  get topic(): string {
    return this.#d.topic
  }

  get partition(): number {
    return this.#d.partition
  }

  start(): void {
    this.#loop ??= (this.#d.route.ordering === 'key' ? this.#runKeyed() : this.#runOrdered()).catch((err: unknown) => {
      // A bug, not an outage: the partition cannot move any more and its offsets stay uncommitted.
      // Stalling silently would be worse than stopping: the worker reports it as fatal.
      this.#d.logger.error({ err, topic: this.#d.topic, partition: this.#d.partition }, 'ktask: partition lane failed')
      this.#d.onFatal(err)
    })
  }

  /** Buffers fetched messages, skipping re-deliveries of offsets already buffered, running or done. */
  push(messages: KafkaMessage[], lastOffset: number): void {
    if (this.#state !== 'running') return
    for (const raw of messages) {
      const offset = Number(raw.offset)
      if (this.tracker.has(offset)) continue
      this.tracker.add(offset)
      this.#queue.push(toInbound(this.#d.topic, this.#d.partition, raw))
    }
    this.tracker.seenThrough(lastOffset)
    if (this.tracker.pendingCount >= this.#d.options.maxBufferedPerPartition) this.#pauses.add('backpressure')
    this.#wake?.()
  }

  /** Stop taking new work; resolves when in-flight work has finished (or been abandoned at grace expiry). */
  async stop(): Promise<void> {
    if (this.#state === 'running') this.#state = 'stopping'
    this.#interrupt.abort()
    this.#wake?.()
    await this.#loop
  }

  /** The partition was assigned elsewhere: stop at once; in-flight handlers finish as zombies (the ledger decides). */
  revoke(): void {
    this.#state = 'revoked'
    this.#interrupt.abort()
    this.#wake?.()
  }

  /** Whether fetching of the partition is paused for one of the lane's reasons. */
  get paused(): boolean {
    return this.#pauses.paused
  }

  // ---- partition ordering ----------------------------------------------------------------------------

  async #runOrdered(): Promise<void> {
    while (this.#state === 'running') {
      const head = this.#queue.at(0)
      if (!head) {
        await this.#idle()
        continue
      }
      if (this.#d.isRetryTier && (await this.#waitUntilDue(head))) continue
      const chunk = await this.#buildChunk()
      if (chunk === 'outage') continue
      if (chunk.length === 0) {
        // The head failed (decode, or a failure whose hop is not acknowledged yet): route it.
        if (await this.#routeFailures([head])) this.#removeCompleted()
        continue
      }
      if (this.#d.blocking && !(await this.#holdBlocked(chunk))) {
        this.#removeCompleted()
        continue
      }
      const ok = await this.#execute(chunk)
      this.#removeCompleted()
      if (ok) this.#pauses.recovered()
    }
  }

  /**
   * Consecutive prepared messages at the head that can share one transaction. Empty when the head
   * itself has a failure to route; 'outage' when preparing the head hit an outage (already backed off).
   */
  async #buildChunk(): Promise<ExecItem[] | 'outage'> {
    const max = this.#d.options.transactionBatchSize
    const items: ExecItem[] = []
    // Blocked-key routes: one message per key per chunk, so a failure can still hold its key's next one.
    const keys = this.#d.blocking ? new Set<string>() : undefined
    for (let i = 0; i < this.#queue.length; i++) {
      const m = this.#queue.at(i)!
      if (items.length >= max || m.failure) break
      if (keys && m.raw.key) {
        const k = m.raw.key.toString('latin1')
        if (keys.has(k)) break
        keys.add(k)
      }
      if (this.#d.isRetryTier && this.#dueAt(m) > Date.now()) break
      let prepared
      try {
        prepared = this.#d.preparer.prepare(m)
        if (prepared instanceof Promise) prepared = await prepared
      } catch (err) {
        if (items.length > 0) break
        await this.#pauses.outage(err, 'decode')
        return 'outage'
      }
      if (!prepared.ok) {
        if (items.length === 0) m.failure = { stage: 'decode', error: prepared.error }
        break
      }
      const first = items[0]?.prepared.spec
      if (first && first.transaction !== prepared.spec.transaction) break
      items.push({ message: m, prepared })
    }
    return items
  }

  /**
   * Blocked-key routes: trims the chunk before the first message whose key waits behind another one,
   * parking it if it is first. False when nothing is left to run now (parked, or an outage backed off).
   */
  async #holdBlocked(chunk: ExecItem[]): Promise<boolean> {
    try {
      const blocked = await this.#d.blocking!.firstBlocked(chunk)
      if (blocked.index === -1) return true
      if (blocked.index > 0) {
        chunk.length = blocked.index
        return true
      }
      const item = chunk[0]!
      await this.#d.blocking!.park(item, blocked.head!)
      this.#d.stats.parked++
      this.#done(item.message)
      this.#d.events.emit('task:parked', () => ({ ...this.#eventBase(item.message, item.prepared), behind: blocked.head!.messageId, retryTopic: blocked.head!.topic }))
      return false
    } catch (err) {
      if (isKtaskError(err, 'KTASK_REFUSED')) {
        // The head's tier refuses this message for good: it cannot wait there. It fails instead (stage
        // produce) and takes the usual way: another tier, or the DLQ.
        chunk[0]!.message.failure = { stage: 'produce', error: err }
        if (await this.#routeFailures([chunk[0]!.message])) this.#removeCompleted()
        return false
      }
      await this.#pauses.outage(err, 'blocked-key check')
      return false
    }
  }

  /** Runs a chunk, then routes its failures. False when an outage interrupted it (already backed off). */
  async #execute(items: ExecItem[]): Promise<boolean> {
    const result = await this.#d.semaphore.run(() => this.#d.executor.run(items))
    const failed: InboundMessage[] = []
    result.outcomes.forEach((outcome, i) => {
      if (outcome) this.#applyOutcome(items[i]!, outcome, failed)
    })
    if (failed.length > 0 && !(await this.#routeFailures(failed))) return false
    if (result.infra !== undefined) {
      await this.#pauses.outage(result.infra, 'execute')
      return false
    }
    return true
  }

  #applyOutcome(item: ExecItem, outcome: ExecOutcome, failed: InboundMessage[]): void {
    const m = item.message
    const base = () => this.#eventBase(m, item.prepared)
    switch (outcome.type) {
      case 'succeeded':
        this.#d.stats.succeeded++
        this.#done(m)
        this.#d.events.emit('task:succeeded', () => ({ ...base(), durationMs: outcome.durationMs }))
        break
      case 'duplicate':
        this.#d.stats.duplicates++
        this.#d.logger.debug({ group: this.#d.route.groupId, taskId: item.prepared.messageId, offset: m.offset }, 'ktask: duplicate skipped')
        this.#done(m)
        this.#d.events.emit('task:duplicate', base)
        break
      case 'failed':
        m.failure = { stage: outcome.stage, error: outcome.error }
        failed.push(m)
        break
    }
  }

  /** Produces retry/DLQ hops for messages with a failure; marks them done once acknowledged. */
  async #routeFailures(messages: InboundMessage[]): Promise<boolean> {
    // A revoked partition's failures are the new owner's to retry: producing a hop here would duplicate it.
    if (this.#state === 'revoked') return false
    const failures = messages.map((m) => {
      const p = m.prepared
      return {
        topic: m.topic, partition: m.partition, offset: m.offset, key: m.raw.key, value: m.raw.value, headers: m.headers,
        origin: originOfMessage(m), spec: p?.spec, messageId: p?.messageId ?? m.headers['ktask-id'] ?? `${m.topic}/${m.partition}/${m.offset}`,
        attempt: p?.attempt ?? 1, stage: m.failure!.stage, error: m.failure!.error,
      }
    })
    const planned = this.#d.router.plan(failures)
    let plan
    try {
      await this.#d.blocking?.beforeHops(planned, messages)
      const already = (await this.#d.deadLetters?.claim(planned)) ?? new Set<number>()
      plan = await this.#d.router.deliver(planned, already)
      await this.#d.deadLetters?.confirm(plan, already)
      await this.#d.blocking?.afterHops(plan)
    } catch (err) {
      await this.#pauses.outage(err, 'produce')
      return false
    }
    const hooks = this.#d.hooks
    if (hooks?.routed) await Promise.all(plan.decisions.map(async (decision, i) => hooks.routed?.(messages[i]!, failures[i]!, decision)))
    plan.decisions.forEach((decision, i) => {
      const m = messages[i]!
      const f = failures[i]!
      const base = { ...this.#eventBase(m, m.prepared), name: f.spec?.name ?? m.headers['ktask-task'] ?? '', taskId: f.messageId, attempt: f.attempt }
      const willRetry = decision.kind === 'retry'
      this.#d.stats.failed++
      this.#d.events.emit('task:failed', () => ({ ...base, stage: f.stage, error: f.error, willRetry, retryTopic: willRetry ? decision.topic : undefined }))
      if (willRetry) {
        this.#d.stats.retried++
      } else {
        this.#d.stats.deadLettered++
        // A refusal the handler meant (UnrecoverableError) is news, not a fault: one line, no stack (the
        // DLQ headers keep it). Exhausted retries and undecodable input keep theirs.
        const why = refusedByHandler(decision.reason) ? { reason: errorLine(f.error) } : { err: f.error }
        this.#d.logger.warn({ group: this.#d.route.groupId, taskId: f.messageId, stage: f.stage, ...why, dlq: decision.topic, hopRefused: decision.hopRefused, stub: decision.stub },
          'ktask: message dead-lettered')
        this.#d.events.emit('task:dead', () => ({ ...base, stage: f.stage, error: f.error, dlqTopic: decision.topic }))
      }
      m.failure = undefined
      this.#done(m)
    })
    this.#pauses.recovered()
    return true
  }

  // ---- key ordering ----------------------------------------------------------------------------------

  async #runKeyed(): Promise<void> {
    while (this.#state === 'running') {
      const next = this.#queue.at(0)
      if (!next) {
        await this.#idle()
        continue
      }
      if (this.#d.isRetryTier && (await this.#waitUntilDue(next))) continue
      this.#queue.shift()
      // A message without a key has no order to keep: it gets a key of its own.
      const key = next.raw.key ? next.raw.key.toString('latin1') : `\u0000${next.offset}`
      let q = this.#keyQueues.get(key)
      if (!q) this.#keyQueues.set(key, (q = []))
      q.push(next)
      if (q.length === 1) {
        const runner = this.#drainKey(key, q).finally(() => this.#runners.delete(runner))
        this.#runners.add(runner)
      }
    }
    await Promise.all(this.#runners)
    // Stopping: messages queued behind a busy key may sit below offsets other keys finished, and the
    // final commit stops at the first of them — the next owner would run the finished ones again. Run
    // those (within the grace period) until nothing below the highest finished offset is left.
    while (this.#state === 'stopping') {
      const before = this.#doneTotal
      const gaps = [...this.#keyQueues].filter(([, q]) => q.length > 0 && this.#mayRun(q[0]!))
      if (gaps.length === 0) break
      await Promise.all(gaps.map(([key, q]) => this.#drainKey(key, q)))
      if (this.#doneTotal === before) break
    }
  }

  async #drainKey(key: string, q: InboundMessage[]): Promise<void> {
    while (q.length > 0 && this.#mayRun(q[0]!)) {
      if (await this.#runSingle(q[0]!)) q.shift()
      // Stopping: what did not finish now (shutdown, outage) is left to the next owner.
      else if (this.#state !== 'running') break
    }
    if (q.length === 0 || this.#state === 'revoked') this.#keyQueues.delete(key)
  }

  /** Running: any message. Stopping: only one that holds back the commit of a later finished offset. */
  #mayRun(m: InboundMessage): boolean {
    if (this.#state === 'running') return true
    return this.#state === 'stopping' && Number(m.offset) < this.#highestDone
  }

  /** One message through prepare → execute → route. True when it is done. */
  async #runSingle(m: InboundMessage): Promise<boolean> {
    if (!m.failure) {
      let prepared
      try {
        prepared = this.#d.preparer.prepare(m)
        if (prepared instanceof Promise) prepared = await prepared
      } catch (err) {
        await this.#pauses.outage(err, 'decode')
        return false
      }
      if (!prepared.ok) {
        m.failure = { stage: 'decode', error: prepared.error }
      } else {
        const chunk: ExecItem[] = [{ message: m, prepared }]
        if (this.#d.blocking && !(await this.#holdBlocked(chunk))) return m.done === true
        if (!(await this.#execute(chunk))) return false
        return m.done === true
      }
    }
    return this.#routeFailures([m])
  }

  // ---- shared ----------------------------------------------------------------------------------------

  #done(m: InboundMessage): void {
    const offset = Number(m.offset)
    this.tracker.markDone(offset)
    m.done = true
    this.#doneTotal++
    if (offset > this.#highestDone) this.#highestDone = offset
    const threshold = this.#d.options.commitThreshold
    if (threshold > 0 && ++this.#doneSinceCommitRequest >= threshold) {
      this.#doneSinceCommitRequest = 0
      this.#d.requestCommit()
    }
    if (this.#pauses.has('backpressure') && this.tracker.pendingCount < this.#d.options.maxBufferedPerPartition / 2) {
      this.#pauses.remove('backpressure')
    }
  }

  /**
   * Drops finished messages from the ordered queue. They are a prefix, except after an outage cut a
   * chunk short (a routed failure behind re-runnable messages): those sit within one chunk of the head.
   */
  #removeCompleted(): void {
    this.#queue.dropDone((m) => m.done === true, this.#d.options.transactionBatchSize)
  }

  /** True when it waited (the caller re-checks state and head); false when the message is due. */
  async #waitUntilDue(head: InboundMessage): Promise<boolean> {
    const wait = this.#dueAt(head) - Date.now()
    if (wait <= 0) return false
    await this.#pauses.waitNotDue(wait)
    return true
  }

  #dueAt(m: InboundMessage): number {
    m.dueAt ??= effectiveDueAt(notBeforeOf(m), Date.now(), this.#d.topic, this.#d.route.base, this.#d.options.maxClockSkewMs)
    return m.dueAt
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined
        resolve()
      }
    })
  }

  #eventBase(m: InboundMessage, p: InboundMessage['prepared']) {
    return {
      group: this.#d.route.groupId, topic: m.topic, partition: m.partition, offset: m.offset,
      taskId: p?.messageId ?? m.headers['ktask-id'] ?? '', name: p?.spec?.name ?? m.headers['ktask-task'] ?? '',
      attempt: (p as PreparedOk | undefined)?.attempt ?? 1,
    }
  }
}
