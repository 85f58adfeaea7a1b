/**
 * Fault case: the leader of partition 0 is killed (kill -9) while two workers run, and started again
 * ~10 s later. Kafka elects a new leader from the in-sync replicas (replication 3, min ISR 2), workers
 * and producers find it through metadata, and every invariant holds at the end.
 */
import { describe, expect, it } from 'vitest'
import { killBroker, leaderOf, stopBroker, waitForFullIsr } from '../helpers/faults/brokers.ts'
import { settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe('broker faults', () => {
  it('leader of partition 0 killed -9 mid-run, restarted after 10 s: every invariant holds', async () => {
    const run = await startFaultRun({ name: 'leader-killed', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const killedAt = Date.now()
    const broker = await killBroker(leader)
    console.log(`killed broker ${leader} (leader of ${run.s.topic}[0]) at ${await run.handled()} handled`)
    // The controller fences a broker that stopped heartbeating (6 s) and moves its leaderships to the ISR.
    await waitFor(async () => (await leaderOf(run.s.topic, 0)) !== leader, { timeoutMs: 30_000, message: 'a new leader of partition 0' })
    await sleep(Math.max(0, killedAt + 10_000 - Date.now()))
    await broker.restart()
    console.log(`broker ${leader} back at ${await run.handled()} handled`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })

  it('a broker SIGSTOPped for 20 s mid-run (frozen, sockets open): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'broker-stopped', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const broker = stopBroker(leader)
    console.log(`stopped broker ${leader} (leader of ${run.s.topic}[0]) at ${await run.handled()} handled`)
    await sleep(20_000)
    broker.resume()
    console.log(`broker ${leader} continued at ${await run.handled()} handled`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await waitForFullIsr([run.s.topic])
    await stopWorkers(run)
  })
})
