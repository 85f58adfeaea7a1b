/**
 * Runs a chunk of one partition's messages in one Postgres transaction, so many messages share one
 * commit (one fsync) and the ledger costs one statement per chunk:
 *
 *   BEGIN · INSERT all ledger rows … RETURNING the new ids · handlers of the new ones · COMMIT
 *
 * Each message's statements follow a savepoint, taken on its first statement (queued in front of it, so
 * the handler waits for nothing extra). When a handler fails, its message alone is undone — back to its
 * savepoint, its ledger row removed — and the chunk goes on: a failure never makes a neighbour run again
 * (their effects outside Postgres happen once when no process dies). Transactions hold at most
 * `transactionBatchSize` (≤ 64) savepoints, within what Postgres caches per transaction.
 *
 * Before each further message the transaction checks its time budget (transaction-budget.ts) and, when it
 * could outlive `idle_in_transaction_session_timeout`, commits and begins again. A lost connection stops
 * the chunk at once. An outage stops it: nothing of that transaction is applied, its first message gets a
 * `pause` outcome and the later ones none.
 * A COMMIT that fails for a reason of the data (a deferred constraint) cannot say which message caused it:
 * the chunk runs again one message per transaction, and the one whose COMMIT fails has failed.
 * A handler that timed out with a statement still running has that statement cancelled; if it will not
 * end, the connection is destroyed (everything rolls back and runs again) — the one case where
 * neighbours repeat.
 *
 * A chunk of a `batchHandler` definition runs its handler once, after the duplicates were set aside,
 * under one savepoint: items it fails lose their ledger rows (their effects, if it wrote any, stay);
 * when it throws or times out, the savepoint undoes the whole batch and every item has failed.
 */
import type pg from 'pg'
import { KtaskError, infrastructureError } from '../errors.ts'
import type { HopTopics } from '../retry/classify.ts'
import type { FailureStage } from '../retry/headers.ts'
import { deleteInboxRows, insertInboxRows, ledgerRowsOf } from '../store/inbox.ts'
import { deleteKeyEntry } from '../store/key-queue.ts'
import { missedStart, untilStart, type ChunkResult, type ExecItem, type Outcome } from './execution.ts'
import { runBatchChunk, type BatchHost } from './batch-transaction.ts'
import { scopeClient, type ScopedClient } from './handler-context.ts'
import { runHandler, type HandlerRunnerDeps } from './handler-runner.ts'
import { transactionHasRoom } from './transaction-budget.ts'
import { abortedByHandler, failure, idleSessionTimeout, isInfrastructure, isTransientConflict } from './transaction-errors.ts'

/** What a chunk transaction needs besides running handlers. */
export interface ChunkDeps extends HandlerRunnerDeps {
  pool(): pg.Pool
  /** `database.idleInTransactionTimeoutMs` (0 = none): the chunk's time budget follows it. */
  idleInTransactionTimeoutMs: number
  /** Where failures go: classifyFailure decides with them. */
  topics: HopTopics
}

const SAVEPOINT = 'ktask_message'
/** How long a timed-out handler's cancelled statement may take to end before the connection is dropped. */
const CANCEL_WAIT_MS = 5000

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
    throw new KtaskError(
      'KTASK_INFRASTRUCTURE',
      'ledger rows of these messages are held by another transaction (an earlier owner of the partition still running them); waiting for it to finish',
      { cause: err },
    )
  }
}

/** One transaction over a prefix of `items`: its outcomes, or where it stopped and why. */
type Attempt =
  /**
   * The first `outcomes.length` items committed (fewer than given when the time budget ran out). `stop`:
   * the next one missed its rate-limit slot; it and the rest go back to the lane (to take new slots).
   */
  | { kind: 'committed'; outcomes: Outcome[]; stop?: boolean }
  /** Item `index` timed out and took the connection with it, or shutdown came: nothing was committed. */
  | { kind: 'stopped'; index: number; outcome: Outcome | undefined }
  /** COMMIT refused the data (a deferred constraint), or the session sat idle too long: nothing was committed. */
  | { kind: 'commit-failed'; error: unknown; stage: FailureStage }
  | { kind: 'infra'; error: unknown }
  /** Postgres aborted it to break a lock conflict (isTransientConflict): nothing was committed. */
  | { kind: 'conflict'; error: unknown }
  /** A timed-out batch handler took the connection with it: nothing was committed; its items failed. */
  | { kind: 'batch-dropped'; outcomes: (Outcome | undefined)[] }

