/** A counting semaphore: bounds handlers (or transaction chunks) running at once across a worker. */
export class Semaphore {
  #available: number
  readonly #waiters: (() => void)[] = []

  constructor(permits: number) {
    this.#available = permits
  }

  acquire(): Promise<void> {
    if (this.#available > 0) {
      this.#available--
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  release(): void {
    const next = this.#waiters.shift()
    if (next) next()
    else this.#available++
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire()
    try {
      return await fn()
    } finally {
      this.release()
    }
  }
}
