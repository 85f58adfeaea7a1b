/**
 * How a chunk transaction tells failures apart (shared by transaction-chunk.ts and batch-transaction.ts):
 * an outage of Postgres (pause, not an attempt), a lock conflict Postgres broke (run again), a session
 * ended for idling, a transaction the handler's own statements spoiled (its failure), and the outcome
 * classifyFailure decides for a failed message.
 */
import { KtaskError, isKtaskError } from '../errors.ts'
import { classifyFailure, type HopTopics } from '../retry/classify.ts'
import type { FailureStage } from '../retry/headers.ts'
import { isPostgresUnavailable } from '../store/unavailable.ts'
import { failedOutcome, type ExecItem, type Outcome } from './execution.ts'

/** An error of ktask's own statements (BEGIN, ledger, COMMIT) that is about the database being reachable. */
export function isInfrastructure(err: unknown): boolean {
  return isPostgresUnavailable(err) || isKtaskError(err, 'KTASK_INFRASTRUCTURE')
}

/**
 * Postgres aborted the transaction to break a lock conflict between ktask's own statements of concurrent
 * chunks (a deadlock: two chunks advancing the same two flows in opposite orders; a serialization
 * failure): nobody's fault, and the same work succeeds when it runs again — like an outage, not an attempt.
 */
export function isTransientConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === '40P01' || code === '40001'
}

/** A message whose transaction cannot commit because of what its handler did: its own failure, never an outage. */
export function abortedByHandler(detail: string, cause?: unknown): KtaskError {
  return new KtaskError(
    'KTASK_VALIDATION',
    `The handler returned, but its transaction cannot commit: ${detail}`,
    cause === undefined ? {} : { cause },
  )
}

/** Postgres ended the session for sitting idle in its transaction: the chunk's doing, not an outage. */
export function idleSessionTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === '25P03'
}

/** The outcome of item's failure, as classifyFailure decides it (a pause when it was an outage). */
export function failure(deps: { topics: HopTopics }, item: ExecItem, stage: FailureStage, error: unknown, connectionLost = false): Outcome {
  const decision = classifyFailure(
    { stage, error, attempt: item.envelope.attempt },
    { retry: item.prepared.spec.retry, topics: deps.topics, connectionLost },
  )
  return decision.kind === 'pause' ? { kind: 'pause', stage: 'execute', error } : failedOutcome(stage, error, decision)
}
