import { describe, expect, it } from 'vitest'
import { transactionHasRoom } from '../../../src/worker/transaction-budget.ts'

describe('transactionHasRoom', () => {
  it('takes another message only if its handler, at its longest, ends before the idle timeout (with a margin)', () => {
    // 60 s idle timeout, 5 s margin: a 30 s handler may start while the transaction has been idle < 25 s.
    expect(transactionHasRoom({ now: 24_000, lastStatementAt: 0, begunAt: 0 }, 30_000, 60_000)).toBe(true)
    expect(transactionHasRoom({ now: 26_000, lastStatementAt: 0, begunAt: 0 }, 30_000, 60_000)).toBe(false)
    // A statement a moment ago resets the idle clock.
    expect(transactionHasRoom({ now: 26_000, lastStatementAt: 25_000, begunAt: 0 }, 30_000, 60_000)).toBe(true)
  })

  it('stops taking messages after half the idle timeout, or 30 s when there is none', () => {
    expect(transactionHasRoom({ now: 31_000, lastStatementAt: 30_900, begunAt: 0 }, 100, 60_000)).toBe(false)
    expect(transactionHasRoom({ now: 29_000, lastStatementAt: 28_900, begunAt: 0 }, 100, 0)).toBe(true)
    expect(transactionHasRoom({ now: 31_000, lastStatementAt: 30_900, begunAt: 0 }, 10_000_000, 0)).toBe(false)
  })

  it('with a 3 s idle timeout and 2 s handlers, another may start while the transaction was idle up to 700 ms', () => {
    const fits = (idle: number) => transactionHasRoom({ now: idle, lastStatementAt: 0, begunAt: 0 }, 2000, 3000)
    expect([250, 500, 700, 750].map(fits)).toEqual([true, true, true, false])
  })
})
