/**
 * Where a failed message goes next: the retry tier of its next delay, or the route's DLQ. The payload is
 * copied byte for byte (it stays decodable); headers say why. The caller marks the original offset done
 * only after this resolves, i.e. after the broker acknowledged the hop.
 */
import type { HandlerSpec, Route } from '../app/routes.ts'
import { isKtaskError } from '../errors.ts'
import type { BatchingProducer, OutgoingMessage } from '../producer/batching-producer.ts'
import { baseDelayMs, jitteredDelayMs } from './backoff.ts'
import { deadLetterHeaders, retryHopHeaders, type FailureInfo, type FailureStage, type MessageOrigin } from './headers.ts'

export interface FailedMessage {
  topic: string
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  origin: MessageOrigin
  spec: HandlerSpec | undefined
  messageId: string
  attempt: number
  stage: FailureStage
  error: unknown
}

export interface RoutingPlan {
  failures: FailedMessage[]
  decisions: RoutingDecision[]
  messages: OutgoingMessage[]
}

export type RoutingDecision =
  | { kind: 'retry'; topic: string; nextAttempt: number; notBefore: number }
  /** `refused`: the handler said no for good (UnrecoverableError, or `retryable` said no), as expected. */
  | { kind: 'dead'; topic: string; refused: boolean }

/** Decode failures, unrecoverable errors, errors the policy refuses, and the last attempt go to the DLQ. */
export function decide(route: Route, failed: FailedMessage, now: number, random: () => number = Math.random): RoutingDecision {
  const spec = failed.spec
  const dead = { kind: 'dead', topic: route.dlqTopic, refused: false } as const
  if (!spec || failed.stage === 'decode') return dead
  if (isKtaskError(failed.error, 'KTASK_UNRECOVERABLE')) return { ...dead, refused: true }
  if (failed.stage === 'handler' && !spec.retry.retryable(failed.error)) return { ...dead, refused: true }
  if (failed.attempt >= spec.retry.attempts) return dead
  const nextAttempt = failed.attempt + 1
  const topic = route.retryTopics.get(baseDelayMs(spec.retry.backoff, nextAttempt))
  if (!topic) return dead
  return { kind: 'retry', topic, nextAttempt, notBefore: now + jitteredDelayMs(spec.retry.backoff, nextAttempt, random) }
}

export class RetryRouter {
  readonly #route: Route
  readonly #producer: () => BatchingProducer
  /** Partition counts of the route's retry and DLQ topics (same as the source when ktask created them). */
  readonly #partitions: Map<string, number>

  constructor(route: Route, producer: () => BatchingProducer, partitions: Map<string, number>) {
    this.#route = route
    this.#producer = producer
    this.#partitions = partitions
  }

  /** Decides every hop and builds its message (pure; nothing is sent). */
  plan(failures: FailedMessage[], now = Date.now()): RoutingPlan {
    const decisions = failures.map((f) => decide(this.#route, f, now))
    const messages: OutgoingMessage[] = failures.map((f, i) => {
      const decision = decisions[i]!
      const info: FailureInfo = { stage: f.stage, error: f.error, group: this.#route.groupId, messageId: f.messageId, origin: f.origin, now }
      const headers = decision.kind === 'retry'
        ? retryHopHeaders(f.headers, info, decision.nextAttempt, decision.notBefore)
        : deadLetterHeaders(f.headers, info, f.attempt)
      return { topic: decision.topic, partition: this.partitionFor(decision.topic, f.partition), key: f.key, value: f.value, headers }
    })
    return { failures, decisions, messages }
  }

  /** Produces every hop of a plan in one request; resolves once all are acknowledged. */
  async send(plan: RoutingPlan): Promise<void> {
    await this.#producer().send(plan.messages)
  }

  /** Plans and sends. */
  async route(failures: FailedMessage[], now = Date.now()): Promise<RoutingDecision[]> {
    const plan = this.plan(failures, now)
    await this.send(plan)
    return plan.decisions
  }

  /** Same partition number as the message came from, so one key keeps one partition across hops. */
  partitionFor(topic: string, partition: number): number | undefined {
    const count = this.#partitions.get(topic)
    if (count === undefined) return undefined
    return partition < count ? partition : undefined
  }
}
