/**
 * Isolated handlers' effects and lifecycle on real worker processes:
 * - a worker started by `app.worker()` in the user's own process, the task naming its module
 *   (`module: import.meta.url`): ctx.tx statements made in a child commit with the message's ledger row,
 *   roll back with it when the handler throws, and a ctx.enqueue follow-up is written in the same
 *   transaction;
 * - SIGTERM lets an isolated handler in flight finish and commit before the worker exits;
 * - no child process outlives its worker: after a graceful stop, and after the worker is SIGKILLed.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { alive, childPids, isolationSetup } from '../../helpers/isolation.ts'
import { spawnNode } from '../../helpers/processes.ts'
import { topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const OWN_WORKER = fileURLToPath(new URL('../../fixtures/isolation-own-worker.ts', import.meta.url))

describe('isolated handlers: effects and lifecycle', () => {
  it("app.worker() in the user's own process, module: import.meta.url — ctx.tx commits with the ledger row, or rolls back with it", async () => {
    const t = await isolationSetup('iso-own', 'process')
    const ids = await t.enqueue([
      { n: 0, mode: 'ok' },
      { n: 1, mode: 'throw' },
      { n: 2, mode: 'follow' },
    ])
    const worker = spawnNode([OWN_WORKER], {
      name: 'iso-own-worker',
      env: { KTASK_PREFIX: t.prefix, FIXTURE_TABLE: t.table, FIXTURE_ISOLATION: 'process', FIXTURE_MODULE: '1' },
    })
    await worker.waitForLine(/worker running/, 90_000)
    await waitFor(async () => (await topicCount(t.dlqTopic)) >= 1, { timeoutMs: 30_000, message: 'the throwing task dead-lettered' })
    await waitFor(async () => (await t.rows()).some((r) => r.n === 1002), { timeoutMs: 30_000, message: 'the follow-up ran' })

    const rows = await t.rows()
    expect(rows.map((r) => r.n)).toEqual([0, 2, 1002])
    // Written by child processes, not by the worker.
    expect(rows.every((r) => r.child !== String(worker.pid))).toBe(true)
    const ledger = await t.pool.query<{ message_id: string }>(`SELECT message_id FROM ktask.inbox WHERE group_id = $1`, [`${t.prefix}.iso`])
    const inLedger = new Set(ledger.rows.map((r) => r.message_id))
    expect(inLedger.has(ids[0]!)).toBe(true)
    expect(inLedger.has(ids[2]!)).toBe(true)
    // The task that wrote and then threw: neither its row nor its ledger row.
    expect(inLedger.has(ids[1]!)).toBe(false)
    expect(rows.some((r) => r.task_id === ids[1])).toBe(false)

    const children = await childPids(worker.pid)
    expect(children.length).toBeGreaterThan(0)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
    await sleep(200)
    expect(children.filter(alive)).toEqual([])
  })

  it('SIGTERM: the isolated handler in flight finishes and commits, then the worker and its children exit', async () => {
    const t = await isolationSetup('iso-sigterm', 'process')
    const worker = await t.startWorker()
    const [id] = await t.enqueue([{ n: 0, mode: 'slow' }])
    await worker.waitForLine(/slow handler started/, 30_000)
    const children = await childPids(worker.pid)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
    expect((await t.rows()).map((r) => r.task_id)).toEqual([id])
    await sleep(200)
    expect(children.filter(alive)).toEqual([])
  })

  it('child processes exit when their worker is SIGKILLed', async () => {
    const t = await isolationSetup('iso-orphans', 'process')
    await t.enqueue([
      { n: 0, mode: 'ok' },
      { n: 1, mode: 'ok' },
    ])
    const worker = await t.startWorker()
    await waitFor(async () => (await t.rows()).length >= 2, { timeoutMs: 30_000, message: 'two runs' })
    const children = await childPids(worker.pid)
    expect(children.length).toBeGreaterThan(0)
    worker.kill('SIGKILL')
    await worker.exited
    await waitFor(() => children.filter(alive).length === 0, { timeoutMs: 10_000, message: 'the children to exit' })
  })
})
