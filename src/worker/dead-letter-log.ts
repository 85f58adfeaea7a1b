/**
 * One DLQ record per message. Each dead-letter hop is recorded in Postgres before it is produced
 * (pending, with the DLQ's end offsets at that moment) and marked done after the broker's ack. Before
 * producing a hop, the record is checked: done means the message is in the DLQ already (a worker died
 * between the ack and its offset commit, or the routing was retried after a Postgres blip) — not sent
 * again; pending means the last attempt may or may not have reached the broker, so the DLQ is read from
 * the recorded offsets for the copy, and the hop is produced only when none is there.
 *
 * Why not the idempotent producer: it only drops retries of one producer session; a restarted worker is
 * a new session. Redriven messages that die again are new records (`redrives` is part of the key).
 */
import type { Logger } from 'pino'
import { claimDeadLetter, markDeadLettersDone, reoffsetDeadLetter, type DeadLetterKey } from '../store/dead-letters.ts'
import type { Queryable } from '../store/queryable.ts'
import { H, intHeader } from '../retry/headers.ts'
import type { RoutingPlan } from './hop-router.ts'

export interface DeadLetterLogDeps {
  groupId: string
  pool(): Queryable
  /** The end offset of every partition of `topic`. */
  endOffsets(topic: string): Promise<Record<string, number>>
  /** Whether `topic` holds a message matching `matches` at or after `from` (per partition; absent = from the start). */
  findCopy(topic: string, from: Record<string, number>, matches: (headers: Record<string, string>) => boolean): Promise<boolean>
  logger: Logger
}

function redrivesOf(headers: Readonly<Record<string, string>>): number {
  const n = intHeader(headers, H.redriveCount)
  return n === undefined || Number.isNaN(n) ? 0 : n
}

export class DeadLetterLog {
  readonly #d: DeadLetterLogDeps

  constructor(deps: DeadLetterLogDeps) {
    this.#d = deps
  }

  /** Records the plan's dead-letter hops; returns the indices whose message is in the DLQ already. */
  async claim(plan: RoutingPlan): Promise<Set<number>> {
    const already = new Set<number>()
    const ends = new Map<string, Record<string, number>>()
    for (let i = 0; i < plan.decisions.length; i++) {
      const decision = plan.decisions[i]!
      if (decision.kind !== 'dead') continue
      const f = plan.failures[i]!
      const key: DeadLetterKey = { groupId: this.#d.groupId, messageId: f.messageId, redrives: redrivesOf(f.envelope.headers) }
      let offsets = ends.get(decision.topic)
      if (!offsets) ends.set(decision.topic, (offsets = await this.#d.endOffsets(decision.topic)))
      const existing = await claimDeadLetter(this.#d.pool(), { ...key, dlqTopic: decision.topic, dlqOffsets: offsets })
      if (!existing) continue
      if (existing.state === 'pending') {
        const found = await this.#d.findCopy(
          existing.dlqTopic,
          existing.dlqOffsets,
          (h) => h[H.id] === key.messageId && h[H.group] === key.groupId && redrivesOf(h) === key.redrives,
        )
        if (!found) {
          await reoffsetDeadLetter(this.#d.pool(), key, offsets)
          continue
        }
        await markDeadLettersDone(this.#d.pool(), key.groupId, [key])
      }
      this.#d.logger.info(
        { group: key.groupId, taskId: key.messageId, dlq: existing.dlqTopic },
        'message already dead-lettered; not sent to the DLQ again',
      )
      already.add(i)
    }
    return already
  }

  /** The broker acknowledged the plan: its dead-letter hops are done. */
  async confirm(plan: RoutingPlan, already: ReadonlySet<number>): Promise<void> {
    const keys: Omit<DeadLetterKey, 'groupId'>[] = []
    plan.decisions.forEach((d, i) => {
      if (d.kind === 'dead' && !already.has(i))
        keys.push({ messageId: plan.failures[i]!.messageId, redrives: redrivesOf(plan.failures[i]!.envelope.headers) })
    })
    await markDeadLettersDone(this.#d.pool(), this.#d.groupId, keys)
  }
}
