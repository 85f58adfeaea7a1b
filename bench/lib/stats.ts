/** Summaries of repeated runs and latency samples. */
export interface Figure {
  median: number
  min: number
  max: number
  unit: string
  runs: number[]
}

export function figure(runs: number[], unit: string, digits = 0): Figure {
  const sorted = [...runs].sort((a, b) => a - b)
  const mid = sorted.length / 2
  const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  const round = (n: number): number => Number(n.toFixed(digits))
  return { median: round(median), min: round(sorted[0]!), max: round(sorted.at(-1)!), unit, runs: runs.map(round) }
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}
