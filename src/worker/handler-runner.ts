/**
 * Runs one handler with its context, deadline and abort signal. The outcome tells success, failure,
 * timeout (signal aborted, counts as an attempt) and shutdown (grace period over: not an attempt).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AppRuntime } from '../app/runtime.ts'
import { KtaskError } from '../errors.ts'
import type { Deadlines, RunningHandler } from './deadlines.ts'
import type { ExecItem, ExecutionHooks } from './executor.ts'
import { Context, scopeClient } from './handler-context.ts'

export type HandlerRun =
  | { kind: 'ok'; result: unknown; durationMs: number }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: KtaskError }
  | { kind: 'shutdown' }

export interface HandlerRunnerDeps {
  runtime: AppRuntime
  groupId: string
  logger: Logger
  /** Deadlines of running handlers; aborts them all when the worker's shutdown grace period ends. */
  deadlines: Deadlines
  hooks?: ExecutionHooks
}

export async function runHandler(deps: HandlerRunnerDeps, item: ExecItem, client: pg.ClientBase | undefined): Promise<HandlerRun> {
  const { prepared, message } = item
  const spec = prepared.spec
  const scoped = client ? scopeClient(client) : undefined
  const ctx = new Context({
    message, prepared, group: deps.groupId, tx: scoped?.client,
    noTxReason: deps.runtime.hasDatabase ? `"${spec.name}" was defined with transaction: false` : 'the app has no database',
    logger: deps.logger,
    progress: (fraction, text) => deps.hooks?.progress?.(item, fraction, text),
  })
  deps.hooks?.started?.(item)
  const started = performance.now()
  let stopped: 'timeout' | 'shutdown' | undefined
  let running: RunningHandler | undefined
  try {
    const result = await new Promise<unknown>((resolve, reject) => {
      running = {
        deadline: started + spec.timeoutMs,
        abort: (reason) => {
          stopped = reason
          const error = reason === 'timeout'
            ? new KtaskError('KTASK_TIMEOUT', `Handler exceeded timeoutMs (${spec.timeoutMs} ms)`, { timeoutMs: spec.timeoutMs })
            : new KtaskError('KTASK_STATE', 'worker shutdown grace period ended')
          ctx.abort(error)
          reject(error)
        },
      }
      deps.deadlines.add(running)
      Promise.resolve().then(() => spec.handler(prepared.args, ctx)).then(resolve, reject)
    })
    return { kind: 'ok', result, durationMs: performance.now() - started }
  } catch (error) {
    if (stopped === 'timeout') return { kind: 'timeout', error: error as KtaskError }
    if (stopped === 'shutdown') return { kind: 'shutdown' }
    return { kind: 'error', error }
  } finally {
    if (running) deps.deadlines.delete(running)
    scoped?.end()
  }
}
