/**
 * Moves due timers (ktask.timers) to the outbox, by the database's clock. It sleeps until the next timer
 * is due (or a notification says a sooner one was written), then moves every due timer in batches; the
 * relay publishes them. Several dispatchers share the work (SKIP LOCKED), none is a leader.
 *
 * A timer is never moved before its due time, so a delayed task never reaches its queue early.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { moveDueTimers, nextTimerInMs } from '../store/outbox.ts'
import { BackgroundLoop } from './background-loop.ts'

export interface TimerDispatcherDeps {
  pool(): pg.Pool
  ready(): Promise<void>
  logger: Logger
  /** Timers were moved to the outbox: the relay should look now. */
  moved(count: number): void
  /** Longest sleep without a notification. */
  pollIntervalMs: number
  /** Timers moved per statement. @defaultValue 2000 */
  batchSize?: number
}

export class TimerDispatcher {
  readonly #d: TimerDispatcherDeps
  readonly #loop: BackgroundLoop

  constructor(deps: TimerDispatcherDeps) {
    this.#d = deps
    this.#loop = new BackgroundLoop((signal) => this.#pass(signal), deps.logger, {
      failing: 'timer dispatcher cannot reach Postgres; retrying',
      recovered: 'timer dispatcher running again',
    })
  }

  start(): void {
    this.#loop.start()
  }

  /** A timer was written (maybe due sooner than the one we sleep for): look now. */
  wake(): void {
    this.#loop.wake()
  }

  stop(): Promise<void> {
    return this.#loop.stop()
  }

  /** Moves every due timer; returns how long to sleep until the next one is due. */
  async #pass(signal: AbortSignal): Promise<number> {
    const batch = this.#d.batchSize ?? 2000
    await this.#d.ready()
    const pool = this.#d.pool()
    let moved: number
    do {
      moved = await moveDueTimers(pool, batch)
      if (moved > 0) this.#d.moved(moved)
    } while (moved === batch && !signal.aborted)
    const next = await nextTimerInMs(pool)
    // Wake a little after the due time rather than before it: a timer is due by the database's clock.
    // A due timer that was not moved is held by another dispatcher (or a cancel): give it a moment.
    return next === undefined ? this.#d.pollIntervalMs : next <= 0 ? (moved === 0 ? 10 : 0) : Math.min(next + 1, this.#d.pollIntervalMs)
  }
}
