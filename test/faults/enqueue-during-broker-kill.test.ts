/**
 * Enqueues while a broker dies. kafkajs 2.2 could resolve a send (acks=all) without having written the
 * partitions that moved, mid-send, to a broker that had answered already (tulios/kafkajs#1303): the
 * nemesis lost 25 enqueued tasks that way. Here batches of 60 go out one after another while the leader of
 * partition 0 is killed (and, later, another broker is frozen): every task an `enqueueMany` accepted must
 * have its effect (the invariant check), and nothing else. A worker is killed -9 meanwhile, as in the
 * other cases.
 */
import { describe, expect, it } from 'vitest'
import { killBroker, leaderOf, stopBroker, waitForFullIsr } from '../helpers/faults/brokers.ts'
import { enqueueMore, killWorker, settle, startFaultRun, stopWorkers } from '../helpers/faults/fault-run.ts'
import { sleep } from '../helpers/wait.ts'

describe('enqueue during broker faults', () => {
  it('batches enqueued one after another while a leader is killed -9 and later another broker frozen: every accepted task has its effect', async () => {
    const run = await startFaultRun({ name: 'enqueue-kill', tasks: 500, sleepMs: 5 })
    let loading = true
    let batches = 0
    const load = (async () => {
      while (loading) {
        await enqueueMore(run, 60, { attempts: 1000, pauseMs: 500 })
        batches++
        // ~4 batches a second: enough sends in flight at each fault, few enough to drain in minutes.
        await sleep(250)
      }
    })()
    await sleep(3000)
    const leader = await leaderOf(run.s.topic, 0)
    const broker = await killBroker(leader)
    console.log(`killed broker ${leader} (leader of ${run.s.topic}[0]) after ${batches} batches`)
    // The duplicate path too: a worker's applied-but-uncommitted work goes to its replacement.
    await sleep(2000)
    await killWorker(run, 0)
    await sleep(8000)
    await broker.restart()
    await waitForFullIsr([run.s.topic])
    const other = await leaderOf(run.s.topic, 1)
    const frozen = stopBroker(other)
    console.log(`froze broker ${other} after ${batches} batches`)
    await sleep(8000)
    frozen.resume()
    await sleep(3000)
    loading = false
    await load
    console.log(`${batches} batches of 60 enqueued, ${run.seeded.tasks.length} tasks in all`)
    const report = await settle(run)
    expect(report.failures()).toBe('')
    await stopWorkers(run)
  })
})
