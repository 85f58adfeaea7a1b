import { describe, expect, it } from 'vitest'
import { OffsetTracker } from '../../../src/worker/offset-tracker.ts'

describe('OffsetTracker', () => {
  it('commits up to the first offset not yet done, whatever order they finish in', () => {
    const t = new OffsetTracker(10)
    for (const o of [10, 11, 12, 13]) t.add(o)
    expect(t.position()).toBe(10)
    t.markDone(12)
    t.markDone(13)
    expect(t.position()).toBe(10)
    t.markDone(10)
    expect(t.position()).toBe(11)
    t.markDone(11)
    expect(t.position()).toBe(14)
    expect(t.pendingCount).toBe(0)
  })

  it('treats gaps (compaction, transaction markers) as done', () => {
    const t = new OffsetTracker(0)
    t.add(0)
    t.add(5)
    t.seenThrough(9)
    t.markDone(0)
    expect(t.position()).toBe(5)
    t.markDone(5)
    expect(t.position()).toBe(10)
  })

  it('recognises re-deliveries of offsets already buffered or done', () => {
    const t = new OffsetTracker(100)
    t.add(100)
    t.add(101)
    t.markDone(100)
    expect(t.has(99)).toBe(true)
    expect(t.has(100)).toBe(true)
    expect(t.has(101)).toBe(true)
    expect(t.has(102)).toBe(false)
  })

  it('reports an uncommitted position only when it moved past the last commit', () => {
    const t = new OffsetTracker(7)
    expect(t.uncommitted()).toBeUndefined()
    t.add(7)
    expect(t.uncommitted()).toBeUndefined()
    t.markDone(7)
    expect(t.uncommitted()).toBe(8)
    t.markCommitted(8)
    expect(t.uncommitted()).toBeUndefined()
    t.markCommitted(3)
    expect(t.committed).toBe(8)
  })

  it('ignores a done mark for an offset already behind the head', () => {
    const t = new OffsetTracker(0)
    t.add(0)
    t.add(1)
    t.markDone(0)
    t.markDone(0)
    expect(t.pendingCount).toBe(1)
    expect(t.position()).toBe(1)
  })

  it('refuses offsets added out of order', () => {
    const t = new OffsetTracker(0)
    t.add(5)
    expect(() => t.add(4)).toThrow(/offset 4 added after 5/)
  })

  it('stays correct over many offsets finished in random order (and compacts its storage)', () => {
    const t = new OffsetTracker(0)
    const n = 5000
    for (let o = 0; o < n; o++) t.add(o)
    const order = Array.from({ length: n }, (_, i) => i).sort(() => Math.random() - 0.5)
    let lowestPending = 0
    const done = new Set<number>()
    for (const o of order) {
      t.markDone(o)
      done.add(o)
      while (done.has(lowestPending)) lowestPending++
      expect(t.position()).toBe(lowestPending)
    }
    expect(t.position()).toBe(n)
    expect(t.pendingCount).toBe(0)
  })
})
