import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { FastCounter, FastHistogram } from '../../../src/observability/fast-metrics.ts'

// The fast series must scrape exactly as prom-client's own metrics would for the same observations.
describe('fast metrics', () => {
  it('a FastHistogram scrapes like a prom-client Histogram', async () => {
    const fast = new Registry()
    const slow = new Registry()
    const config = { name: 'h_seconds', help: 'h', labelNames: ['queue', 'task'] as const, buckets: [0.001, 0.01, 0.5, 1] }
    const f = new FastHistogram({ ...config, labelNames: [...config.labelNames], registers: [fast] })
    const s = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [slow] })
    const values = [0, 0.0005, 0.001, 0.002, 0.01, 0.3, 0.5, 0.9, 1, 7, 120]
    for (const v of values) {
      f.series('a', 'x').observe(v)
      s.labels('a', 'x').observe(v)
    }
    f.series('b', 'y').observe(0.02)
    s.labels('b', 'y').observe(0.02)
    expect(await fast.metrics()).toBe(await slow.metrics())
    // prom-client's own values carry `exemplar: null` (exemplars off); nothing else may differ.
    const withoutExemplars = (json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      json.map((m) => ({
        ...m,
        values: m.values.map((v) => {
          const { exemplar: _, ...rest } = v as typeof v & { exemplar?: unknown }
          return rest
        }),
      }))
    expect(await fast.getMetricsAsJSON()).toEqual(withoutExemplars(await slow.getMetricsAsJSON()))
  })

  it('a FastCounter scrapes like a prom-client Counter, and reset zeroes it', async () => {
    const fast = new Registry()
    const slow = new Registry()
    const f = new FastCounter({ name: 'c_total', help: 'c', labelNames: ['queue', 'outcome'], registers: [fast] })
    const s = new Counter({ name: 'c_total', help: 'c', labelNames: ['queue', 'outcome'], registers: [slow] })
    const kept = f.series('q', 'succeeded')
    for (let i = 0; i < 5; i++) kept.inc()
    f.series('q', 'dead').inc(2)
    s.labels('q', 'succeeded').inc(5)
    s.labels('q', 'dead').inc(2)
    expect(await fast.metrics()).toBe(await slow.metrics())
    fast.resetMetrics()
    kept.inc()
    expect(await fast.metrics()).toContain('c_total{queue="q",outcome="succeeded"} 1')
    expect(await fast.metrics()).toContain('c_total{queue="q",outcome="dead"} 0')
  })

  it('refuses a series with the wrong number of label values', () => {
    const f = new FastCounter({ name: 'c2_total', help: 'c', labelNames: ['queue'], registers: [] })
    expect(() => f.series('a', 'b')).toThrow(/expected 1 label values \(queue\), got 2/)
  })
})
