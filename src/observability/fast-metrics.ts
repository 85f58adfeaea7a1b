/**
 * Counters and histograms for the per-message path. prom-client hashes and validates a label set on every
 * `inc`/`observe` (even through a `labels()` child): ~0.3 µs a call, three calls per message — a quarter
 * of a no-op task's CPU. Here a series is an object the caller keeps; recording is a plain addition (and a
 * bucket search); prom-client reads the series only when scraped, through `get()`, so registries, text
 * format and `/metrics` stay prom-client's.
 */
import { Counter, Histogram, type CounterConfiguration, type HistogramConfiguration, type LabelValues, type MetricType } from 'prom-client'

/** One label set of a FastCounter. */
export class CounterSeries {
  value = 0
  readonly labels: LabelValues<string>
  constructor(labels: LabelValues<string>) {
    this.labels = labels
  }

  inc(by = 1): void {
    this.value += by
  }
}

/** One label set of a FastHistogram. */
export class HistogramSeries {
  /** Per bucket (the last is +Inf), not cumulative: cumulated when scraped. */
  readonly counts: Float64Array
  readonly labels: LabelValues<string>
  readonly #bounds: readonly number[]
  sum = 0
  count = 0
  constructor(labels: LabelValues<string>, bounds: readonly number[]) {
    this.labels = labels
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/** A prom-client Counter whose values live in series the hot path holds. */
export class FastCounter<T extends string> extends Counter<T> {
  readonly #series = new Map<string, CounterSeries>()
  readonly #names: readonly T[]
  readonly #config: { name: string; help: string }

  constructor(config: CounterConfiguration<T>) {
    super(config)
    this.#names = config.labelNames ?? []
    this.#config = config
  }

  /** The series of these label values (in labelNames order), made once: keep it rather than look it up per call. */
  series(...values: string[]): CounterSeries {
    const key = values.join('\u0000')
    let s = this.#series.get(key)
    if (!s) this.#series.set(key, (s = new CounterSeries(labelsOf(this.#names, values))))
    return s
  }

  override get(): ReturnType<Counter<T>['get']> {
    const values = [...this.#series.values()].map((s) => ({ value: s.value, labels: s.labels }))
    return Promise.resolve({ ...objectOf(this.#config, 'counter'), values } as Awaited<ReturnType<Counter<T>['get']>>)
  }

  override reset(): void {
    if (!(#series in this)) return // called by prom-client's constructor, before this class's fields exist
    for (const s of this.#series.values()) s.value = 0
  }
}

/** A prom-client Histogram whose observations live in series the hot path holds. */
export class FastHistogram<T extends string> extends Histogram<T> {
  readonly #series = new Map<string, HistogramSeries>()
  readonly #names: readonly T[]
  readonly #bounds: readonly number[]
  readonly #config: { name: string; help: string }

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config)
    this.#names = config.labelNames ?? []
    this.#bounds = [...config.buckets].sort((a, b) => a - b)
    this.#config = config
  }

  series(...values: string[]): HistogramSeries {
    const key = values.join('\u0000')
    let s = this.#series.get(key)
    if (!s) this.#series.set(key, (s = new HistogramSeries(labelsOf(this.#names, values), this.#bounds)))
    return s
  }

  override get(): ReturnType<Histogram<T>['get']> {
    const name = this.#config.name
    const values: { value: number; labels: LabelValues<string>; metricName: string }[] = []
    for (const s of this.#series.values()) {
      let cumulative = 0
      this.#bounds.forEach((le, i) => {
        cumulative += s.counts[i]!
        values.push({ value: cumulative, labels: { le, ...s.labels }, metricName: `${name}_bucket` })
      })
      values.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${name}_bucket` })
      values.push({ value: s.sum, labels: s.labels, metricName: `${name}_sum` })
      values.push({ value: s.count, labels: s.labels, metricName: `${name}_count` })
    }
    return Promise.resolve({ ...objectOf(this.#config, 'histogram'), values } as Awaited<ReturnType<Histogram<T>['get']>>)
  }

  /** What prom-client's registry calls instead of get() when it writes the text format (untyped there). */
  getForPromString(): ReturnType<Histogram<T>['get']> {
    return this.get()
  }

  override reset(): void {
    if (!(#series in this)) return // called by prom-client's constructor, before this class's fields exist
    for (const s of this.#series.values()) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}

/** What prom-client's registry reads of a metric besides its values. */
function objectOf(config: { name: string; help: string }, type: 'counter' | 'histogram') {
  // The typings declare `type` as an enum, but prom-client writes (and its registry reads) these strings.
  // (The typings also ask for `collect`, which only prom-client's own get() calls: these classes replace it.)
  return { name: config.name, help: config.help, type: type as unknown as MetricType, aggregator: 'sum' as const }
}

function labelsOf(names: readonly string[], values: string[]): LabelValues<string> {
  if (values.length !== names.length)
    throw new TypeError(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`)
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]))
}
