/**
 * A FIFO with O(1) push and shift: an array and a head index, compacted now and then. (Array#shift
 * and splice(0, n) copy the whole buffer — per message, on a partition buffering a thousand.)
 */
export class Deque<T> {
  #items: (T | undefined)[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  /** The i-th item from the head. */
  at(i: number): T | undefined {
    return this.#items[this.#head + i]
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    this.#compact()
    return item
  }

  /** Drops items matching `done` from the head, then (rarely) anywhere within the first `window`. */
  dropDone(done: (item: T) => boolean, window: number): void {
    while (this.#head < this.#items.length && done(this.#items[this.#head]!)) this.#items[this.#head++] = undefined
    const end = Math.min(this.#items.length, this.#head + window)
    for (let i = this.#head; i < end; i++) {
      if (done(this.#items[i]!)) {
        this.#items = this.#items.slice(this.#head).filter((item) => !done(item!))
        this.#head = 0
        return
      }
    }
    this.#compact()
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }
}
