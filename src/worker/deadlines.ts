/**
 * Running handlers and their deadlines, checked by one timer per worker instead of a timer, an
 * AbortController and two event listeners per message (those were a measurable share of the CPU and of
 * the garbage a busy worker makes). Timeouts fire within `resolutionMs` of their deadline.
 */
export interface RunningHandler {
  deadline: number
  /** Called once when the deadline passes or the worker gives up on running handlers. */
  abort(reason: 'timeout' | 'shutdown'): void
}

export class Deadlines {
  readonly #running = new Set<RunningHandler>()
  readonly #resolutionMs: number
  #timer: NodeJS.Timeout | undefined
  #shutdown = false

  constructor(resolutionMs = 25) {
    this.#resolutionMs = resolutionMs
  }

  add(handler: RunningHandler): void {
    if (this.#shutdown) {
      handler.abort('shutdown')
      return
    }
    this.#running.add(handler)
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#check(), this.#resolutionMs)
      this.#timer.unref()
    }
  }

  delete(handler: RunningHandler): void {
    this.#running.delete(handler)
  }

  /** Aborts every running handler now, and any started later (the shutdown grace period is over). */
  abortAll(): void {
    this.#shutdown = true
    for (const h of [...this.#running]) {
      this.#running.delete(h)
      h.abort('shutdown')
    }
  }

  #check(): void {
    if (this.#running.size === 0) {
      clearInterval(this.#timer)
      this.#timer = undefined
      return
    }
    const now = performance.now()
    for (const h of this.#running) {
      if (h.deadline <= now) {
        this.#running.delete(h)
        h.abort('timeout')
      }
    }
  }
}
