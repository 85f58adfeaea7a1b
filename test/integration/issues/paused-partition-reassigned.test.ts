/**
 * Regression: a partition paused when it was revoked was never fetched again when it came back.
 *
 * kafkajs keeps a consumer's pause flags across rejoins. A lane paused for `not-due` (a retry tier whose
 * head waits, most of the time), `backpressure` or `outage` was retired without resuming, and nothing
 * resumed a newly assigned partition: no lane is created until a batch arrives, and no batch arrives for
 * a paused partition. One worker that stays while others come and go is enough: when they are gone, the
 * partitions it gets back that it had paused stall for ever. Before the fix, 349 of 2,000 tasks — all of
 * them waiting retries — were still not run 120 s after such a storm.
 */
import { describe, expect, it } from 'vitest'
import { testAdmin } from '../../helpers/infra.ts'
import { CLI, spawnNode, type SpawnedProcess } from '../../helpers/processes.ts'
import { RECORDING_APP, recordingSetup } from '../../helpers/recording.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

/** A small deterministic PRNG, so a failing storm can be replayed with the same seed. */
function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('rebalance storm', () => {
  it('one worker stays while others start and stop every 1.5 s (SIGTERM or SIGKILL) and a third of the tasks wait in a retry tier: every task runs and the lag ends at 0', async () => {
    const total = 2000
    const s = await recordingSetup({ name: 'storm', partitions: 6, failFirstAttemptEvery: 3, retryDelayMs: 5000 })
    await s.app.provision()
    const stayer = await s.startWorker()
    const random = mulberry32(Number(process.env.STORM_SEED ?? 20261130))
    const others: SpawnedProcess[] = []
    let enqueued = 0
    const stormMs = 45_000
    const started = Date.now()
    const producing = (async () => {
      // Tasks keep arriving through the storm: ~2,000 over 40 s.
      while (enqueued < total) {
        const n = Math.min(25, total - enqueued)
        await s.record.enqueueMany(
          Array.from({ length: n }, (_, i) => ({
            args: { n: enqueued + i, key: `k${(enqueued + i) % 64}`, seq: enqueued + i },
            key: `k${(enqueued + i) % 64}`,
          })),
        )
        enqueued += n
        await sleep(500)
      }
    })()
    const events: string[] = []
    while (Date.now() - started < stormMs) {
      await sleep(1500)
      const alive = others.filter((p) => p.running)
      if (alive.length < 3 && (alive.length === 0 || random() < 0.5)) {
        others.push(spawnNode([CLI, 'worker', RECORDING_APP], { env: s.env, name: `extra${others.length}` }))
        events.push('start')
      } else if (alive.length > 0) {
        const victim = alive[Math.floor(random() * alive.length)]!
        const signal = random() < 0.5 ? 'SIGTERM' : 'SIGKILL'
        victim.kill(signal)
        events.push(signal)
      }
    }
    for (const p of others) p.kill('SIGKILL')
    await Promise.all(others.map((p) => p.exited))
    await producing
    expect(events.filter((e) => e === 'start').length).toBeGreaterThan(5)

    // Only the worker that stayed is left: it must get every partition back and run everything.
    await s.waitForHandled(total, 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await s.distinctHandled()} of ${total} handled`)
    })
    expect(await s.distinctHandled()).toBe(total)
    const admin = await testAdmin()
    const topics = (await admin.listTopics()).filter((t) => t === s.topic || t.startsWith(`${s.topic}.retry.`))
    expect(topics.length).toBe(2)
    await waitFor(
      async () => {
        for (const topic of topics) {
          const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [topic] })
          const ends = await admin.fetchTopicOffsets(topic)
          const lagging = ends.some(
            (e) => Number(e.high) > 0 && committed!.partitions.find((p) => p.partition === e.partition)?.offset !== e.high,
          )
          if (lagging) return false
        }
        return true
      },
      { timeoutMs: 30_000, message: "the group's lag on the queue and its retry tier to reach 0" },
    )
    stayer.kill('SIGTERM')
    expect((await stayer.exited).code).toBe(0)
  }, 300_000)
})
