/**
 * What stalls a process while a latency run lasts: its event-loop delay (how late a timer due every
 * 10 ms ran: the loop was busy or the process had no core) and its garbage-collection pauses. Plain
 * JavaScript: the benchmark's worker processes (worker-app.js) load it too.
 */
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks'

/** Starts measuring; `stop()` returns the p99 and max of the loop delay and the GC pauses, in ms. */
export function watchPauses() {
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const gc = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gc.push(entry.duration)
  })
  observer.observe({ entryTypes: ['gc'] })
  return {
    stop() {
      loop.disable()
      observer.disconnect()
      gc.sort((a, b) => a - b)
      const round = (v) => Math.round(v * 10) / 10
      return {
        loopDelayP99: round(loop.percentile(99) / 1e6),
        loopDelayMax: round(loop.max / 1e6),
        gcMax: round(gc.at(-1) ?? 0),
        gcTotal: round(gc.reduce((a, b) => a + b, 0)),
      }
    },
  }
}
