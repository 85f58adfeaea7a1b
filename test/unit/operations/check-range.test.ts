import { describe, expect, it } from 'vitest'
import { checkRange } from '../../../src/operations/offsets.ts'

describe('checkRange', () => {
  it('refuses a --to-offset before --from-offset, naming the field', () => {
    expect(() => checkRange({ fromOffset: 20 }, { toOffset: 10 })).toThrow(
      expect.objectContaining({ code: 'KTASK_VALIDATION', field: 'toOffset' }),
    )
  })

  it('accepts a one-message range (--to-offset is included)', () => {
    expect(() => checkRange({ fromOffset: 10 }, { toOffset: 10 })).not.toThrow()
  })

  it('refuses a --to-time that is not after --from-time (--to-time is excluded)', () => {
    const t = new Date('2024-01-01T00:00:00Z')
    expect(() => checkRange({ fromTime: t }, { toTime: t })).toThrow(expect.objectContaining({ code: 'KTASK_VALIDATION', field: 'toTime' }))
    expect(() => checkRange({ fromTime: t }, { toTime: new Date(t.getTime() + 1) })).not.toThrow()
  })

  it('leaves open-ended and mixed ranges to the per-partition plan', () => {
    expect(() => checkRange({ earliest: true }, { toOffset: 0 })).not.toThrow()
    expect(() => checkRange({ fromOffset: 5 }, undefined)).not.toThrow()
  })
})