export async function runChunkInTransaction(deps: ChunkDeps, items: ExecItem[]): Promise<ChunkResult> {
  const outcomes: (Outcome | undefined)[] = new Array<Outcome | undefined>(items.length).fill(undefined)
  // Segments [start, end) still to run; the top of the stack runs next.
  const segments: [number, number][] = [[0, items.length]]
  while (segments.length > 0) {
    const [start, end] = segments.pop()!
    if (start >= end) continue
    const attempt = await runOnce(deps, items.slice(start, end))
    switch (attempt.kind) {
      case 'infra':
        // Nothing of this transaction was applied: its first item carries the pause; the rest run again.
        outcomes[start] = { kind: 'pause', stage: 'execute', error: attempt.error }
        return { outcomes }
      case 'conflict':
        // Run again at once, one message per transaction: a message's own statements take their locks in
        // one order, so alone they cannot deadlock with another's. A lone message conflicting pauses.
        if (end - start === 1) {
          outcomes[start] = { kind: 'pause', stage: 'execute', error: attempt.error }
          return { outcomes }
        }
        for (let i = end - 1; i >= start; i--) segments.push([i, i + 1])
        break
      case 'committed':
        attempt.outcomes.forEach((o, i) => (outcomes[start + i] = o))
        if (attempt.stop) return { outcomes }
        segments.push([start + attempt.outcomes.length, end])
        break
      case 'commit-failed':
        if (end - start === 1) outcomes[start] = failure(deps, items[start]!, attempt.stage, attempt.error)
        else for (let i = end - 1; i >= start; i--) segments.push([i, i + 1])
        break
      case 'batch-dropped':
        attempt.outcomes.forEach((o, i) => (outcomes[start + i] = o))
        break
      case 'stopped': {
        const at = start + attempt.index
        outcomes[at] = attempt.outcome
        // Shutdown: stop here; whatever has no outcome runs again after the restart.
        if (!attempt.outcome) return { outcomes }
        segments.push([at + 1, end], [start, at])
        break
      }
    }
  }
  return { outcomes }
}

