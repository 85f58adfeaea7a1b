/**
 * Sends failed messages where their decisions say: the retry tier of their next delay, or the route's
 * DLQ. The payload is copied byte for byte (it stays decodable); headers say why. The caller marks the
 * original offset done only after delivery resolves, i.e. after the broker acknowledged the hop. The
 * decisions come from classifyFailure (retry/classify.ts); the router never decides again.
 *
 * A hop the broker refuses for good (too large, not authorized, a policy) is not an outage — trying it
 * again would refuse it again and stall the partition for ever: a refused retry hop is dead-lettered, a
 * refused dead-letter hop becomes a stub record (headers, coordinates, the payload's first bytes), and a
 * route-owned topic that was deleted is created again. Only a DLQ that refuses even a stub pauses the
 * partition, loudly: nothing else can keep the message.
 */
import type { Logger } from 'pino'
import { KtaskError } from '../errors.ts'
import { refusalOf, type Refusal } from '../kafka/produce-errors.ts'
import type { OutgoingMessage } from '../producer/batching-producer.ts'
import type { RoutingDecision } from '../retry/classify.ts'
import { H, deadLetterHeaders, retryHopHeaders, type FailureInfo } from '../retry/headers.ts'
import type { RoutedMessage } from './execution.ts'
import { databaseTime } from '../store/database-time.ts'

export interface RoutingPlan {
  failures: RoutedMessage[]
  decisions: RoutingDecision[]
  messages: OutgoingMessage[]
}

/** What the router sends with (the app's batching producer). */
export interface HopProducer {
  send(messages: OutgoingMessage[]): Promise<void>
}

export interface HopRouterDeps {
  groupId: string
  dlqTopic: string
  producer: () => HopProducer
  /** Partition counts of the route's retry and DLQ topics (same as the source when ktask created them). */
  partitions: ReadonlyMap<string, number>
  /** Creates a route-owned topic that is missing; true when it exists afterwards. @defaultValue never */
  recreateTopic?: (topic: string) => Promise<boolean>
  logger: Logger
}

/** How much of a payload a stub keeps: enough to recognise the message, small enough for any topic. */
export const STUB_PAYLOAD_BYTES = 16 * 1024

export class HopRouter {
  readonly #d: HopRouterDeps

  constructor(deps: HopRouterDeps) {
    this.#d = deps
  }

