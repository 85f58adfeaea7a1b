/**
 * The time by the database's clock, as this process estimates it: ktask's one reference clock for due
 * times. A retry's `ktask-not-before` is written by the worker that routes it and read by whichever
 * worker consumes its tier; with each using its own wall clock, a worker running five minutes ahead ran
 * the others' retries as soon as it saw them (found by the clock-skew fault case: retries 2 s early of
 * 5 s). Delayed tasks and rate-limit slots already count in the database's time; routing and tier waits
 * now do too, so workers agree whatever their machines' clocks say.
 *
 * The offset is measured from the fastest of a few `clock_timestamp()` round trips (off by at most half
 * of it), at worker start and every minute after; until a first measurement, and for a process with no
 * database, it is the local clock. One estimate per process: every database ktask uses in it is meant to
 * be on one clock.
 */
import type pg from 'pg'

/** A measurement older than this is replaced by any new one, even a slower round trip. */
const RENEW_AFTER_MS = 60_000
/** Above this the worker logs that its machine's clock is off. */
export const NOTABLE_OFFSET_MS = 1000

export class DatabaseTime {
  #offset = 0
  #rtt = Infinity
  #at = -Infinity

  /** Now, by the database's clock (ms since the epoch). */
  now(): number {
    return Date.now() + this.#offset
  }

  /** A moment `dbMs` of the database's clock, in local time. */
  toLocal(dbMs: number): number {
    return dbMs - this.#offset
  }

  /** Database time minus local time, in ms (0 until measured). */
  offsetMs(): number {
    return this.#offset
  }

  /** A statement sent at `sent` and answered at `received` (local ms) read the database's clock as `dbMs`. */
  sample(sent: number, received: number, dbMs: number): void {
    const rtt = received - sent
    if (rtt > this.#rtt && received - this.#at < RENEW_AFTER_MS) return
    this.#offset = Math.round(dbMs - (sent + received) / 2)
    this.#rtt = rtt
    this.#at = received
  }

  /** Three round trips to `pool`'s database; the fastest one sets the offset. Throws when it does not answer. */
  async measure(pool: pg.Pool): Promise<number> {
    // Each new round of measurements starts fresh: the clocks may have drifted since the last one.
    this.#rtt = Infinity
    for (let i = 0; i < 3; i++) {
      const sent = Date.now()
      const { rows } = await pool.query<{ ms: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms')
      this.sample(sent, Date.now(), rows[0]!.ms)
    }
    return this.#offset
  }

  /** Forgets the measurement (tests). */
  reset(): void {
    this.#offset = 0
    this.#rtt = Infinity
    this.#at = -Infinity
  }
}

export const databaseTime = new DatabaseTime()
