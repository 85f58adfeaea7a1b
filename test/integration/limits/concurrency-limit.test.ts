/**
 * `concurrency: { max: 2, key: user }` across three real worker processes: never more than 2 of a user's
 * exports run at once, also when a worker is SIGKILLed mid-run (its leases expire, its slots come back),
 * and every export runs once. Without key (`{ max: 1 }`, two workers): one at a time.
 */
import { describe, expect, it } from 'vitest'
import { limitsTest, type Start } from '../../helpers/limits-setup.ts'
import { maxOverlap } from '../../helpers/limits.ts'
import { waitFor } from '../../helpers/wait.ts'

const USERS = ['u1', 'u2', 'u3']
const PER_USER = 40

describe('concurrency limit across worker processes', () => {
  it('at most 2 running per user on 3 workers, through a SIGKILL; all exports run once', async () => {
    const t = await limitsTest('concurrency')
    const [a] = await Promise.all([t.worker('worker-a'), t.worker('worker-b'), t.worker('worker-c')])
    const { taskIds } = await t.exported.enqueueMany(
      Array.from({ length: USERS.length * PER_USER }, (_, n) => ({ args: { n, who: USERS[n % USERS.length]!, ms: 300 } })),
    )

    // SIGKILL worker a while it runs exports of its own.
    await waitFor(async () => (await t.starts('export')).some((s) => s.pid === a.pid && s.finished === null), {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: 'worker a running an export',
    })
    a.kill('SIGKILL')
    const killedAt = Date.now()
    await a.exited

    await waitFor(async () => (await t.effects('export')).size >= taskIds.length, {
      timeoutMs: 60_000,
      intervalMs: 500,
      message: 'every export',
    })
    const starts = await t.starts('export')
    const end = (s: Start): number => s.finished ?? (s.pid === a.pid ? killedAt : Infinity)
    const killed = starts.filter((s) => s.pid === a.pid && s.finished === null)
    expect(killed.length).toBeGreaterThan(0)
    // A run that never finished belongs to the killed worker only.
    expect(starts.filter((s) => s.finished === null && s.pid !== a.pid)).toEqual([])
    for (const user of USERS) {
      const runs = starts.filter((s) => s.who === user).map((s) => ({ start: s.started, end: end(s) }))
      const most = maxOverlap(runs)
      console.log(`${user}: ${runs.length} runs, at most ${most} at once`)
      expect(most).toBeLessThanOrEqual(2)
      expect(most).toBe(2) // the limit is used, not only respected
    }
    const effects = await t.effects('export')
    expect(new Set(effects.keys())).toEqual(new Set(taskIds))
    expect([...effects.values()].every((n) => n === 1)).toBe(true)
  })

  it('without key, at most 1 running across 2 workers: the other partitions wait, paused, and all run once', async () => {
    const t = await limitsTest('concurrency-one')
    await Promise.all([t.worker('worker-a'), t.worker('worker-b')])
    const { taskIds } = await t.single.enqueueMany(Array.from({ length: 24 }, (_, n) => ({ args: { n, who: '', ms: 100 } })))
    await waitFor(async () => (await t.effects('single')).size >= taskIds.length, {
      timeoutMs: 40_000,
      intervalMs: 250,
      message: 'every task',
    })
    const starts = await t.starts('single')
    expect(maxOverlap(starts.map((s) => ({ start: s.started, end: s.finished! })))).toBe(1)
    expect(new Set(starts.map((s) => s.pid)).size).toBe(2)
    const effects = await t.effects('single')
    expect(new Set(effects.keys())).toEqual(new Set(taskIds))
    expect([...effects.values()].every((n) => n === 1)).toBe(true)
  })
})
