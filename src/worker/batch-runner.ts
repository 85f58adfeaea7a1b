/**
 * Runs a batch handler once over the messages of a chunk that are not duplicates: one `ctx` (with the
 * chunk's transaction), one deadline (`timeoutMs` of the task, for the whole batch), one span. Like
 * handler-runner.ts for single handlers, the outcome tells success (with a verdict per item), failure,
 * timeout and shutdown. `handle` middleware is not applied: it is written for one message at a time.
 */
import { context as otelContext } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { BatchContext, BatchItem } from '../config/definitions.ts'
import { KtaskError, readableThrown } from '../errors.ts'
import { endConsumerSpan, startConsumerSpan } from '../observability/tracing.ts'
import { FailMarks, batchVerdicts, type ItemVerdict } from './batch-outcomes.ts'
import type { RunningHandler } from './deadlines.ts'
import type { ExecItem } from './execution.ts'
import type { ScopedClient } from './handler-context.ts'
import type { HandlerRunnerDeps } from './handler-runner.ts'

export type BatchRun =
  /** `txQueryFailed`: a ctx.tx query failed and the handler returned anyway (it caught the error). */
  | { kind: 'ok'; verdicts: ItemVerdict[]; durationMs: number; txQueryFailed: boolean }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: KtaskError }
  | { kind: 'shutdown' }

/** What the handler sees of one message (no getters: an item is a plain, frozen value). */
export function batchItemOf(item: ExecItem): BatchItem {
  const { envelope, prepared } = item
  return Object.freeze({
    payload: prepared.args,
    taskId: prepared.messageId,
    idempotencyKey: prepared.messageId,
    attempt: envelope.attempt,
    headers: envelope.headers,
    topic: envelope.topic,
    partition: envelope.partition,
    offset: envelope.offset,
    key: envelope.key === null ? null : envelope.key.toString('utf8'),
    timestamp: Number(envelope.timestamp),
  })
}

/** Runs `spec.batchHandler` of `items` (all of one spec, none a duplicate) on `scoped`, their transaction. */
export async function runBatchHandler(deps: HandlerRunnerDeps, items: readonly ExecItem[], scoped: ScopedClient): Promise<BatchRun> {
  const first = items[0]!
  const spec = first.prepared.spec
  const traced = startConsumerSpan({
    topic: first.envelope.topic,
    partition: first.envelope.partition,
    offset: first.envelope.offset,
    group: deps.groupId,
    messageId: first.prepared.messageId,
    task: spec.name,
    attempt: first.envelope.attempt,
    headers: first.envelope.headers,
  })
  traced.span.setAttribute('messaging.batch.message_count', items.length)
  const batch = items.map(batchItemOf)
  const marks = new FailMarks(batch)
  const controller = new AbortController()
  let log: Logger | undefined
  const ctx: BatchContext = {
    tx: scoped.client,
    signal: controller.signal,
    get log() {
      log ??= deps.logger.child({
        group: deps.groupId,
        topic: first.envelope.topic,
        partition: first.envelope.partition,
        task: spec.name,
        offsets: `${first.envelope.offset}-${items.at(-1)!.envelope.offset}`,
        batch: items.length,
      })
      return log
    },
    span: traced.span,
    fail: (item, error) => marks.mark(item, error),
  }
  for (const item of items) deps.hooks?.started?.(item)
  const started = performance.now()
  let stopped: 'timeout' | 'shutdown' | undefined
  let running: RunningHandler | undefined
  let run: BatchRun
  try {
    const returned = await new Promise<unknown>((resolve, reject) => {
      running = {
        deadline: started + spec.timeoutMs,
        abort: (reason) => {
          stopped = reason
          const error =
            reason === 'timeout'
              ? new KtaskError('KTASK_TIMEOUT', `Batch handler exceeded timeoutMs (${spec.timeoutMs} ms)`, { timeoutMs: spec.timeoutMs })
              : new KtaskError('KTASK_STATE', 'worker shutdown grace period ended')
          controller.abort(error)
          reject(error)
        },
      }
      deps.deadlines.add(running)
      Promise.resolve(otelContext.with(traced.context, () => spec.batchHandler!(batch, ctx))).then(resolve, reject)
    })
    const verdicts = batchVerdicts(batch, marks.close(), returned)
    run = { kind: 'ok', verdicts, durationMs: performance.now() - started, txQueryFailed: scoped.failed }
  } catch (error) {
    if (stopped === 'timeout') run = { kind: 'timeout', error: error as KtaskError }
    else if (stopped === 'shutdown') run = { kind: 'shutdown' }
    else run = { kind: 'error', error: readableThrown(error) }
  } finally {
    if (running) deps.deadlines.delete(running)
    marks.close()
    scoped.end()
  }
  endConsumerSpan(traced.span, run.kind === 'ok' || run.kind === 'shutdown' ? undefined : run.error)
  return run
}
