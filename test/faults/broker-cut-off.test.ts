/**
 * Fault case on a proxied cluster (KTASK_INFRA_PROXIED=1): the leader of partition 0 stays up and keeps
 * replicating, but every client connection to it is blackholed for 20 s (accepted, bytes dropped), then
 * reset when the blackhole ends. Clients must time out, fetch metadata elsewhere and wait for the broker.
 * Run alone, this case passed every check but "duplicate path exercised" (0 ledger duplicates), so, like
 * the broker cases, it also kills a worker (-9) during the fault and starts a replacement after it.
 */
import { describe, expect, it } from 'vitest'
import { faultCluster, leaderOf } from '../helpers/faults/brokers.ts'
import { addWorker, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe.skipIf(!faultCluster().proxied)('network faults between clients and brokers', () => {
  it('clients cut off from the leader of partition 0 for 20 s (blackhole; a worker killed -9 meanwhile): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'broker-cut-off', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const proxy = run.proxies.get(leader)!
    proxy.setMode({ mode: 'blackhole' })
    console.log(`blackholed clients of broker ${leader} at ${await run.handled()} handled`)
    await sleep(5000)
    await killWorker(run, 0, { replace: false })
    console.log(`killed worker 0 at ${await run.handled()} handled`)
    await sleep(15_000)
    proxy.setMode({ mode: 'pass' })
    await addWorker(run)
    console.log(`broker ${leader} reachable again, replacement worker started at ${await run.handled()} handled`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })
})
