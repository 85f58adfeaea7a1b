/** Measures of what limits promise, from recorded handler starts (pure). */

/** The most timestamps (ms) in any half-open window `[t, t + windowMs)`. */
export function maxInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  let from = 0
  for (let to = 0; to < sorted.length; to++) {
    while (sorted[to]! - sorted[from]! >= windowMs) from++
    best = Math.max(best, to - from + 1)
  }
  return best
}

/** The most intervals `[start, end)` running at one moment. */
export function maxOverlap(intervals: readonly { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, d: 1 },
    { at: i.end, d: -1 },
  ])
  // An end and a start at the same ms: the end first (half-open intervals do not overlap).
  points.sort((a, b) => a.at - b.at || a.d - b.d)
  let now = 0
  let best = 0
  for (const p of points) best = Math.max(best, (now += p.d))
  return best
}
