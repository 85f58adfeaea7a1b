/**
 * Why a partition's fetching is paused, and the waits that pause it: backpressure (too much buffered),
 * a retry-tier head that is not due yet, a task limit (rate or concurrency), and outages (backing off before the same work is tried again).
 * The Kafka partition is paused while any reason holds and resumed when the last one goes.
 */
import type { Logger } from 'pino'
import type { TypedEmitter } from '../observability/emitter.ts'
import type { PauseReason, WorkerEvents } from '../observability/worker-events.ts'
import { outageBackoffMs } from '../retry/backoff.ts'
import { MAX_TIMER_MS } from './due-time.ts'

/** Pauses / resumes fetching of one partition in the Kafka consumer. */
export interface FetchControl {
  pause(): void
  resume(): void
}

export interface LanePausesDeps {
  groupId: string
  topic: string
  partition: number
  fetch: FetchControl
  events: TypedEmitter<WorkerEvents>
  /** Bound to the lane's group, topic and partition. */
  logger: Logger
  /** False once the lane stops or is revoked: the consumer's pause state is no longer ours to change. */
  active(): boolean
  /** Aborted when the lane stops or is revoked: waits end at once. */
  signal: AbortSignal
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    // Longer than a timer can hold would fire after 1 ms, in a loop: the caller re-checks and waits again.
    const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS))
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

export class LanePauses {
  readonly #d: LanePausesDeps
  readonly #reasons = new Set<PauseReason>()
  #outages = 0
  #limitWaits = 0

  constructor(deps: LanePausesDeps) {
    this.#d = deps
  }

  has(reason: PauseReason): boolean {
    return this.#reasons.has(reason)
  }

  get paused(): boolean {
    return this.#reasons.size > 0
  }

  add(reason: PauseReason, forMs?: number): void {
    if (this.#reasons.has(reason)) return
    const first = this.#reasons.size === 0
    this.#reasons.add(reason)
    if (first && this.#d.active()) this.#fetch('pause')
    const { groupId: group, topic, partition } = this.#d
    this.#d.events.emit('partition:paused', () => ({ group, topic, partition, reason, forMs }))
  }

  remove(reason: PauseReason): void {
    if (!this.#reasons.delete(reason) || this.#reasons.size > 0) return
    if (!this.#d.active()) return
    this.#fetch('resume')
    const { groupId: group, topic, partition } = this.#d
    this.#d.events.emit('partition:resumed', () => ({ group, topic, partition }))
  }

  /**
   * kafkajs refuses pause/resume between a consumer crash and its restart. The lane must live on: the
   * restart joins the group again, and the assignment applies every lane's pause state (assignment.ts).
   */
  #fetch(action: 'pause' | 'resume'): void {
    try {
      this.#d.fetch[action]()
    } catch (err) {
      this.#d.logger.debug({ err }, `could not ${action} fetching; the next assignment will`)
    }
  }

  /** Paused for `ms` (or until the lane stops). */
  async waitNotDue(ms: number): Promise<void> {
    this.add('not-due', ms)
    await sleep(ms, this.#d.signal)
    this.remove('not-due')
  }

  /**
   * Paused for `ms` by a task limit (or until the lane stops). Keyed lanes may have several messages
   * waiting at once: fetching resumes when the last wait ends.
   */
  async waitLimited(ms: number): Promise<void> {
    this.#limitWaits++
    this.add('limit', ms)
    try {
      await sleep(ms, this.#d.signal)
    } finally {
      if (--this.#limitWaits === 0) this.remove('limit')
    }
  }

  /** A dependency is down: log (quietly after the first), pause with exponential backoff, then let the caller retry. */
  async outage(err: unknown, stage: string): Promise<void> {
    this.#outages++
    const wait = outageBackoffMs(this.#outages)
    const log = this.#outages === 1 || this.#outages % 10 === 0 ? 'warn' : 'debug'
    this.#d.logger[log](
      { err, stage, retryInMs: wait, failures: this.#outages },
      'dependency unavailable; partition paused, nothing committed',
    )
    this.#d.events.emit('error', () => ({ group: this.#d.groupId, error: err, context: `outage during ${stage}` }))
    this.add('outage', wait)
    await sleep(wait, this.#d.signal)
    this.remove('outage')
  }

  /** Work went through: the next outage starts its backoff from the beginning. */
  recovered(): void {
    this.#outages = 0
  }
}
