/**
 * Prometheus metrics of a real `ktask worker --metrics-port` process, scraped over HTTP while it works
 * on real Kafka, registry and Postgres.
 */
import { describe, expect, it } from 'vitest'
import { buildMetricsApp, DEAD, FAIL_FIRST } from '../../fixtures/metrics-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { uniqueName } from '../../helpers/infra.ts'
import { CLI, spawnNode } from '../../helpers/processes.ts'
import { startHttpService } from '../../helpers/http-service.ts'
import { waitFor } from '../../helpers/wait.ts'

/** Samples of a metric: labels (as a sorted key=value string) → value. */
function samples(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== metric) continue
    out.set(m[2] ?? '', Number(m[3]))
  }
  return out
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0)

describe('metrics of a worker process (--metrics-port)', () => {
  it('100 tasks, 10 retried once and 2 dead-lettered: the scraped counters say so; lag is > 0 while retries wait, 0 once drained', async () => {
    const prefix = uniqueName('metrics')
    const { app, job } = buildMetricsApp(prefix, 10_000)
    registerCleanup(() => app.close())
    await app.provision()
    const worker = spawnNode([CLI, 'worker', 'test/fixtures/metrics-app.ts', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], {
      env: { KTASK_PREFIX: prefix, METRICS_RETRY_MS: '10000' },
    })
    const running = JSON.parse(await worker.waitForLine(/"worker running"/, 60_000)) as { metrics: string }
    const scrape = async (): Promise<string> => {
      const res = await fetch(running.metrics)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      return res.text()
    }
    await job.enqueueMany(Array.from({ length: 100 }, (_, n) => ({ args: { n } })))

    // The first attempts are done; the 10 failed ones wait 10 s in the retry tier (paused, not due). Lag is
    // read at most every 5 s: at least one read falls in that wait.
    const outcome = (text: string, o: string): number =>
      samples(text, 'ktask_task_outcomes_total').get(`queue="m",task="job",outcome="${o}"`) ?? 0
    let text = ''
    await waitFor(
      async () => {
        text = await scrape()
        return outcome(text, 'succeeded') === 100 - FAIL_FIRST - DEAD && outcome(text, 'dead') === DEAD
      },
      { timeoutMs: 30_000, message: 'first attempts counted' },
    )
    const retryTopic = `${prefix}.m.retry`
    const retryLag = (t: string): number =>
      sum([...samples(t, 'ktask_consumer_lag')].filter(([labels]) => labels.includes(`topic="${retryTopic}`)).map(([, v]) => v))
    await waitFor(
      async () => {
        text = await scrape()
        return retryLag(text) === FAIL_FIRST || outcome(text, 'succeeded') > 100 - FAIL_FIRST - DEAD
      },
      { timeoutMs: 20_000, message: 'lag of the waiting retries' },
    )
    expect(retryLag(text)).toBe(FAIL_FIRST)
    expect(samples(text, 'ktask_paused_partitions').get(`group="${prefix}.m",reason="not-due"`)).toBeGreaterThan(0)

    await waitFor(
      async () => {
        text = await scrape()
        return outcome(text, 'succeeded') === 100 - DEAD && sum(samples(text, 'ktask_consumer_lag').values()) === 0
      },
      { timeoutMs: 40_000, message: 'drained: every task counted, lag 0' },
    )
    expect(outcome(text, 'succeeded')).toBe(100 - DEAD)
    expect(outcome(text, 'failed')).toBe(FAIL_FIRST + DEAD)
    expect(outcome(text, 'retried')).toBe(FAIL_FIRST)
    expect(outcome(text, 'dead')).toBe(DEAD)
    expect(outcome(text, 'duplicate')).toBe(0)
    expect(samples(text, 'ktask_handler_duration_seconds_count').get('queue="m",task="job"')).toBe(100 - DEAD)
    expect(samples(text, 'ktask_dlq_messages').get('queue="m"')).toBe(DEAD)
    // Every task's first start was timed from its enqueue (retries are not: their wait is their backoff).
    expect(samples(text, 'ktask_enqueue_to_start_seconds_count').get('queue="m"')).toBe(100)
    expect(samples(text, 'ktask_in_flight').get(`group="${prefix}.m"`)).toBe(0)
    expect(samples(text, 'ktask_buffered_messages').get(`group="${prefix}.m"`)).toBe(0)
    expect(samples(text, 'ktask_paused_partitions').get(`group="${prefix}.m",reason="not-due"`) ?? 0).toBe(0)
    expect(samples(text, 'process_resident_memory_bytes').get('')).toBeGreaterThan(0)
    // Bounded labels: no task id anywhere.
    expect(text).not.toMatch(/task_id|[0-9a-f]{8}-[0-9a-f]{4}-/)

    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })
})

describe('metrics of the HTTP service (GET /metrics)', () => {
  it('counts tasks enqueued through it and in-process; needs the token like every route but the probes', async () => {
    const { app, address, task } = await startHttpService({ http: { token: 'metrics-secret' } })
    const auth = { authorization: 'Bearer metrics-secret' }
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${address}/v1/tasks/report.build`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ customer: `c${i}`, months: 1 }),
      })
      expect(res.status).toBe(202)
    }
    await task.enqueueMany([1, 2].map((months) => ({ args: { customer: 'x', months } })))
    expect((await fetch(`${address}/metrics`)).status).toBe(401)
    const res = await fetch(`${address}/metrics`, { headers: auth })
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(samples(text, 'ktask_enqueued_total').get('queue="reports",task="report.build"')).toBe(5)
    // The same registry as app.metrics(), for users who serve it themselves.
    expect(await app.metrics().getSingleMetricAsString('ktask_enqueued_total')).toContain('} 5')
  })
})
