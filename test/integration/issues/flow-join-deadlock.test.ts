/**
 * Defect: two chunk transactions advancing the same two flows in opposite orders (worker A finishes a step
 * of flow X, then of flow Y; worker B a step of Y, then of X) deadlock on the flows' join rows. Postgres
 * aborts one, and the worker counted that as the message's own failure ("its transaction cannot commit:
 * deadlock detected"): a retry hop, and after the last attempt a dead step and a FAILED flow — 1 flow in
 * 300 in the multi-process flow test. A lock conflict is nobody's fault: the chunk now runs again, one
 * message per transaction, and every message succeeds without an attempt spent.
 *
 * Real Postgres, real chunk transactions; ktask's own per-message statements (the succeeded hook, where
 * flows advance) take the row locks, and a barrier makes the two chunks cross.
 */
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'
import type { HandlerSpec } from '../../../src/routing/routes.ts'
import { migrate } from '../../../src/store/migrate.ts'
import { Deadlines } from '../../../src/worker/deadlines.ts'
import { Envelope } from '../../../src/worker/envelope.ts'
import type { ExecItem, Outcome } from '../../../src/worker/execution.ts'
import { runChunkInTransaction, type ChunkDeps } from '../../../src/worker/transaction-chunk.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'

describe('chunk transactions that deadlock on ktask’s own statements', () => {
  it('run again one message per transaction: every message succeeds, no attempt is spent', async () => {
    const pool = testPool()
    await migrate(pool)
    const table = `joins_${uniqueName('dl').replaceAll('-', '_')}`
    await pool.query(`CREATE TABLE ${table} (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)`)
    registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
    await pool.query(`INSERT INTO ${table} (id) VALUES ('X'), ('Y')`)

    // Each chunk's second handler waits until both chunks hold their first join row.
    let holding = 0
    let release: () => void = () => {}
    const bothHolding = new Promise<void>((resolve) => (release = resolve))
    const spec: HandlerSpec = {
      kind: 'task',
      name: 'step',
      queue: 'q',
      type: undefined,
      handler: async (args) => {
        if ((args as { second: boolean }).second) await Promise.race([bothHolding, new Promise((r) => setTimeout(r, 3000))])
      },
      retry: resolveRetryPolicy({ attempts: 3 }, 'step'),
      timeoutMs: 20_000,
      ledger: true,
      transaction: true,
      track: false,
    }
    const group = uniqueName('g')
    const deps: ChunkDeps = {
      pool: () => pool,
      idleInTransactionTimeoutMs: 60_000,
      topics: { retryTopics: new Map([[1000, 'q.retry.1s']]), dlqTopic: 'q.dlq' },
      hasDatabase: true,
      groupId: group,
      logger: pino({ level: 'silent' }),
      deadlines: new Deadlines(),
      hooks: {
        // What a flow step's completion does: take its join row's lock, in the chunk's transaction.
        async succeeded(db, item) {
          await db.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [item.envelope.headers.row])
          if (!(item.prepared.args as { second: boolean }).second && ++holding === 2) release()
        },
      },
    }
    const item = (row: string, second: boolean): ExecItem => {
      const id = randomUUID()
      const envelope = new Envelope('q', 0, { offset: '0', key: null, value: null, headers: { 'ktask-id': id, row }, timestamp: '0' })
      return { envelope, prepared: { ok: true, spec, args: { second }, messageId: id } }
    }
    const [a, b] = await Promise.all([
      runChunkInTransaction(deps, [item('X', false), item('Y', true)]),
      runChunkInTransaction(deps, [item('Y', false), item('X', true)]),
    ])
    const kinds = (outcomes: (Outcome | undefined)[]) => outcomes.map((o) => (o?.kind === 'done' ? o.how : o?.kind))
    expect([kinds(a.outcomes), kinds(b.outcomes)]).toEqual([
      ['succeeded', 'succeeded'],
      ['succeeded', 'succeeded'],
    ])
    // Each join row advanced once per message that committed: twice each, never more.
    expect((await pool.query(`SELECT id, n FROM ${table} ORDER BY id`)).rows).toEqual([
      { id: 'X', n: 2 },
      { id: 'Y', n: 2 },
    ])
  })
})
