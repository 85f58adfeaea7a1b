/**
 * Runs handlers so that their effects are exactly-once: a chunk of one partition's messages either
 * runs in one Postgres transaction with its ledger rows (transaction-chunk.ts), or — for definitions
 * with `transaction: false` — one message at a time without a transaction.
 */
import type pg from 'pg'
import type { FailedMessage, RoutingDecision } from '../retry/router.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { runHandler, type HandlerRunnerDeps } from './handler-runner.ts'
import type { InboundMessage, PreparedOk } from './inbound.ts'
import { isInfrastructure, runChunkInTransaction } from './transaction-chunk.ts'

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

/** Hooks for task-state tracking; the in-transaction one commits with the effects. */
export interface ExecutionHooks {
  started?(item: ExecItem): void
  succeededInTx?(client: pg.ClientBase, item: ExecItem, result: unknown): Promise<void>
  progress?(item: ExecItem, fraction: number, message?: string): void
  /** A failed message's retry or DLQ hop was acknowledged. */
  routed?(message: InboundMessage, failure: FailedMessage, decision: RoutingDecision): void
}

/** What the executor needs; `shutdownSignal` aborts running handlers when the grace period ends. */
export type ExecutorDeps = HandlerRunnerDeps

export class Executor {
  readonly #deps: ExecutorDeps

  constructor(deps: ExecutorDeps) {
    this.#deps = deps
  }

  /** Runs items that all share the same `transaction` setting (the lane builds chunks that way). */
  async run(items: ExecItem[]): Promise<ChunkResult> {
    if (!items[0]!.prepared.spec.transaction) return this.#runWithoutTransaction(items[0]!)
    return runChunkInTransaction(this.#deps, items)
  }

  async #runWithoutTransaction(item: ExecItem): Promise<ChunkResult> {
    const run = await runHandler(this.#deps, item, undefined)
    switch (run.kind) {
      case 'ok':
        if (item.dequeueKey) {
          // No transaction to share: the row goes right after (a crash in between re-runs the handler).
          try {
            await deleteKeyEntry(this.#deps.runtime.pool(), this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
          } catch (err) {
            return { outcomes: [undefined], infra: err }
          }
        }
        return { outcomes: [{ type: 'succeeded', result: run.result, durationMs: run.durationMs }] }
      case 'timeout':
        return { outcomes: [{ type: 'failed', stage: 'timeout', error: run.error }] }
      case 'shutdown':
        return { outcomes: [undefined] }
      case 'error':
        return isInfrastructure(run.error) ? { outcomes: [undefined], infra: run.error } : { outcomes: [{ type: 'failed', stage: 'handler', error: run.error }] }
    }
  }
}
