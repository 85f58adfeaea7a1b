import { describe, expect, it } from 'vitest'
import { effectiveDueAt } from '../../../src/worker/due-time.ts'

describe('effectiveDueAt', () => {
  const base = 'ktask.q'
  it('keeps a due time within what the tier can ask for', () => {
    expect(effectiveDueAt(10_500, 10_000, 'ktask.q.retry.1s', base, 30_000)).toBe(10_500)
  })

  it('caps a due time written by a clock running ahead: tier delay + 20% + 1 s + the skew tolerance', () => {
    expect(effectiveDueAt(10_000 + 300_000, 10_000, 'ktask.q.retry.1s', base, 30_000)).toBe(10_000 + 1200 + 1000 + 30_000)
    expect(effectiveDueAt(999_999_999_999_999, 0, 'ktask.q.retry.300ms', base, 1000)).toBe(360 + 1000 + 1000)
  })

  it('assumes 10 min for a tier whose name does not say its delay', () => {
    expect(effectiveDueAt(Number.MAX_SAFE_INTEGER, 0, 'other.topic', base, 0)).toBe(720_000 + 1000)
  })
})
