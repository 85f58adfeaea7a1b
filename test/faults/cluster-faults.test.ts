/**
 * Faults of the cluster as a whole: the group coordinator killed while the group rebalances, and every
 * broker killed at once and restarted. As in the other broker cases, a worker is also killed (-9) during
 * the fault, so a peer meets its applied-but-uncommitted work (the ledger's duplicate path).
 */
import { describe, expect, it } from 'vitest'
import { coordinatorOf, killAllBrokers, killBroker, waitForFullIsr } from '../helpers/faults/brokers.ts'
import { addWorker, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe('cluster faults', () => {
  it('the group coordinator killed -9 during a rebalance (a worker joining, another killed -9), restarted after 10 s: every invariant holds', async () => {
    const run = await startFaultRun({ name: 'coordinator-killed', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const coordinator = await coordinatorOf(run.s.group)
    // A third worker joins: the group starts rebalancing; the coordinator dies in the middle of it.
    const joining = addWorker(run)
    await sleep(700)
    const broker = await killBroker(coordinator)
    console.log(`killed broker ${coordinator} (coordinator of ${run.s.group}) during a rebalance at ${await run.handled()} handled`)
    await sleep(1000)
    await killWorker(run, 0, { replace: false })
    console.log(`killed worker 0 at ${await run.handled()} handled`)
    await sleep(9000)
    await broker.restart()
    console.log(`broker ${coordinator} back at ${await run.handled()} handled`)
    await joining
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })

  it('all three brokers killed -9 at once and restarted after 10 s (a worker killed -9 meanwhile): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'all-restarted', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const cluster = await killAllBrokers()
    console.log(`killed every broker at ${await run.handled()} handled`)
    await sleep(3000)
    await killWorker(run, 0, { replace: false })
    // The replacement starts with no broker at all: it must wait, not exit.
    const replacement = addWorker(run)
    await sleep(7000)
    await cluster.restart()
    console.log(`cluster back at ${await run.handled()} handled`)
    await replacement
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })
})
