/**
 * Ambiguous produce on a proxied cluster (KTASK_INFRA_PROXIED=1): responses of the leader of partition 0
 * reach clients 35 s late — past the 30 s request timeout — for 45 s. A produce sent then is written
 * by the broker, but the producer sees a timeout and sends it again (or gives up, and the caller enqueues
 * the same task ids again): the topic holds the batch twice. The ledger must run each task once.
 * Workers' own produces (retry tiers, DLQ) to that broker meet the same fault.
 */
import { describe, expect, it } from 'vitest'
import { coordinatorOf, faultCluster, leaderOf } from '../helpers/faults/brokers.ts'
import { addWorker, enqueueMore, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

describe.skipIf(!faultCluster().proxied)('ambiguous produce', () => {
  it('produce responses delayed past the request timeout (500 tasks enqueued then, again with the same ids on failure): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'ambiguous-produce', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const leader = await leaderOf(run.s.topic, 0)
    const proxy = run.proxies.get(leader)!
    proxy.setMode({ mode: 'latency', ms: 35_000, direction: 'toClient' })
    console.log(`responses of broker ${leader} delayed 35 s from ${await run.handled()} handled`)
    const more = enqueueMore(run, 500)
    await sleep(10_000)
    await killWorker(run, 0, { replace: false })
    // Its replacement starts during the fault (it cannot finish starting before the fault ends).
    const replacement = addWorker(run, {}, { readyTimeoutMs: 180_000 })
    console.log(`killed worker 0 and started a replacement at ${await run.handled()} handled`)
    await sleep(35_000)
    proxy.setMode({ mode: 'pass' })
    console.log(`broker ${leader} answers on time again at ${await run.handled()} handled`)
    await replacement
    console.log(`the 500 more tasks were accepted after ${await more} attempt(s)`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })

  it("the group coordinator's responses delayed past the request timeout for 45 s (a worker killed -9 meanwhile): the group recovers, every invariant holds", async () => {
    const run = await startFaultRun({ name: 'coordinator-slow', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    const coordinator = await coordinatorOf(run.s.group)
    const proxy = run.proxies.get(coordinator)!
    proxy.setMode({ mode: 'latency', ms: 35_000, direction: 'toClient' })
    console.log(`responses of broker ${coordinator} (coordinator of the group) delayed 35 s from ${await run.handled()} handled`)
    await sleep(10_000)
    await killWorker(run, 0, { replace: false })
    const replacement = addWorker(run, {}, { readyTimeoutMs: 180_000 })
    console.log(`killed worker 0 and started a replacement at ${await run.handled()} handled`)
    await sleep(35_000)
    proxy.setMode({ mode: 'pass' })
    console.log(`broker ${coordinator} answers on time again at ${await run.handled()} handled`)
    await replacement
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })
})
