/**
 * OpenTelemetry across Kafka: a span around enqueue in this process is the parent of the handler's
 * consumer span in a real `ktask worker` process (both with the SDK registered, spans exported to memory
 * here and to a file there); retries stay in the trace.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base'
import { describe, expect, it } from 'vitest'
import { buildTracingApp, registerTracing, spanLine, type SpanLine } from '../../fixtures/tracing-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { uniqueName } from '../../helpers/infra.ts'
import { CLI, spawnNode } from '../../helpers/processes.ts'
import { readTopic } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'

describe('tracing across Kafka', () => {
  it("a span around enqueue is the parent of the handler's consumer span in another process; a retried task's spans share its trace", async () => {
    const exporter = new InMemorySpanExporter()
    const provider = registerTracing(exporter)
    registerCleanup(async () => {
      await provider.shutdown()
      trace.disable()
    })
    const prefix = uniqueName('tracing')
    const { app, traced } = buildTracingApp(prefix)
    registerCleanup(() => app.close())
    await app.provision()
    const file = join(tmpdir(), `${prefix}.spans`)
    registerCleanup(() => rmSync(file, { force: true }))
    const worker = spawnNode([CLI, 'worker', 'test/fixtures/tracing-app.ts'], { env: { KTASK_PREFIX: prefix, TRACING_SPANS_FILE: file } })
    await worker.waitForLine(/"worker running"/, 60_000)

    const tracer = trace.getTracer('test')
    const { taskIds, parent } = await tracer.startActiveSpan('web-request', async (span) => {
      const { taskIds } = await traced.enqueueMany([{ args: { n: 0 } }, { args: { n: 1 } }])
      span.end()
      return { taskIds, parent: span.spanContext() }
    })
    // Without an active span: no trace context goes out, the consumer span starts a trace of its own.
    const { taskId: untraced } = await traced.enqueue({ n: 2 })
    const [ok, retried] = taskIds as [string, string]

    const spans = (): SpanLine[] =>
      existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as SpanLine)
        : []
    const consumer = (taskId: string): SpanLine[] =>
      spans()
        .filter((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === taskId)
        .sort((a, b) => Number(a.attributes['ktask.attempt']) - Number(b.attributes['ktask.attempt']))
    await waitFor(() => consumer(ok).length === 1 && consumer(retried).length === 2 && consumer(untraced).length === 1, {
      timeoutMs: 30_000,
      message: 'consumer spans of the 3 tasks (4 attempts)',
    })

    const [okSpan] = consumer(ok)
    expect(okSpan).toMatchObject({ name: `process ${prefix}.tq`, traceId: parent.traceId, parentSpanId: parent.spanId })
    expect(okSpan!.status.code).not.toBe(SpanStatusCode.ERROR)
    expect(okSpan!.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': `${prefix}.tq`,
      'messaging.consumer.group.name': `${prefix}.tq`,
      'messaging.message.id': ok,
      'ktask.task': 'traced',
      'ktask.attempt': 1,
    })
    expect(typeof okSpan!.attributes['messaging.destination.partition.id']).toBe('string')
    expect(typeof okSpan!.attributes['messaging.kafka.offset']).toBe('number')

    // The retried task: both attempts in the enqueue's trace; the first one records its error.
    const [first, second] = consumer(retried)
    for (const s of [first!, second!]) expect(s).toMatchObject({ traceId: parent.traceId, parentSpanId: parent.spanId })
    expect(first!.status.code).toBe(SpanStatusCode.ERROR)
    expect(first!.events).toContain('exception')
    expect(first!.attributes['ktask.attempt']).toBe(1)
    expect(second!.attributes).toMatchObject({
      'ktask.attempt': 2,
      'messaging.destination.name': expect.stringContaining(`${prefix}.tq.retry.`),
    })
    expect(second!.status.code).not.toBe(SpanStatusCode.ERROR)

    // Spans a handler starts are children of its consumer span.
    const work = spans().filter((s) => s.name === 'handler-work')
    for (const s of [okSpan!, first!, second!]) expect(work.some((w) => w.parentSpanId === s.spanId && w.traceId === s.traceId)).toBe(true)

    const [lone] = consumer(untraced)
    expect(lone!.parentSpanId).toBeUndefined()
    expect(lone!.traceId).not.toBe(parent.traceId)
    const onKafka = await readTopic(`${prefix}.tq`)
    expect(onKafka.find((m) => m.headers['ktask-id'] === untraced)?.headers.traceparent).toBeUndefined()
    expect(onKafka.find((m) => m.headers['ktask-id'] === ok)?.headers.traceparent).toBe(`00-${parent.traceId}-${parent.spanId}-01`)

    // This process exported the parent span itself.
    expect(
      exporter
        .getFinishedSpans()
        .map(spanLine)
        .find((s) => s.name === 'web-request')?.spanId,
    ).toBe(parent.spanId)
    worker.kill('SIGTERM')
    await worker.exited
  })
})
