import { describe, expect, it } from 'vitest'
import { backoffDefaults, baseDelayMs, jitteredDelayMs, outageBackoffMs, tierDelays } from '../../../src/retry/backoff.ts'

const exp = { ...backoffDefaults, delayMs: 1000, maxDelayMs: 10_000 }

describe('backoff', () => {
  it('doubles from the base delay for each retry and caps at maxDelayMs (attempt 2 = first retry)', () => {
    expect([2, 3, 4, 5, 6].map((a) => baseDelayMs(exp, a))).toEqual([1000, 2000, 4000, 8000, 10_000])
  })

  it('keeps a fixed delay fixed', () => {
    expect([2, 3, 9].map((a) => baseDelayMs({ ...exp, type: 'fixed' }, a))).toEqual([1000, 1000, 1000])
  })

  it('only adds jitter (0-20%), never goes below the base or above the cap', () => {
    expect(jitteredDelayMs(exp, 2, () => 0)).toBe(1000)
    expect(jitteredDelayMs(exp, 2, () => 0.999)).toBe(1200)
    expect(jitteredDelayMs(exp, 6, () => 0.999)).toBe(10_000)
    for (let i = 0; i < 200; i++) {
      const d = jitteredDelayMs(exp, 3)
      expect(d).toBeGreaterThanOrEqual(2000)
      expect(d).toBeLessThanOrEqual(2400)
    }
    expect(jitteredDelayMs({ ...exp, jitter: false }, 2, () => 0.9)).toBe(1000)
  })

  it('derives one tier per distinct base delay', () => {
    expect(tierDelays(exp, 1)).toEqual([])
    expect(tierDelays(exp, 7)).toEqual([1000, 2000, 4000, 8000, 10_000])
    expect(tierDelays({ ...exp, type: 'fixed' }, 5)).toEqual([1000])
  })

  it('backs off outages exponentially up to a cap', () => {
    expect([1, 2, 3, 10].map((n) => outageBackoffMs(n))).toEqual([500, 1000, 2000, 30_000])
  })
})
