/**
 * A flow's callbacks and recovery on real Kafka, registry and Postgres: onFailure runs once when a step is
 * dead-lettered under failFast, a redrive of that step after the fix resumes the flow to SUCCEEDED (and runs
 * onSuccess); under `continue` the chord callback sees the error; `link` / `linkError` on a single task;
 * `ctx.enqueueFlow` from a handler.
 */
import { describe, expect, it } from 'vitest'
import { chain, chord, createOps, group, type FlowFailure } from 'ktask'
import { buildFlowApp, flowTableSql, pipeline, type FlowAppOptions } from '../../fixtures/flow-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

async function setup(name: string, options: Partial<FlowAppOptions> = {}) {
  const prefix = uniqueName(name)
  const table = `runs_${prefix.replaceAll('-', '_')}`
  const pool = testPool()
  await pool.query(flowTableSql(table))
  registerCleanup(() => pool.query(`DROP TABLE IF EXISTS ${table}`))
  const flowApp = buildFlowApp({ prefix, table, logLevel: 'silent', ...options })
  registerCleanup(() => flowApp.app.close())
  await flowApp.app.provision()
  const runs = async (task: string, workflowId?: string) =>
    (
      await pool.query<{ task_id: string; workflow_id: string; data: Record<string, unknown> }>(
        `SELECT task_id, workflow_id, data FROM ${table} WHERE task = $1 AND ($2::text IS NULL OR workflow_id = $2) ORDER BY id`,
        [task, workflowId ?? null],
      )
    ).rows
  const flowState = async (workflowId: string) =>
    (await pool.query<{ state: string }>(`SELECT state FROM ktask.flows WHERE workflow_id = $1`, [workflowId])).rows[0]?.state
  return { ...flowApp, pool, runs, flowState, prefix }
}

