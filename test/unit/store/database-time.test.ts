import { describe, expect, it } from 'vitest'
import { DatabaseTime } from '../../../src/store/database-time.ts'

describe('DatabaseTime', () => {
  it('is the local clock until measured', () => {
    const t = new DatabaseTime()
    expect(t.offsetMs()).toBe(0)
    expect(Math.abs(t.now() - Date.now())).toBeLessThanOrEqual(1)
  })

  it('takes the offset from the middle of the round trip: a local clock 5 min ahead reads the database 5 min behind it', () => {
    const t = new DatabaseTime()
    const local = 1_800_000_000_000
    t.sample(local, local + 4, local + 2 - 300_000)
    expect(t.offsetMs()).toBe(-300_000)
    expect(Math.abs(t.now() - (Date.now() - 300_000))).toBeLessThanOrEqual(1)
  })

  it('keeps the fastest round trip of a minute: a slow answer says less about the clock', () => {
    const t = new DatabaseTime()
    t.sample(1000, 1002, 11_001) // rtt 2 ms: offset 10,000
    t.sample(2000, 2200, 12_000) // rtt 200 ms, within the minute: ignored
    expect(t.offsetMs()).toBe(10_000)
    t.sample(70_000, 70_300, 80_150) // a minute later: replaces it, even slower
    expect(t.offsetMs()).toBe(10_000)
    t.sample(71_000, 71_400, 81_300) // slower than that one, within its minute: ignored
    expect(t.offsetMs()).toBe(10_000)
  })
})
