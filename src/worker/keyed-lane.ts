/**
 * `key` ordering: messages of different keys of one partition run in parallel (one transaction each);
 * one key never runs twice at once, and a key's messages run in offset order. A message without a key
 * has no order to keep: it gets a key of its own.
 */
import { LaneCore, itemOf, type LaneEntry } from './lane-core.ts'

export class KeyedLane extends LaneCore {
  // A FIFO per key, and the runners currently draining one.
  readonly #keyQueues = new Map<string, LaneEntry[]>()
  readonly #runners = new Set<Promise<void>>()

  protected async run(): Promise<void> {
    while (this.laneState === 'running') {
      const next = this.buffer.at(0)
      if (!next) {
        await this.idle()
        continue
      }
      if (this.d.isRetryTier && (await this.waitUntilDue(next))) continue
      this.buffer.shift()
      const key = next.envelope.keyString ?? `\u0000${next.envelope.offset}`
      let q = this.#keyQueues.get(key)
      if (!q) this.#keyQueues.set(key, (q = []))
      q.push(next)
      if (q.length === 1) {
        const runner = this.#drainKey(key, q).finally(() => this.#runners.delete(runner))
        this.#runners.add(runner)
      }
    }
    await Promise.all(this.#runners)
    // Stopping: messages queued behind a busy key may sit below offsets other keys finished, and the
    // final commit stops at the first of them — the next owner would run the finished ones again. Run
    // those (within the grace period) until nothing below the highest finished offset is left.
    while (this.laneState === 'stopping') {
      const before = this.doneTotal
      const gaps = [...this.#keyQueues].filter(([, q]) => q.length > 0 && this.#mayRun(q[0]!))
      if (gaps.length === 0) break
      await Promise.all(gaps.map(([key, q]) => this.#drainKey(key, q)))
      if (this.doneTotal === before) break
    }
  }

  async #drainKey(key: string, q: LaneEntry[]): Promise<void> {
    while (q.length > 0 && this.#mayRun(q[0]!)) {
      if (await this.#runSingle(q[0]!)) q.shift()
      // Stopping: what did not finish now (shutdown, outage) is left to the next owner.
      else if (this.laneState !== 'running') break
    }
    if (q.length === 0 || this.laneState === 'revoked') this.#keyQueues.delete(key)
  }

  /** Running: any message. Stopping: only one that holds back the commit of a later finished offset. */
  #mayRun(entry: LaneEntry): boolean {
    if (this.laneState === 'running') return true
    return this.laneState === 'stopping' && entry.envelope.offsetNumber < this.highestDone
  }

  /** One message through prepare → execute → route. True when it is done. */
  async #runSingle(entry: LaneEntry): Promise<boolean> {
    if (!entry.failed) {
      let prepared
      try {
        prepared = this.prepare(entry)
        if (prepared instanceof Promise) prepared = await prepared
      } catch (err) {
        await this.pauses.outage(err, 'decode')
        return false
      }
      if (prepared.ok) {
        const chunk = [itemOf(entry)]
        const entries = [entry]
        if (this.d.blocking && !(await this.holdBlocked(chunk, entries))) return entry.done
        if (!(await this.admitLimited(chunk, entries))) return entry.done
        if (!(await this.execute(chunk, entries))) return false
        return entry.done
      }
    }
    return this.routeFailures([entry])
  }
}