  /** Builds every hop's message from its decision (pure; nothing is sent). */
  plan(failures: RoutedMessage[], now = databaseTime.now()): RoutingPlan {
    return { failures, decisions: failures.map((f) => f.decision), messages: failures.map((f) => this.#hop(f, f.decision, now)) }
  }

  /**
   * Produces every hop of a plan but those in `skip` (already in the DLQ); resolves once all are
   * acknowledged, with the plan as delivered (a refused hop's decision and message replaced). Throws only
   * for an outage.
   */
  async deliver(plan: RoutingPlan, skip: ReadonlySet<number> = new Set(), now = databaseTime.now()): Promise<RoutingPlan> {
    // One send per topic: a topic that refuses (a tier deleted under us) leaves the others' sends
    // unambiguous. With one send for all, a refused tier hop made the DLQ hops beside it go out twice —
    // once in the failed batch, once one by one — and again on every attempt until the tier was back
    // (found by the tier-deleted fault case: one dead letter 7 times in the DLQ).
    const byTopic = new Map<string, number[]>()
    plan.messages.forEach((m, i) => {
      if (skip.has(i)) return
      const list = byTopic.get(m.topic)
      if (list) list.push(i)
      else byTopic.set(m.topic, [i])
    })
    const groups = [...byTopic.values()]
    const sent = await Promise.allSettled(groups.map((idx) => this.#d.producer().send(idx.map((i) => plan.messages[i]!))))
    const refused: number[] = []
    let outage: { error: unknown } | undefined
    sent.forEach((r, g) => {
      if (r.status === 'fulfilled') return
      if (refusalOf(r.reason)) refused.push(...groups[g]!)
      else outage ??= { error: r.reason }
    })
    // Rethrown as it came (the caller classifies the producer's own error).
    if (outage) throw outage.error
    if (refused.length === 0) return plan
    // A topic refused: find which of its hops, one by one (those may be sent twice: the ledger and the
    // DLQ record make that harmless).
    const delivered: RoutingPlan = { failures: plan.failures, decisions: [...plan.decisions], messages: [...plan.messages] }
    for (const i of refused.sort((a, b) => a - b)) {
      const [decision, message] = await this.#deliverOne(plan.failures[i]!, plan.decisions[i]!, plan.messages[i]!, now)
      delivered.decisions[i] = decision
      delivered.messages[i] = message
    }
    return delivered
  }

  /** Same partition number as the message came from, so one key keeps one partition across hops. */
  partitionFor(topic: string, partition: number): number | undefined {
    const count = this.#d.partitions.get(topic)
    if (count === undefined) return undefined
    return partition < count ? partition : undefined
  }

  #hop(f: RoutedMessage, decision: RoutingDecision, now: number): OutgoingMessage {
    const m = f.envelope
    const info: FailureInfo = { stage: f.stage, error: f.error, group: this.#d.groupId, messageId: f.messageId, origin: m.origin, now }
    const headers =
      decision.kind === 'retry'
        ? retryHopHeaders(m.headers, info, decision.nextAttempt, decision.notBefore)
        : deadLetterHeaders(m.headers, info, m.attempt)
    return { topic: decision.topic, partition: this.partitionFor(decision.topic, m.partition), key: m.key, value: m.value, headers }
  }

  async #deliverOne(
    f: RoutedMessage,
    decision: RoutingDecision,
    message: OutgoingMessage,
    now: number,
  ): Promise<[RoutingDecision, OutgoingMessage]> {
    let refusal = await this.#trySend(message)
    if (!refusal) return [decision, message]
    const log = { group: this.#d.groupId, taskId: f.messageId, topic: message.topic, refusal }
    if (decision.kind === 'retry') {
      const hopRefused = `${refusal.type}: the retry hop to ${message.topic} was refused (${refusal.message})`
      const dead: RoutingDecision = { kind: 'dead', topic: this.#d.dlqTopic, reason: 'exhausted', hopRefused }
      const deadMessage = this.#hop(f, dead, now)
      deadMessage.headers[H.hopRefused] = hopRefused
      this.#d.logger.error(log, 'the broker refused a retry hop; dead-lettering the message instead')
      refusal = await this.#trySend(deadMessage)
      if (!refusal) return [dead, deadMessage]
      decision = dead
      message = deadMessage
    }
    const stub = stubOf(message, refusal)
    const stubDecision: RoutingDecision = { ...decision, stub: stub.headers[H.dlqStub]! }
    this.#d.logger.error(
      { ...log, topic: message.topic, refusal },
      'the DLQ refused a message; writing a stub (headers, coordinates, truncated payload) instead',
    )
    const stubRefusal = await this.#trySend(stub)
    if (!stubRefusal) return [stubDecision, stub]
    this.#d.logger.error({ ...log, refusal: stubRefusal }, 'the DLQ refuses even a stub; the partition stays paused until it accepts one')
    throw new KtaskError(
      'KTASK_INFRASTRUCTURE',
      `The DLQ ${message.topic} refuses messages: ${stubRefusal.type} (${stubRefusal.message})`,
      { refusal: stubRefusal },
    )
  }

  /** Undefined when sent; the refusal when the broker refused it (after creating a missing topic of ours again). */
  async #trySend(message: OutgoingMessage): Promise<Refusal | undefined> {
    for (let recreated = false; ; recreated = true) {
      try {
        await this.#d.producer().send([message])
        return undefined
      } catch (err) {
        const refusal = refusalOf(err)
        if (!refusal) throw err
        if (refusal.reason !== 'unknown-topic' || recreated || !(await this.#d.recreateTopic?.(message.topic))) return refusal
      }
    }
  }
}

/** A stand-in for a message the DLQ cannot take: why, where it came from, and its first bytes. */
function stubOf(message: OutgoingMessage, refusal: Refusal): OutgoingMessage {
  const value = message.value
  return {
    ...message,
    value: value ? value.subarray(0, STUB_PAYLOAD_BYTES) : null,
    headers: {
      ...message.headers,
      [H.dlqStub]: `${refusal.type}: ${refusal.message}`.slice(0, 512),
      [H.payloadBytes]: String(value?.length ?? 0),
    },
  }
}
