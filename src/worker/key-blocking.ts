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
import type { Route } from '../routing/routes.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { H, parkedHeaders } from '../retry/headers.ts'
import type { RetryRouter, RoutingPlan } from '../retry/router.ts'
import { deleteKeyEntry, deleteOrphanedHead, keyHeads, upsertKeyEntry, type KeyHead } from '../store/key-queue.ts'
import type { ExecItem } from './executor.ts'
import { originOfMessage, type InboundMessage } from './inbound.ts'

const MAX_REPARKS = 2
const REPARK_DELAY_MS = 1000

/** How many times a message was parked again behind the same head in the same tier. */
function reparksOf(m: InboundMessage, head: KeyHead): number {
  if (m.topic !== head.topic || m.headers[H.parkedBehind] !== head.messageId) return -1
  const n = Number(m.headers[H.reparks] ?? '0')
  return Number.isInteger(n) && n >= 0 ? n : 0
}

export class KeyBlocking {
  readonly #runtime: AppRuntime
  readonly #route: Route
  readonly #router: RetryRouter
  readonly #tiers: ReadonlySet<string>

  /** @param tiers the retry tiers this group consumes (a head anywhere else can never come back) */
  constructor(runtime: AppRuntime, route: Route, router: RetryRouter, tiers: ReadonlySet<string>) {
    this.#runtime = runtime
    this.#route = route
    this.#router = router
    this.#tiers = tiers
  }

  /**
   * Marks the items that head their key's queue (they dequeue on success) and returns the index of the
   * first item that must wait behind another message, with that message's queue head; -1 if none.
   */
  async firstBlocked(items: ExecItem[]): Promise<{ index: number; head?: KeyHead }> {
    const keyed = items.filter((i) => i.message.raw.key !== null)
    const heads = await keyHeads(this.#runtime.pool(), this.#route.groupId, keyed.map((i) => i.message.raw.key!))
    for (let index = 0; index < items.length; index++) {
      const item = items[index]!
      const key = item.message.raw.key
      let head = key ? heads.get(key.toString('latin1')) : undefined
      while (head && head.messageId !== item.prepared.messageId && this.#orphaned(head, item.message)) {
        await deleteOrphanedHead(this.#runtime.pool(), this.#route.groupId, key!, head)
        this.#runtime.logger.warn({ group: this.#route.groupId, key: key!.toString('utf8'), head: head.messageId, topic: head.topic, taskId: item.prepared.messageId },
          "ktask: a blocked key's head cannot come back (its retry hop is gone); released the key")
        head = (await keyHeads(this.#runtime.pool(), this.#route.groupId, [key!])).get(key!.toString('latin1'))
      }
      if (!head) continue
      if (head.messageId !== item.prepared.messageId) return { index, head }
      item.dequeueKey = key!
      item.message.keyHead = true
    }
    return { index: -1 }
  }

  #orphaned(head: KeyHead, m: InboundMessage): boolean {
    if (!this.#tiers.has(head.topic)) return true
    return head.notBefore <= Date.now() && reparksOf(m, head) >= MAX_REPARKS
  }

  /** Parks a message behind its key's head: row first, then the hop (both idempotent). */
  async park(item: ExecItem, head: KeyHead): Promise<void> {
    const m = item.message
    const reparks = reparksOf(m, head) + 1
    // Behind an overdue head, wait a little: right away would come straight back (see the file comment).
    const notBefore = Math.max(head.notBefore, Date.now() + (reparks > 0 && head.notBefore <= Date.now() ? REPARK_DELAY_MS : 0))
    await upsertKeyEntry(this.#runtime.pool(), this.#route.groupId, m.raw.key!, item.prepared.messageId, head.topic, notBefore)
    const headers = parkedHeaders(m.headers, {
      group: this.#route.groupId, messageId: item.prepared.messageId, origin: originOfMessage(m), headId: head.messageId, notBefore,
    })
    if (reparks > 0) headers[H.reparks] = String(reparks)
    else delete headers[H.reparks]
    await this.#runtime.producer().send([{ topic: head.topic, partition: this.#router.partitionFor(head.topic, m.partition), key: m.raw.key, value: m.raw.value, headers }])
  }

  /** Before a plan is sent: failures that block their key are recorded where they will wait. */
  async beforeHops(plan: RoutingPlan, messages: InboundMessage[]): Promise<void> {
    for (let i = 0; i < plan.failures.length; i++) {
      const f = plan.failures[i]!
      const decision = plan.decisions[i]!
      if (decision.kind !== 'retry' || f.key === null) continue
      const blocks = f.spec?.retry.ordering === 'key' || messages[i]!.headers[H.parkedBehind] !== undefined || messages[i]!.keyHead === true
      if (blocks) await upsertKeyEntry(this.#runtime.pool(), this.#route.groupId, f.key, f.messageId, decision.topic, decision.notBefore)
    }
  }

  /** After a plan was acknowledged: dead-lettered messages leave their key's queue (a no-op if absent). */
  async afterHops(plan: RoutingPlan): Promise<void> {
    for (let i = 0; i < plan.failures.length; i++) {
      const f = plan.failures[i]!
      if (plan.decisions[i]!.kind === 'dead' && f.key !== null) await deleteKeyEntry(this.#runtime.pool(), this.#route.groupId, f.key, f.messageId)
    }
  }
}
