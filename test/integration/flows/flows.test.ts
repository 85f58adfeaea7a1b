/**
 * Flows end to end on real Kafka, registry and Postgres, in-process: chain(a, chord([b × 10], c), d),
 * failure policies, and bad canvases refused before anything is written. The SIGKILL proof across
 * processes is in flows-multiprocess.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { chain, createApp, group, isKtaskError } from 'ktask'
import { buildFlowApp, flowTableSql, pipeline } from '../../fixtures/flow-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

async function setup(name: string) {
  const prefix = uniqueName(name)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(flowTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const flowApp = buildFlowApp({ prefix, table, logLevel: 'silent' })
  registerCleanup(() => flowApp.app.close())
  await flowApp.app.provision()
  const runs = async (task: string) =>
    (
      await pool.query<{ task_id: string; workflow_id: string; data: Record<string, unknown> }>(
        `SELECT task_id, workflow_id, data FROM ${table} WHERE task = $1 ORDER BY id`,
        [task],
      )
    ).rows
  const flowState = async (workflowId: string) =>
    (await pool.query<{ state: string }>(`SELECT state FROM ktask.flows WHERE workflow_id = $1`, [workflowId])).rows[0]?.state
  return { ...flowApp, pool, runs, flowState, prefix }
}

describe('flows', () => {
  it('chain(a, chord([b × 10], c), d): b sees a in ctx.previous, c gets the 10 results in order, d gets c as its args, each once', async () => {
    const f = await setup('flow')
    const ids: string[] = []
    for (let n = 0; n < 5; n++) ids.push((await f.app.enqueueFlow(pipeline(f, n, 10))).workflowId)
    await f.app.worker().start()
    await waitFor(async () => (await f.runs('d')).length >= 5, { timeoutMs: 60_000, message: 'five d runs' })
    await sleep(1500)
    const [as, bs, cs, ds] = await Promise.all([f.runs('a'), f.runs('b'), f.runs('c'), f.runs('d')])
    expect(as).toHaveLength(5)
    expect(bs).toHaveLength(50)
    expect(cs).toHaveLength(5)
    expect(ds).toHaveLength(5)
    for (const [n, workflowId] of ids.entries()) {
      expect(await f.flowState(workflowId)).toBe('SUCCEEDED')
      for (const b of bs.filter((r) => r.workflow_id === workflowId)) expect(b.data.previous).toEqual({ from: 'a', flow: n })
      const c = cs.find((r) => r.workflow_id === workflowId)!
      expect(c.data.results).toEqual(Array.from({ length: 10 }, (_, i) => ({ i: i * 10 })))
      const d = ds.find((r) => r.workflow_id === workflowId)!
      expect(d.data.args).toEqual({ flow: n, total: 450 })
      expect(d.data.previous).toEqual({ flow: n, total: 450 })
    }
    const status = await f.app.flowStatus(ids[0]!)
    expect(status).toMatchObject({ workflowId: ids[0], state: 'SUCCEEDED', failurePolicy: 'failFast', finishedAt: expect.any(Date) })
    expect(status!.steps).toHaveLength(13)
    expect(status!.steps[0]).toMatchObject({
      step: 0,
      path: 'chain[0]',
      task: 'flow.a',
      state: 'SUCCEEDED',
      result: { from: 'a', flow: 0 },
    })
    expect(status!.steps[11]).toMatchObject({
      path: 'chain[1].callback',
      task: 'flow.c',
      dependants: [12],
      result: { flow: 0, total: 450 },
    })
    expect(new Set(status!.steps.map((s) => s.taskId)).size).toBe(13)
    expect(await f.app.flowStatus('no-such-flow')).toBeNull()
  })

  it("failFast: an always-failing step fails the flow and cancels what waits; continue: c sees { error } in the failed step's place", async () => {
    const f = await setup('flow-fail')
    const { workflowId: fast } = await f.app.enqueueFlow(pipeline(f, 1, 3, [1]))
    const { workflowId: tolerant } = await f.app.enqueueFlow(pipeline(f, 2, 3, [1]), { failurePolicy: 'continue' })
    await f.app.worker().start()
    await waitFor(async () => (await f.flowState(fast)) === 'FAILED' && (await f.flowState(tolerant)) === 'FAILED', {
      timeoutMs: 60_000,
      message: 'both flows final',
    })
    const steps = async (workflowId: string) =>
      (
        await f.pool.query<{ state: string }>(`SELECT state FROM ktask.flow_steps WHERE workflow_id = $1 ORDER BY step`, [workflowId])
      ).rows.map((r) => r.state)
    // a, b0, b1 (dead), b2, c, d
    expect((await steps(fast)).filter((_, i) => i !== 1 && i !== 3)).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED', 'CANCELLED'])
    expect((await f.runs('c')).filter((r) => r.workflow_id === fast)).toEqual([])
    const c = (await f.runs('c')).find((r) => r.workflow_id === tolerant)!
    expect(c.data.results).toEqual([{ i: 0 }, { error: expect.objectContaining({ message: 'b 1 always fails (fixture)' }) }, { i: 20 }])
    expect((await f.runs('d')).filter((r) => r.workflow_id === tolerant)).toHaveLength(1)
  })

  it('failFast: a step already on its queue when the flow fails is cancelled through the ledger and never runs', async () => {
    const f = await setup('flow-cancel')
    // e waits on queue "later", which no worker consumes yet, while b fails.
    const { workflowId } = await f.app.enqueueFlow(
      chain(f.a.step({ flow: 1 }), group([f.b.step({ i: 0, fail: true }), f.e.step({ flow: 1 })])),
    )
    await f.app.worker({ queues: ['flows'] }).start()
    await waitFor(async () => (await f.flowState(workflowId)) === 'FAILED', { timeoutMs: 60_000, message: 'the flow failed' })
    const later = f.app.worker({ queues: ['later'] })
    await later.start()
    await waitFor(() => later.stats().duplicates >= 1, { timeoutMs: 60_000, message: 'the cancelled step reached and skipped' })
    expect(await f.runs('e')).toEqual([])
    const status = await f.app.flowStatus(workflowId)
    expect(status!.steps.map((s) => [s.task, s.state])).toEqual([
      ['flow.a', 'SUCCEEDED'],
      ['flow.b', 'FAILED'],
      ['flow.e', 'CANCELLED'],
    ])
  })

  it('refuses a step of an unknown task or with bad args, naming the step; nothing is written', async () => {
    const f = await setup('flow-bad')
    const other = createApp({ prefix: `${f.prefix}-other`, logLevel: 'silent' })
    registerCleanup(() => other.close())
    const stranger = other.task<{ x: number }>({
      name: 'stranger',
      queue: 'q',
      schema: { type: 'record', name: 'X', fields: [{ name: 'x', type: 'int' }] },
      handler: () => {},
    })
    const before = Number((await f.pool.query('SELECT count(*) FROM ktask.flows')).rows[0].count)
    const refused = async (flow: Parameters<typeof f.app.enqueueFlow>[0]) => {
      try {
        await f.app.enqueueFlow(flow)
      } catch (err) {
        if (isKtaskError(err)) return { code: err.code, field: err.field }
        throw err
      }
      throw new Error('not refused')
    }
    expect(await refused(chain(f.a.step({ flow: 1 }), stranger.step({ x: 1 })))).toEqual({ code: 'KTASK_VALIDATION', field: 'chain[1]' })
    expect(await refused(chain(f.a.step({ flow: 1 }), f.b.step({ i: 'one' } as never)))).toMatchObject({
      code: 'KTASK_VALIDATION',
      field: expect.stringMatching(/^chain\[1\]\.args\.i/),
    })
    expect(await refused(chain(f.a.step()))).toEqual({ code: 'KTASK_VALIDATION', field: 'chain[0]' })
    expect(Number((await f.pool.query('SELECT count(*) FROM ktask.flows')).rows[0].count)).toBe(before)
  })
})
