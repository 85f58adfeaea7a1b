/**
 * Runs handlers and makes their effects exactly-once. For a chunk of messages of one partition:
 *
 *   BEGIN
 *     per message: SAVEPOINT · INSERT ledger row (conflict = duplicate: skip) · handler(args, ctx.tx)
 *                  success → RELEASE · failure → ROLLBACK TO SAVEPOINT (effects and ledger row undone)
 *   COMMIT
 *
 * One transaction (one fsync) covers many messages, and a failing handler costs no re-run of the others.
 * A timeout (or the shutdown grace running out) destroys the connection — the handler may still be using
 * it — which rolls the whole chunk back: those messages get no outcome and the lane runs them again.
 * Any infrastructure failure returns no outcomes at all plus `infra`: nothing is marked done.
 */
import type { Logger } from 'pino'
import type pg from 'pg'
import type { AppRuntime } from '../app/runtime.ts'
import { KtaskError, isKtaskError } from '../errors.ts'
import type { FailedMessage, RoutingDecision } from '../retry/router.ts'
import { insertInboxRow } from '../store/inbox.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { isPostgresUnavailable } from '../store/pool.ts'
import { createHandlerContext, scopeClient } from './handler-context.ts'
import type { InboundMessage, PreparedOk } from './inbound.ts'

export interface ExecItem {
  message: InboundMessage
  prepared: PreparedOk
  /** The message heads its key's blocked queue: its row is removed with its effects. */
  dequeueKey?: Buffer
}

export type ExecOutcome =
  | { type: 'succeeded'; result: unknown; durationMs: number }
  | { type: 'duplicate' }
  | { type: 'failed'; stage: 'handler' | 'timeout'; error: unknown }

export interface ChunkResult {
  /** One entry per item; undefined = not applied (rolled back or not reached): run it again. */
  outcomes: (ExecOutcome | undefined)[]
  /** Set when the chunk stopped because Postgres (or another dependency) is unavailable. */
  infra?: unknown
}

/** Hooks for task-state tracking; the in-transaction one commits with the effects. */
export interface ExecutionHooks {
  started?(item: ExecItem): void
  succeededInTx?(client: pg.ClientBase, item: ExecItem, result: unknown): Promise<void>
  progress?(item: ExecItem, fraction: number, message?: string): void
  /** A failed message's retry or DLQ hop was acknowledged. */
  routed?(message: InboundMessage, failure: FailedMessage, decision: RoutingDecision): void
}

type HandlerRun =
  | { kind: 'ok'; result: unknown; durationMs: number }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout'; error: KtaskError }
  | { kind: 'shutdown' }

export interface ExecutorDeps {
  runtime: AppRuntime
  groupId: string
  logger: Logger
  /** Aborted when the worker's shutdown grace period ends: running handlers are told to give up. */
  shutdownSignal: AbortSignal
  hooks?: ExecutionHooks
}

const SAVEPOINT = 'ktask_message'

/** The error is about the database being reachable, not about this message. */
function isInfrastructure(err: unknown): boolean {
  return isPostgresUnavailable(err) || isKtaskError(err, 'KTASK_INFRASTRUCTURE')
}

export class Executor {
  readonly #deps: ExecutorDeps

  constructor(deps: ExecutorDeps) {
    this.#deps = deps
  }

  /** Runs items that all share the same `transaction` setting (the lane builds chunks that way). */
  async run(items: ExecItem[]): Promise<ChunkResult> {
    if (!items[0]!.prepared.spec.transaction) return this.#runWithoutTransaction(items[0]!)
    return this.#runInTransaction(items)
  }

  async #runWithoutTransaction(item: ExecItem): Promise<ChunkResult> {
    const run = await this.#runHandler(item, undefined)
    switch (run.kind) {
      case 'ok':
        if (item.dequeueKey) {
          // No transaction to share: the row goes right after (a crash in between re-runs the handler).
          try {
            await deleteKeyEntry(this.#deps.runtime.pool(), this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
          } catch (err) {
            return { outcomes: [undefined], infra: err }
          }
        }
        return { outcomes: [{ type: 'succeeded', result: run.result, durationMs: run.durationMs }] }
      case 'timeout':
        return { outcomes: [{ type: 'failed', stage: 'timeout', error: run.error }] }
      case 'shutdown':
        return { outcomes: [undefined] }
      case 'error':
        return isInfrastructure(run.error) ? { outcomes: [undefined], infra: run.error } : { outcomes: [{ type: 'failed', stage: 'handler', error: run.error }] }
    }
  }