describe('flow callbacks and recovery', () => {
  it('failFast: a dead step fails the flow, cancels the rest and runs onFailure once; redriven after the fix, it completes the flow and onSuccess runs', async () => {
    let fixed = false
    const f = await setup('flow-redrive', { fixed: () => fixed })
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 1, 3, [1]), {
      onSuccess: f.done.step({ flow: 1, outcome: 'succeeded' }),
      onFailure: f.done.step({ flow: 1, outcome: 'failed' }),
    })
    await f.app.worker().start()
    await waitFor(async () => (await f.flowState(workflowId)) === 'FAILED', { timeoutMs: 60_000, message: 'the flow FAILED' })
    await waitFor(async () => (await f.runs('done')).length >= 1, { timeoutMs: 30_000, message: 'onFailure ran' })
    await sleep(1500) // room for a second run, which must not come

    const failed = (await f.app.flowStatus(workflowId))!
    const byPath = new Map(failed.steps.map((s) => [s.path, s]))
    expect(byPath.get('chain[0]')!.state).toBe('SUCCEEDED')
    expect(byPath.get('chain[1].header[1]')).toMatchObject({ state: 'FAILED', error: { message: 'b 1 always fails (fixture)' } })
    expect(byPath.get('chain[1].callback')!.state).toBe('CANCELLED')
    expect(byPath.get('chain[2]')!.state).toBe('CANCELLED')
    expect(byPath.get('onSuccess')).toMatchObject({ role: 'onSuccess', state: 'CANCELLED' })
    expect(byPath.get('onFailure')).toMatchObject({ role: 'onFailure', state: 'SUCCEEDED' })
    const [onFailure, ...more] = await f.runs('done', workflowId)
    expect(more).toEqual([])
    expect(onFailure!.data.args).toEqual({ flow: 1, outcome: 'failed' })
    const report = onFailure!.data.previous as FlowFailure
    expect(report).toMatchObject({
      workflowId,
      failed: [{ path: 'chain[1].header[1]', task: 'flow.b', error: { message: 'b 1 always fails (fixture)' } }],
    })
    expect(report.failed[0]!.taskId).toBe(byPath.get('chain[1].header[1]')!.taskId)
    expect(await f.runs('c', workflowId)).toEqual([])

    // The fix, then the redrive: the dead step runs again and its flow goes on from where it stopped.
    fixed = true
    const ops = createOps({ logLevel: 'silent' })
    registerCleanup(() => ops.close())
    expect(await ops.redriveDlq(`${f.prefix}.flows.dlq`)).toMatchObject({ sent: 1 })
    await waitFor(async () => (await f.flowState(workflowId)) === 'SUCCEEDED', { timeoutMs: 60_000, message: 'the flow SUCCEEDED' })
    await waitFor(async () => (await f.runs('done', workflowId)).length >= 2, { timeoutMs: 30_000, message: 'onSuccess ran' })
    await sleep(1500)
    const [c, ...moreC] = await f.runs('c', workflowId)
    expect(moreC).toEqual([])
    expect(c!.data.results).toEqual([{ i: 0 }, { i: 10 }, { i: 20 }])
    expect(await f.runs('d', workflowId)).toHaveLength(1)
    expect((await f.runs('a', workflowId)).length).toBe(1)
    expect((await f.runs('done', workflowId)).map((r) => (r.data.args as { outcome: string }).outcome)).toEqual(['failed', 'succeeded'])
    const done = (await f.app.flowStatus(workflowId))!
    expect(done.steps.filter((s) => s.role === 'step').map((s) => s.state)).toEqual(Array(6).fill('SUCCEEDED'))
    expect(done.finishedAt).toBeInstanceOf(Date)
  })

  it('a resumed flow runs a step its failure had cancelled while on the queue exactly once (the ledger row that stopped it is gone)', async () => {
    let fixed = false
    const f = await setup('flow-revive', { fixed: () => fixed })
    // e waits on queue "later", which no worker consumes yet, while b fails and cancels it there.
    const { workflowId } = await f.app.enqueueFlow(
      chain(f.a.step({ flow: 3 }), group([f.b.step({ i: 0, fail: true }), f.e.step({ flow: 3 })])),
    )
    await f.app.worker({ queues: ['flows'] }).start()
    await waitFor(async () => (await f.flowState(workflowId)) === 'FAILED', { timeoutMs: 60_000, message: 'the flow FAILED' })
    expect((await f.app.flowStatus(workflowId))!.steps.map((s) => s.state)).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED'])
    fixed = true
    const ops = createOps({ logLevel: 'silent' })
    registerCleanup(() => ops.close())
    expect(await ops.redriveDlq(`${f.prefix}.flows.dlq`)).toMatchObject({ sent: 1 })
    await waitFor(async () => (await f.app.flowStatus(workflowId))!.steps[1]!.state === 'SUCCEEDED', {
      timeoutMs: 60_000,
      message: 'b redriven',
    })
    expect(await f.flowState(workflowId)).toBe('RUNNING')
    // Both copies of e are on "later" now: the one cancelled there and the one the resume published.
    const later = f.app.worker({ queues: ['later'] })
    await later.start()
    await waitFor(async () => (await f.flowState(workflowId)) === 'SUCCEEDED', { timeoutMs: 60_000, message: 'the flow SUCCEEDED' })
    await waitFor(() => later.stats().duplicates >= 1, { timeoutMs: 30_000, message: 'the second copy of e skipped' })
    expect(await f.runs('e', workflowId)).toHaveLength(1)
  })

  it('continue: the chord callback gets { error } in the dead step’s place, the flow ends FAILED and onFailure runs once', async () => {
    const f = await setup('flow-continue')
    const { workflowId } = await f.app.enqueueFlow(pipeline(f, 2, 3, [1]), {
      failurePolicy: 'continue',
      onSuccess: f.done.step({ flow: 2, outcome: 'succeeded' }),
      onFailure: f.done.step({ flow: 2, outcome: 'failed' }),
    })
    await f.app.worker().start()
    await waitFor(async () => (await f.runs('done', workflowId)).length >= 1, { timeoutMs: 60_000, message: 'onFailure ran' })
    await sleep(1500)
    expect(await f.flowState(workflowId)).toBe('FAILED')
    const [c] = await f.runs('c', workflowId)
    expect(c!.data.results).toEqual([{ i: 0 }, { error: expect.objectContaining({ message: 'b 1 always fails (fixture)' }) }, { i: 20 }])
    expect(await f.runs('d', workflowId)).toHaveLength(1)
    expect((await f.runs('done', workflowId)).map((r) => (r.data.args as { outcome: string }).outcome)).toEqual(['failed'])
  })

  it('a step’s own failurePolicy wins over its flow’s: a failFast flow goes on past a step marked continue', async () => {
    const f = await setup('flow-step-policy')
    const { workflowId } = await f.app.enqueueFlow(
      chain(
        f.a.step({ flow: 4 }),
        chord([f.b.step({ i: 0, fail: false }), f.b.step({ i: 1, fail: true }, { failurePolicy: 'continue' })], f.c.step({ flow: 4 })),
      ),
    )
    await f.app.worker().start()
    await waitFor(async () => (await f.runs('c', workflowId)).length >= 1, { timeoutMs: 60_000, message: 'c ran' })
    const [c] = await f.runs('c', workflowId)
    expect(c!.data.results).toEqual([{ i: 0 }, { error: expect.objectContaining({ message: 'b 1 always fails (fixture)' }) }])
    await waitFor(async () => (await f.flowState(workflowId)) === 'FAILED', { timeoutMs: 30_000, message: 'the flow ended' })
    expect(() => f.b.step({ i: 0, fail: false }, { failurePolicy: 'sometimes' as never })).toThrow(/failurePolicy/)
  })

  it('link runs after a task succeeded with its result; linkError after it was dead-lettered; each once', async () => {
    const f = await setup('flow-link')
    const ok = await f.a.enqueue({ flow: 5 }, { link: f.done.step({ flow: 5, outcome: 'linked' }) })
    const bad = await f.b.enqueue(
      { i: 9, fail: true },
      { link: f.done.step({ flow: 6, outcome: 'never' }), linkError: f.done.step({ flow: 6, outcome: 'linkError' }) },
    )
    expect(ok.workflowId).toEqual(expect.any(String))
    await f.app.worker().start()
    await waitFor(async () => (await f.runs('done')).length >= 2, { timeoutMs: 60_000, message: 'both callbacks ran' })
    await sleep(1500)
    const done = await f.runs('done')
    expect(done).toHaveLength(2)
    const linked = done.find((r) => r.workflow_id === ok.workflowId)!
    expect(linked.data).toEqual({ args: { flow: 5, outcome: 'linked' }, previous: { from: 'a', flow: 5 } })
    const [aRun] = await f.runs('a')
    expect(aRun!.task_id).toBe(ok.taskId)
    const errored = done.find((r) => r.workflow_id === bad.workflowId)!
    expect(errored.data.args).toEqual({ flow: 6, outcome: 'linkError' })
    expect((errored.data.previous as FlowFailure).failed).toEqual([
      expect.objectContaining({
        taskId: bad.taskId,
        task: 'flow.b',
        error: expect.objectContaining({ message: 'b 9 always fails (fixture)' }),
      }),
    ])
    await expect(f.a.enqueue({ flow: 1 }, { link: f.done.step({ flow: 1, outcome: 'x' }), delayMs: 1000 })).rejects.toMatchObject({
      code: 'KTASK_VALIDATION',
      field: 'delayMs',
    })
  })

  it('steps that take their args from a result that does not fit their schema fail when due, naming the field; the policy applies', async () => {
    const f = await setup('flow-misfit')
    // a returns { from, flow }: b needs { i, fail }, so both b's fail when a is done; c never runs.
    const { workflowId } = await f.app.enqueueFlow(chain(f.a.step({ flow: 9 }), group([f.b.step(), f.b.step()]), f.c.step({ flow: 9 })), {
      onFailure: f.done.step({ flow: 9, outcome: 'failed' }),
    })
    await f.app.worker().start()
    await waitFor(async () => (await f.flowState(workflowId)) === 'FAILED', { timeoutMs: 60_000, message: 'the flow FAILED' })
    const steps = (await f.app.flowStatus(workflowId))!.steps
    expect(steps[1]).toMatchObject({ state: 'FAILED', error: { class: 'KtaskError', field: expect.stringMatching(/^i|fail/) } })
    expect(steps[1]!.error).toMatchObject({ message: expect.stringContaining('chain[1][0]') })
    expect(steps[3]!.state).toBe('CANCELLED')
    await waitFor(async () => (await f.runs('done', workflowId)).length === 1, { timeoutMs: 30_000, message: 'onFailure ran' })
    expect(await f.runs('b', workflowId)).toEqual([])
  })

  it('ctx.enqueueFlow writes a flow in the handler’s transaction; it runs once', async () => {
    const f = await setup('flow-spawn')
    const { taskId } = await f.spawn.enqueue({ flow: 8 })
    await f.app.worker().start()
    await waitFor(async () => (await f.runs('c')).length >= 1, { timeoutMs: 60_000, message: 'the spawned flow ran' })
    await sleep(1000)
    const [spawn] = await f.runs('spawn')
    const workflowId = (spawn!.data as { workflowId: string }).workflowId
    expect(spawn!.task_id).toBe(taskId)
    expect(await f.runs('a', workflowId)).toHaveLength(1)
    expect(await f.runs('c', workflowId)).toHaveLength(1)
    expect(await f.flowState(workflowId)).toBe('SUCCEEDED')
  })
})
