/**
 * Blocked-key retries for one route (retry.ordering = 'key'). Before a message runs, its key's queue
 * head is looked up (one query per chunk): a message that is not its key's head is parked behind the
 * head in the head's retry tier, due when the head is. Heads run normally and leave the queue with
 * their effects; a failing head (or a failing message of a blocking task) joins / stays in the queue
 * before its retry hop is produced, and leaves it once dead-lettered.
 *
 * A head whose hop is gone (tier retention, a deleted tier, a group that moved) would hold its key for
 * ever, and in a hot loop: messages parked behind an overdue head come straight back and park again. So
 * a head is dropped as orphaned when its tier is not one this group consumes, or when a message already
 * parked behind it in that same tier finds it overdue again after MAX_REPARKS re-parks: tier partitions
 * run in order, so by then the head's hop would have come by if it still existed. Re-parks behind an
 * overdue head wait REPARK_DELAY_MS, so even that costs a few produces, not one per round trip.
 */
import type { Logger } from 'pino'
import { H, parkedHeaders } from '../retry/headers.ts'
import { deleteKeyEntry, deleteOrphanedHead, keyHeads, upsertKeyEntry, type KeyHead } from '../store/key-queue.ts'
import type { Queryable } from '../store/queryable.ts'
import type { Envelope } from './envelope.ts'
import type { ExecItem } from './execution.ts'
import type { HopProducer, RoutingPlan } from './hop-router.ts'
import { databaseTime } from '../store/database-time.ts'

export interface KeyBlockingDeps {
  groupId: string
  pool(): Queryable
  producer(): HopProducer
  /** The partition a hop to `topic` goes to (the hop router's rule). */
  partitionFor(topic: string, partition: number): number | undefined
  /** The retry tiers this group consumes (a head anywhere else can never come back). */
  tiers: ReadonlySet<string>
  logger: Logger
}

const MAX_REPARKS = 2
const REPARK_DELAY_MS = 1000

/** How many times a message was parked again behind the same head in the same tier. */
function reparksOf(m: Envelope, head: KeyHead): number {
  if (m.topic !== head.topic || m.headers[H.parkedBehind] !== head.messageId) return -1
  const n = Number(m.headers[H.reparks] ?? '0')
  return Number.isInteger(n) && n >= 0 ? n : 0
}

export class KeyBlocking {
  readonly #d: KeyBlockingDeps

  constructor(deps: KeyBlockingDeps) {
    this.#d = deps
  }

  /**
   * Marks the items that head their key's queue (they dequeue on success) and returns the index of the
   * first item that must wait behind another message, with that message's queue head; -1 if none.
   */
  async firstBlocked(items: ExecItem[]): Promise<{ index: number; head?: KeyHead }> {
    const { groupId } = this.#d
    const keyed = items.filter((i) => i.envelope.key !== null)
    const heads = await keyHeads(
      this.#d.pool(),
      groupId,
      keyed.map((i) => i.envelope.key!),
    )
    for (let index = 0; index < items.length; index++) {
      const item = items[index]!
      const key = item.envelope.key
      let head = key ? heads.get(key.toString('latin1')) : undefined
      while (head && head.messageId !== item.prepared.messageId && this.#orphaned(head, item.envelope)) {
        await deleteOrphanedHead(this.#d.pool(), groupId, key!, head)
        this.#d.logger.warn(
          { group: groupId, key: key!.toString('utf8'), head: head.messageId, topic: head.topic, taskId: item.prepared.messageId },
          "a blocked key's head cannot come back (its retry hop is gone); released the key",
        )
        head = (await keyHeads(this.#d.pool(), groupId, [key!])).get(key!.toString('latin1'))
      }
      if (!head) continue
      if (head.messageId !== item.prepared.messageId) return { index, head }
      item.dequeueKey = key!
    }
    return { index: -1 }
  }

  #orphaned(head: KeyHead, m: Envelope): boolean {
    if (!this.#d.tiers.has(head.topic)) return true
    return head.notBefore <= databaseTime.now() && reparksOf(m, head) >= MAX_REPARKS
  }

  /** Parks a message behind its key's head: row first, then the hop (both idempotent). */
  async park(item: ExecItem, head: KeyHead): Promise<void> {
    const m = item.envelope
    const reparks = reparksOf(m, head) + 1
    // Behind an overdue head, wait a little: right away would come straight back (see the file comment).
    const now = databaseTime.now()
    const notBefore = Math.max(head.notBefore, now + (reparks > 0 && head.notBefore <= now ? REPARK_DELAY_MS : 0))
    await upsertKeyEntry(this.#d.pool(), this.#d.groupId, m.key!, item.prepared.messageId, head.topic, notBefore)
    const headers = parkedHeaders(m.headers, {
      group: this.#d.groupId,
      messageId: item.prepared.messageId,
      origin: m.origin,
      headId: head.messageId,
      notBefore,
    })
    if (reparks > 0) headers[H.reparks] = String(reparks)
    else delete headers[H.reparks]
    await this.#d
      .producer()
      .send([{ topic: head.topic, partition: this.#d.partitionFor(head.topic, m.partition), key: m.key, value: m.value, headers }])
  }

  /** Before a plan is sent: failures that block their key are recorded where they will wait. */
  async beforeHops(plan: RoutingPlan): Promise<void> {
    for (let i = 0; i < plan.failures.length; i++) {
      const f = plan.failures[i]!
      const decision = plan.decisions[i]!
      const key = f.envelope.key
      if (decision.kind !== 'retry' || key === null) continue
      const blocks = f.spec?.retry.ordering === 'key' || f.envelope.headers[H.parkedBehind] !== undefined || f.keyHead
      if (blocks) await upsertKeyEntry(this.#d.pool(), this.#d.groupId, key, f.messageId, decision.topic, decision.notBefore)
    }
  }

  /** After a plan was acknowledged: dead-lettered messages leave their key's queue (a no-op if absent). */
  async afterHops(plan: RoutingPlan): Promise<void> {
    for (let i = 0; i < plan.failures.length; i++) {
      const f = plan.failures[i]!
      const key = f.envelope.key
      if (plan.decisions[i]!.kind === 'dead' && key !== null) await deleteKeyEntry(this.#d.pool(), this.#d.groupId, key, f.messageId)
    }
  }
}
