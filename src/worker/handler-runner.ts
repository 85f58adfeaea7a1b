/**
 * Runs one handler with its context, timeout and abort signal. The outcome tells success, failure,
 * timeout (signal aborted, counts as an attempt) and shutdown (grace period over: not an attempt).
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AppRuntime } from '../app/runtime.ts'
import { KtaskError } from '../errors.ts'
import type { ExecItem, ExecutionHooks } from './executor.ts'
import { createHandlerContext, scopeClient } from './handler-context.ts'

export type HandlerRun =
  | { kind: 'ok'; result: unknown; durationMs: number }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: KtaskError }
  | { kind: 'shutdown' }

export interface HandlerRunnerDeps {
  runtime: AppRuntime
  groupId: string
  logger: Logger
  shutdownSignal: AbortSignal
  hooks?: ExecutionHooks
}

export async function runHandler(deps: HandlerRunnerDeps, item: ExecItem, client: pg.ClientBase | undefined): Promise<HandlerRun> {
  const { prepared, message } = item
  const spec = prepared.spec
  const controller = new AbortController()
  // Built only when the timer fires: an error (and its stack trace) per message would be measurable.
  let timeoutError: KtaskError | undefined
  const timer = setTimeout(() => {
    timeoutError = new KtaskError('KTASK_TIMEOUT', `Handler exceeded timeoutMs (${spec.timeoutMs} ms)`, { timeoutMs: spec.timeoutMs })
    controller.abort(timeoutError)
  }, spec.timeoutMs)
  const shutdown = deps.shutdownSignal
  const onShutdown = (): void => controller.abort(shutdown.reason)
  if (shutdown.aborted) onShutdown()
  else shutdown.addEventListener('abort', onShutdown, { once: true })

  const scoped = client ? scopeClient(client) : undefined
  const ctx = createHandlerContext({
    message, prepared, group: deps.groupId, signal: controller.signal, tx: scoped?.client,
    noTxReason: deps.runtime.hasDatabase ? `"${spec.name}" was defined with transaction: false` : 'the app has no database',
    logger: deps.logger,
    progress: (fraction, text) => deps.hooks?.progress?.(item, fraction, text),
  })
  deps.hooks?.started?.(item)
  const started = performance.now()
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true })
  })
  aborted.catch(() => {})
  try {
    const result = await Promise.race([Promise.resolve().then(() => spec.handler(prepared.args, ctx)), aborted])
    return { kind: 'ok', result, durationMs: performance.now() - started }
  } catch (error) {
    if (controller.signal.aborted) return timeoutError ? { kind: 'timeout', error: timeoutError } : { kind: 'shutdown' }
    return { kind: 'error', error }
  } finally {
    clearTimeout(timer)
    shutdown.removeEventListener('abort', onShutdown)
    scoped?.end()
  }
}
