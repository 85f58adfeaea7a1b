import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { offsetFromEnv, shiftedDate } from '../../helpers/faults/clock-offset.ts'

const preload = fileURLToPath(new URL('../../helpers/faults/clock-offset.ts', import.meta.url))
const FIVE_MIN = 5 * 60_000

describe('clock offset', () => {
  it('shifts Date.now(), new Date() and Date(); leaves explicit moments, parsing and instanceof alone', () => {
    const Shifted = shiftedDate(Date, FIVE_MIN)
    const real = Date.now()
    expect(Shifted.now() - real).toBeGreaterThanOrEqual(FIVE_MIN)
    expect(Shifted.now() - real).toBeLessThan(FIVE_MIN + 1000)
    expect(new Shifted().getTime() - real).toBeGreaterThanOrEqual(FIVE_MIN)
    expect(new Shifted() instanceof Date).toBe(true)
    expect(new Shifted(0).getTime()).toBe(0)
    expect(new Shifted(2026, 0, 1).getFullYear()).toBe(2026)
    expect(Shifted.parse('1970-01-01T00:00:01Z')).toBe(1000)
    expect(Shifted.UTC(1970, 0, 1)).toBe(0)
    expect(Date.parse(Shifted()) - real).toBeGreaterThan(FIVE_MIN - 1000)
    const behind = shiftedDate(Date, -FIVE_MIN)
    expect(real - behind.now()).toBeGreaterThanOrEqual(FIVE_MIN - 5)
  })

  it('a subclass of the shifted Date keeps its own prototype', () => {
    const Shifted = shiftedDate(Date, FIVE_MIN)
    class Stamp extends Shifted {
      label(): string {
        return 'stamp'
      }
    }
    const s = new Stamp()
    expect(s.label()).toBe('stamp')
    expect(s.getTime() - Date.now()).toBeGreaterThan(FIVE_MIN - 1000)
  })

  it('reads KTASK_CLOCK_OFFSET_MS, refusing what is not an integer', () => {
    expect(offsetFromEnv({})).toBe(0)
    expect(offsetFromEnv({ KTASK_CLOCK_OFFSET_MS: '-300000' })).toBe(-300_000)
    expect(() => offsetFromEnv({ KTASK_CLOCK_OFFSET_MS: '5m' })).toThrow(/KTASK_CLOCK_OFFSET_MS/)
  })

  it('as a preload (node --import), a real process reads a shifted clock; its timers are not', () => {
    const script =
      'const t0 = performance.now(); setTimeout(() => console.log(JSON.stringify({ now: Date.now(), date: new Date().getTime(), waited: performance.now() - t0 })), 50)'
    type Reading = { now: number; date: number; waited: number }
    const run = (offset: string): Reading =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', preload, '-e', script], {
          env: { ...process.env, KTASK_CLOCK_OFFSET_MS: offset },
          encoding: 'utf8',
        }),
      ) as Reading
    const before = Date.now()
    const ahead = run('300000')
    expect(ahead.now - before).toBeGreaterThanOrEqual(FIVE_MIN)
    expect(ahead.now - Date.now()).toBeLessThanOrEqual(FIVE_MIN)
    expect(ahead.date - before).toBeGreaterThanOrEqual(FIVE_MIN)
    expect(ahead.waited).toBeGreaterThanOrEqual(45)
    expect(ahead.waited).toBeLessThan(5000)
    const plain = run('')
    expect(Math.abs(plain.now - Date.now())).toBeLessThan(10_000)
  })
})
