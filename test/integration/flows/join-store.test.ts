/**
 * The durable join on real Postgres: steps finishing at once in concurrent transactions advance their
 * chord callback exactly once, with the results in the order given; a completion that rolls back leaves
 * nothing behind; a step finished twice advances nothing the second time.
 */
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { chain, chord, stepOf } from '../../../src/flows/canvas.ts'
import { compileFlow } from '../../../src/flows/graph.ts'
import { migrate } from '../../../src/store/migrate.ts'
import { failStep, insertFlow, succeedStep, succeedSteps } from '../../../src/store/flows.ts'
import { testPool } from '../../helpers/infra.ts'
import { sleep } from '../../helpers/wait.ts'

const step = (task: string, args?: unknown) => stepOf(task, args === undefined ? { given: false } : { given: true, value: args })

async function setup(siblings: number) {
  const pool = testPool()
  await migrate(pool)
  const workflowId = randomUUID()
  const graph = compileFlow(
    chain(
      step('a', { n: 1 }),
      chord(
        Array.from({ length: siblings }, (_, i) => step('b', { i })),
        step('c'),
      ),
      step('d'),
    ),
  )
  await insertFlow(pool, {
    workflowId,
    scope: 'test',
    onFailure: 'failFast',
    graph,
    taskIds: graph.steps.map((s) => `${workflowId}:${s.index}`),
  })
  const inTx = async <T>(fn: (db: pg.PoolClient) => Promise<T>, commit = true): Promise<T> => {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const out = await fn(client)
      await sleep(Math.random() * 20) // hold the locks a moment: let siblings pile up behind them
      await client.query(commit ? 'COMMIT' : 'ROLLBACK')
      return out
    } finally {
      client.release()
    }
  }
  return { pool, workflowId, graph, inTx }
}

