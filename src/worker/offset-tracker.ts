/**
 * Per-partition offset bookkeeping (pure). Messages are added in offset order when they are buffered and
 * marked done in any order. The commit position is the first offset not yet done — or, when nothing is
 * pending, one past the highest offset seen, so gaps (compacted records, transaction markers) count as done.
 */
export class OffsetTracker {
  // Pending offsets in ascending order; `#done` holds the ones finished out of order.
  #pending: number[] = []
  #head = 0
  #done = new Set<number>()
  #highestSeen: number
  #committed: number

  /** @param committed the partition's committed position (next offset to read) when tracking starts */
  constructor(committed: number) {
    this.#committed = committed
    this.#highestSeen = committed - 1
  }

  /** Records a buffered message. Offsets must arrive in ascending order. */
  add(offset: number): void {
    if (offset <= this.#highestSeen) throw new Error(`offset ${offset} added after ${this.#highestSeen}`)
    this.#pending.push(offset)
    this.#highestSeen = offset
  }

  /** Everything up to `offset` was delivered (a batch's last offset may be past its last message). */
  seenThrough(offset: number): void {
    if (offset > this.#highestSeen) this.#highestSeen = offset
  }

  /** True if `offset` is already buffered, in flight or done: a re-delivery to skip. */
  has(offset: number): boolean {
    return offset <= this.#highestSeen
  }

  markDone(offset: number): void {
    // Already behind the head (done before): nothing to do, and it must not linger in the set.
    if (this.#head >= this.#pending.length || offset < this.#pending[this.#head]!) return
    this.#done.add(offset)
    while (this.#head < this.#pending.length && this.#done.has(this.#pending[this.#head]!)) {
      this.#done.delete(this.#pending[this.#head]!)
      this.#head++
    }
    // Compact now and then so the array does not grow with every message ever seen.
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head)
      this.#head = 0
    }
  }

  /** The offset to commit: first not-done offset, else one past the highest seen. */
  position(): number {
    return this.#head < this.#pending.length ? this.#pending[this.#head]! : this.#highestSeen + 1
  }

  /** Number of buffered or in-flight messages. */
  get pendingCount(): number {
    return this.#pending.length - this.#head - this.#done.size
  }

  get committed(): number {
    return this.#committed
  }

  /** The position to commit if it moved since the last commit, else undefined. */
  uncommitted(): number | undefined {
    const pos = this.position()
    return pos > this.#committed ? pos : undefined
  }

  markCommitted(position: number): void {
    if (position > this.#committed) this.#committed = position
  }
}
