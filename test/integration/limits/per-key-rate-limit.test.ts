/**
 * A per-key rate limit never blocks a shared partition: tenant A's tasks over its 5/s are deferred
 * through ktask.timers (same task id and attempt, offset committed) while tenant B's, on the same
 * partitions and exempt from the limit, run at once. Two real worker processes.
 */
import { describe, expect, it } from 'vitest'
import { limitsTest } from '../../helpers/limits-setup.ts'
import { maxInAnyWindow } from '../../helpers/limits.ts'
import { waitFor } from '../../helpers/wait.ts'

const A_TASKS = 300 // the figure: about 60 s at 5/s

describe('per-key rate limit', () => {
  it(`tenant A (${A_TASKS} tasks, 5/s) is throttled while tenant B's 30 finish within seconds; all run once`, async () => {
    const t = await limitsTest('rate-key')
    await Promise.all([t.worker('worker-a'), t.worker('worker-b')])
    // A first: B's tasks sit behind A's in every partition.
    const a = await t.tenant.enqueueMany(Array.from({ length: A_TASKS }, (_, n) => ({ args: { n, who: 'A', ms: 0 } })))
    const enqueuedB = Date.now()
    const b = await t.tenant.enqueueMany(Array.from({ length: 30 }, (_, n) => ({ args: { n, who: 'B', ms: 0 } })))

    await waitFor(async () => (await t.starts('tenant')).filter((s) => s.who === 'B' && s.finished !== null).length >= 30, {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: "B's 30 tasks",
    })
    const bDoneAfter = Date.now() - enqueuedB
    const aDoneWhenB = (await t.starts('tenant')).filter((s) => s.who === 'A').length
    console.log(`B's 30 tasks finished ${bDoneAfter} ms after they were enqueued; A had started ${aDoneWhenB} of ${A_TASKS} by then`)
    expect(bDoneAfter).toBeLessThan(10_000)
    expect(aDoneWhenB).toBeLessThan(A_TASKS / 2)

    await waitFor(async () => (await t.effects('tenant')).size >= A_TASKS + 30, {
      timeoutMs: 120_000,
      intervalMs: 1000,
      message: 'every task',
    })
    const effects = await t.effects('tenant')
    expect(new Set(effects.keys())).toEqual(new Set([...a.taskIds, ...b.taskIds]))
    expect([...effects.values()].every((n) => n === 1)).toBe(true)
    const aStarts = (await t.starts('tenant')).filter((s) => s.who === 'A')
    expect(aStarts).toHaveLength(A_TASKS)
    const window = maxInAnyWindow(
      aStarts.map((s) => s.started),
      1000,
    )
    const span = (aStarts.at(-1)!.started - aStarts[0]!.started) / 1000
    console.log(`A: ${A_TASKS} starts over ${span.toFixed(1)} s, at most ${window} in any 1 s window`)
    // Deferred messages start at their reserved slot or later (the timer, the relay and the fetch add
    // latency): A's overall pace is its limit, and no second's burst goes far beyond it.
    expect(span).toBeGreaterThan((A_TASKS - 5) / 5 - 1)
  })
})
