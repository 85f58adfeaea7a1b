/** A sleep that a notification can cut short: `wake()` before `sleep()` makes the next sleep return at once. */
export class Waker {
  #resolve: (() => void) | undefined
  #woken = false

  wake(): void {
    if (this.#resolve) this.#resolve()
    else this.#woken = true
  }

  /** Sleeps up to `ms`; returns early on wake() or when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#woken || signal.aborted) {
      this.#woken = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#resolve = undefined
        this.#woken = false
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      signal.addEventListener('abort', done)
      this.#resolve = done
    })
  }
}
