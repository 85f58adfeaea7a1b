/**
 * Runs a chunk of one partition's messages in one Postgres transaction, so many messages share one
 * commit (one fsync) and the ledger costs one statement per chunk:
 *
 *   BEGIN · INSERT all ledger rows … RETURNING the new ids · handlers of the new ones · COMMIT
 *
 * When handler j fails, the transaction is rolled back: j's outcome is known (failed; its effects and
 * ledger row undone with everything else), the handlers before it run again in a new transaction, and
 * the chunk goes on after j. A successful handler therefore re-runs at most once per chunk — its
 * effects in Postgres still apply once; effects elsewhere must use ctx.idempotencyKey, as for any
 * redelivery — and a failing one runs exactly once per attempt.
 *
 * A timeout (or the shutdown grace running out) destroys the connection — the handler may still be using
 * it — and is handled like a failure (shutdown: no outcome, the message runs again later). An
 * infrastructure failure stops the chunk: later messages get no outcome, and `infra` is set.
 * A COMMIT that fails for a reason of the data (a deferred constraint) cannot say which message caused
 * it: the chunk runs again one message per transaction, and the one whose COMMIT fails has failed.
 */
import type pg from 'pg'
import { KtaskError, isKtaskError } from '../errors.ts'
import { insertInboxRows } from '../store/inbox.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { isPostgresUnavailable } from '../store/pool.ts'
import type { ChunkResult, ExecItem, ExecOutcome } from './executor.ts'
import { raisedByTransaction } from './handler-context.ts'
import { runHandler, type HandlerRunnerDeps } from './handler-runner.ts'

/** An error of ktask's own statements (BEGIN, ledger, COMMIT) that is about the database being reachable. */
export function isInfrastructure(err: unknown): boolean {
  return isPostgresUnavailable(err) || isKtaskError(err, 'KTASK_INFRASTRUCTURE')
}

/**
 * A handler's error is an outage only when its transaction's connection failed, or when the handler
 * says so by throwing KTASK_INFRASTRUCTURE. Its own calls elsewhere failing (an HTTP API refusing
 * connections) are the message's failure: they retry through the tiers instead of stalling the partition.
 */
export function isHandlerOutage(err: unknown, connectionLost?: Error): boolean {
  if (isKtaskError(err, 'KTASK_INFRASTRUCTURE')) return true
  return connectionLost !== undefined || (raisedByTransaction(err) && isPostgresUnavailable(err))
}

/** A message whose transaction cannot commit because of what its handler did: its own failure, never an outage. */
function abortedByHandler(detail: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_VALIDATION', `The handler returned, but its transaction cannot commit: ${detail}`, cause === undefined ? {} : { cause })
}

/** Lock waits that ended (statement/lock timeout, deadlock) while inserting ledger rows. */
const LEDGER_CONTENTION = new Set(['57014', '55P03', '40P01'])

async function insertLedgerRows(client: pg.ClientBase, groupId: string, ids: string[]): Promise<Set<string>> {
  try {
    return await insertInboxRows(client, groupId, ids)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'string' || !LEDGER_CONTENTION.has(code)) throw err
    // Another transaction holds uncommitted ledger rows of these messages: an earlier owner of the
    // partition (a paused or slow zombie) still running them. Its commit or rollback decides; wait.
    throw new KtaskError('KTASK_INFRASTRUCTURE',
      'ledger rows of these messages are held by another transaction (an earlier owner of the partition still running them); waiting for it to finish',
      { cause: err })
  }
}

/** One transaction over `items`: either all outcomes, or where it stopped and why. */
type Attempt =
  | { kind: 'committed'; outcomes: ExecOutcome[] }
  /** Item `index` failed (or timed out / was shut down: outcome undefined); nothing was committed. */
  | { kind: 'stopped'; index: number; outcome: ExecOutcome | undefined }
  /** COMMIT refused the data (e.g. a deferred constraint): nothing was committed. */
  | { kind: 'commit-failed'; error: unknown }
  | { kind: 'infra'; error: unknown }

export async function runChunkInTransaction(deps: HandlerRunnerDeps, items: ExecItem[]): Promise<ChunkResult> {
  const outcomes: (ExecOutcome | undefined)[] = new Array<ExecOutcome | undefined>(items.length).fill(undefined)
  // Segments [start, end) still to run; the top of the stack runs next. A failure at f splits its
  // segment into [start, f) — rolled back, runs again first — and [f + 1, end).
  const segments: [number, number][] = [[0, items.length]]
  while (segments.length > 0) {
    const [start, end] = segments.pop()!
    if (start >= end) continue
    const attempt = await runOnce(deps, items.slice(start, end))
    if (attempt.kind === 'infra') return { outcomes, infra: attempt.error }
    if (attempt.kind === 'committed') {
      attempt.outcomes.forEach((o, i) => (outcomes[start + i] = o))
      continue
    }
    if (attempt.kind === 'commit-failed') {
      if (end - start === 1) {
        outcomes[start] = { type: 'failed', stage: 'handler', error: attempt.error }
      } else {
        for (let i = end - 1; i >= start; i--) segments.push([i, i + 1])
      }
      continue
    }
    const failedAt = start + attempt.index
    outcomes[failedAt] = attempt.outcome
    // Shutdown: stop here; whatever has no outcome runs again after the restart.
    if (!attempt.outcome) return { outcomes }
    segments.push([failedAt + 1, end], [start, failedAt])
  }
  return { outcomes }
}

