/**
 * Runs handlers so that their effects are exactly-once: a chunk of one partition's messages either
 * runs in one Postgres transaction with its ledger rows (transaction-chunk.ts), or — for definitions
 * with `transaction: false` — one message at a time without a transaction.
 */
import { ledgerRowsOf } from '../store/inbox.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { classifyFailure } from '../retry/classify.ts'
import { failedOutcome, missedStart, untilStart, type ChunkResult, type ChunkRunner, type ExecItem, type Outcome } from './execution.ts'
import { runHandler } from './handler-runner.ts'
import { runChunkInTransaction, type ChunkDeps } from './transaction-chunk.ts'

export type ExecutorDeps = ChunkDeps

/**
 * A chunk without a transaction ends after this long (what is left goes back to its lane and runs in
 * the next chunk): its outcomes, offsets and retries are not held back behind hundreds of slow handlers.
 */
export const PLAIN_CHUNK_MS = 100

export class Executor implements ChunkRunner {
  readonly #deps: ExecutorDeps

  constructor(deps: ExecutorDeps) {
    this.#deps = deps
  }

  /** Runs items that all share the same `transaction` setting (the lane builds chunks that way). */
  async run(items: ExecItem[]): Promise<ChunkResult> {
    if (!items[0]!.prepared.spec.transaction) return this.#runWithoutTransaction(items)
    return runChunkInTransaction(this.#deps, items)
  }

  /** One after the other; stops at an outage or at shutdown (what is left has no outcome: runs again). */
  async #runWithoutTransaction(items: ExecItem[]): Promise<ChunkResult> {
    const outcomes: (Outcome | undefined)[] = []
    let cancelled: Set<string>
    try {
      // A cancel marks a message that is already in Kafka with its ledger row: such a one is skipped.
      cancelled = this.#deps.hasDatabase
        ? await ledgerRowsOf(
            this.#deps.pool(),
            this.#deps.groupId,
            items.map((i) => i.prepared.messageId),
          )
        : new Set()
    } catch (err) {
      return { outcomes: [{ kind: 'pause', stage: 'execute', error: err }] }
    }
    const started = performance.now()
    for (const item of items) {
      if (outcomes.length > 0 && performance.now() - started > PLAIN_CHUNK_MS) return { outcomes }
      if (cancelled.has(item.prepared.messageId)) {
        outcomes.push({ kind: 'done', how: 'duplicate' })
        continue
      }
      const wait = untilStart(item)
      if (wait) await wait
      // Missed its rate-limit slot: back to the lane, which takes a new one.
      if (missedStart(item)) return { outcomes }
      let run = runHandler(this.#deps, item, undefined)
      if (run instanceof Promise) run = await run
      if (run.kind === 'shutdown') return { outcomes }
      if (run.kind === 'timeout' || run.kind === 'crash' || run.kind === 'error') {
        const stage = run.kind === 'error' ? 'handler' : run.kind
        const decision = classifyFailure(
          { stage, error: run.error, attempt: item.envelope.attempt },
          { retry: item.prepared.spec.retry, topics: this.#deps.topics },
        )
        if (decision.kind === 'pause') {
          outcomes.push({ kind: 'pause', stage: 'execute', error: run.error })
          return { outcomes }
        }
        outcomes.push(failedOutcome(stage, run.error, decision))
        continue
      }
      // No transaction to share: state and key rows are written right after (a crash in between re-runs
      // the handler — without a transaction its effects are at-least-once anyway).
      try {
        const hooked = this.#deps.hooks?.succeeded?.(this.#deps.pool(), item, run.result)
        if (hooked) await hooked
        if (item.dequeueKey) await deleteKeyEntry(this.#deps.pool(), this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
      } catch (err) {
        outcomes.push({ kind: 'pause', stage: 'execute', error: err })
        return { outcomes }
      }
      outcomes.push({ kind: 'done', how: 'succeeded', result: run.result, durationMs: run.durationMs })
    }
    return { outcomes }
  }
}
