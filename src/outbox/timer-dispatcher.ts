/**
 * Publishes due timers (ktask.timers) to Kafka by the database's clock, lane by lane like the relay
 * (lane-publisher.ts): a due timer is deleted in the transaction that produces it, so it costs one
 * statement, not a move to the outbox and a second publish from there. It sleeps until the next timer is
 * due (or a notification says a sooner one was written). Several dispatchers share the work (a lane's
 * advisory lock), none is a leader; a key's timers go out in due order.
 *
 * A timer is never published before its due time, so a delayed task never reaches its queue early.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import type { OutgoingMessage } from '../kafka/transport.ts'
import { TIMERS_LOCK_CLASS, dueLanes, nextTimerInMs, takeDueTimers } from '../store/outbox.ts'
import { BackgroundLoop } from './background-loop.ts'
import { LanePublisher } from './lane-publisher.ts'

export interface TimerDispatcherDeps {
  pool(): pg.Pool
  ready(): Promise<void>
  /** Resolves when the broker acknowledged every message (the app's batching producer). */
  send(messages: OutgoingMessage[]): Promise<void>
  logger: Logger
  /** Told how many timers each lane transaction published (tests, benchmarks). */
  onPublished?(count: number): void
}

export interface TimerDispatcherOptions {
  /** Timers per lane transaction. */
  batchSize: number
  /** Lanes published in parallel (each holds a pool connection while it publishes). */
  concurrency: number
  /** Longest sleep without a notification. */
  pollIntervalMs: number
}

export class TimerDispatcher extends BackgroundLoop {
  readonly #d: TimerDispatcherDeps
  readonly #o: TimerDispatcherOptions
  readonly #publisher: LanePublisher

  constructor(deps: TimerDispatcherDeps, options: TimerDispatcherOptions) {
    super(deps.logger, {
      failing: 'timer dispatcher cannot publish (Kafka or Postgres unavailable?); retrying',
      recovered: 'timer dispatcher publishing again',
    })
    this.#d = deps
    this.#o = options
    this.#publisher = new LanePublisher({ lockClass: TIMERS_LOCK_CLASS, take: takeDueTimers }, deps, options)
  }

  /** Publishes every due timer; returns how long to sleep until the next one is due. */
  protected async pass(signal: AbortSignal): Promise<number> {
    await this.#d.ready()
    const pool = this.#d.pool()
    const lanes = await dueLanes(pool)
    const published = lanes.length === 0 ? 0 : await this.#publisher.drain(lanes, signal)
    const next = await nextTimerInMs(pool)
    // Wake a little after the due time rather than before it: a timer is due by the database's clock.
    // A due timer that was not published is held by another dispatcher (or a cancel): give it a moment.
    if (next === undefined) return this.#o.pollIntervalMs
    if (next <= 0) return published > 0 ? 0 : 10
    return Math.min(next + 1, this.#o.pollIntervalMs)
  }
}