async function runOnce(deps: ChunkDeps, items: ExecItem[]): Promise<Attempt> {
  let client: pg.PoolClient
  try {
    client = await deps.pool().connect()
  } catch (err) {
    return { kind: 'infra', error: err }
  }
  // A checked-out client whose server goes away between queries (say, while a handler awaits something
  // else) emits 'error'; unheard, that event would kill the process. The chunk stops at the next message.
  let connectionLost: Error | undefined
  const onClientError = (err: Error): void => {
    connectionLost = err
  }
  client.on('error', onClientError)
  let discard: Error | undefined
  const tx = new ChunkTransaction(deps, client)
  let missed = false
  try {
    await tx.begin(items)
    const batch = items[0]!.prepared.spec.batchHandler ? await runBatchChunk(tx, items, () => connectionLost) : undefined
    if (batch?.kind === 'connection-dropped') {
      discard = new Error('a timed-out batch handler left a statement running')
      return { kind: 'batch-dropped', outcomes: batch.outcomes }
    }
    if (batch?.kind === 'shutdown') {
      discard = new Error('handler shutdown')
      return { kind: 'stopped', index: 0, outcome: undefined }
    }
    batch?.outcomes.forEach((o) => tx.outcomes.push(o))
    for (let i = 0; !batch && i < items.length; i++) {
      if (connectionLost) throw connectionLost
      if (i > 0 && !tx.hasRoomFor(items[i]!)) {
        await tx.releaseUnrun(items.slice(i))
        break
      }
      await untilStart(items[i]!)
      if (missedStart(items[i]!)) {
        // Started this late, it would crowd the next slots: it gives its slot up (and its ledger row).
        await tx.releaseUnrun(items.slice(i))
        missed = true
        break
      }
      const result = await tx.run(items[i]!, () => connectionLost)
      if (result === 'connection-dropped') {
        discard = new Error('a timed-out handler left a statement running')
        return { kind: 'stopped', index: i, outcome: tx.lastOutcome }
      }
      if (result === 'shutdown') {
        // The handler may still be running queries on this connection: destroy it (rolls back everything).
        discard = new Error('handler shutdown')
        return { kind: 'stopped', index: i, outcome: undefined }
      }
    }
    if (connectionLost) throw connectionLost
    // Bookkeeping of several messages at once (flows advance here, locking their rows by workflow, so
    // chunks holding steps of the same flows cannot deadlock). A failure of the data cannot say whose it
    // is: the chunk runs again one message per transaction, where it is that message's.
    try {
      await tx.beforeCommit()
    } catch (err) {
      if (isInfrastructure(err) || isTransientConflict(err) || connectionLost) throw err
      return { kind: 'commit-failed', error: abortedByHandler((err as Error).message, err), stage: 'handler' }
    }
    let commit: pg.QueryResult
    try {
      commit = await client.query('COMMIT')
    } catch (err) {
      if (isInfrastructure(err) || isTransientConflict(err)) throw err
      return { kind: 'commit-failed', error: err, stage: 'handler' }
    }
    // COMMIT of an aborted transaction "succeeds" as ROLLBACK: nothing was applied.
    if (commit.command === 'ROLLBACK') {
      return {
        kind: 'commit-failed',
        error: abortedByHandler('COMMIT rolled it back (a statement failed and the error was caught)'),
        stage: 'handler',
      }
    }
    return { kind: 'committed', outcomes: tx.outcomes, stop: missed }
  } catch (err) {
    discard = err instanceof Error ? err : new Error(String(err))
    if (idleSessionTimeout(connectionLost) || idleSessionTimeout(err)) {
      const error = new KtaskError(
        'KTASK_TIMEOUT',
        'Postgres ended the transaction: it sat idle longer than idle_in_transaction_session_timeout',
        { cause: connectionLost ?? err },
      )
      return { kind: 'commit-failed', error, stage: 'timeout' }
    }
    if (isTransientConflict(err)) {
      deps.logger.warn({ err, group: deps.groupId }, 'transaction aborted by Postgres to break a lock conflict; it runs again')
      return { kind: 'conflict', error: err }
    }
    if (!isInfrastructure(err) && connectionLost === undefined) {
      deps.logger.error({ err, group: deps.groupId }, 'transaction failed outside any handler (schema missing? permissions?)')
    }
    return { kind: 'infra', error: err }
  } finally {
    client.off('error', onClientError)
    // release(err) destroys the connection instead of returning it to the pool.
    client.release(discard ?? connectionLost)
  }
}

/** The statements of one chunk transaction and the outcomes of the messages it ran. */
class ChunkTransaction implements BatchHost {
  readonly outcomes: Outcome[] = []
  lastOutcome: Outcome | undefined
  readonly #deps: ChunkDeps
  readonly #client: pg.PoolClient
  readonly #idleTimeoutMs: number
  #fresh = new Set<string>()
  /** Messages that succeeded here and stay (beforeCommit gets them). */
  #succeeded: { item: ExecItem; result: unknown }[] = []
  /** Messages without a ledger of their own that a cancel marked (their ledger row exists): skipped. */
  #cancelled = new Set<string>()
  #begunAt = 0
  #lastStatementAt = 0

  constructor(deps: ChunkDeps, client: pg.PoolClient) {
    this.#deps = deps
    this.#client = client
    this.#idleTimeoutMs = deps.idleInTransactionTimeoutMs
  }

