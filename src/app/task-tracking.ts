/**
 * Task-state tracking (track: true): the executor and lanes report through these hooks. STARTED and
 * RETRYING go through the coalescing writer; FAILED and DEAD are written before the offset is marked
 * done; SUCCEEDED is written in the handler's transaction, so a task is SUCCEEDED exactly when its
 * effects committed (without a transaction: right after the handler, before the offset is done).
 */
import { KtaskError, readableThrown } from '../errors.ts'
import { refusedByHandler, type RoutingDecision } from '../retry/classify.ts'
import { H, intHeader } from '../retry/headers.ts'
import { markSucceeded, type TaskErrorSummary, type TaskStateUpdate } from '../store/task-store.ts'
import type { TaskStateWriter } from '../store/task-state-writer.ts'
import type { Envelope } from '../worker/envelope.ts'
import type { ExecItem, ExecutionHooks, RoutedMessage } from '../worker/execution.ts'

function redrives(headers: Readonly<Record<string, string>>): number {
  const n = intHeader(headers, H.redriveCount)
  return n === undefined || Number.isNaN(n) ? 0 : n
}

function resultJson(result: unknown): string | null {
  if (result === undefined) return null
  try {
    return JSON.stringify(result) ?? null
  } catch {
    // A result that cannot be stored must not fail a task whose effects are fine.
    return JSON.stringify({ unserializable: Object.prototype.toString.call(result) })
  }
}

function summary(f: RoutedMessage): TaskErrorSummary {
  const e = readableThrown(f.error)
  let text: string
  try {
    text = e instanceof Error ? String(e.message) : typeof e === 'object' && e !== null ? JSON.stringify(e) : String(e)
  } catch {
    text = typeof e
  }
  return {
    class: e instanceof Error ? String(e.name) : typeof e,
    message: text.slice(0, 1000),
    stage: f.stage,
    attempt: f.envelope.attempt,
  }
}

export function taskTrackingHooks(writer: TaskStateWriter): ExecutionHooks {
  // When each running message's handler started: every outcome records it, since the STARTED write is
  // coalesced and a quick task's outcome overtakes it.
  const startedAt = new WeakMap<Envelope, number>()
  const base = (item: ExecItem): Pick<TaskStateUpdate, 'taskId' | 'name' | 'queue' | 'attempt' | 'redrives' | 'startedAt'> => ({
    taskId: item.prepared.messageId,
    name: item.prepared.spec.name,
    queue: item.prepared.spec.queue ?? '',
    attempt: item.envelope.attempt,
    redrives: redrives(item.envelope.headers),
    startedAt: startedAt.get(item.envelope),
  })
  return {
    started(item) {
      if (!item.prepared.spec.track) return
      startedAt.set(item.envelope, Date.now())
      writer.state({ ...base(item), state: 'STARTED' })
    },
    succeeded(db, item, result) {
      if (!item.prepared.spec.track) return
      return markSucceeded(db, { ...base(item), resultJson: resultJson(result) })
    },
    progress(item, fraction, message) {
      if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
        throw new KtaskError(
          'KTASK_VALIDATION',
          `ctx.progress(fraction): fraction must be a number from 0 to 1 (got ${String(fraction)})`,
          { field: 'fraction' },
        )
      }
      if (!item.prepared.spec.track) return
      writer.progress({ taskId: item.prepared.messageId, progress: fraction, message: message ?? null, attempt: item.envelope.attempt })
    },
    async routed(f: RoutedMessage, decision: RoutingDecision) {
      if (!f.spec?.track) return
      const m = f.envelope
      const update: TaskStateUpdate = {
        taskId: f.messageId,
        name: f.spec.name,
        queue: f.spec.queue ?? '',
        attempt: m.attempt,
        redrives: redrives(m.headers),
        // FAILED: refused at once (unrecoverable or not retryable); DEAD: attempts used up, or undecodable.
        state: decision.kind === 'retry' ? 'RETRYING' : refusedByHandler(decision.reason) ? 'FAILED' : 'DEAD',
        error: summary(f),
        startedAt: startedAt.get(m),
      }
      // RETRYING is followed by the next attempt's own writes: coalesce it. A final state must not be lost
      // to a crash right after the offset commit, so it is written before the offset is marked done
      // (falling back to the coalescing writer, which retries, when Postgres is unavailable).
      if (update.state === 'RETRYING') return writer.state(update)
      await writer.stateNow(update)
    },
  }
}
