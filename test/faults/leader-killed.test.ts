/**
 * Broker faults while two workers run. A broker outage alone never makes ktask deliver a message twice:
 * finished offsets are committed when partitions move, so the first run of these cases (broker fault
 * only) passed every check but "duplicate path exercised" (0 ledger duplicates). Each case therefore also
 * kills one worker (-9) while the cluster is degraded: its uncommitted work goes to a peer that has to
 * meet the ledger while leaders move and the group coordinator may be gone.
 *
 * Found by the first run: a `ktask worker` started while a broker is dead but not yet fenced exited at
 * start-up with KTASK_INFRASTRUCTURE "kafka unavailable: connect ECONNREFUSED <that broker>". Fixed (a
 * worker's start waits for its infrastructure; test/integration/issues/worker-start-without-broker); the
 * second case starts a worker right after the kill.
 */
import { describe, expect, it } from 'vitest'
import { killBroker, leaderOf, stopBroker, waitForFullIsr } from '../helpers/faults/brokers.ts'
import { addWorker, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe('broker faults', () => {
  it('leader of partition 0 killed -9 mid-run (and a worker killed -9 during the outage), broker restarted after 10 s: every invariant holds', async () => {
    const run = await startFaultRun({ name: 'leader-killed', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const killedAt = Date.now()
    const broker = await killBroker(leader)
    console.log(`killed broker ${leader} (leader of ${run.s.topic}[0]) at ${await run.handled()} handled`)
    await sleep(2000)
    await killWorker(run, 0, { replace: false })
    console.log(`killed worker 0 at ${await run.handled()} handled`)
    // The controller fences a broker that stopped heartbeating (6 s) and moves its leaderships to the ISR.
    await waitFor(async () => (await leaderOf(run.s.topic, 0)) !== leader, { timeoutMs: 30_000, message: 'a new leader of partition 0' })
    await sleep(Math.max(0, killedAt + 10_000 - Date.now()))
    await broker.restart()
    await addWorker(run)
    console.log(`broker ${leader} back, replacement worker started at ${await run.handled()} handled`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })

  it('a worker started while a broker is dead but not yet fenced waits, starts and works: every invariant holds', async () => {
    const run = await startFaultRun({ name: 'start-broker-dead', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const broker = await killBroker(leader)
    // At once, before the controller fences the dead broker (6 s): metadata still names it.
    await killWorker(run, 0)
    console.log(`killed broker ${leader} and worker 0; replacement running at ${await run.handled()} handled`)
    await sleep(10_000)
    await broker.restart()
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })

  it('a broker SIGSTOPped for 20 s mid-run (frozen, sockets open; a worker killed -9 meanwhile): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'broker-stopped', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const broker = stopBroker(leader)
    console.log(`stopped broker ${leader} (leader of ${run.s.topic}[0]) at ${await run.handled()} handled`)
    await sleep(5000)
    await killWorker(run, 0)
    console.log(`killed worker 0 and started a replacement at ${await run.handled()} handled`)
    await sleep(15_000)
    broker.resume()
    console.log(`broker ${leader} continued at ${await run.handled()} handled`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })
})
