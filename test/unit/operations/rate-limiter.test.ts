import { describe, expect, it } from 'vitest'
import { RateLimiter, type Clock } from '../../../src/operations/rate-limiter.ts'

function fakeClock(): Clock & { slept: number } {
  let t = 0
  const clock = {
    slept: 0,
    now: () => t,
    sleep: async (ms: number) => {
      clock.slept += ms
      t += ms
    },
  }
  return clock
}

describe('RateLimiter', () => {
  it('lets one second of burst through, then paces to the rate', async () => {
    const clock = fakeClock()
    const limiter = new RateLimiter(100, clock)
    for (let i = 0; i < 100; i++) await limiter.take()
    expect(clock.slept).toBe(0)
    for (let i = 0; i < 200; i++) await limiter.take()
    expect(clock.now()).toBeGreaterThanOrEqual(2000)
    expect(clock.now()).toBeLessThan(2100)
  })

  it('takes batches larger than the burst without waiting forever', async () => {
    const clock = fakeClock()
    const limiter = new RateLimiter(10, clock)
    await limiter.take(50)
    await limiter.take(50)
    expect(clock.now()).toBeGreaterThanOrEqual(1000)
  })

  it('does not limit when the rate is 0 or not finite', async () => {
    const clock = fakeClock()
    for (const rate of [0, Number.POSITIVE_INFINITY]) {
      const limiter = new RateLimiter(rate, clock)
      for (let i = 0; i < 10_000; i++) await limiter.take()
    }
    expect(clock.slept).toBe(0)
  })
})
