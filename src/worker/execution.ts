/**
 * What running messages takes and gives back — the types the executor, the transaction chunk, the handler
 * runner and the lanes share (kept here so none of them imports another for its types).
 *
 * Every step ends in one `Outcome`: done (its effects committed, or it was a duplicate), retry or dead (a
 * failure, with the decision classifyFailure made: the lane routes it), or pause (a dependency is down:
 * nothing is applied and the same work runs again after a backoff).
 */
import type { FailureStage } from '../retry/headers.ts'
import type { DeadDecision, RetryDecision, RoutingDecision } from '../retry/classify.ts'
import type { HandlerSpec } from '../routing/routes.ts'
import type { Queryable } from '../store/queryable.ts'
import type { Envelope } from './envelope.ts'
import type { Ready } from './preparation.ts'

export interface ExecItem {
  envelope: Envelope
  prepared: Ready
  /** The message heads its key's blocked queue: its row is removed with its effects. */
  dequeueKey?: Buffer
  /**
   * Rate limits: its reserved start slot (ms since the epoch). Its handler starts no earlier, and no later
   * than `startAt + startLateMs`: a start later than that would crowd the slots after it.
   */
  startAt?: number
  startLateMs?: number
}

/** Waits for the item's rate-limit slot (at most a moment: the lane waits for further ones, partition paused). */
export function untilStart(item: ExecItem): Promise<void> | undefined {
  const wait = item.startAt === undefined ? 0 : item.startAt - Date.now()
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined
}

/** The item is too late for its rate-limit slot: it must not start now (the lane reserves a new slot). */
export function missedStart(item: ExecItem): boolean {
  return item.startAt !== undefined && Date.now() - item.startAt > (item.startLateMs ?? 0)
}

/** A failure and what classifyFailure decided for it. */
export interface Failed<D extends RoutingDecision = RoutingDecision> {
  stage: FailureStage
  error: unknown
  decision: D
}

export type Outcome =
  | { kind: 'done'; how: 'succeeded'; result: unknown; durationMs: number }
  | { kind: 'done'; how: 'duplicate' }
  | ({ kind: 'retry' } & Failed<RetryDecision>)
  | ({ kind: 'dead' } & Failed<DeadDecision>)
  | { kind: 'pause'; stage: string; error: unknown }

/** The outcome of a failure, from its decision. */
export function failedOutcome(stage: FailureStage, error: unknown, decision: RoutingDecision): Outcome {
  return decision.kind === 'retry' ? { kind: 'retry', stage, error, decision } : { kind: 'dead', stage, error, decision }
}

export interface ChunkResult {
  /**
   * One entry per item; undefined = not applied (rolled back or not reached): it runs again. A `pause`
   * ends the chunk: the items after it have no outcome.
   */
  outcomes: (Outcome | undefined)[]
}

/** Runs a chunk of prepared messages (the executor). */
export interface ChunkRunner {
  run(items: ExecItem[]): Promise<ChunkResult>
}

/** A failed message on its way to a retry tier or the DLQ, as the hooks and the hop router see it. */
export interface RoutedMessage extends Failed {
  envelope: Envelope
  /** Its handler, when known (not for an unknown task). */
  spec: HandlerSpec | undefined
  messageId: string
  /** It headed its key's blocked queue when it failed (blocked-key retries). */
  keyHead: boolean
}

/** Hooks for task-state tracking. */
export interface ExecutionHooks {
  started?(item: ExecItem): void
  /**
   * The handler succeeded. `db` is its transaction when it has one (the write commits with the effects),
   * else the pool. Awaited before the offset is marked done. `inChunk`: a chunk transaction will also call
   * `beforeCommit` with this message (work that can wait for the end of the transaction may wait).
   */
  succeeded?(db: Queryable, item: ExecItem, result: unknown, inChunk?: boolean): Promise<void> | void
  /**
   * Chunk transactions: just before COMMIT, in the transaction, with every message of it that succeeded
   * (and was not undone), in order. Work done here for several messages at once can share statements and
   * take its locks in one order (flows: by workflow), which per-message work in handler order cannot.
   */
  beforeCommit?(db: Queryable, succeeded: readonly { item: ExecItem; result: unknown }[]): Promise<void>
  progress?(item: ExecItem, fraction: number, message?: string): void
  /** A failed message's retry or DLQ hop was acknowledged (`decision` as delivered); awaited before its offset is done. */
  routed?(message: RoutedMessage, decision: RoutingDecision): Promise<void> | void
}
