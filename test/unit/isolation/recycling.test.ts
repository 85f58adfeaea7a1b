/** When a child is retired, and the guard against replacing a child after every run. */
import { describe, expect, it } from 'vitest'
import { RecyclePolicy, restartDelayMs } from '../../../src/isolation/recycling.ts'

const silent = (): void => {}

describe('RecyclePolicy', () => {
  it('keeps children without limits', () => {
    const p = new RecyclePolicy({ maxTasksPerChild: undefined, maxMemoryPerChildMb: undefined })
    expect(p.afterRun(1_000_000, 10_000, silent)).toBeUndefined()
  })

  it('retires after maxTasksPerChild runs', () => {
    const p = new RecyclePolicy({ maxTasksPerChild: 3, maxMemoryPerChildMb: undefined })
    expect([1, 2, 3].map((n) => p.afterRun(n, 50, silent))).toEqual([undefined, undefined, 'tasks'])
  })

  it('retires a child over maxMemoryPerChildMb after a run', () => {
    const p = new RecyclePolicy({ maxTasksPerChild: undefined, maxMemoryPerChildMb: 200 })
    expect(p.afterRun(5, 180, silent)).toBeUndefined()
    expect(p.afterRun(6, 201, silent)).toBe('memory')
  })

  it('raises the limit, warning once, when fresh children are over it after one run three times in a row', () => {
    const p = new RecyclePolicy({ maxTasksPerChild: undefined, maxMemoryPerChildMb: 50 })
    const warnings: Record<string, number>[] = []
    const warn = (_: string, details: Record<string, number>): void => void warnings.push(details)
    expect(p.afterRun(1, 80, warn)).toBe('memory')
    expect(p.afterRun(1, 80, warn)).toBe('memory')
    expect(p.afterRun(1, 80, warn)).toBeUndefined()
    expect(p.memoryLimitMb).toBe(160)
    expect(warnings).toEqual([{ maxMemoryPerChildMb: 50, heldAfterOneRunMb: 80, limitInForceMb: 160 }])
    expect(p.afterRun(2, 120, warn)).toBeUndefined()
    expect(p.afterRun(3, 170, warn)).toBe('memory')
    expect(p.afterRun(1, 200, warn)).toBe('memory')
    expect(warnings).toHaveLength(1)
  })

  it('does not raise the limit when fresh children were over it only now and then', () => {
    const p = new RecyclePolicy({ maxTasksPerChild: undefined, maxMemoryPerChildMb: 50 })
    for (const held of [80, 80, 40, 80, 80, 40]) p.afterRun(1, held, silent)
    expect(p.memoryLimitMb).toBe(50)
  })
})

describe('restartDelayMs', () => {
  it('backs off exponentially after failed starts, up to 10 s', () => {
    expect([0, 1, 2, 3, 8, 20].map(restartDelayMs)).toEqual([0, 100, 200, 400, 10_000, 10_000])
  })
})
