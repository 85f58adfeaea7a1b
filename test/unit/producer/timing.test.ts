/** delayMs / runAt of an enqueue: the range, the types, the field named, and the database they need. */
import { describe, expect, it } from 'vitest'
import { isKtaskError } from '../../../src/errors.ts'
import { MAX_DELAY_MS, resolveTiming } from '../../../src/producer/timing.ts'

const now = Date.parse('2026-12-01T00:00:00Z')
const ok = { what: 'enqueue "t"', hasDatabase: true, now }

function refusal(options: { delayMs?: unknown; runAt?: unknown }, context: Partial<typeof ok> & { prefix?: string } = {}) {
  try {
    resolveTiming(options, { ...ok, ...context })
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field, message: err.message }
    throw err
  }
  throw new Error('not refused')
}

describe('resolveTiming', () => {
  it('no delayMs and no runAt: at once (undefined), even without a database', () => {
    expect(resolveTiming({}, { ...ok, hasDatabase: false })).toBeUndefined()
  })

  it('accepts 0 to 366 days, and a runAt in the past (due at once) or up to 366 days ahead', () => {
    expect(resolveTiming({ delayMs: 0 }, ok)).toEqual({ delayMs: 0 })
    expect(resolveTiming({ delayMs: MAX_DELAY_MS }, ok)).toEqual({ delayMs: MAX_DELAY_MS })
    expect(MAX_DELAY_MS).toBe(366 * 24 * 3600 * 1000)
    const past = new Date(now - 60_000)
    expect(resolveTiming({ runAt: past }, ok)).toEqual({ runAt: past })
    const edge = new Date(now + MAX_DELAY_MS)
    expect(resolveTiming({ runAt: edge }, ok)).toEqual({ runAt: edge })
  })

  it.each([
    [{ delayMs: -1 }, 'delayMs'],
    [{ delayMs: MAX_DELAY_MS + 1 }, 'delayMs'],
    [{ delayMs: Number.NaN }, 'delayMs'],
    [{ delayMs: Infinity }, 'delayMs'],
    [{ delayMs: '1000' }, 'delayMs'],
    [{ runAt: '2027-01-01T00:00:00Z' }, 'runAt'],
    [{ runAt: 1_800_000_000_000 }, 'runAt'],
    [{ runAt: new Date('not a date') }, 'runAt'],
    [{ runAt: new Date(now + MAX_DELAY_MS + 1) }, 'runAt'],
    [{ delayMs: 10, runAt: new Date(now) }, 'runAt'],
  ])('refuses %o with KTASK_VALIDATION naming %s', (options, field) => {
    const r = refusal(options)
    expect(r.code).toBe('KTASK_VALIDATION')
    expect(r.field).toBe(field)
    expect(r.message).toContain('enqueue "t"')
  })

  it('names the item of a batch through the prefix', () => {
    expect(refusal({ delayMs: -5 }, { prefix: 'items[3].' }).field).toBe('items[3].delayMs')
  })

  it('says the runAt it got when it is not a date, and why a valid one is too far', () => {
    expect(refusal({ runAt: 'tomorrow' }).message).toMatch(/runAt must be a valid Date \(got string "tomorrow"\)/)
    expect(refusal({ runAt: new Date(now + 400 * 86_400_000) }).message).toMatch(/at most 366 days ahead/)
  })

  it('a valid delay without a database is KTASK_INVALID_CONFIG naming the option (checked after the value)', () => {
    const r = refusal({ delayMs: 1000 }, { hasDatabase: false })
    expect(r).toMatchObject({ code: 'KTASK_INVALID_CONFIG', field: 'delayMs' })
    expect(r.message).toMatch(/needs a database/)
    expect(refusal({ runAt: new Date(now) }, { hasDatabase: false }).field).toBe('runAt')
    expect(refusal({ delayMs: -1 }, { hasDatabase: false }).code).toBe('KTASK_VALIDATION')
  })
})
