/**
 * The one place that decides what a failure means (pure): pause and try the same work again (an
 * outage), retry through a tier, or dead-letter — with the reason. The executor asks it when a handler
 * fails, the lane when a message cannot be decoded or parked; routing and task tracking read the
 * decision it returned and never decide again (the user's `retryable()` runs once per failure).
 */
import { isKtaskError } from '../errors.ts'
import { isPostgresUnavailable, raisedByTransaction } from '../store/unavailable.ts'
import { baseDelayMs, jitteredDelayMs } from './backoff.ts'
import type { FailureStage } from './headers.ts'
import type { ResolvedRetryPolicy } from './policy.ts'
import { databaseTime } from '../store/database-time.ts'

/**
 * Why a message goes to the DLQ: attempts used up, the handler said no for good (UnrecoverableError, or
 * `retryable` refused the error), or it cannot be decoded.
 */
export type DeadReason = 'exhausted' | 'unrecoverable' | 'not-retryable' | 'decode'

export type RetryDecision = { kind: 'retry'; topic: string; nextAttempt: number; notBefore: number }
/**
 * `hopRefused`: the retry hop the broker refused, dead-lettered instead; `stub`: the DLQ refused the
 * message itself and holds a stub (both set by the hop router).
 */
export type DeadDecision = { kind: 'dead'; topic: string; reason: DeadReason; hopRefused?: string; stub?: string }
/** A dependency (Postgres, the registry, the broker) is down: not the message's fault. */
export type PauseDecision = { kind: 'pause'; reason: 'outage' }

export type RoutingDecision = RetryDecision | DeadDecision
export type FailureDecision = RoutingDecision | PauseDecision

export interface Failure {
  stage: FailureStage
  error: unknown
  /** The attempt that failed (1 = the first run). */
  attempt: number
}

/** Where a route's hops go: a tier per base delay, and its DLQ. */
export interface HopTopics {
  readonly retryTopics: ReadonlyMap<number, string>
  readonly dlqTopic: string
}

export interface ClassifyContext {
  /** The handler's retry policy; undefined when no handler was found (unknown task): dead at once. */
  retry: ResolvedRetryPolicy | undefined
  topics: HopTopics
  /** The handler's transaction lost its connection while it ran. */
  connectionLost?: boolean
  now?: number
  random?: () => number
}

/** An error that says the failure is a dependency's, not the message's. */
export function isOutage(failure: Pick<Failure, 'stage' | 'error'>, connectionLost = false): boolean {
  const { error } = failure
  if (isKtaskError(error, 'KTASK_INFRASTRUCTURE')) return true
  if (failure.stage === 'decode') return false
  // A handler's own calls elsewhere failing (an HTTP API refusing connections) are the message's failure;
  // only its transaction's connection failing is the database's.
  return connectionLost || (raisedByTransaction(error) && isPostgresUnavailable(error))
}

export function classifyFailure(failure: Failure, ctx: ClassifyContext): FailureDecision {
  if (isOutage(failure, ctx.connectionLost)) return { kind: 'pause', reason: 'outage' }
  const dead = (reason: DeadReason): DeadDecision => ({ kind: 'dead', topic: ctx.topics.dlqTopic, reason })
  const policy = ctx.retry
  if (!policy || failure.stage === 'decode') return dead('decode')
  if (isKtaskError(failure.error, 'KTASK_UNRECOVERABLE')) return dead('unrecoverable')
  if (failure.stage === 'handler' && !safeRetryable(policy, failure.error)) return dead('not-retryable')
  if (failure.attempt >= policy.attempts) return dead('exhausted')
  const nextAttempt = failure.attempt + 1
  const topic = ctx.topics.retryTopics.get(baseDelayMs(policy.backoff, nextAttempt))
  if (!topic) return dead('exhausted')
  const now = ctx.now ?? databaseTime.now()
  return { kind: 'retry', topic, nextAttempt, notBefore: now + jitteredDelayMs(policy.backoff, nextAttempt, ctx.random) }
}

/** The handler meant it: news, not a fault (tracked as FAILED rather than DEAD, logged without a stack). */
export function refusedByHandler(reason: DeadReason): boolean {
  return reason === 'unrecoverable' || reason === 'not-retryable'
}

/** A `retryable` predicate that throws must not take the partition down: its message is retried. */
function safeRetryable(policy: ResolvedRetryPolicy, error: unknown): boolean {
  try {
    return policy.retryable(error)
  } catch {
    return true
  }
}
