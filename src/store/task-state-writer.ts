/**
 * Coalesces task state and progress writes: the latest change per task is kept in memory and written in
 * one statement per kind every `intervalMs`, so a handler reporting progress in a tight loop costs one
 * row update per interval, not one per call. A failed flush keeps its changes and tries again later;
 * processing never waits on it (SUCCEEDED is written in the handler's transaction, not here).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import { applyProgress, applyStates, type ProgressUpdate, type TaskStateUpdate } from './task-store.ts'

const PHASE: Record<TaskStateUpdate['state'], number> = { STARTED: 1, RETRYING: 2, FAILED: 2, DEAD: 2 }

/**
 * deadlock_detected, lock_not_available, serialization_failure: a batch that met handler transactions
 * writing the same rows (SUCCEEDED), not an outage. Retried like any failure, but not worth a warning
 * with a stack in a worker's log.
 */
const LOCK_CONFLICTS = new Set(['40P01', '55P03', '40001'])

function newer(a: TaskStateUpdate, b: TaskStateUpdate): boolean {
  if (a.redrives !== b.redrives) return a.redrives > b.redrives
  if (a.attempt !== b.attempt) return a.attempt > b.attempt
  return PHASE[a.state] >= PHASE[b.state]
}

export class TaskStateWriter {
  readonly #pool: () => pg.Pool
  readonly #logger: Logger
  readonly #intervalMs: number
  #states = new Map<string, TaskStateUpdate>()
  #progress = new Map<string, ProgressUpdate>()
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #failures = 0

  constructor(pool: () => pg.Pool, logger: Logger, intervalMs = 200) {
    this.#pool = pool
    this.#logger = logger
    this.#intervalMs = intervalMs
  }

  state(update: TaskStateUpdate): void {
    const current = this.#states.get(update.taskId)
    if (!current || newer(update, current)) this.#states.set(update.taskId, update)
    // Progress of an earlier attempt must not land after the new state.
    if (update.state !== 'STARTED') this.#progress.delete(update.taskId)
    this.#schedule()
  }

  /**
   * Writes a state now (a final one, that must not wait for the next flush); when Postgres refuses,
   * it is queued like `state()` and retried with the rest. Never rejects.
   */
  async stateNow(update: TaskStateUpdate): Promise<void> {
    const pending = this.#states.get(update.taskId)
    if (pending && !newer(pending, update)) this.#states.delete(update.taskId)
    this.#progress.delete(update.taskId)
    try {
      await applyStates(this.#pool(), [update])
    } catch (err) {
      this.#logger.debug({ err, taskId: update.taskId }, 'task state write failed; queued')
      this.state(update)
    }
  }

  progress(update: ProgressUpdate): void {
    this.#progress.set(update.taskId, update)
    this.#schedule()
  }

  #schedule(delay = this.#intervalMs): void {
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.flush()
    }, delay)
    this.#timer.unref()
  }

  /** Writes everything pending now (states first: progress only moves a STARTED task). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined
    })
    return this.#flushing
  }

  async #flush(): Promise<void> {
    const states = this.#states
    const progress = this.#progress
    if (states.size === 0 && progress.size === 0) return
    this.#states = new Map()
    this.#progress = new Map()
    try {
      const pool = this.#pool()
      const all = [...states.values()]
      // Final states queued after a failed write must land; the rest (STARTED, RETRYING) never wait on a
      // handler's transaction (see applyStates).
      await applyStates(
        pool,
        all.filter((u) => u.state === 'FAILED' || u.state === 'DEAD'),
      )
      await applyStates(
        pool,
        all.filter((u) => u.state !== 'FAILED' && u.state !== 'DEAD'),
        { skipLocked: true },
      )
      await applyProgress(pool, [...progress.values()])
      this.#failures = 0
    } catch (err) {
      // Put them back unless something newer arrived meanwhile, and try again with backoff.
      for (const [id, u] of states) {
        const now = this.#states.get(id)
        if (!now || newer(u, now)) this.#states.set(id, u)
      }
      for (const [id, u] of progress) if (!this.#progress.has(id)) this.#progress.set(id, u)
      this.#failures++
      const conflict = LOCK_CONFLICTS.has((err as { code?: unknown }).code as string)
      this.#logger[this.#failures === 1 && !conflict ? 'warn' : 'debug'](
        { err, pending: this.#states.size },
        'task state write failed; will retry',
      )
      this.#schedule(Math.min(30_000, this.#intervalMs * 2 ** this.#failures))
    }
  }

  /** Flushes what is pending (one attempt) and stops the timer. */
  async close(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.flush()
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
