/**
 * The loop the relay, the timer dispatcher and the scheduler extend: run a pass, sleep for as long as the
 * pass says (a notification cuts the sleep short), and while Postgres or Kafka fail, back off — logging
 * the failure once and the recovery once, never a line per attempt.
 */
import type { Logger } from 'pino'
import { Waker } from './wake.ts'

const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 30_000

export interface LoopMessages {
  /** Logged (warn, with the error) when passes start failing. */
  failing: string
  /** Logged (info) when a pass succeeds again. */
  recovered: string
}

export abstract class BackgroundLoop {
  readonly #logger: Logger
  readonly #messages: LoopMessages
  readonly #waker = new Waker()
  readonly #stop = new AbortController()
  #loop: Promise<void> | undefined
  #backoffMs = BACKOFF_MIN_MS
  #failing = false

  constructor(logger: Logger, messages: LoopMessages) {
    this.#logger = logger
    this.#messages = messages
  }

  /** One pass; resolves with how long to sleep before the next (0: at once). */
  protected abstract pass(signal: AbortSignal): Promise<number>

  /** Aborted once stop() was called: a pass checks it between its steps. */
  get signal(): AbortSignal {
    return this.#stop.signal
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** Ends the sleep: the next pass starts now (or right after the one running). */
  wake(): void {
    this.#waker.wake()
  }

  /** Stops after the pass in progress ends. */
  async stop(): Promise<void> {
    this.#stop.abort()
    this.#waker.wake()
    await this.#loop
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal
    while (!signal.aborted) {
      let wait: number
      try {
        wait = await this.pass(signal)
        if (this.#failing) this.#logger.info(this.#messages.recovered)
        this.#failing = false
        this.#backoffMs = BACKOFF_MIN_MS
      } catch (err) {
        if (signal.aborted) break
        if (!this.#failing) this.#logger.warn({ err }, this.#messages.failing)
        this.#failing = true
        wait = this.#backoffMs
        this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS)
      }
      if (wait > 0) await this.#waker.sleep(wait, signal)
    }
  }
}
