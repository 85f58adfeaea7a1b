/**
 * `rateLimit: { max: 20, perMs: 1000 }` shared by three real worker processes: the handler starts they
 * record never exceed 20 (+1 for clock granularity) in any 1 s window, and every task runs once.
 */
import { describe, expect, it } from 'vitest'
import { limitsTest } from '../../helpers/limits-setup.ts'
import { maxInAnyWindow } from '../../helpers/limits.ts'
import { waitFor } from '../../helpers/wait.ts'

describe('rate limit across worker processes', () => {
  it('600 tasks limited to 20/s on 3 workers: at most 20 (+1) starts in any 1 s window, all finish once', async () => {
    const t = await limitsTest('rate')
    await Promise.all([t.worker('worker-a'), t.worker('worker-b'), t.worker('worker-c')])
    const { taskIds } = await t.paced.enqueueMany(Array.from({ length: 600 }, (_, n) => ({ args: { n, who: '', ms: 0 } })))

    await waitFor(async () => (await t.effects('paced')).size >= 600, { timeoutMs: 90_000, intervalMs: 1000, message: '600 runs' })

    const starts = await t.starts('paced')
    const windowMax = maxInAnyWindow(
      starts.map((s) => s.started),
      1000,
    )
    const span = (starts.at(-1)!.started - starts[0]!.started) / 1000
    console.log(`rate limit 20/s: ${starts.length} starts over ${span.toFixed(1)} s, at most ${windowMax} in any 1 s window`)
    if (windowMax > 21) {
      const t0 = starts[0]!.started
      console.log(starts.map((s) => `${s.started - t0}:${s.pid % 100}`).join(' '))
    }
    expect(windowMax).toBeLessThanOrEqual(21)
    // Every task ran, once (the ledger), and the three processes shared the work.
    const effects = await t.effects('paced')
    expect(new Set(effects.keys())).toEqual(new Set(taskIds))
    expect([...effects.values()].every((n) => n === 1)).toBe(true)
    expect(new Set(starts.map((s) => s.pid)).size).toBe(3)
  })
})