  async #runInTransaction(items: ExecItem[]): Promise<ChunkResult> {
    const outcomes: (ExecOutcome | undefined)[] = new Array<ExecOutcome | undefined>(items.length).fill(undefined)
    let client: pg.PoolClient
    try {
      client = await this.#deps.runtime.pool().connect()
    } catch (err) {
      return { outcomes, infra: err }
    }
    // A checked-out client whose server goes away between queries (say, while a handler awaits something
    // else) emits 'error'; unheard, that event would kill the process. The next query fails anyway.
    let connectionLost: Error | undefined
    const onClientError = (err: Error): void => {
      connectionLost = err
    }
    client.on('error', onClientError)
    const useSavepoints = items.length > 1
    let discard: Error | undefined
    try {
      await client.query('BEGIN')
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!
        if (useSavepoints) await client.query(`SAVEPOINT ${SAVEPOINT}`)
        if (item.prepared.spec.ledger && !(await insertInboxRow(client, this.#deps.groupId, item.prepared.messageId))) {
          outcomes[i] = { type: 'duplicate' }
          if (item.dequeueKey) await deleteKeyEntry(client, this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
          if (useSavepoints) await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)
          continue
        }
        const run = await this.#runHandler(item, client)
        if (run.kind === 'timeout' || run.kind === 'shutdown') {
          // The handler may still be running queries on this connection: destroy it (rolls back everything).
          discard = new Error(`handler ${run.kind}`)
          outcomes.fill(undefined)
          if (run.kind === 'timeout') outcomes[i] = { type: 'failed', stage: 'timeout', error: run.error }
          return { outcomes }
        }
        if (run.kind === 'error') {
          if (isInfrastructure(run.error)) throw run.error
          if (!useSavepoints) {
            await client.query('ROLLBACK')
            return { outcomes: [{ type: 'failed', stage: 'handler', error: run.error }] }
          }
          await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
          await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)
          outcomes[i] = { type: 'failed', stage: 'handler', error: run.error }
          continue
        }
        const failure = await this.#finishSuccess(client, item, run.result, useSavepoints)
        outcomes[i] = failure ?? { type: 'succeeded', result: run.result, durationMs: run.durationMs }
        if (failure && !useSavepoints) return { outcomes }
      }
      const commit = await client.query('COMMIT')
      // COMMIT of an aborted transaction "succeeds" as ROLLBACK: then nothing was applied.
      if (commit.command === 'ROLLBACK') {
        this.#deps.logger.warn({ group: this.#deps.groupId }, 'ktask: transaction was rolled back at COMMIT; running the chunk again')
        return { outcomes: outcomes.map(() => undefined) }
      }
      return { outcomes }
    } catch (err) {
      discard = err instanceof Error ? err : new Error(String(err))
      if (!isInfrastructure(err)) {
        this.#deps.logger.error({ err, group: this.#deps.groupId }, 'ktask: transaction failed outside any handler (schema missing? permissions?)')
      }
      return { outcomes: outcomes.map(() => undefined), infra: err }
    } finally {
      client.off('error', onClientError)
      // release(err) destroys the connection instead of returning it to the pool.
      client.release(discard ?? connectionLost)
    }
  }

  /**
   * After a handler returned: task-state write, then RELEASE. A handler that swallowed a failed SQL
   * statement left the transaction aborted — its effects cannot commit, so it counts as a failure.
   */
  async #finishSuccess(client: pg.PoolClient, item: ExecItem, result: unknown, useSavepoints: boolean): Promise<ExecOutcome | undefined> {
    try {
      await this.#deps.hooks?.succeededInTx?.(client, item, result)
      if (item.dequeueKey) await deleteKeyEntry(client, this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
      if (useSavepoints) await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)
      return undefined
    } catch (err) {
      if (isInfrastructure(err)) throw err
      const error = new KtaskError('KTASK_VALIDATION',
        `The handler returned, but its transaction is unusable: ${(err as Error).message} (did it catch a failed SQL statement?)`, { cause: err })
      if (useSavepoints) {
        await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
        await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)
      } else {
        await client.query('ROLLBACK')
      }
      return { type: 'failed', stage: 'handler', error }
    }
  }

  async #runHandler(item: ExecItem, client: pg.ClientBase | undefined): Promise<HandlerRun> {
    const { prepared, message } = item
    const spec = prepared.spec
    const controller = new AbortController()
    const timeoutError = new KtaskError('KTASK_TIMEOUT', `Handler exceeded timeoutMs (${spec.timeoutMs} ms)`, { timeoutMs: spec.timeoutMs })
    const timer = setTimeout(() => controller.abort(timeoutError), spec.timeoutMs)
    const shutdown = this.#deps.shutdownSignal
    const onShutdown = (): void => controller.abort(shutdown.reason)
    if (shutdown.aborted) onShutdown()
    else shutdown.addEventListener('abort', onShutdown, { once: true })

    const scoped = client ? scopeClient(client) : undefined
    const ctx = createHandlerContext({
      message, prepared, group: this.#deps.groupId, signal: controller.signal, tx: scoped?.client,
      noTxReason: this.#deps.runtime.hasDatabase ? `"${spec.name}" was defined with transaction: false` : 'the app has no database',
      logger: this.#deps.logger,
      progress: (fraction, text) => this.#deps.hooks?.progress?.(item, fraction, text),
    })
    this.#deps.hooks?.started?.(item)
    const started = performance.now()
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true })
    })
    aborted.catch(() => {})
    try {
      const result = await Promise.race([Promise.resolve().then(() => spec.handler(prepared.args, ctx)), aborted])
      return { kind: 'ok', result, durationMs: performance.now() - started }
    } catch (error) {
      if (controller.signal.aborted) return controller.signal.reason === timeoutError ? { kind: 'timeout', error: timeoutError } : { kind: 'shutdown' }
      return { kind: 'error', error }
    } finally {
      clearTimeout(timer)
      shutdown.removeEventListener('abort', onShutdown)
      scoped?.end()
    }
  }
}
