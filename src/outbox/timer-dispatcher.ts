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
import { Waker } from './wake.ts'

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

const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 30_000

export class TimerDispatcher {
  readonly #d: TimerDispatcherDeps
  readonly #waker = new Waker()
  readonly #stop = new AbortController()
  #loop: Promise<void> | undefined
  #backoffMs = BACKOFF_MIN_MS
  #failing = false

  constructor(deps: TimerDispatcherDeps) {
    this.#d = deps
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** A timer was written (maybe due sooner than the one we sleep for): look now. */
  wake(): void {
    this.#waker.wake()
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    this.#waker.wake()
    await this.#loop
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal
    const batch = this.#d.batchSize ?? 2000
    while (!signal.aborted) {
      let wait: number
      try {
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
        wait = next === undefined ? this.#d.pollIntervalMs : next <= 0 ? (moved === 0 ? 10 : 0) : Math.min(next + 1, this.#d.pollIntervalMs)
        if (this.#failing) this.#d.logger.info('timer dispatcher running again')
        this.#failing = false
        this.#backoffMs = BACKOFF_MIN_MS
      } catch (err) {
        if (signal.aborted) break
        if (!this.#failing) this.#d.logger.warn({ err }, 'timer dispatcher cannot reach Postgres; retrying')
        this.#failing = true
        wait = this.#backoffMs
        this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS)
      }
      if (wait > 0) await this.#waker.sleep(wait, signal)
    }
  }
}
