/**
 * Runs handlers so that their effects are exactly-once: a chunk of one partition's messages either
 * runs in one Postgres transaction with its ledger rows (transaction-chunk.ts), or — for definitions
 * with `transaction: false` — one message at a time without a transaction.
 */
import type { Queryable } from '../store/queryable.ts'
import type { FailedMessage, RoutingDecision } from '../retry/router.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { runHandler, type HandlerRunnerDeps } from './handler-runner.ts'
import type { InboundMessage, PreparedOk } from './inbound.ts'
import { isHandlerOutage, runChunkInTransaction } from './transaction-chunk.ts'

export interface ExecItem {
  message: InboundMessage
  prepared: PreparedOk
  /** The message heads its key's blocked queue: its row is removed with its effects. */
  dequeueKey?: Buffer
}

export type ExecOutcome =
  | { type: 'succeeded'; result: unknown; durationMs: number }
  | { type: 'duplicate' }
  | { type: 'failed'; stage: 'handler' | 'timeout'; error: unknown }

export interface ChunkResult {
  /** One entry per item; undefined = not applied (rolled back or not reached): run it again. */
  outcomes: (ExecOutcome | undefined)[]
  /** Set when the chunk stopped because Postgres (or another dependency) is unavailable. */
  infra?: unknown
}

/** Hooks for task-state tracking. */
export interface ExecutionHooks {
  started?(item: ExecItem): void
  /**
   * The handler succeeded. `db` is its transaction when it has one (the write commits with the effects),
   * else the pool. Awaited before the offset is marked done.
   */
  succeeded?(db: Queryable, item: ExecItem, result: unknown): Promise<void>
  progress?(item: ExecItem, fraction: number, message?: string): void
  /** A failed message's retry or DLQ hop was acknowledged; awaited before the offset is marked done. */
  routed?(message: InboundMessage, failure: FailedMessage, decision: RoutingDecision): Promise<void> | void
}

/** What the executor needs: the runtime, the group, a logger, the deadlines of running handlers, hooks. */
export type ExecutorDeps = HandlerRunnerDeps

export class Executor {
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
    const outcomes: (ExecOutcome | undefined)[] = []
    for (const item of items) {
      const run = await runHandler(this.#deps, item, undefined)
      if (run.kind === 'shutdown') return { outcomes }
      if (run.kind === 'timeout') {
        outcomes.push({ type: 'failed', stage: 'timeout', error: run.error })
        continue
      }
      if (run.kind === 'error') {
        if (isHandlerOutage(run.error)) return { outcomes, infra: run.error }
        outcomes.push({ type: 'failed', stage: 'handler', error: run.error })
        continue
      }
      // No transaction to share: state and key rows are written right after (a crash in between re-runs
      // the handler — without a transaction its effects are at-least-once anyway).
      try {
        if (this.#deps.hooks?.succeeded) await this.#deps.hooks.succeeded(this.#deps.runtime.pool(), item, run.result)
        if (item.dequeueKey) await deleteKeyEntry(this.#deps.runtime.pool(), this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
      } catch (err) {
        return { outcomes, infra: err }
      }
      outcomes.push({ type: 'succeeded', result: run.result, durationMs: run.durationMs })
    }
    return { outcomes }
  }
}