  async begin(items: ExecItem[]): Promise<void> {
    this.#begunAt = performance.now()
    await this.statement('BEGIN')
    const ledgerIds = items.filter((i) => i.prepared.spec.ledger).map((i) => i.prepared.messageId)
    if (ledgerIds.length > 0) {
      this.#fresh = await insertLedgerRows(this.#client, this.#deps.groupId, ledgerIds)
      this.#lastStatementAt = performance.now()
    }
    if (ledgerIds.length < items.length) {
      const others = items.filter((i) => !i.prepared.spec.ledger).map((i) => i.prepared.messageId)
      this.#cancelled = await ledgerRowsOf(this.#client, this.#deps.groupId, others)
      this.#lastStatementAt = performance.now()
    }
  }

  async beforeCommit(): Promise<void> {
    const hooks = this.#deps.hooks
    if (!hooks?.beforeCommit || this.#succeeded.length === 0) return
    await hooks.beforeCommit(this.#client, this.#succeeded)
    this.#lastStatementAt = performance.now()
  }

  hasRoomFor(item: ExecItem): boolean {
    return transactionHasRoom(
      { now: performance.now(), lastStatementAt: this.#lastStatementAt, begunAt: this.#begunAt },
      item.prepared.spec.timeoutMs,
      this.#idleTimeoutMs,
    )
  }

  /** The budget ran out: the ledger rows of messages that did not run here must not commit. */
  async releaseUnrun(items: ExecItem[]): Promise<void> {
    const ids = items.filter((i) => i.prepared.spec.ledger && this.#fresh.has(i.prepared.messageId)).map((i) => i.prepared.messageId)
    if (ids.length > 0) await deleteInboxRows(this.#client, this.#deps.groupId, ids)
  }

  /**
   * Runs one message; its outcome is added to `outcomes`. Throws on an outage. 'connection-dropped'
   * and 'shutdown' end the transaction without a commit.
   */
  async run(item: ExecItem, connectionLost: () => Error | undefined): Promise<'ok' | 'connection-dropped' | 'shutdown'> {
    const scope = scopeClient(this.#client, { savepoint: SAVEPOINT })
    const messageId = item.prepared.messageId
    if (!this.isNew(item)) return this.#record(await this.duplicate(scope, item))
    const run = await runHandler(this.#deps, item, scope)
    this.noteActivity(scope)
    if (run.kind === 'shutdown') return 'shutdown'
    if (run.kind === 'timeout' || run.kind === 'crash') {
      // A crashed isolated handler may have left forwarded statements running, like a timed-out one.
      this.lastOutcome = failure(this.#deps, item, run.kind, run.error)
      if (!(await this.settle(scope))) return 'connection-dropped'
      await this.#undo(scope, item)
      return this.#record(this.lastOutcome)
    }
    if (run.kind === 'error') {
      const outcome = failure(this.#deps, item, 'handler', run.error, connectionLost() !== undefined)
      if (outcome.kind === 'pause') throw run.error
      await this.#undo(scope, item)
      return this.#record(outcome)
    }
    if (run.txQueryFailed && !(await this.transactionUsable())) {
      // The handler caught a failed statement: its part of the transaction can no longer commit. Blame
      // it, not the next message in the chunk (whose first statement would fail) nor the COMMIT.
      await this.#undo(scope, item)
      return this.#record(
        failure(
          this.#deps,
          item,
          'handler',
          abortedByHandler('a statement it ran on ctx.tx failed and the error was caught (use a SAVEPOINT to recover inside a handler)'),
        ),
      )
    }
    const hooks = this.#deps.hooks
    const failed =
      hooks?.succeeded || item.dequeueKey
        ? await this.#ownStatements(scope, item, async () => {
            await hooks?.succeeded?.(scope.own, item, run.result, true)
            if (item.dequeueKey) await deleteKeyEntry(scope.own, this.#deps.groupId, item.dequeueKey, messageId)
          })
        : undefined
    if (!failed) this.#succeeded.push({ item, result: run.result })
    return this.#record(failed ?? { kind: 'done', how: 'succeeded', result: run.result, durationMs: run.durationMs })
  }

  /** Not run before: its ledger row is new here (or, without a ledger, no cancel marked it). */
  isNew(item: ExecItem): boolean {
    const id = item.prepared.messageId
    // delete() on first use: the same id twice in one chunk runs once; the second is a duplicate.
    return item.prepared.spec.ledger ? this.#fresh.delete(id) : !this.#cancelled.has(id)
  }

  /** A message already handled: skipped, but its blocked-key entry (if it heads one) goes. */
  async duplicate(scope: ScopedClient, item: ExecItem): Promise<Outcome> {
    const failed = await this.#ownStatements(scope, item, async () => {
      if (item.dequeueKey) await deleteKeyEntry(scope.own, this.#deps.groupId, item.dequeueKey, item.prepared.messageId)
    })
    return failed ?? { kind: 'done', how: 'duplicate' }
  }

  get client(): pg.PoolClient {
    return this.#client
  }

  get deps(): ChunkDeps {
    return this.#deps
  }

  keepSucceeded(succeeded: readonly { item: ExecItem; result: unknown }[]): void {
    this.#succeeded.push(...succeeded)
  }

  #record(outcome: Outcome): 'ok' {
    this.outcomes.push(outcome)
    return 'ok'
  }

  /**
   * ktask's statements about a message (task state, key queue), under its savepoint. One failing for a
   * reason of the data (not an outage) means this message's effects cannot commit: its failure alone.
   */
  async #ownStatements(scope: ScopedClient, item: ExecItem, statements: () => Promise<void>): Promise<Outcome | undefined> {
    try {
      await statements()
      this.noteActivity(scope)
      return undefined
    } catch (err) {
      if (isInfrastructure(err) || isTransientConflict(err)) throw err
      await this.#undo(scope, item)
      return failure(this.#deps, item, 'handler', abortedByHandler((err as Error).message, err))
    }
  }

  /** Undoes one message: back to its savepoint (if it ran a statement), and its ledger row removed. */
  async #undo(scope: ScopedClient, item: ExecItem): Promise<void> {
    if (scope.savepointTaken) await this.statement(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`)
    if (item.prepared.spec.ledger) await deleteInboxRows(this.#client, this.#deps.groupId, [item.prepared.messageId])
    this.#lastStatementAt = performance.now()
  }

  /**
   * A timed-out handler may have left a statement running on the connection: cancel it and wait for it
   * to end. False when it will not (the connection must go); throws an outage when Postgres cannot even
   * be asked to cancel it.
   */
  async settle(scope: ScopedClient): Promise<boolean> {
    if (scope.pending.size === 0) return true
    const pid = (this.#client as unknown as { processID?: number }).processID
    try {
      if (pid !== undefined) await this.#deps.pool().query('SELECT pg_cancel_backend($1)', [pid])
    } catch (err) {
      // Postgres does not answer even a new connection: the handler timed out waiting for the database,
      // an outage — not an attempt of the message.
      if (isInfrastructure(err)) throw infrastructureError('postgres', err)
    }
    let timer: NodeJS.Timeout | undefined
    const ended = await Promise.race([
      Promise.allSettled([...scope.pending]).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CANCEL_WAIT_MS))),
    ])
    clearTimeout(timer)
    return ended
  }

  /**
   * A handler caught a failed statement: its transaction is aborted unless it recovered with a savepoint.
   * The client's status can lag (the server's ReadyForQuery may not have been read when the rejection
   * reached the handler), so ask the server — only on this rare path.
   */
  async transactionUsable(): Promise<boolean> {
    try {
      await this.statement('SELECT 1')
      return true
    } catch (err) {
      if ((err as { code?: unknown }).code === '25P02') return false
      throw err
    }
  }

  async statement(sql: string): Promise<void> {
    await this.#client.query(sql)
    this.#lastStatementAt = performance.now()
  }

  noteActivity(scope: ScopedClient): void {
    if (scope.lastActivity > this.#lastStatementAt) this.#lastStatementAt = scope.lastActivity
  }
}