async function runOnce(deps: HandlerRunnerDeps, items: ExecItem[]): Promise<Attempt> {
  let client: pg.PoolClient
  try {
    client = await deps.runtime.pool().connect()
  } catch (err) {
    return { kind: 'infra', error: err }
  }
  // A checked-out client whose server goes away between queries (say, while a handler awaits something
  // else) emits 'error'; unheard, that event would kill the process. The next query fails anyway.
  let connectionLost: Error | undefined
  const onClientError = (err: Error): void => {
    connectionLost = err
  }
  client.on('error', onClientError)
  let discard: Error | undefined
  const outcomes: ExecOutcome[] = []
  try {
    await client.query('BEGIN')
    const ledgerIds = items.filter((i) => i.prepared.spec.ledger).map((i) => i.prepared.messageId)
    const fresh = ledgerIds.length > 0 ? await insertLedgerRows(client, deps.groupId, ledgerIds) : new Set<string>()
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      // delete() on first use: the same id twice in one chunk runs once; the second is a duplicate.
      if (item.prepared.spec.ledger && !fresh.delete(item.prepared.messageId)) {
        outcomes.push({ type: 'duplicate' })
        if (item.dequeueKey) await deleteKeyEntry(client, deps.groupId, item.dequeueKey, item.prepared.messageId)
        continue
      }
      const run = await runHandler(deps, item, client)
      if (run.kind === 'timeout' || run.kind === 'shutdown') {
        // The handler may still be running queries on this connection: destroy it (rolls back everything).
        discard = new Error(`handler ${run.kind}`)
        return { kind: 'stopped', index: i, outcome: run.kind === 'timeout' ? { type: 'failed', stage: 'timeout', error: run.error } : undefined }
      }
      if (run.kind === 'error') {
        if (isHandlerOutage(run.error, connectionLost)) throw run.error
        await client.query('ROLLBACK')
        return { kind: 'stopped', index: i, outcome: { type: 'failed', stage: 'handler', error: run.error } }
      }
      if (run.txQueryFailed && !(await transactionUsable(client))) {
        // The handler caught a failed statement: its transaction can no longer commit. Blame it, not
        // the next message in the chunk (whose first statement would fail) nor the COMMIT.
        await client.query('ROLLBACK')
        const error = abortedByHandler('a statement it ran on ctx.tx failed and the error was caught (use a SAVEPOINT to recover inside a handler)')
        return { kind: 'stopped', index: i, outcome: { type: 'failed', stage: 'handler', error } }
      }
      const unusable = await finishSuccess(deps, client, item, run.result)
      if (unusable) {
        await client.query('ROLLBACK')
        return { kind: 'stopped', index: i, outcome: unusable }
      }
      outcomes.push({ type: 'succeeded', result: run.result, durationMs: run.durationMs })
    }
    let commit: pg.QueryResult
    try {
      commit = await client.query('COMMIT')
    } catch (err) {
      if (isInfrastructure(err)) throw err
      return { kind: 'commit-failed', error: err }
    }
    // COMMIT of an aborted transaction "succeeds" as ROLLBACK: nothing was applied.
    if (commit.command === 'ROLLBACK') {
      return { kind: 'commit-failed', error: abortedByHandler('COMMIT rolled it back (a statement failed and the error was caught)') }
    }
    return { kind: 'committed', outcomes }
  } catch (err) {
    discard = err instanceof Error ? err : new Error(String(err))
    if (!isInfrastructure(err)) {
      deps.logger.error({ err, group: deps.groupId }, 'ktask: transaction failed outside any handler (schema missing? permissions?)')
    }
    return { kind: 'infra', error: err }
  } finally {
    client.off('error', onClientError)
    // release(err) destroys the connection instead of returning it to the pool.
    client.release(discard ?? connectionLost)
  }
}

/**
 * A handler caught a failed statement: its transaction is aborted unless it recovered with a savepoint.
 * The client's status can lag (the server's ReadyForQuery may not have been read when the rejection
 * reached the handler), so ask the server — only on this rare path.
 */
async function transactionUsable(client: pg.ClientBase): Promise<boolean> {
  try {
    await client.query('SELECT 1')
    return true
  } catch (err) {
    if ((err as { code?: unknown }).code === '25P02') return false
    throw err
  }
}

/**
 * After a handler returned: task-state write and key dequeue, in the same transaction. One of them
 * failing for a reason of the data (not an outage) means this message's effects cannot commit, so it
 * counts as a failure of this message. (Swallowed ctx.tx errors are caught before, by transactionUsable.)
 */
async function finishSuccess(deps: HandlerRunnerDeps, client: pg.ClientBase, item: ExecItem, result: unknown): Promise<ExecOutcome | undefined> {
  try {
    await deps.hooks?.succeeded?.(client, item, result)
    if (item.dequeueKey) await deleteKeyEntry(client, deps.groupId, item.dequeueKey, item.prepared.messageId)
    return undefined
  } catch (err) {
    if (isInfrastructure(err)) throw err
    return { type: 'failed', stage: 'handler', error: abortedByHandler((err as Error).message, err) }
  }
}
