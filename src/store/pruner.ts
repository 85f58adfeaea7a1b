/**
 * Keeps ktask's tables bounded: every worker and `ktask serve` runs one, every `intervalMs` (spread out
 * so processes do not all prune at once), in small batches that never hold up processing.
 *
 * - inbox (ledger) and dead_letters: older than `ledger.retentionDays`
 * - tasks (finished) and idempotency_keys: older than `taskRetentionDays`
 *   (inbox and tasks are partitioned by day: whole days are dropped, days ahead created; partitions.ts)
 * - key_queue: heads due longer ago than `ledger.retentionDays` (they will never come back)
 * - redrives: of DLQ messages that no longer exist (see redrives.ts)
 * - flows (finished) and webhook targets (of what can no longer end): older than `taskRetentionDays`
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import { pruneDeadLetters } from './dead-letters.ts'
import { pruneFlows } from './flow-status.ts'
import { pruneNotifyTargets } from './notify-targets.ts'
import { pruneIdempotencyKeys } from './idempotency-keys.ts'
import { pruneInbox } from './inbox.ts'
import { pruneKeyQueue } from './key-queue.ts'
import { pruneRedrives } from './redrives.ts'
import { pruneTasks } from './task-store.ts'

export interface PrunerDeps {
  pool(): pg.Pool
  /** Applies migrations first when the app does (tables must exist). */
  ready(): Promise<void>
  /** Low watermark per partition of a topic; undefined when it does not exist. */
  lowWatermarks(topic: string): Promise<Map<number, number> | undefined>
  ledgerRetentionDays: number
  taskRetentionDays: number
  intervalMs: number
  logger: Logger
}

export type PruneCounts = Record<
  'inbox' | 'deadLetters' | 'tasks' | 'idempotencyKeys' | 'keyQueue' | 'flows' | 'notifyTargets' | 'redrives',
  number
>

export class Pruner {
  readonly #d: PrunerDeps
  readonly #stop = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined

  constructor(deps: PrunerDeps) {
    this.#d = deps
  }

  start(): void {
    if (this.#timer) return
    const run = (): void => {
      if (this.#running) return
      this.#running = this.pruneOnce()
        .catch((err: unknown) => this.#d.logger.warn({ err }, 'pruning failed; will try again'))
        .finally(() => (this.#running = undefined))
    }
    this.#timer = setInterval(run, this.#d.intervalMs * (0.9 + Math.random() * 0.2))
    this.#timer.unref()
  }

  /** Stops the timer and a pruning in progress (between batches). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#stop.abort()
    await this.#running
  }

  async pruneOnce(): Promise<PruneCounts> {
    const d = this.#d
    await d.ready()
    const pool = d.pool()
    const inbox = await pruneInbox(pool, d.ledgerRetentionDays, { signal: this.#stop.signal })
    const counts: PruneCounts = {
      inbox: inbox.deleted + inbox.droppedRows,
      deadLetters: await pruneDeadLetters(pool, d.ledgerRetentionDays),
      tasks: await pruneTasks(pool, d.taskRetentionDays),
      idempotencyKeys: await pruneIdempotencyKeys(pool, d.taskRetentionDays),
      keyQueue: await pruneKeyQueue(pool, d.ledgerRetentionDays),
      flows: await pruneFlows(pool, d.taskRetentionDays),
      notifyTargets: await pruneNotifyTargets(pool, d.taskRetentionDays),
      redrives: await pruneRedrives(pool, (topic) => d.lowWatermarks(topic)),
    }
    if (Object.values(counts).some((n) => n > 0)) d.logger.info({ pruned: counts }, 'expired rows pruned')
    return counts
  }
}
