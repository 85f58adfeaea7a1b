/**
 * A batch handler's chunk inside its chunk transaction (transaction-chunk.ts): the duplicates are settled
 * first, each under its own savepoint as single messages are, and never reach the handler; then the
 * handler runs once over the rest, under one savepoint of its own.
 *
 * - It returns: the items it failed (`ctx.fail`, or `{ error }` in its returned Map) lose their ledger
 *   rows and retry or dead-letter on their own; their effects, if it wrote any, stay (it writes effects
 *   only for the items it does not fail — nothing else can tell one item's rows of a multi-row statement
 *   from another's). The others commit with their ledger rows and are never run again.
 * - It throws, times out, or spoils the transaction (a failed statement it caught): back to the
 *   savepoint, every item failed. Nothing of theirs commits, so running them again repeats no effect.
 * - An outage (its error, or an item's, classified as a pause): the whole transaction is given up.
 */
import type pg from 'pg'
import type { HopTopics } from '../retry/classify.ts'
import type { FailureStage } from '../retry/headers.ts'
import { deleteInboxRows } from '../store/inbox.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { runBatchHandler, type BatchRun } from './batch-runner.ts'
import type { ExecItem, Outcome } from './execution.ts'
import { scopeClient, type ScopedClient } from './handler-context.ts'
import type { HandlerRunnerDeps } from './handler-runner.ts'
import { abortedByHandler, failure, isInfrastructure, isTransientConflict } from './transaction-errors.ts'

/** What a batch needs of the chunk transaction it runs in. */
export interface BatchHost {
  readonly client: pg.ClientBase
  readonly deps: HandlerRunnerDeps & { topics: HopTopics }
  /** Not run before (its ledger row is new here); false for a duplicate. */
  isNew(item: ExecItem): boolean
  /** A duplicate's outcome (its blocked-key entry removed under `scope`'s savepoint). */
  duplicate(scope: ScopedClient, item: ExecItem): Promise<Outcome>
  /** Cancels what a timed-out handler left running; false when the connection must go. */
  settle(scope: ScopedClient): Promise<boolean>
  /** False when a statement the handler caught aborted the transaction. */
  transactionUsable(): Promise<boolean>
  noteActivity(scope: ScopedClient): void
  statement(sql: string): Promise<void>
  /** Items that succeeded and stay: the chunk's `beforeCommit` gets them. */
  keepSucceeded(succeeded: readonly { item: ExecItem; result: unknown }[]): void
}

/** Single messages' savepoint (duplicates use it, as in transaction-chunk.ts) and the batch's own. */
const SAVEPOINT = 'ktask_message'
const BATCH_SAVEPOINT = 'ktask_batch'

export type BatchChunk =
  /** One outcome per item, in item order. */
  | { kind: 'ok'; outcomes: Outcome[] }
  /** A timed-out handler took the connection with it: nothing commits; failures, and undefined = run again. */
  | { kind: 'connection-dropped'; outcomes: (Outcome | undefined)[] }
  | { kind: 'shutdown' }

