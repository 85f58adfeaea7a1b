/**
 * `partition` ordering: one partition's messages strictly in offset order, several of them per Postgres
 * transaction (a chunk: consecutive ready messages with the same `transaction` setting, up to
 * `transactionBatchSize`). A message whose hop is not acknowledged yet holds the partition until it is.
 * A batch handler's chunk holds its own task's messages only (it runs them in one call).
 */
import type { HandlerSpec } from '../routing/routes.ts'
import type { ExecItem } from './execution.ts'
import { LaneCore, itemOf, type LaneEntry } from './lane-core.ts'
import { databaseTime } from '../store/database-time.ts'

export class OrderedLane extends LaneCore {
  /** Size of the last chunk built: how far behind the head finished messages may sit. */
  #lastChunk = 0

  protected async run(): Promise<void> {
    while (this.laneState === 'running') {
      const head = this.buffer.at(0)
      if (!head) {
        await this.idle()
        continue
      }
      if (this.d.isRetryTier && (await this.waitUntilDue(head))) continue
      const chunk = await this.#buildChunk()
      if (chunk === 'outage') continue
      if (chunk.items.length === 0) {
        // The head failed (decode, or a failure whose hop is not acknowledged yet): route it.
        if (await this.routeFailures([head])) this.#removeCompleted()
        continue
      }
      if (this.d.blocking && !(await this.holdBlocked(chunk.items, chunk.entries))) {
        this.#removeCompleted()
        continue
      }
      if (!(await this.admitLimited(chunk.items, chunk.entries))) {
        this.#removeCompleted()
        continue
      }
      const ok = await this.execute(chunk.items, chunk.entries)
      this.#removeCompleted()
      if (ok) this.pauses.recovered()
    }
  }

  /**
   * Consecutive ready messages at the head that can share one transaction. Empty when the head itself
   * has a failure to route; 'outage' when preparing the head hit an outage (already backed off).
   */
  async #buildChunk(): Promise<{ items: ExecItem[]; entries: LaneEntry[] } | 'outage'> {
    let max = this.d.options.transactionBatchSize
    const items: ExecItem[] = []
    const entries: LaneEntry[] = []
    // Blocked-key routes: one message per key per chunk, so a failure can still hold its key's next one.
    const keys = this.d.blocking ? new Set<string>() : undefined
    for (let i = 0; i < this.buffer.length; i++) {
      const entry = this.buffer.at(i)!
      if (items.length >= max || entry.failed) break
      const key = entry.envelope.keyString
      if (keys && key !== undefined) {
        if (keys.has(key)) break
        keys.add(key)
      }
      if (this.d.isRetryTier && this.dueAt(entry) > databaseTime.now()) break
      let prepared
      try {
        prepared = this.prepare(entry)
        if (prepared instanceof Promise) prepared = await prepared
      } catch (err) {
        if (items.length > 0) break
        await this.pauses.outage(err, 'decode')
        return 'outage'
      }
      if (!prepared.ok) break
      const first = items[0]?.prepared.spec
      if (first && !sameChunk(first, prepared.spec)) break
      if (!first) max = chunkMax(prepared.spec, max)
      // A limited or isolated message joins a plain chunk only within the usual size.
      else if (items.length >= chunkMax(prepared.spec, this.d.options.transactionBatchSize)) break
      items.push(itemOf(entry))
      entries.push(entry)
    }
    this.#lastChunk = items.length
    return { items, entries }
  }

  /**
   * Drops finished messages from the buffer. They are a prefix, except after an outage cut a chunk
   * short (a routed failure behind re-runnable messages): those sit within one chunk of the head.
   */
  #removeCompleted(): void {
    this.buffer.dropDone((e) => e.done, Math.max(this.#lastChunk, this.d.options.transactionBatchSize))
  }
}

/**
 * Messages without a transaction share no Postgres state, only the cancel check made before they run
 * (executor.ts) — one query per chunk, the no-op path's largest cost at 50 a chunk. Their chunks take up
 * to PLAIN_CHUNK_MAX messages and the executor ends them after PLAIN_CHUNK_MS, so slow handlers still
 * report outcomes (and commit offsets) as often as before. Not with limits or isolation, which admit or
 * dispatch a chunk's messages as a whole.
 */
export const PLAIN_CHUNK_MAX = 500

function chunkMax(spec: HandlerSpec, transactionBatchSize: number): number {
  const plain = !spec.transaction && !spec.batchHandler && !spec.rateLimit && !spec.concurrency && !spec.isolation
  return plain ? PLAIN_CHUNK_MAX : transactionBatchSize
}

/** Whether a message of `next` may join a chunk begun by one of `first`. */
function sameChunk(first: HandlerSpec, next: HandlerSpec): boolean {
  if (first.transaction !== next.transaction) return false
  return first.batchHandler === undefined && next.batchHandler === undefined ? true : first === next
}
