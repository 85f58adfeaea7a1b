/**
 * A token bucket: at most `ratePerSecond` on average, bursts up to one second's worth. Time and sleep are
 * injectable so the behaviour is testable without waiting.
 */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }

export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  /** `ratePerSecond` <= 0 or Infinity means no limit. */
  constructor(ratePerSecond: number, clock: Clock = realClock) {
    this.#rate = ratePerSecond > 0 ? ratePerSecond : Number.POSITIVE_INFINITY
    this.#burst = Number.isFinite(this.#rate) ? Math.max(1, this.#rate) : Number.POSITIVE_INFINITY
    this.#clock = clock
    this.#tokens = this.#burst
    this.#last = clock.now()
  }

  /** Waits until `n` tokens are available and takes them. */
  async take(n = 1): Promise<void> {
    if (!Number.isFinite(this.#rate)) return
    for (;;) {
      const now = this.#clock.now()
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate)
      this.#last = now
      if (this.#tokens >= n || (n > this.#burst && this.#tokens >= this.#burst)) {
        this.#tokens -= n
        return
      }
      await this.#clock.sleep(Math.ceil(((n - this.#tokens) / this.#rate) * 1000))
    }
  }
}