/** Runs a batch handler's chunk in `host`'s transaction. Throws on an outage (the chunk pauses). */
export async function runBatchChunk(host: BatchHost, items: ExecItem[], connectionLost: () => Error | undefined): Promise<BatchChunk> {
  const outcomes = new Array<Outcome | undefined>(items.length).fill(undefined)
  const fresh: number[] = []
  for (let i = 0; i < items.length; i++) {
    if (host.isNew(items[i]!)) fresh.push(i)
    else outcomes[i] = await host.duplicate(scopeClient(host.client, { savepoint: SAVEPOINT }), items[i]!)
  }
  if (fresh.length === 0) return { kind: 'ok', outcomes: outcomes as Outcome[] }
  const toRun = fresh.map((i) => items[i]!)
  const scope = scopeClient(host.client, { savepoint: BATCH_SAVEPOINT })
  const run = await runBatchHandler(host.deps, toRun, scope)
  host.noteActivity(scope)
  if (run.kind === 'shutdown') return { kind: 'shutdown' }
  const failAll = (stage: FailureStage, error: unknown): void =>
    fresh.forEach((i) => (outcomes[i] = failure(host.deps, items[i]!, stage, error, connectionLost() !== undefined)))
  if (run.kind === 'timeout') {
    failAll('timeout', run.error)
    if (!(await host.settle(scope))) {
      // The duplicates' key entries went with the connection too: they run again.
      return { kind: 'connection-dropped', outcomes: outcomes.map((o, i) => (fresh.includes(i) ? o : undefined)) }
    }
    await undoBatch(host, scope, toRun)
  } else if (run.kind === 'error') {
    failAll('handler', run.error)
    // An outage (the handler's ctx.tx lost Postgres): nothing of the chunk is applied; it pauses.
    if (outcomes[fresh[0]!]!.kind === 'pause') throw run.error
    await undoBatch(host, scope, toRun)
  } else if (run.txQueryFailed && !(await host.transactionUsable())) {
    await undoBatch(host, scope, toRun)
    failAll(
      'handler',
      abortedByHandler('a statement it ran on ctx.tx failed and the error was caught (use a SAVEPOINT inside the handler)'),
    )
  } else {
    await settleVerdicts(host, scope, { items, fresh, run, outcomes, connectionLost })
  }
  return { kind: 'ok', outcomes: outcomes as Outcome[] }
}

interface Returned {
  items: ExecItem[]
  /** Indexes in `items` of the ones the handler ran. */
  fresh: number[]
  run: Extract<BatchRun, { kind: 'ok' }>
  outcomes: (Outcome | undefined)[]
  connectionLost: () => Error | undefined
}

/** The handler returned: failed items lose their ledger rows; succeeded ones get ktask's statements. */
async function settleVerdicts(host: BatchHost, scope: ScopedClient, r: Returned): Promise<void> {
  const { deps } = host
  const succeeded: { item: ExecItem; result: unknown }[] = []
  const failedIds: string[] = []
  r.run.verdicts.forEach((verdict, n) => {
    const at = r.fresh[n]!
    const item = r.items[at]!
    if (verdict.ok) {
      succeeded.push({ item, result: verdict.result })
      r.outcomes[at] = { kind: 'done', how: 'succeeded', result: verdict.result, durationMs: r.run.durationMs }
      return
    }
    const outcome = failure(deps, item, 'handler', verdict.error, r.connectionLost() !== undefined)
    // An item failed for an outage: it pauses, and its neighbours' effects cannot commit without it.
    if (outcome.kind === 'pause') throw outcome.error
    r.outcomes[at] = outcome
    if (item.prepared.spec.ledger) failedIds.push(item.prepared.messageId)
  })
  try {
    for (const { item, result } of succeeded) {
      await deps.hooks?.succeeded?.(scope.own, item, result, true)
      if (item.dequeueKey) await deleteKeyEntry(scope.own, deps.groupId, item.dequeueKey, item.prepared.messageId)
    }
    if (failedIds.length > 0) await deleteInboxRows(scope.own, deps.groupId, failedIds)
    host.noteActivity(scope)
  } catch (err) {
    if (isInfrastructure(err) || isTransientConflict(err)) throw err
    // ktask's own statements cannot say which item's data they failed on: the batch fails as a whole.
    const ran = r.fresh.map((i) => r.items[i]!)
    await undoBatch(host, scope, ran)
    const error = abortedByHandler((err as Error).message, err)
    r.fresh.forEach((i) => (r.outcomes[i] = failure(deps, r.items[i]!, 'handler', error)))
    return
  }
  host.keepSucceeded(succeeded)
}

/** Undoes a batch: back to its savepoint (if it ran a statement), and its ledger rows removed. */
async function undoBatch(host: BatchHost, scope: ScopedClient, items: ExecItem[]): Promise<void> {
  if (scope.savepointTaken) await host.statement(`ROLLBACK TO SAVEPOINT ${BATCH_SAVEPOINT}`)
  const ids = items.filter((i) => i.prepared.spec.ledger).map((i) => i.prepared.messageId)
  if (ids.length > 0) await deleteInboxRows(host.client, host.deps.groupId, ids)
}
