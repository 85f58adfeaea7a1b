import { describe, expect, it } from 'vitest'
import { Semaphore } from '../../../src/worker/semaphore.ts'

describe('Semaphore', () => {
  it('never lets more than N run at once, and serves waiters in arrival order', async () => {
    const s = new Semaphore(2)
    let running = 0
    let max = 0
    const started: number[] = []
    const gates: (() => void)[] = []
    const jobs = Array.from({ length: 5 }, (_, i) =>
      s.run(async () => {
        started.push(i)
        max = Math.max(max, ++running)
        await new Promise<void>((r) => gates.push(r))
        running--
      }),
    )
    await new Promise((r) => setTimeout(r, 0))
    expect(started).toEqual([0, 1])
    while (gates.length > 0 || started.length < 5) {
      gates.shift()?.()
      await new Promise((r) => setTimeout(r, 0))
    }
    gates.forEach((g) => g())
    await Promise.all(jobs)
    expect(max).toBe(2)
    expect(started).toEqual([0, 1, 2, 3, 4])
  })

  it('releases its permit when the job throws', async () => {
    const s = new Semaphore(1)
    await expect(
      s.run(async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    await expect(s.run(async () => 'ok')).resolves.toBe('ok')
  })
})
