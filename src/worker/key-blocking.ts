/**
 * Blocked-key retries for one route (retry.ordering = 'key'). Before a message runs, its key's queue
 * head is looked up (one query per chunk): a message that is not its key's head is parked behind the
 * head in the head's retry tier, due when the head is. Heads run normally and leave the queue with
 * their effects; a failing head (or a failing message of a blocking task) joins / stays in the queue
 * before its retry hop is produced, and leaves it once dead-lettered.
 */
import type { Route } from '../app/routes.ts'
import type { AppRuntime } from '../app/runtime.ts'
import { H, parkedHeaders } from '../retry/headers.ts'
import type { RetryRouter, RoutingPlan } from '../retry/router.ts'
import { deleteKeyEntry, keyHeads, upsertKeyEntry, type KeyHead } from '../store/key-queue.ts'
import type { ExecItem } from './executor.ts'
import { originOfMessage, type InboundMessage } from './inbound.ts'

export class KeyBlocking {
  readonly #runtime: AppRuntime
  readonly #route: Route
  readonly #router: RetryRouter

  constructor(runtime: AppRuntime, route: Route, router: RetryRouter) {
    this.#runtime = runtime
    this.#route = route
    this.#router = router
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
      const head = key && heads.get(key.toString('latin1'))
      if (!head) continue
      if (head.messageId !== item.prepared.messageId) return { index, head }
      item.dequeueKey = key
      item.message.keyHead = true
    }
    return { index: -1 }
  }

  /** Parks a message behind its key's head: row first, then the hop (both idempotent). */
  async park(item: ExecItem, head: KeyHead): Promise<void> {
    const m = item.message
    const notBefore = Math.max(head.notBefore, Date.now())
    await upsertKeyEntry(this.#runtime.pool(), this.#route.groupId, m.raw.key!, item.prepared.messageId, head.topic, notBefore)
    const headers = parkedHeaders(m.headers, {
      group: this.#route.groupId, messageId: item.prepared.messageId, origin: originOfMessage(m), headId: head.messageId, notBefore,
    })
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
