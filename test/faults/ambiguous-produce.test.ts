/**
 * Ambiguous produce on a proxied cluster (KTASK_INFRA_PROXIED=1): responses of the leader of partition 0
 * reach clients 35 s late — past the 30 s request timeout — for 45 s. A produce sent then is written
 * by the broker, but the producer sees a timeout and sends it again (or gives up, and the caller enqueues
 * the same task ids again): the topic holds the batch twice. The ledger must run each task once.
 * Workers' own produces (retry tiers, DLQ) to that broker meet the same fault.
 */
import { describe, expect, it } from 'vitest'
import { coordinatorOf, faultCluster, leaderOf } from '../helpers/faults/brokers.ts'
import { addWorker, enqueueMore, killWorker, settle, startFaultRun, stopWorkers, type FaultRun } from '../helpers/faults/fault-run.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

/**
 * The fault every case here shares, on a run past 1,000 handled: responses of `node` held 35 s (past the
 * 30 s request timeout) for 45 s; 10 s in, a worker killed -9 and its replacement started (it cannot
 * finish starting before the fault ends); `more` tasks enqueued as the fault begins. Ends with the check.
 */
async function slowResponses(run: FaultRun, node: number, what: string, { more = 0 } = {}): Promise<void> {
  const proxy = run.proxies.get(node)!
  proxy.setMode({ mode: 'latency', ms: 35_000, direction: 'toClient' })
  console.log(`responses of broker ${node} (${what}) delayed 35 s from ${await run.handled()} handled`)
  const enqueued = more > 0 ? enqueueMore(run, more) : undefined
  await sleep(10_000)
  await killWorker(run, 0, { replace: false })
  const replacement = addWorker(run, {}, { readyTimeoutMs: 180_000 })
  console.log(`killed worker 0 and started a replacement at ${await run.handled()} handled`)
  await sleep(35_000)
  proxy.setMode({ mode: 'pass' })
  console.log(`broker ${node} answers on time again at ${await run.handled()} handled`)
  await replacement
  if (enqueued) console.log(`the ${more} more tasks were accepted after ${await enqueued} attempt(s)`)
  const report = await settle(run)
  expect(report.failures()).toBe('')
  await stopWorkers(run)
}

describe.skipIf(!faultCluster().proxied)('ambiguous produce', () => {
  it('produce responses delayed past the request timeout (500 tasks enqueued then, again with the same ids on failure): every invariant holds', async () => {
    const run = await startFaultRun({ name: 'ambiguous-produce', tasks: 5000 })
    await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
    await slowResponses(run, await leaderOf(run.s.topic, 0), 'leader of partition 0', { more: 500 })
  })

  // The coordinator's broker, and node 1: the first bootstrap broker, which a starting worker asks for
  // metadata and its topics. Slow past the request timeout there, kafkajs's admin kept answering "Broker
  // not connected" after the broker was fine again, and the replacement never finished starting (3 runs
  // of 3, until the runtime took a new admin client after a failed topic check).
  const targets: { what: string; name: string; pick: (run: FaultRun) => Promise<number> }[] = [
    { what: 'the group coordinator', name: 'coordinator-slow', pick: (run) => coordinatorOf(run.s.group) },
    { what: 'node 1 (first bootstrap broker)', name: 'node1-slow', pick: () => Promise.resolve(1) },
  ]
  for (const target of targets)
    it(`responses of ${target.what} delayed past the request timeout for 45 s (a worker killed -9, its replacement started meanwhile): the group recovers, every invariant holds`, async () => {
      const run = await startFaultRun({ name: target.name, tasks: 5000 })
      await waitFor(async () => (await run.handled()) >= 1000, { timeoutMs: 120_000, message: '1,000 handled' })
      await slowResponses(run, await target.pick(run), target.what)
    })
})
