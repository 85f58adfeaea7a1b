/** Types of pauses.js (plain JavaScript: the benchmark's worker processes load it too). */
export interface Pauses {
  loopDelayP99: number
  loopDelayMax: number
  gcMax: number
  gcTotal: number
}

export function watchPauses(): { stop(): Pauses }