describe('the durable join', () => {
  it('50 siblings finishing at once in concurrent transactions: the callback is due exactly once, with every result in order', async () => {
    const { pool, workflowId, inTx } = await setup(50)
    const first = await inTx((db) => succeedStep(db, workflowId, 0, { from: 'a' }))
    expect(first.applied).toBe(true)
    expect(first.ready.map((r) => r.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(first.ready[0]).toMatchObject({ task: 'b', taskId: `${workflowId}:1`, input: { from: 'a' }, spec: { args: { i: 0 } } })

    const order = Array.from({ length: 50 }, (_, i) => i + 1).sort(() => Math.random() - 0.5)
    const outcomes = await Promise.all(order.map((s) => inTx((db) => succeedStep(db, workflowId, s, { b: s - 1 }))))
    expect(outcomes.every((o) => o.applied)).toBe(true)
    const fired = outcomes.filter((o) => o.ready.length > 0)
    expect(fired).toHaveLength(1)
    expect(fired[0]!.ready).toEqual([
      expect.objectContaining({
        step: 51,
        task: 'c',
        input: Array.from({ length: 50 }, (_, i) => ({ b: i })),
        spec: expect.objectContaining({ argsFromPrevious: true }),
      }),
    ])

    // A sibling delivered again (its ledger row would stop it first; the graph holds on its own too).
    expect(await inTx((db) => succeedStep(db, workflowId, 7, { b: 'again' }))).toEqual({ applied: false, ready: [] })
    const c = await inTx((db) => succeedStep(db, workflowId, 51, { merged: 50 }))
    expect(c.ready).toEqual([expect.objectContaining({ step: 52, task: 'd', input: { merged: 50 } })])
    const d = await inTx((db) => succeedStep(db, workflowId, 52, 'done'))
    expect(d).toMatchObject({ applied: true, ready: [], flowFinished: 'SUCCEEDED' })
    const flow = await pool.query(`SELECT state, steps_left, failed FROM ktask.flows WHERE workflow_id = $1`, [workflowId])
    expect(flow.rows).toEqual([{ state: 'SUCCEEDED', steps_left: 0, failed: 0 }])
    const steps = await pool.query(`SELECT state, count(*)::int AS n FROM ktask.flow_steps WHERE workflow_id = $1 GROUP BY state`, [
      workflowId,
    ])
    expect(steps.rows).toEqual([{ state: 'SUCCEEDED', n: 53 }])
  })

  it('siblings finishing in batches (a chunk transaction each, batches racing): the callback is due exactly once, with every result', async () => {
    const { pool, workflowId, inTx } = await setup(60)
    await inTx((db) => succeedStep(db, workflowId, 0, { from: 'a' }))
    const order = Array.from({ length: 60 }, (_, i) => i + 1).sort(() => Math.random() - 0.5)
    const batches = Array.from({ length: 12 }, (_, k) => order.slice(k * 5, k * 5 + 5))
    const perBatch = await Promise.all(
      batches.map((batch) =>
        inTx((db) =>
          succeedSteps(
            db,
            workflowId,
            batch.map((s) => ({ step: s, result: { b: s - 1 } })),
          ),
        ),
      ),
    )
    const outcomes = perBatch.flat()
    expect(outcomes.every((o) => o.applied)).toBe(true)
    const fired = outcomes.filter((o) => o.ready.length > 0)
    expect(fired).toHaveLength(1)
    expect(fired[0]!.ready).toEqual([
      expect.objectContaining({ step: 61, task: 'c', input: Array.from({ length: 60 }, (_, i) => ({ b: i })) }),
    ])
    // A batch holding a step already done and one not: the first advances nothing, the second counts once.
    const again = await inTx(async (db) =>
      succeedSteps(db, workflowId, [
        { step: 3, result: 'again' },
        { step: 61, result: 'c' },
      ]),
    )
    expect(again.filter((o) => o.applied)).toHaveLength(1)
    expect((await pool.query(`SELECT steps_left FROM ktask.flows WHERE workflow_id = $1`, [workflowId])).rows).toEqual([{ steps_left: 1 }])
  })

  it('a completion whose transaction rolls back leaves the counters as they were', async () => {
    const { pool, workflowId, inTx } = await setup(2)
    await inTx((db) => succeedStep(db, workflowId, 0, 'a'))
    await inTx((db) => succeedStep(db, workflowId, 1, 'b0'))
    const rolledBack = await inTx((db) => succeedStep(db, workflowId, 2, 'b1'), false)
    expect(rolledBack.ready.map((r) => r.step)).toEqual([3]) // it would have fired...
    const c = await pool.query(`SELECT state, waiting_for FROM ktask.flow_steps WHERE workflow_id = $1 AND step = 3`, [workflowId])
    expect(c.rows).toEqual([{ state: 'WAITING', waiting_for: 1 }]) // ...but it rolled back
    const again = await inTx((db) => succeedStep(db, workflowId, 2, 'b1'))
    expect(again.ready).toEqual([expect.objectContaining({ step: 3, input: ['b0', 'b1'] })])
  })
})

describe('a failed step', () => {
  it('failFast: the steps not started are cancelled and the flow FAILED; a late sibling advances nothing', async () => {
    const { pool, workflowId, inTx } = await setup(3)
    await inTx((db) => succeedStep(db, workflowId, 0, 'a'))
    await inTx((db) => succeedStep(db, workflowId, 1, 'b0'))
    const failed = await inTx((db) => failStep(db, workflowId, 2, { class: 'Error', message: 'no data' }))
    expect(failed).toMatchObject({ applied: true, ready: [], flowFinished: 'FAILED' })
    expect(await inTx((db) => succeedStep(db, workflowId, 3, 'b2'))).toEqual({ applied: false, ready: [] })
    const states = await pool.query<{ step: number; state: string }>(
      `SELECT step, state FROM ktask.flow_steps WHERE workflow_id = $1 ORDER BY step`,
      [workflowId],
    )
    expect(states.rows.map((r) => r.state)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'CANCELLED', 'CANCELLED'])
    expect((await pool.query(`SELECT state, steps_left FROM ktask.flows WHERE workflow_id = $1`, [workflowId])).rows).toEqual([
      { state: 'FAILED', steps_left: 0 },
    ])
  })

  it("continue: the callback gets { error } in the failed step's place and the flow ends FAILED", async () => {
    const { workflowId, inTx, pool } = await setup(2)
    await pool.query(`UPDATE ktask.flows SET on_failure = 'continue' WHERE workflow_id = $1`, [workflowId])
    await inTx((db) => succeedStep(db, workflowId, 0, 'a'))
    await inTx((db) => failStep(db, workflowId, 1, { message: 'boom' }))
    const last = await inTx((db) => succeedStep(db, workflowId, 2, 'b1'))
    expect(last.ready).toEqual([expect.objectContaining({ step: 3, input: [{ error: { message: 'boom' } }, 'b1'] })])
    await inTx((db) => succeedStep(db, workflowId, 3, 'c'))
    expect(await inTx((db) => succeedStep(db, workflowId, 4, 'd'))).toMatchObject({ flowFinished: 'FAILED' })
  })
})
