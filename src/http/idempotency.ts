/**
 * Enqueue once per Idempotency-Key. The first request claims the key with its task id before producing
 * and marks it done after the broker's ack (or releases it on failure). A request that finds the key
 * pending waits for that outcome instead of answering with an id that may never exist: it replays the
 * finished task, or claims the key itself if the first request failed, or — if the first is still
 * producing after `waitMs` — answers 409 so the client retries.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'
import type { HttpHost } from '../app/http-host.ts'
import { newTaskId } from '../producer/ids.ts'
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  releaseIdempotencyKey,
  releaseStaleIdempotencyKey,
} from '../store/idempotency-keys.ts'

export type IdempotentOutcome =
  | { kind: 'created'; taskId: string }
  | { kind: 'replayed'; taskId: string }
  /** The key was used before with another body. */
  | { kind: 'different-body' }
  /** Another request with the key is still enqueueing. */
  | { kind: 'in-flight' }

export interface IdempotencyOptions {
  /** How long to wait for another request holding the key. */
  waitMs: number
  /** A claim pending this long belongs to a request that died before finishing: it may be taken over. */
  staleMs: number
  pollMs?: number
  /** Told when a produced task could not be marked done (the key stays pending until `staleMs`). */
  onCompleteFailed?: (err: unknown) => void
}

/** Covers event-loop stalls of the holder and the moment between its claim's commit and its enqueue. */
const TAKEOVER_MARGIN_MS = 60_000

/**
 * How old a pending claim must be before another request may take it over (`staleMs`): longer than its
 * holder can still be working — the enqueue's own budget (registry, topic and connection were prepared
 * before the claim) plus the statement marking the key done. Infinity (never taken over; the key is
 * freed when pruned) if either has no bound.
 */
export function takeoverAfterMs(budgets: HttpHost['budgets']): number {
  return budgets.enqueueMs + budgets.statementMs + TAKEOVER_MARGIN_MS
}

export function bodyHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex')
}

export async function enqueueOnce(
  db: pg.Pool,
  key: string,
  taskName: string,
  body: unknown,
  enqueue: (taskId: string) => Promise<unknown>,
  o: IdempotencyOptions,
): Promise<IdempotentOutcome> {
  const hash = bodyHash(body)
  const deadline = Date.now() + o.waitMs
  for (;;) {
    const taskId = newTaskId()
    const claim = await claimIdempotencyKey(db, key, taskName, taskId, hash)
    if (claim.state === 'claimed') {
      try {
        await enqueue(taskId)
      } catch (err) {
        await releaseIdempotencyKey(db, key, taskName, taskId).catch(() => {})
        throw err
      }
      // The task exists now whatever happens here; a key left pending is taken over after staleMs.
      await completeIdempotencyKey(db, key, taskName, taskId).catch((err: unknown) => o.onCompleteFailed?.(err))
      return { kind: 'created', taskId }
    }
    if (!claim.sameBody) return { kind: 'different-body' }
    if (claim.state === 'done') return { kind: 'replayed', taskId: claim.taskId }
    if (claim.ageMs >= o.staleMs) {
      await releaseStaleIdempotencyKey(db, key, taskName, claim.taskId)
      continue
    }
    if (Date.now() >= deadline) return { kind: 'in-flight' }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 50))
  }
}
